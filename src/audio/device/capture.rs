//! Capturing from a device: the capture thread owns the (not `Send`) stream. The callback only
//! converts, downmixes and pushes into a lock-free ring; the thread drains the ring, measures the
//! level, resamples to 16 kHz and feeds the shared [`AudioState`]. A device that fails is waited
//! for and reopened, and capture can move to another device, all without ending the stream.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{channel, sync_channel, Receiver, Sender, TryRecvError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use cpal::traits::{DeviceTrait, StreamTrait};
use cpal::{Device, SampleFormat, SizedSample};

use super::find::find_device;
use super::list::{probe, Probed};
use super::system::{default_monitor_source, SYSTEM};
use super::{device_error, label, names_of, quiet_alsa, NO_DEVICE};
use crate::audio::level::{BlockMeter, Meter};
use crate::audio::resample::Streaming;
use crate::audio::state::{Notice, NoticeKind};
use crate::audio::{AudioError, AudioState, SAMPLE_RATE};

/// 16 kHz mono 16-bit when the device offers it (no conversion at all), else 16 kHz in any
/// layout, else the device's default.
fn preferred_config(device: &Device) -> Result<cpal::SupportedStreamConfig, cpal::Error> {
    let rate = SAMPLE_RATE;
    if let Ok(ranges) = device.supported_input_configs() {
        let ranges: Vec<_> = ranges
            .filter(|r| r.min_sample_rate() <= rate && rate <= r.max_sample_rate())
            .collect();
        let rank = |r: &cpal::SupportedStreamConfigRange| {
            (
                r.channels() != 1,
                r.sample_format() != SampleFormat::I16,
                r.sample_format() != SampleFormat::F32,
            )
        };
        if let Some(best) = ranges.iter().min_by_key(|r| rank(r)) {
            return Ok(best.with_sample_rate(rate));
        }
    }
    device.default_input_config()
}

/// Counters kept by the audio callback (atomics only: it never locks or allocates).
#[derive(Debug, Default)]
pub struct CaptureStats {
    /// Callbacks run.
    pub callbacks: AtomicU64,
    /// Frames the device delivered.
    pub frames: AtomicU64,
    /// Frames dropped because the ring was full.
    pub overrun_frames: AtomicU64,
    /// The longest a callback took, in nanoseconds.
    pub worst_callback_ns: AtomicU64,
}

/// Seconds of device audio the ring holds: how long the capture thread may stall before audio
/// is dropped (and counted).
const RING_SECONDS: usize = 2;
/// How often the capture thread drains the ring.
const DRAIN_EVERY: Duration = Duration::from_millis(20);
/// How often system audio checks which output is the default.
const FOLLOW_EVERY: Duration = Duration::from_secs(2);
/// How often a lost device is looked for.
const RETRY_EVERY: Duration = Duration::from_secs(1);
/// A device giving audio this many times faster than real time is not live.
const TOO_FAST: f64 = 3.0;
/// Overruns are reported at most this often.
const OVERRUN_REPORT_EVERY: Duration = Duration::from_secs(1);

/// The chunk a sound server's record stream is asked to deliver, in milliseconds.
const SERVER_CHUNK_MS: u32 = 50;

/// Whether cpal reaches this device over the sound server's protocol (a monitor of an output).
fn from_sound_server(device: &Device) -> bool {
    #[cfg(target_os = "linux")]
    {
        device
            .id()
            .is_ok_and(|id| id.host() == cpal::HostId::PulseAudio)
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = device;
        false
    }
}

/// Set once by the error callback.
#[derive(Debug, Default)]
struct Failure {
    failed: AtomicBool,
    reason: Mutex<Option<String>>,
}

impl Failure {
    fn set(&self, e: &cpal::Error) {
        if !self.failed.swap(true, Ordering::AcqRel) {
            if let Ok(mut r) = self.reason.try_lock() {
                *r = Some(e.to_string());
            }
        }
    }

