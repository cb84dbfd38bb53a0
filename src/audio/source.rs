//! Live sources behind one interface: a capture device, a file played as if live, or raw PCM on
//! standard input, each feeding the shared [`AudioState`] and the level [`Meter`] from a thread of
//! its own. Whoever runs the session steers a source through its [`Controls`]: pause (a live
//! source's audio is not kept, a file waits) and a move to another device.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::device::{CaptureStats, DeviceCapture, Switcher};
use super::level::{BlockMeter, Level, Meter};
use super::pcm::{read_pcm, PcmFormat};
use super::state::AudioState;
use super::{load_file, AudioError, SAMPLE_RATE};

/// An audio source named on the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    File(PathBuf),
    /// Raw PCM on standard input (`-`).
    Stdin,
    /// A capture device (`device:NAME`), or what the default output plays (`system`).
    Device(String),
}

impl std::fmt::Display for Input {
    /// As it is given on the command line.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Input::File(p) => write!(f, "{}", p.display()),
            Input::Stdin => write!(f, "-"),
            Input::Device(d) => write!(f, "device:{d}"),
        }
    }
}

impl Input {
    pub fn parse(s: &str) -> Self {
        if s == "-" {
            Input::Stdin
        } else if s == super::device::SYSTEM {
            Input::Device(s.to_string())
        } else if let Some(name) = s.strip_prefix("device:") {
            Input::Device(name.to_string())
        } else {
            Input::File(PathBuf::from(s))
        }
    }

    /// One input, or two to caption apart (`A+B`, such as `mic+system`): `mic` names the default
    /// microphone. A name with `+` that is an existing file is that file.
    pub fn parse_inputs(s: &str) -> (Input, Option<Input>) {
        let one = |s: &str| {
            if s == "mic" {
                Input::Device(String::new())
            } else {
                Input::parse(s)
            }
        };
        match s.split_once('+') {
            Some((a, b)) if !a.is_empty() && !b.is_empty() && !std::path::Path::new(s).exists() => {
                (one(a), Some(one(b)))
            }
            _ => (one(s), None),
        }
    }

    /// Whether this is what the computer plays (so "Them" on a call), not a microphone or file.
    pub fn is_system(&self) -> bool {
        matches!(self, Input::Device(d) if d == super::device::SYSTEM || d.ends_with(".monitor"))
    }

    /// Whether audio arrives at its own pace (so a realtime clock is the natural one).
    pub fn is_live(&self) -> bool {
        !matches!(self, Input::File(_))
    }
}

/// Audio pushed per step when a file is played as if live.
const PACE_CHUNK: usize = SAMPLE_RATE as usize / 10;

/// How a source is read, besides where from.
#[derive(Debug, Clone, Copy)]
pub struct SourceOptions {
    /// Play a file at real-time speed (otherwise it all arrives at once).
    pub paced: bool,
    /// The layout of raw PCM on standard input.
    pub pcm: PcmFormat,
    /// A system default device that cannot be opened is waited for instead of being an error
    /// (the app then offers its device picker).
    pub wait_for_default: bool,
}

/// A running source, whatever it reads from: it feeds the shared [`AudioState`] and publishes
/// the input level. Whoever transcribes only sees the audio state.
pub struct Capture {
    running: Running,
    meter: Arc<Meter>,
    stop: Arc<AtomicBool>,
    paused: Arc<AtomicBool>,
}

/// What the session may ask of a running source, from any thread.
#[derive(Debug, Clone)]
pub struct Controls {
    paused: Arc<AtomicBool>,
    /// A device capture's: moves it to another device.
    switch: Option<Switcher>,
}

impl Controls {
    /// Pause or resume: while paused, what a live source gives is not kept, and a file being
    /// played waits where it is.
    pub fn set_paused(&self, paused: bool) {
        self.paused.store(paused, Ordering::SeqCst);
    }

    /// Move a device capture to another device (the outcome arrives as a notice). False if this
    /// source is not a device.
    pub fn switch_device(&self, spec: &str) -> bool {
        match &self.switch {
            Some(s) => {
                s.switch_to(spec);
                true
            }
            None => false,
        }
    }
}

enum Running {
    Device(DeviceCapture),
    /// A file or standard input, on a thread of its own.
    Reader(JoinHandle<()>, bool),
}

impl Capture {
    /// Start feeding `audio` from `input`. A source that cannot start (no such file or device,
    /// an unreadable file) is an error here; later trouble reaches `audio` as its end (with the
    /// reason) or, for a device, as notices while capture waits for it.
    pub fn start(
        input: &Input,
        opts: &SourceOptions,
        audio: Arc<AudioState>,
    ) -> Result<Capture, AudioError> {
        let meter = Arc::new(Meter::new());
        let stop = Arc::new(AtomicBool::new(false));
        let paused = Arc::new(AtomicBool::new(false));
        let running = match input {
            Input::File(path) => {
                let decoded = load_file(path)?;
                let (meter, stop, paced) = (meter.clone(), stop.clone(), opts.paced);
                let paused = paused.clone();
                let t = spawn("livecap-file", move || {
                    play(&decoded.samples, paced, &audio, &meter, &stop, &paused)
                })?;
                Running::Reader(t, true)
            }
            Input::Stdin => {
                let (meter, format, paused) = (meter.clone(), opts.pcm, paused.clone());
                let t = spawn("livecap-stdin", move || {
                    read_stdin(format, &audio, &meter, &paused)
                })?;
                // A read from a pipe cannot be interrupted: never wait for this thread.
                Running::Reader(t, false)
            }
            Input::Device(spec) => Running::Device(DeviceCapture::start(
                spec,
                audio,
                meter.clone(),
                paused.clone(),
                opts.wait_for_default,
            )?),
        };
        Ok(Capture {
            running,
            meter,
            stop,
            paused,
        })
    }

