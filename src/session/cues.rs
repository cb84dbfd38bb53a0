//! A session's committed pieces joined into subtitle-sized cues for export.

use std::path::Path;

use super::log::{Entry, SessionError, TRANSCRIPT};
use super::reader::read_transcript;
use crate::transcript::Lines;
use crate::transcript::{Segment, Transcript};

/// A cue ends at a sentence's end, or once it is this long (characters or seconds).
const CUE_CHARS: usize = 84;
const CUE_SECS: f64 = 6.0;

/// A session's transcript as a [`Transcript`] for the export writers: the committed pieces
/// joined into subtitle-sized cues (a sentence, or at most two lines or six seconds), in order
/// and never overlapping. A torn last line is left out.
pub fn load_transcript(dir: &Path) -> Result<Transcript, SessionError> {
    let back = read_transcript(&dir.join(TRANSCRIPT))?;
    Ok(Transcript {
        language: String::new(),
        duration: back.entries.iter().map(|e| e.end).fold(0.0, f64::max),
        segments: cues(&back.entries),
    })
}

/// The cues of each input apart (a session of two inputs keeps which said what), then all of
/// them in order of time, each with its speaker.
pub(super) fn cues(entries: &[Entry]) -> Vec<Segment> {
    let mut speakers: Vec<Option<&str>> = Vec::new();
    for e in entries {
        if !speakers.contains(&e.source.as_deref()) {
            speakers.push(e.source.as_deref());
        }
    }
    let mut all: Vec<Segment> = Vec::new();
    for speaker in speakers {
        let mut cues = Lines::new(CUE_CHARS, CUE_SECS);
        for e in entries.iter().filter(|e| e.source.as_deref() == speaker) {
            cues.push(&e.text, e.start.max(0.0), e.end);
        }
        all.extend(cues.into_lines().iter().map(|c| Segment {
            speaker: speaker.map(str::to_string),
            ..Segment::from_text(c.start, c.end, &c.text)
        }));
    }
    // Stable: one speaker's cues keep their order.
    all.sort_by(|a, b| a.start.total_cmp(&b.start));
    all
}