    fn reason(&self) -> Option<String> {
        if !self.failed.load(Ordering::Acquire) {
            return None;
        }
        Some(
            self.reason
                .lock()
                .ok()
                .and_then(|r| r.clone())
                .unwrap_or_else(|| "the device reported an error".into()),
        )
    }
}

/// A device stream that is running, with the consuming end of its ring.
struct Open {
    // Dropped first: stops the callback before its ring goes.
    _stream: cpal::Stream,
    spec: String,
    /// The system's name for it, as notices give it.
    id: String,
    /// How messages show it.
    name: String,
    rate: u32,
    /// When it started, and the device's frame count then (to tell a live device from one
    /// that reads a file as fast as it can).
    opened_at: Instant,
    frames_at_open: u64,
    ring: rtrb::Consumer<f32>,
    failure: Arc<Failure>,
    resampler: Streaming,
    meter: BlockMeter,
}

fn build<T: SizedSample + Send + 'static>(
    device: &Device,
    config: &cpal::StreamConfig,
    mut ring: rtrb::Producer<f32>,
    stats: Arc<CaptureStats>,
    failure: Arc<Failure>,
) -> Result<cpal::Stream, cpal::Error>
where
    f32: cpal::FromSample<T>,
{
    let channels = config.channels.max(1) as usize;
    let scale = 1.0 / channels as f32;
    device.build_input_stream(
        *config,
        move |data: &[T], _| {
            let started = Instant::now();
            let frames = data.len() / channels;
            let n = frames.min(ring.slots());
            if let Ok(chunk) = ring.write_chunk_uninit(n) {
                chunk.fill_from_iter(data.chunks_exact(channels).map(|f| {
                    let m = f
                        .iter()
                        .map(|&s| <f32 as cpal::FromSample<T>>::from_sample_(s))
                        .sum::<f32>()
                        * scale;
                    if m.is_finite() {
                        m
                    } else {
                        0.0
                    }
                }));
            }
            if n < frames {
                stats
                    .overrun_frames
                    .fetch_add((frames - n) as u64, Ordering::Relaxed);
            }
            stats.callbacks.fetch_add(1, Ordering::Relaxed);
            stats.frames.fetch_add(frames as u64, Ordering::Relaxed);
            stats
                .worst_callback_ns
                .fetch_max(started.elapsed().as_nanos() as u64, Ordering::Relaxed);
        },
        move |e| failure.set(&e),
        None,
    )
}

/// Open and start `spec` (on the thread that will own the stream).
fn open(spec: &str, stats: &Arc<CaptureStats>) -> Result<Open, AudioError> {
    let device = find_device(spec)?;
    let names = names_of(&device);
    let (id, name) = (names.last().cloned().unwrap_or_default(), label(&names));
    let cannot = |e: &dyn std::fmt::Display| {
        device_error(
            spec,
            format!("cannot capture from {name} ({e}); use --input FILE, or --input - for raw PCM on standard input"),
        )
    };
    let supported = preferred_config(&device).map_err(|e| {
        if (spec.is_empty() || spec == "default") && !probe().iter().any(Probed::usable) {
            device_error(spec, NO_DEVICE)
        } else {
            cannot(&e)
        }
    })?;
    let format = supported.sample_format();
    let mut config: cpal::StreamConfig = supported.into();
    if from_sound_server(&device) {
        // The server's own default for a record stream delivers in chunks of up to 2 s.
        config.buffer_size = cpal::BufferSize::Fixed(config.sample_rate / 1000 * SERVER_CHUNK_MS);
    }
    let rate = config.sample_rate;
    let resampler = Streaming::new(rate, SAMPLE_RATE)?;
    let (tx, ring) = rtrb::RingBuffer::new(rate as usize * RING_SECONDS);
    let failure = Arc::new(Failure::default());
    let (s, f) = (stats.clone(), failure.clone());
    let stream = match format {
        SampleFormat::F32 => build::<f32>(&device, &config, tx, s, f),
        SampleFormat::I16 => build::<i16>(&device, &config, tx, s, f),
        SampleFormat::U16 => build::<u16>(&device, &config, tx, s, f),
        SampleFormat::I32 => build::<i32>(&device, &config, tx, s, f),
        SampleFormat::U32 => build::<u32>(&device, &config, tx, s, f),
        SampleFormat::I8 => build::<i8>(&device, &config, tx, s, f),
        SampleFormat::U8 => build::<u8>(&device, &config, tx, s, f),
        SampleFormat::F64 => build::<f64>(&device, &config, tx, s, f),
        other => return Err(cannot(&format!("sample format {other} is not supported"))),
    }
    .map_err(|e| cannot(&e))?;
    stream.play().map_err(|e| cannot(&e))?;
    Ok(Open {
        _stream: stream,
        spec: spec.to_string(),
        id,
        name,
        rate,
        opened_at: Instant::now(),
        frames_at_open: stats.frames.load(Ordering::Relaxed),
        ring,
        failure,
        resampler,
        meter: BlockMeter::new(rate),
    })
}

