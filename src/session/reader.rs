//! Reading sessions back: a transcript line by line (a line cut off by a killed process is left
//! out and reported), the metadata, and a session at a glance.

use std::fs;
use std::path::Path;

use super::ids::find;
use super::log::{Entry, Meta, ReadBack, SessionError, META, TRANSCRIPT};

/// Read a transcript back. A last line without its newline, or that does not parse, is a line
/// the process was killed while writing: it is left out and reported as `torn`. A bad line
/// anywhere else is damage.
pub fn read_transcript(path: &Path) -> Result<ReadBack, SessionError> {
    let bytes = fs::read(path).map_err(|source| SessionError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let complete = bytes.ends_with(b"\n");
    let text = String::from_utf8_lossy(&bytes);
    let lines: Vec<&str> = text.lines().collect();
    let mut entries = Vec::with_capacity(lines.len());
    let mut torn = false;
    for (i, line) in lines.iter().enumerate() {
        let last = i + 1 == lines.len();
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<Entry>(line) {
            Ok(e) if !last || complete => entries.push(e),
            Ok(_) => torn = true,
            Err(_) if last => torn = true,
            Err(e) => {
                return Err(SessionError::Damaged {
                    path: path.to_path_buf(),
                    line: i + 1,
                    reason: e.to_string(),
                })
            }
        }
    }
    Ok(ReadBack { entries, torn })
}

/// A session at a glance.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    pub id: String,
    /// Unix seconds, from the metadata (or the first line's wall time).
    pub started: Option<f64>,
    /// Seconds of audio up to the last committed word.
    pub duration: f64,
    pub words: usize,
    pub title: Option<String>,
    /// The last line was cut off (the process was killed while writing it).
    pub torn: bool,
}

/// Read the metadata, if it is there and whole.
pub fn read_meta(dir: &Path) -> Option<Meta> {
    let text = fs::read_to_string(dir.join(META)).ok()?;
    serde_json::from_str(&text).ok()
}

/// Summarize session `id` under `data_dir`.
pub fn summarize(data_dir: &Path, id: &str) -> Result<Summary, SessionError> {
    let dir = find(data_dir, id)?;
    let back = read_transcript(&dir.join(TRANSCRIPT))?;
    let meta = read_meta(&dir);
    Ok(Summary {
        id: id.to_string(),
        started: meta
            .as_ref()
            .map(|m| m.started)
            .or_else(|| back.entries.first().map(|e| e.wall)),
        duration: back.entries.iter().map(|e| e.end).fold(0.0, f64::max),
        words: back
            .entries
            .iter()
            .map(|e| e.text.split_whitespace().count())
            .sum(),
        title: meta.and_then(|m| m.title),
        torn: back.torn,
    })
}
