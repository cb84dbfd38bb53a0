//! Streaming captions: the re-transcription policies (full history, trailing window), the commit
//! logic that keeps text steady, the stream clock, and the events a stream reports. Knows
//! nothing of terminals; the loop that drives them lives in [`crate::live`].

pub mod clock;
pub mod commit;
pub mod policy;

use serde::{Deserialize, Serialize};

pub use clock::{Clock, ClockKind};
pub use commit::{Committer, Word};
pub use policy::{Mode, Streamer, Update};

use crate::audio::state::NoticeKind;

/// One thing that happened in a stream. Times are seconds: `start`/`end` of audio since the
/// stream began, `emitted_at` on the stream clock.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Event {
    /// The tentative tail, replacing the previous one (empty text clears it).
    Partial {
        text: String,
        start: f64,
        end: f64,
        emitted_at: f64,
    },
    /// Words that are final.
    Commit {
        text: String,
        start: f64,
        end: f64,
        emitted_at: f64,
        words: Vec<Word>,
    },
    /// One re-transcription: which audio, and what it cost.
    Update {
        mode: Mode,
        audio_start: f64,
        audio_end: f64,
        compute: f64,
        skipped: bool,
        /// Seconds of heard audio still held for later updates.
        held: f64,
        /// Seconds of audio until the next update: `--step`, or more while updates take longer.
        #[serde(default)]
        step: f64,
        /// What the update computed, counted: windows through the encoder, and tokens
        /// through the decoder.
        #[serde(default)]
        encoder_passes: u64,
        #[serde(default)]
        decoder_tokens: u64,
        emitted_at: f64,
    },
    /// Inference is slower than the step: updates were merged and the captions trail the audio.
    Lag {
        /// Seconds between the end of the audio last transcribed and its result.
        behind: f64,
        compute: f64,
        /// Scheduled updates merged into this one since the last lag event.
        coalesced: u32,
        emitted_at: f64,
    },
    /// The policy changed.
    Mode { mode: Mode, emitted_at: f64 },
    /// A break asked for (a pause, a new session): everything before it is committed.
    Break {
        reason: BreakReason,
        /// Seconds of audio heard when it happened.
        at: f64,
        emitted_at: f64,
    },
    /// News from the audio source: a device lost, back, switched; audio dropped.
    Device {
        kind: NoticeKind,
        device: String,
        message: String,
        /// Seconds of audio heard when it happened (a device that came back resumes after the
        /// silence standing for the time it was away).
        at: f64,
        emitted_at: f64,
    },
    /// The stream is over.
    End {
        /// Seconds of audio.
        duration: f64,
        updates: u32,
        /// Seconds of computation over all updates.
        compute: f64,
        words: usize,
        mode: Mode,
        emitted_at: f64,
    },
}

/// Whether `secs` is a usable window length; if not, what to give instead.
pub fn check_window(secs: f64) -> Result<(), &'static str> {
    if secs.is_finite() && (1.0..=25.0).contains(&secs) {
        Ok(())
    } else {
        Err("give seconds between 1 and 25")
    }
}

/// Whether `secs` is a usable time between updates; if not, what to give instead.
pub fn check_step(secs: f64) -> Result<(), &'static str> {
    if secs.is_finite() && (0.05..=30.0).contains(&secs) {
        Ok(())
    } else {
        Err("give seconds between 0.05 and 30")
    }
}

/// Why the stream was asked to commit everything so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BreakReason {
    /// Capture paused: what follows is not a continuation of what came before.
    Pause,
    /// A new session begins.
    NewSession,
}

pub(crate) fn text_of(words: &[Word]) -> String {
    words
        .iter()
        .map(|w| w.text.as_str())
        .collect::<Vec<_>>()
        .join(" ")
}