impl Open {
    /// Move what the callback has delivered into `audio` (or, while `paused`, measure it and
    /// let it go).
    fn drain(
        &mut self,
        audio: &AudioState,
        meter: &Meter,
        paused: &AtomicBool,
    ) -> Result<(), AudioError> {
        let n = self.ring.slots();
        if n == 0 {
            return Ok(());
        }
        let Ok(chunk) = self.ring.read_chunk(n) else {
            return Ok(());
        };
        let (a, b) = chunk.as_slices();
        let mut result = Ok(());
        for part in [a, b] {
            if part.is_empty() {
                continue;
            }
            self.meter.feed(part, meter);
            match self.resampler.push(part) {
                Ok(out) if !paused.load(Ordering::SeqCst) => audio.push(&out),
                Ok(_) => {}
                Err(e) => result = Err(e),
            }
        }
        chunk.commit_all();
        result
    }

    /// Everything left, including the resampler's tail, once the stream is done with.
    fn close(mut self, audio: &AudioState, meter: &Meter, paused: &AtomicBool) {
        self.drain(audio, meter, paused).ok();
        if let Ok(tail) = self.resampler.finish() {
            if !paused.load(Ordering::SeqCst) {
                audio.push(&tail);
            }
        }
    }
}

/// What the user can ask of a running capture.
enum Control {
    Switch(String),
}

/// Moves a running capture to another device, from any thread.
#[derive(Debug, Clone)]
pub struct Switcher(Sender<Control>);

impl Switcher {
    /// Move capture to another device; the outcome arrives as a notice (`Switched` or
    /// `Refused`). The audio goes on from where it was.
    pub fn switch_to(&self, spec: &str) {
        // Never waits and never drops: the queue holds every switch asked for, in order. A
        // capture thread that has ended takes none, and the session says so.
        self.0.send(Control::Switch(spec.into())).ok();
    }
}

/// A running device capture. Dropping it does not stop it; [`DeviceCapture::stop`] does.
pub struct DeviceCapture {
    control: Sender<Control>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    pub stats: Arc<CaptureStats>,
    missing: Option<String>,
}

