//! Capture devices through cpal: listing them, finding one by name or index, and the capture
//! thread that owns the (not `Send`) stream. The callback only converts, downmixes and pushes
//! into a lock-free ring; the thread drains the ring, measures the level, resamples to 16 kHz and
//! feeds the shared [`AudioState`]. A device that fails is waited for and reopened, and capture
//! can move to another device, all without ending the stream.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TryRecvError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use cpal::traits::{DeviceTrait, HostTrait, StreamTrait};
use cpal::{Device, SampleFormat, SizedSample};

use super::level::{BlockMeter, Meter};
use super::resample::Streaming;
use super::state::{Notice, NoticeKind};
use super::{AudioError, AudioState, SAMPLE_RATE};

fn device_error(device: &str, reason: impl std::fmt::Display) -> AudioError {
    AudioError::Device {
        device: device.to_string(),
        reason: reason.to_string(),
    }
}

/// What to say when there is nothing to capture from.
pub const NO_DEVICE: &str =
    "this machine has no audio input device; use --input FILE, or --input - for raw PCM on standard input";

/// What a device is called: its description, and the system's identifier for it (for ALSA, the
/// PCM name, such as `default` or `hw:1,0`) if that is different.
fn names_of(d: &Device) -> Vec<String> {
    let mut names = Vec::new();
    if let Ok(desc) = d.description() {
        names.push(desc.name().to_string());
    }
    if let Ok(id) = d.id() {
        let id = id.id().to_string();
        if !names.contains(&id) {
            names.push(id);
        }
    }
    if names.is_empty() {
        names.push("(unnamed)".into());
    }
    names
}

/// A device as messages show it: the name `device:` takes, then its description.
fn label(names: &[String]) -> String {
    match names {
        [desc, id, ..] => format!("{id} ({})", desc.replace('\n', " - ")),
        [one] => one.clone(),
        [] => "(unnamed)".into(),
    }
}

/// Keep alsa-lib from printing its diagnostics to stderr on this thread (they would land over
/// the captions); failures still reach the user through cpal's errors.
fn quiet_alsa() {
    #[cfg(target_os = "linux")]
    {
        let _ = alsa::Output::local_error_handler();
    }
}

/// While alive, the process's standard error goes nowhere. Probing devices loads the system's
/// audio plugins, some of which (JACK's, for one) print to stderr on their own when their server
/// is not running; that must not land over the captions or the device list.
struct Hush {
    #[cfg(unix)]
    saved: Option<std::os::fd::OwnedFd>,
}

impl Hush {
    fn new() -> Self {
        quiet_alsa();
        #[cfg(unix)]
        {
            use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
            let saved = std::fs::OpenOptions::new()
                .write(true)
                .open("/dev/null")
                .ok()
                .and_then(|null| {
                    // SAFETY: dup of the standard error descriptor; the copy is owned below.
                    let fd = unsafe { libc::dup(2) };
                    if fd < 0 {
                        return None;
                    }
                    // SAFETY: `fd` is a fresh descriptor nobody else owns.
                    let saved = unsafe { OwnedFd::from_raw_fd(fd) };
                    // SAFETY: both descriptors are open.
                    (unsafe { libc::dup2(null.as_raw_fd(), 2) } >= 0).then_some(saved)
                });
            Self { saved }
        }
        #[cfg(not(unix))]
        Self {}
    }
}

impl Drop for Hush {
    fn drop(&mut self) {
        #[cfg(unix)]
        if let Some(saved) = self.saved.take() {
            use std::os::fd::AsRawFd;
            // SAFETY: restores the descriptor saved in `new`, which is still open.
            unsafe { libc::dup2(saved.as_raw_fd(), 2) };
        }
    }
}

/// A device and what it offers for capture.
struct Probed {
    device: Device,
    names: Vec<String>,
    configs: Result<Vec<cpal::SupportedStreamConfigRange>, String>,
}

impl Probed {
    fn usable(&self) -> bool {
        self.configs.as_ref().is_ok_and(|c| !c.is_empty())
    }
}

/// Every input device the system names, with its capture formats (or why they cannot be read).
fn probe() -> Vec<Probed> {
    let _hush = Hush::new();
    cpal::default_host()
        .input_devices()
        .map(|it| it.collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .map(|device| Probed {
            names: names_of(&device),
            configs: device
                .supported_input_configs()
                .map(|c| c.collect())
                .map_err(|e| e.to_string()),
            device,
        })
        .collect()
}

/// One line of `livecap devices`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceInfo {
    /// What `device:INDEX` selects (devices that cannot capture have none).
    pub index: Option<usize>,
    /// The short name to pass to `device:` (for ALSA, the PCM name).
    pub name: String,
    /// The system's longer description, when there is one.
    pub description: Option<String>,
    pub is_default: bool,
    /// Channel counts it offers for capture.
    pub channels: Vec<(u32, u32)>,
    /// Sample-rate ranges it offers for capture, in Hz.
    pub rates: Vec<(u32, u32)>,
    /// Why it cannot capture (busy, unplugged, a plugin with no server).
    pub unavailable: Option<String>,
}

