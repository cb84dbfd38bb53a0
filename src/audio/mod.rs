//! Audio in: files (wav, flac, mp3, ogg/vorbis) and raw PCM streams of any sample rate, sample
//! format and channel count, turned into 16 kHz mono `f32`, the one format the engine works in;
//! and the live sources that feed a stream.

pub mod device;
pub mod file;
pub mod level;
pub mod pcm;
pub mod resample;
pub mod source;
pub mod state;
pub mod vad;

use std::path::PathBuf;

pub use file::load_file;
pub use state::AudioState;

/// The engine's sample rate.
pub const SAMPLE_RATE: u32 = 16_000;

#[derive(Debug, thiserror::Error)]
pub enum AudioError {
    #[error("audio file {} does not exist", .path.display())]
    NotFound { path: PathBuf },
    #[error("cannot read audio file {}: {source}", .path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("audio file {} is empty (0 bytes)", .path.display())]
    Empty { path: PathBuf },
    #[error("{} is not an audio file livecap can read (wav, flac, mp3 or ogg): {reason}", .path.display())]
    Unsupported { path: PathBuf, reason: String },
    #[error("audio file {} is damaged: {reason}", .path.display())]
    Corrupt { path: PathBuf, reason: String },
    #[error("audio input {}: {reason}", device_label(.device))]
    Device { device: String, reason: String },
    #[error("cannot read audio from {what}: {reason}")]
    Stream { what: String, reason: String },
    #[error("input device {device} gives audio {speed:.0} times faster than real time, so it is not a live source (an ALSA file plugin over the null device does this); give it a paced slave, or pass the recording with --input FILE")]
    NotLive { device: String, speed: f64 },
    #[error("cannot resample audio from {from} Hz: {reason}")]
    Resample { from: u32, reason: String },
}

/// How a device named on the command line is shown in messages.
fn device_label(spec: &str) -> String {
    if spec.is_empty() {
        "the default input device".into()
    } else {
        format!("device:{spec}")
    }
}

/// Decoded audio, 16 kHz mono.
#[derive(Debug, Clone)]
pub struct Audio {
    pub samples: Vec<f32>,
    /// The file's own rate and channel count, for reporting.
    pub source_rate: u32,
    pub source_channels: usize,
}

impl Audio {
    pub fn duration(&self) -> f64 {
        self.samples.len() as f64 / SAMPLE_RATE as f64
    }
}