impl DeviceCapture {
    /// Start capturing from the device `spec` names into `audio`, publishing levels to `meter`;
    /// while `paused` is set, the device's audio is not kept. An error here (no such device,
    /// cannot open it) is the only one: later failures are reported through `audio`'s notices
    /// and waited out. With `wait_for_default`, a system default that cannot be opened is no
    /// error: capture starts without a device ([`DeviceCapture::missing`] says why) and takes
    /// the default once it appears, or the device a switch names.
    pub fn start(
        spec: &str,
        audio: Arc<AudioState>,
        meter: Arc<Meter>,
        paused: Arc<AtomicBool>,
        wait_for_default: bool,
    ) -> Result<DeviceCapture, AudioError> {
        let stop = Arc::new(AtomicBool::new(false));
        let stats = Arc::new(CaptureStats::default());
        let (control, requests) = channel();
        let (ready_tx, ready_rx) = sync_channel::<Result<Option<String>, AudioError>>(1);
        let (spec_owned, stop2, stats2) = (spec.to_string(), stop.clone(), stats.clone());
        let may_wait = wait_for_default && (spec.is_empty() || spec == "default");
        let thread = std::thread::Builder::new()
            .name("livecap-capture".into())
            .spawn(move || {
                quiet_alsa();
                let first = match open(&spec_owned, &stats2) {
                    Ok(first) => {
                        ready_tx.send(Ok(None)).ok();
                        Some(first)
                    }
                    Err(e) if may_wait => {
                        ready_tx.send(Ok(Some(e.to_string()))).ok();
                        None
                    }
                    Err(e) => {
                        ready_tx.send(Err(e)).ok();
                        return;
                    }
                };
                Capturing {
                    audio,
                    meter,
                    stats: stats2,
                    stop: stop2,
                    paused,
                    requests,
                }
                .run(first, spec_owned);
            })
            .map_err(|e| device_error(spec, format!("cannot start the capture thread: {e}")))?;
        match ready_rx.recv() {
            Ok(Ok(missing)) => Ok(DeviceCapture {
                control,
                stop,
                thread: Some(thread),
                stats,
                missing,
            }),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(device_error(
                spec,
                "the capture thread ended before it started",
            )),
        }
    }

    /// Why capture started without a device (the default could not be opened), if it did.
    pub fn missing(&self) -> Option<&str> {
        self.missing.as_deref()
    }

    /// What moves this capture to another device.
    pub fn switcher(&self) -> Switcher {
        Switcher(self.control.clone())
    }

    /// Ask capture to end; the audio state is finished once the last samples are in.
    pub fn stop(&self) {
        self.stop.store(true, Ordering::Relaxed);
    }

    /// Stop and wait for the capture thread.
    pub fn join(mut self) {
        self.stop();
        if let Some(t) = self.thread.take() {
            t.join().ok();
        }
    }
}

/// The capture thread's state.
struct Capturing {
    audio: Arc<AudioState>,
    meter: Arc<Meter>,
    stats: Arc<CaptureStats>,
    stop: Arc<AtomicBool>,
    paused: Arc<AtomicBool>,
    requests: Receiver<Control>,
}

impl Capturing {
    fn notify(&self, kind: NoticeKind, device: &str, message: String) {
        self.audio.notify(Notice {
            kind,
            device: device.to_string(),
            message,
            at: self.audio.arrived().total,
        });
    }

    /// Silence for the time no device gave audio, so stream time keeps up with the clock (none
    /// while paused: the clock stands still then).
    fn fill_gap(&self, since: Instant) {
        let n = (since.elapsed().as_secs_f64() * SAMPLE_RATE as f64) as usize;
        if n > 0 && !self.paused.load(Ordering::SeqCst) {
            self.audio.push(&vec![0.0; n]);
        }
    }