/// Input devices: those that can capture, numbered as `device:INDEX` counts them, then (with
/// `all`) those that cannot, unnumbered.
pub fn list_devices(all: bool) -> Vec<DeviceInfo> {
    let default_names = {
        let _hush = Hush::new();
        cpal::default_host()
            .default_input_device()
            .map(|d| names_of(&d))
    };
    let mut usable = 0;
    let mut out = Vec::new();
    for p in probe() {
        let (name, description) = match &p.names[..] {
            [desc, id, ..] => (id.clone(), Some(desc.replace('\n', " - "))),
            [one] => (one.clone(), None),
            [] => ("(unnamed)".to_string(), None),
        };
        let mut info = DeviceInfo {
            index: None,
            name,
            description,
            is_default: default_names
                .as_ref()
                .is_some_and(|d| d.last() == p.names.last()),
            channels: Vec::new(),
            rates: Vec::new(),
            unavailable: None,
        };
        match &p.configs {
            Ok(configs) if !configs.is_empty() => {
                info.index = Some(usable);
                usable += 1;
                let ch: Vec<(u32, u32)> = configs
                    .iter()
                    .map(|c| (c.channels() as u32, c.channels() as u32))
                    .collect();
                info.channels = merge_ranges(&ch);
                let rates: Vec<(u32, u32)> = configs
                    .iter()
                    .map(|c| (c.min_sample_rate(), c.max_sample_rate()))
                    .collect();
                info.rates = merge_ranges(&rates);
            }
            Ok(_) => info.unavailable = Some("it offers no capture format".into()),
            Err(e) => info.unavailable = Some(e.clone()),
        }
        if info.index.is_some() || all {
            out.push(info);
        }
    }
    out
}

fn ranges(r: &[(u32, u32)]) -> String {
    r.iter()
        .map(|&(a, b)| {
            if a == b {
                format!("{a}")
            } else {
                format!("{a}-{b}")
            }
        })
        .collect::<Vec<_>>()
        .join(",")
}

impl std::fmt::Display for DeviceInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.index {
            Some(i) => write!(f, "{i:>3}  {}", self.name)?,
            None => write!(f, "  -  {}", self.name)?,
        }
        if self.is_default {
            write!(f, "  [default]")?;
        }
        match &self.unavailable {
            Some(why) => write!(f, "  unavailable: {why}")?,
            None => write!(
                f,
                "  {} ch  {} Hz",
                ranges(&self.channels),
                ranges(&self.rates)
            )?,
        }
        if let Some(d) = &self.description {
            write!(f, "  ({d})")?;
        }
        Ok(())
    }
}

/// Overlapping or touching ranges joined.
fn merge_ranges(ranges: &[(u32, u32)]) -> Vec<(u32, u32)> {
    let mut sorted = ranges.to_vec();
    sorted.sort_unstable();
    let mut out: Vec<(u32, u32)> = Vec::new();
    for (a, b) in sorted {
        match out.last_mut() {
            Some(last) if a <= last.1.saturating_add(1) => last.1 = last.1.max(b),
            _ => out.push((a, b)),
        }
    }
    out
}

/// Edit distance between two strings, by characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diag = row[0];
        row[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let next = (diag + usize::from(ca != cb))
                .min(row[j] + 1)
                .min(row[j + 1] + 1);
            diag = row[j + 1];
            row[j + 1] = next;
        }
    }
    row[b.len()]
}

/// How far `spec` is from a device name (lower is closer), if it is close at all: a typo
/// (up to a third of the letters wrong), or a word in common.
fn closeness(spec: &str, name: &str) -> Option<usize> {
    let (spec, name) = (spec.to_lowercase(), name.to_lowercase());
    let d = edit_distance(&spec, &name);
    let typo = d * 3 <= spec.chars().count().max(3);
    let words = |s: &str| -> Vec<String> {
        s.split(|c: char| !c.is_alphanumeric())
            .filter(|w| w.chars().count() >= 3)
            .map(str::to_string)
            .collect()
    };
    let name_words = words(&name);
    let shared = words(&spec).iter().any(|w| {
        name_words
            .iter()
            .any(|n| n.starts_with(w.as_str()) || edit_distance(w, n) <= 1)
    });
    (typo || shared).then_some(d)
}

