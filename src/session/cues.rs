//! A session's committed pieces joined into subtitle-sized cues for export.

use std::path::Path;

use super::log::{Entry, SessionError, TRANSCRIPT};
use super::reader::read_transcript;
use crate::asr::{Segment, Transcript};

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
    let mut out: Vec<Segment> = Vec::new();
    let mut open = false;
    for e in entries {
        let text = e.text.trim();
        if text.is_empty() {
            continue;
        }
        let floor = out.last().map_or(0.0, |c| c.end);
        match out.last_mut() {
            Some(c)
                if open
                    && c.text.len() + 1 + text.len() <= CUE_CHARS
                    && e.end - c.start <= CUE_SECS =>
            {
                c.text.push(' ');
                c.text.push_str(text);
                c.end = c.end.max(e.end);
            }
            _ => {
                let start = e.start.max(floor);
                out.push(Segment::from_text(start, e.end.max(start), text));
            }
        }
        open = !crate::stream::ends_sentence(text);
    }
    out
}