    /// The input level now.
    pub fn level(&self) -> Level {
        self.meter.read()
    }

    /// Where the level is published (for whoever draws it while the session runs).
    pub fn meter(&self) -> Arc<Meter> {
        self.meter.clone()
    }

    /// The source's controls, for whoever runs the session.
    pub fn controls(&self) -> Controls {
        Controls {
            paused: self.paused.clone(),
            switch: match &self.running {
                Running::Device(d) => Some(d.switcher()),
                Running::Reader(..) => None,
            },
        }
    }

    /// Why a device capture started without a device, if it did (see
    /// [`SourceOptions::wait_for_default`]).
    pub fn missing_device(&self) -> Option<&str> {
        match &self.running {
            Running::Device(d) => d.missing(),
            Running::Reader(..) => None,
        }
    }

    /// The callback's counters, for a device.
    pub fn stats(&self) -> Option<&CaptureStats> {
        match &self.running {
            Running::Device(d) => Some(&d.stats),
            Running::Reader(..) => None,
        }
    }

    /// Ask the source to stop; a device or file finishes the audio state with what it had.
    pub fn stop(&self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Running::Device(d) = &self.running {
            d.stop();
        }
    }

    /// Stop, and wait for the source's thread where that cannot hang.
    pub fn join(self) {
        self.stop();
        match self.running {
            Running::Device(d) => d.join(),
            Running::Reader(t, true) => {
                t.join().ok();
            }
            Running::Reader(_, false) => {}
        }
    }
}

/// Feed decoded samples, at real-time speed if `paced`, until done or stopped.
fn play(
    samples: &[f32],
    paced: bool,
    audio: &AudioState,
    meter: &Meter,
    stop: &AtomicBool,
    paused: &AtomicBool,
) {
    let mut m = BlockMeter::new(SAMPLE_RATE);
    if !paced {
        m.feed(samples, meter);
        audio.push(samples);
        audio.finish(None);
        return;
    }
    let mut start = Instant::now();
    for (k, chunk) in samples.chunks(PACE_CHUNK).enumerate() {
        let due = start + Duration::from_secs_f64(((k + 1) * PACE_CHUNK) as f64 / 16_000.0);
        std::thread::sleep(due.saturating_duration_since(Instant::now()));
        // Paused: the file waits where it is.
        let paused_at = Instant::now();
        while paused.load(Ordering::SeqCst) && !stop.load(Ordering::Relaxed) {
            std::thread::sleep(Duration::from_millis(20));
        }
        start += paused_at.elapsed();
        if stop.load(Ordering::Relaxed) {
            break;
        }
        m.feed(chunk, meter);
        audio.push(chunk);
    }
    audio.finish(None);
}

/// Feed raw PCM from standard input until it ends; while paused, what arrives is not kept.
fn read_stdin(format: PcmFormat, audio: &AudioState, meter: &Meter, paused: &AtomicBool) {
    let mut m = BlockMeter::new(SAMPLE_RATE);
    let stdin = std::io::stdin();
    let res = read_pcm(stdin.lock(), format, "standard input", &mut |s| {
        m.feed(s, meter);
        if !paused.load(Ordering::SeqCst) {
            audio.push(s)
        }
    });
    match res {
        Ok(end) => {
            if end.leftover_bytes > 0 {
                crate::stderr::say(format!(
                    "standard input ended with {} bytes that do not make a whole frame; they were ignored",
                    end.leftover_bytes
                ));
            }
            audio.finish(None);
        }
        Err(e) => audio.finish(Some(e)),
    }
}

fn spawn(name: &str, f: impl FnOnce() + Send + 'static) -> Result<JoinHandle<()>, AudioError> {
    std::thread::Builder::new()
        .name(name.into())
        .spawn(f)
        .map_err(|e| AudioError::Stream {
            what: name.into(),
            reason: format!("cannot start a thread: {e}"),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inputs_parse() {
        assert_eq!(Input::parse("-"), Input::Stdin);
        assert_eq!(
            Input::parse("device:USB Mic"),
            Input::Device("USB Mic".into())
        );
        assert_eq!(Input::parse("a.wav"), Input::File("a.wav".into()));
        assert_eq!(Input::parse("system"), Input::Device("system".into()));
        assert_eq!(
            Input::parse_inputs("mic+system"),
            (
                Input::Device(String::new()),
                Some(Input::Device("system".into()))
            )
        );
        assert_eq!(
            Input::parse_inputs("a.wav+device:USB"),
            (
                Input::File("a.wav".into()),
                Some(Input::Device("USB".into()))
            )
        );
        assert_eq!(
            Input::parse_inputs("a.wav"),
            (Input::File("a.wav".into()), None)
        );
        assert_eq!(Input::parse_inputs("+x"), (Input::File("+x".into()), None));
        assert!(Input::Device("system".into()).is_system());
        assert!(!Input::Device(String::new()).is_system());
        assert_eq!(Input::parse("./system"), Input::File("./system".into()));
        assert!(Input::Stdin.is_live());
        assert!(!Input::parse("a.wav").is_live());
    }
}