/// The names closest to `spec`, closest first, at most three.
fn close_matches(spec: &str, names: &[Vec<String>]) -> Vec<String> {
    let mut scored: Vec<(usize, String)> = names
        .iter()
        .filter_map(|n| {
            let best = n.iter().filter_map(|x| closeness(spec, x)).min()?;
            Some((best, label(n)))
        })
        .collect();
    scored.sort();
    scored.into_iter().take(3).map(|(_, n)| n).collect()
}

/// The input device `spec` names: empty or `default` for the system default, a number for the
/// n-th device, else an exact name or a unique part of one (case does not matter).
pub fn find_device(spec: &str) -> Result<Device, AudioError> {
    if spec.is_empty() || spec == "default" {
        let _hush = Hush::new();
        return cpal::default_host()
            .default_input_device()
            .ok_or_else(|| device_error(spec, NO_DEVICE));
    }
    let probed = probe();
    if !probed.iter().any(Probed::usable) {
        return Err(device_error(spec, NO_DEVICE));
    }
    if let Ok(i) = spec.parse::<usize>() {
        let usable: Vec<&Probed> = probed.iter().filter(|p| p.usable()).collect();
        return match usable.get(i) {
            Some(p) => Ok(p.device.clone()),
            None => Err(device_error(
                spec,
                format!(
                    "no input device has this index; they are numbered 0 to {}, see `livecap devices`",
                    usable.len().saturating_sub(1)
                ),
            )),
        };
    }
    let all: Vec<Vec<String>> = probed.iter().map(|p| p.names.clone()).collect();
    let pick = |i: usize| {
        probed
            .get(i)
            .map(|p| p.device.clone())
            .ok_or_else(|| device_error(spec, NO_DEVICE))
    };
    if let Some(i) = all.iter().position(|n| n.iter().any(|n| n == spec)) {
        return pick(i);
    }
    let lower = spec.to_lowercase();
    let matching: Vec<usize> = (0..all.len())
        .filter(|&i| all[i].iter().any(|n| n.to_lowercase().contains(&lower)))
        .collect();
    match matching[..] {
        [i] => pick(i),
        [] => {
            let close = close_matches(spec, &all);
            Err(device_error(
                spec,
                if close.is_empty() {
                    "no input device has that name; `livecap devices` lists them".to_string()
                } else {
                    format!(
                        "no input device has that name; the closest are: {} (`livecap devices` lists them all)",
                        close.join(", ")
                    )
                },
            ))
        }
        _ => Err(device_error(
            spec,
            format!(
                "several input devices match: {}",
                matching
                    .iter()
                    .map(|&i| label(&all[i]))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )),
    }
}

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
/// How often a lost device is looked for.
const RETRY_EVERY: Duration = Duration::from_secs(1);
/// A device giving audio this many times faster than real time is not live.
const TOO_FAST: f64 = 3.0;
/// Overruns are reported at most this often.
const OVERRUN_REPORT_EVERY: Duration = Duration::from_secs(1);

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
    let config: cpal::StreamConfig = supported.into();
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
    /// Move what the callback has delivered into `audio`.
    fn drain(&mut self, audio: &AudioState, meter: &Meter) -> Result<(), AudioError> {
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
                Ok(out) => audio.push(&out),
                Err(e) => result = Err(e),
            }
        }
        chunk.commit_all();
        result
    }

    /// Everything left, including the resampler's tail, once the stream is done with.
    fn close(mut self, audio: &AudioState, meter: &Meter) {
        self.drain(audio, meter).ok();
        if let Ok(tail) = self.resampler.finish() {
            audio.push(&tail);
        }
    }
}

/// What the user can ask of a running capture.
enum Control {
    Switch(String),
}

/// A running device capture. Dropping it does not stop it; [`DeviceCapture::stop`] does.
pub struct DeviceCapture {
    control: SyncSender<Control>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    pub stats: Arc<CaptureStats>,
}

impl DeviceCapture {
    /// Start capturing from the device `spec` names into `audio`, publishing levels to `meter`.
    /// An error here (no such device, cannot open it) is the only one: later failures are
    /// reported through `audio`'s notices and waited out.
    pub fn start(
        spec: &str,
        audio: Arc<AudioState>,
        meter: Arc<Meter>,
    ) -> Result<DeviceCapture, AudioError> {
        let stop = Arc::new(AtomicBool::new(false));
        let stats = Arc::new(CaptureStats::default());
        let (control, requests) = sync_channel(4);
        let (ready_tx, ready_rx) = sync_channel::<Result<(), AudioError>>(1);
        let (spec_owned, stop2, stats2) = (spec.to_string(), stop.clone(), stats.clone());
        let thread = std::thread::Builder::new()
            .name("livecap-capture".into())
            .spawn(move || {
                quiet_alsa();
                match open(&spec_owned, &stats2) {
                    Ok(first) => {
                        ready_tx.send(Ok(())).ok();
                        Capturing {
                            audio,
                            meter,
                            stats: stats2,
                            stop: stop2,
                            requests,
                        }
                        .run(first);
                    }
                    Err(e) => {
                        ready_tx.send(Err(e)).ok();
                    }
                }
            })
            .map_err(|e| device_error(spec, format!("cannot start the capture thread: {e}")))?;
        match ready_rx.recv() {
            Ok(Ok(())) => Ok(DeviceCapture {
                control,
                stop,
                thread: Some(thread),
                stats,
            }),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(device_error(
                spec,
                "the capture thread ended before it started",
            )),
        }
    }

