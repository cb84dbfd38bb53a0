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

pub(super) fn cues(entries: &[Entry]) -> Vec<Segment> {
    let mut cues = Lines::new(CUE_CHARS, CUE_SECS);
    for e in entries {
        cues.push(&e.text, e.start.max(0.0), e.end);
    }
    cues.into_lines()
        .iter()
        .map(|c| Segment::from_text(c.start, c.end, &c.text))
        .collect()
}