    /// Capture from `first`, or, without one, wait for the device `spec` names.
    fn run(self, first: Option<Open>, spec: String) {
        // Nothing has been captured yet: the first device found is a start, not a return.
        let mut never_opened = first.is_none();
        let mut current = first;
        // The device to capture from, and since when it has been lost.
        let mut wanted = current.as_ref().map_or(spec, |o| o.spec.clone());
        let mut wanted_name = current
            .as_ref()
            .map_or_else(|| wanted.clone(), |o| o.name.clone());
        let mut wanted_id = current.as_ref().map(|o| o.id.clone()).unwrap_or_default();
        let mut lost_at: Option<Instant> = None;
        let mut last_try = Instant::now();
        let mut overruns_told = 0u64;
        let mut overrun_told_at: Option<Instant> = None;
        let mut error = None;
        let mut output_checked = Instant::now();
        while !self.stop.load(Ordering::Relaxed) {
            // System audio follows the default output: when another becomes the default (a
            // headset plugged in), capture moves to what it plays.
            let follow = (wanted == SYSTEM && output_checked.elapsed() >= FOLLOW_EVERY)
                .then(|| {
                    output_checked = Instant::now();
                    let now = default_monitor_source()?;
                    let open = current.as_ref()?;
                    (now != open.id).then(|| Control::Switch(SYSTEM.into()))
                })
                .flatten();
            match follow.map_or_else(|| self.requests.try_recv(), Ok) {
                Ok(Control::Switch(spec)) => match open(&spec, &self.stats) {
                    Ok(next) => {
                        let gap_from = Instant::now();
                        if let Some(old) = current.take() {
                            old.close(&self.audio, &self.meter, &self.paused);
                        }
                        self.fill_gap(lost_at.take().unwrap_or(gap_from));
                        never_opened = false;
                        self.notify(
                            NoticeKind::Switched,
                            &next.id,
                            format!("capturing from {} now", next.name),
                        );
                        wanted = next.spec.clone();
                        wanted_name = next.name.clone();
                        wanted_id = next.id.clone();
                        current = Some(next);
                    }
                    Err(e) => self.notify(
                        NoticeKind::Refused,
                        &spec,
                        if never_opened {
                            format!("{e}; still no input device")
                        } else {
                            format!("{e}; still with {wanted_name}")
                        },
                    ),
                },
                Err(TryRecvError::Empty) | Err(TryRecvError::Disconnected) => {}
            }
            if let Some(open) = current.as_mut() {
                if let Err(e) = open.drain(&self.audio, &self.meter, &self.paused) {
                    error = Some(e);
                    break;
                }
                let secs = open.opened_at.elapsed().as_secs_f64();
                let frames = self.stats.frames.load(Ordering::Relaxed) - open.frames_at_open;
                if secs >= 1.0 && frames as f64 > TOO_FAST * secs * open.rate as f64 {
                    error = Some(AudioError::NotLive {
                        device: open.name.clone(),
                        speed: frames as f64 / (secs * open.rate as f64),
                    });
                    break;
                }
                if let Some(reason) = open.failure.reason() {
                    let (id, name) = (open.id.clone(), open.name.clone());
                    if let Some(old) = current.take() {
                        old.close(&self.audio, &self.meter, &self.paused);
                    }
                    lost_at = Some(Instant::now());
                    last_try = Instant::now();
                    self.notify(
                        NoticeKind::Lost,
                        &id,
                        format!("input device {name} stopped ({reason}); waiting for it to come back, the session goes on"),
                    );
                }
            } else if last_try.elapsed() >= RETRY_EVERY {
                last_try = Instant::now();
                if let Ok(back) = open(&wanted, &self.stats) {
                    if never_opened {
                        never_opened = false;
                        self.notify(
                            NoticeKind::Switched,
                            &back.id,
                            format!("capturing from {} now", back.name),
                        );
                    } else {
                        let away = lost_at.map_or(0.0, |t| t.elapsed().as_secs_f64());
                        self.fill_gap(lost_at.take().unwrap_or_else(Instant::now));
                        self.notify(
                            NoticeKind::Back,
                            &back.id,
                            format!(
                                "input device {} is back after {away:.1} s (silence in between)",
                                back.name
                            ),
                        );
                    }
                    wanted_name = back.name.clone();
                    wanted_id = back.id.clone();
                    current = Some(back);
                }
            }
            let overruns = self.stats.overrun_frames.load(Ordering::Relaxed);
            if overruns > overruns_told
                && overrun_told_at.is_none_or(|t| t.elapsed() >= OVERRUN_REPORT_EVERY)
            {
                let rate = current.as_ref().map_or(SAMPLE_RATE, |o| o.rate);
                self.notify(
                    NoticeKind::Overrun,
                    &wanted_id,
                    format!(
                        "{:.0} ms of audio from {wanted_name} were dropped because capture fell behind",
                        (overruns - overruns_told) as f64 * 1000.0 / rate as f64
                    ),
                );
                overruns_told = overruns;
                overrun_told_at = Some(Instant::now());
            }
            std::thread::sleep(DRAIN_EVERY);
        }
        if let Some(open) = current.take() {
            open.close(&self.audio, &self.meter, &self.paused);
        }
        self.audio.finish(error);
    }
}
