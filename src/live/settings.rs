//! A live session's settings and their defaults. The command line's flags are merged over the
//! config file over these defaults once, for the app and `livecap stream` alike, by
//! `LiveArgs::settings` in `cli`.

use crate::asr::{ComputeType, DecodeOptions};
use crate::audio::source::Input;
use crate::session::RecordOptions;
use crate::stream::Mode;

/// The model when neither a flag nor the config file names one.
pub const MODEL: &str = crate::asr::DEFAULT_MODEL;
/// The window when none is given (seconds).
pub const WINDOW: f64 = 5.0;
/// Seconds between updates when none is given. Half a second commits worse text on varied
/// speech (stream-dev, stepped clock: tiny.en 28.1 % WER against 22.9 % at 1 s, base at int8
/// 30.7 % against 24.1 %) for 0.25 s less commit latency at the median.
pub const STEP: f64 = 1.0;

/// What a live session runs with, checked.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Where the audio comes from (no `--input`: the system's default input device).
    pub input: Input,
    /// A second input captioned apart in the same session (`--input A+B`), and the labels of
    /// the two ("You" and "Them" by default: system audio is "Them").
    pub second: Option<Input>,
    pub labels: [String; 2],
    pub model: String,
    pub compute: ComputeType,
    pub mode: Mode,
    pub window: f64,
    pub step: f64,
    pub decode: DecodeOptions,
    /// How the session is kept on disk; `None` with `--no-save`.
    pub record: Option<RecordOptions>,
}