    /// Move capture to another device; the outcome arrives as a notice (`Switched` or
    /// `Refused`). The audio goes on from where it was.
    pub fn switch_to(&self, spec: &str) {
        self.control.try_send(Control::Switch(spec.into())).ok();
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

    /// Silence for the time no device gave audio, so stream time keeps up with the clock.
    fn fill_gap(&self, since: Instant) {
        let n = (since.elapsed().as_secs_f64() * SAMPLE_RATE as f64) as usize;
        if n > 0 {
            self.audio.push(&vec![0.0; n]);
        }
    }

    fn run(self, first: Open) {
        let mut current = Some(first);
        // The device to capture from, and since when it has been lost.
        let mut wanted = current.as_ref().map(|o| o.spec.clone()).unwrap_or_default();
        let mut wanted_name = current.as_ref().map(|o| o.name.clone()).unwrap_or_default();
        let mut wanted_id = current.as_ref().map(|o| o.id.clone()).unwrap_or_default();
        let mut lost_at: Option<Instant> = None;
        let mut last_try = Instant::now();
        let mut overruns_told = 0u64;
        let mut overrun_told_at: Option<Instant> = None;
        let mut error = None;
        while !self.stop.load(Ordering::Relaxed) {
            match self.requests.try_recv() {
                Ok(Control::Switch(spec)) => match open(&spec, &self.stats) {
                    Ok(next) => {
                        let gap_from = Instant::now();
                        if let Some(old) = current.take() {
                            old.close(&self.audio, &self.meter);
                        }
                        self.fill_gap(lost_at.take().unwrap_or(gap_from));
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
                        format!("{e}; still with {wanted_name}"),
                    ),
                },
                Err(TryRecvError::Empty) | Err(TryRecvError::Disconnected) => {}
            }
            if let Some(open) = current.as_mut() {
                if let Err(e) = open.drain(&self.audio, &self.meter) {
                    error = Some(e.to_string());
                    break;
                }
                let secs = open.opened_at.elapsed().as_secs_f64();
                let frames = self.stats.frames.load(Ordering::Relaxed) - open.frames_at_open;
                if secs >= 1.0 && frames as f64 > TOO_FAST * secs * open.rate as f64 {
                    error = Some(format!(
                        "input device {} gives audio {:.0} times faster than real time, so it is not a live source (an ALSA file plugin over the null device does this); give it a paced slave, or pass the recording with --input FILE",
                        open.name,
                        frames as f64 / (secs * open.rate as f64)
                    ));
                    break;
                }
                if let Some(reason) = open.failure.reason() {
                    let (id, name) = (open.id.clone(), open.name.clone());
                    if let Some(old) = current.take() {
                        old.close(&self.audio, &self.meter);
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
            open.close(&self.audio, &self.meter);
        }
        self.audio.finish(error);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn close_names_are_suggested() {
        let names = vec![
            vec!["USB Headset Microphone".to_string(), "hw:1,0".to_string()],
            vec!["Built-in Audio".to_string(), "hw:0,0".to_string()],
            vec!["fakemic".to_string()],
        ];
        assert_eq!(close_matches("fakemik", &names), vec!["fakemic"]);
        assert_eq!(
            close_matches("headset", &names),
            vec!["hw:1,0 (USB Headset Microphone)"]
        );
        assert!(close_matches("zzz-qqq", &names).is_empty());
        assert_eq!(
            close_matches("my mic", &names),
            vec!["hw:1,0 (USB Headset Microphone)"]
        );
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }

    #[test]
    fn rate_ranges_merge() {
        assert_eq!(
            merge_ranges(&[(44_100, 48_000), (8_000, 16_000), (16_000, 44_100)]),
            vec![(8_000, 48_000)]
        );
        assert_eq!(
            merge_ranges(&[(48_000, 48_000), (16_000, 16_000)]),
            vec![(16_000, 16_000), (48_000, 48_000)]
        );
    }
}
