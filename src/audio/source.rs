//! Live sources: where a stream's audio comes from (a file played as if live, raw PCM on stdin),
//! each fed into the shared [`AudioState`] by a thread of its own.

use std::path::PathBuf;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::pcm::{read_pcm, PcmFormat};
use super::state::AudioState;
use super::{load_file, AudioError, SAMPLE_RATE};

/// An audio source named on the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    File(PathBuf),
    /// Raw PCM on standard input (`-`).
    Stdin,
    /// A capture device (`device:NAME`).
    Device(String),
}

impl Input {
    pub fn parse(s: &str) -> Self {
        if s == "-" {
            Input::Stdin
        } else if let Some(name) = s.strip_prefix("device:") {
            Input::Device(name.to_string())
        } else {
            Input::File(PathBuf::from(s))
        }
    }

    /// Whether audio arrives at its own pace (so a realtime clock is the natural one).
    pub fn is_live(&self) -> bool {
        !matches!(self, Input::File(_))
    }
}

/// Audio pushed per step when a file is played as if live.
const PACE_CHUNK: usize = SAMPLE_RATE as usize / 10;

/// Start feeding `audio` from a file. The file is decoded first, so a bad file is an error here;
/// `paced` plays it at real-time speed, otherwise it all arrives at once.
pub fn feed_file(
    path: PathBuf,
    paced: bool,
    audio: Arc<AudioState>,
) -> Result<JoinHandle<()>, AudioError> {
    let decoded = load_file(&path)?;
    spawn("livecap-file", move || {
        if !paced {
            audio.push(&decoded.samples);
            audio.finish(None);
            return;
        }
        let start = Instant::now();
        for (k, chunk) in decoded.samples.chunks(PACE_CHUNK).enumerate() {
            let due = start + Duration::from_secs_f64(((k + 1) * PACE_CHUNK) as f64 / 16_000.0);
            std::thread::sleep(due.saturating_duration_since(Instant::now()));
            audio.push(chunk);
        }
        audio.finish(None);
    })
}

/// Start feeding `audio` from raw PCM on standard input.
pub fn feed_stdin(format: PcmFormat, audio: Arc<AudioState>) -> Result<JoinHandle<()>, AudioError> {
    spawn("livecap-stdin", move || {
        let stdin = std::io::stdin();
        let res = read_pcm(stdin.lock(), format, "standard input", &mut |s| {
            audio.push(s)
        });
        match res {
            Ok(end) => {
                if end.leftover_bytes > 0 {
                    eprintln!(
                        "livecap: standard input ended with {} bytes that do not make a whole frame; they were ignored",
                        end.leftover_bytes
                    );
                }
                audio.finish(None);
            }
            Err(e) => audio.finish(Some(e.to_string())),
        }
    })
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
        assert!(Input::Stdin.is_live());
        assert!(!Input::parse("a.wav").is_live());
    }
}
