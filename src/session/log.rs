//! A session on disk, its format: a private directory per session holding `transcript.jsonl`
//! (one committed segment per line, written and synced to disk the moment it is committed, by
//! `writer`) and `session.json` (what the session was: when, from what, with which model), so
//! that whatever happens to the process, what was committed is on disk and readable (`reader`).

use std::io;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

pub const TRANSCRIPT: &str = "transcript.jsonl";
pub const META: &str = "session.json";

#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("cannot create the session directory {}: {source}", .path.display())]
    Create { path: PathBuf, source: io::Error },
    #[error("cannot write the session's {}: {source}", .path.display())]
    Write { path: PathBuf, source: io::Error },
    #[error("cannot read {}: {source}", .path.display())]
    Read { path: PathBuf, source: io::Error },
    #[error("{}, line {line}, is damaged: {reason}", .path.display())]
    Damaged {
        path: PathBuf,
        line: usize,
        reason: String,
    },
    #[error("no session has the id {id:?}; `livecap sessions list` shows them")]
    NoSuchSession { id: String },
    #[error("no session is being recorded now; give a session's id (`livecap sessions list` shows them)")]
    NoneRecording,
}

/// One committed segment, as the transcript keeps it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    pub text: String,
    /// Seconds of audio since the session began.
    pub start: f64,
    pub end: f64,
    /// When it was committed, seconds since the Unix epoch.
    pub wall: f64,
    pub mode: String,
    pub model: String,
    /// Which input said it, when a session captions two apart ("You", "Them").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
}

/// What a session was.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Meta {
    pub id: String,
    /// Seconds since the Unix epoch.
    pub started: f64,
    /// Set when the session ended cleanly.
    pub ended: Option<f64>,
    pub source: String,
    pub model: String,
    pub title: Option<String>,
    /// The two inputs' labels when a session captioned two apart, in the order of their kept
    /// audio files (`audio.wav`, `audio.2.wav`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub labels: Vec<String>,
    /// The process recording it, while it does (to tell a session being recorded from one whose
    /// recorder was killed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<u32>,
}

/// A transcript as read back: its entries, and whether its last line was cut off (the process
/// was killed while writing it).
#[derive(Debug, Clone, PartialEq)]
pub struct ReadBack {
    pub entries: Vec<Entry>,
    pub torn: bool,
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::session::cues::cues;
    use crate::session::ids::{find, id_for, list_ids, now, valid_id};
    use crate::session::reader::{read_transcript, summarize};
    use crate::session::writer::SessionLog;
    use std::fs;
    use std::path::Path;

    /// A committed piece said from `start`, for a second.
    pub(crate) fn entry(text: &str, start: f64) -> Entry {
        Entry {
            text: text.into(),
            start,
            end: start + 1.0,
            wall: 1_700_000_000.0 + start,
            mode: "window".into(),
            model: "tiny.en".into(),
            source: None,
        }
    }

    #[test]
    fn two_inputs_are_cued_apart_and_in_order_of_time() {
        let said = |text: &str, start: f64, who: &str| Entry {
            source: Some(who.into()),
            ..entry(text, start)
        };
        let cues = cues(&[
            said("Can you", 0.0, "You"),
            said("Yes,", 0.5, "Them"),
            said("hear me?", 1.0, "You"),
            said("I can.", 1.5, "Them"),
        ]);
        let got: Vec<(Option<&str>, &str)> = cues
            .iter()
            .map(|c| (c.speaker.as_deref(), c.text.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                (Some("You"), "Can you hear me?"),
                (Some("Them"), "Yes, I can.")
            ]
        );
    }

    #[test]
    fn pieces_join_into_cues_that_never_overlap() {
        let e = |text: &str, start: f64, end: f64| Entry {
            end,
            ..entry(text, start)
        };
        let cues = cues(&[
            e("from wood", 0.7, 1.4),
            e("blocks", 1.1, 1.6),
            e("engraved in relief.", 1.6, 3.0),
            e("Then", 2.9, 3.2),
            e(
                "a long stretch of words that goes on and on and on and on and on",
                3.2,
                8.0,
            ),
            e("and more", 8.0, 10.0),
            e("   ", 10.0, 10.5),
        ]);
        let texts: Vec<&str> = cues.iter().map(|c| c.text.as_str()).collect();
        assert_eq!(
            texts,
            vec![
                "from wood blocks engraved in relief.",
                "Then a long stretch of words that goes on and on and on and on and on",
                "and more"
            ]
        );
        for pair in cues.windows(2) {
            assert!(pair[1].start >= pair[0].end, "{pair:?}");
        }
        assert_eq!((cues[1].start, cues[1].end), (3.0, 8.0));
    }

    #[test]
    fn ids_are_utc_times() {
        assert_eq!(id_for(0.0), "1970-01-01T00-00-00Z");
        assert_eq!(id_for(951_782_400.0), "2000-02-29T00-00-00Z");
        assert_eq!(id_for(1_795_391_999.0), "2026-11-22T23-59-59Z");
        assert!(valid_id(&id_for(now())));
        for bad in ["", "..", "../x", "a/b", ".hidden", "a b", "x\0"] {
            assert!(!valid_id(bad), "{bad:?}");
        }
    }

    #[test]
    fn a_session_is_private_and_reads_back() {
        let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let mut log = SessionLog::create(tmp.path(), "device:mic", "tiny.en")
            .unwrap_or_else(|e| panic!("{e}"));
        let other = SessionLog::create(tmp.path(), "x", "y").unwrap_or_else(|e| panic!("{e}"));
        assert_ne!(log.id(), other.id(), "two sessions in one second");
        log.append(&entry("Hello there.", 0.0))
            .unwrap_or_else(|e| panic!("{e}"));
        log.append(&entry("How are you?", 1.5))
            .unwrap_or_else(|e| panic!("{e}"));
        log.finish().unwrap_or_else(|e| panic!("{e}"));
        let back = read_transcript(&log.dir().join(TRANSCRIPT)).unwrap_or_else(|e| panic!("{e}"));
        assert!(!back.torn);
        assert_eq!(
            back.entries,
            vec![entry("Hello there.", 0.0), entry("How are you?", 1.5)]
        );
        let meta: Meta =
            serde_json::from_str(&fs::read_to_string(log.dir().join(META)).unwrap_or_default())
                .unwrap_or_else(|e| panic!("{e}"));
        assert!(meta.ended.is_some());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = |p: &Path| fs::metadata(p).map(|m| m.permissions().mode() & 0o777).ok();
            assert_eq!(mode(log.dir()), Some(0o700));
            assert_eq!(mode(&log.dir().join(TRANSCRIPT)), Some(0o600));
            assert_eq!(mode(&log.dir().join(META)), Some(0o600));
        }
        assert_eq!(list_ids(tmp.path()).len(), 2);
        assert!(find(tmp.path(), log.id()).is_ok());
        assert!(find(tmp.path(), "../sessions").is_err());
        let sum = summarize(tmp.path(), log.id()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((sum.words, sum.duration, sum.torn), (5, 2.5, false));
        assert_eq!(sum.started, Some(meta.started));
    }

    #[test]
    fn a_torn_last_line_is_detected_and_damage_elsewhere_reported() {
        let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = tmp.path().join(TRANSCRIPT);
        let good = serde_json::to_string(&entry("One.", 0.0)).unwrap_or_default();
        fs::write(&path, format!("{good}\n{}", &good[..good.len() / 2]))
            .unwrap_or_else(|e| panic!("{e}"));
        let back = read_transcript(&path).unwrap_or_else(|e| panic!("{e}"));
        assert!(back.torn);
        assert_eq!(back.entries.len(), 1);
        // A whole line that lost only its newline is still torn: it may be incomplete.
        fs::write(&path, format!("{good}\n{good}")).unwrap_or_else(|e| panic!("{e}"));
        let back = read_transcript(&path).unwrap_or_else(|e| panic!("{e}"));
        assert!(back.torn);
        assert_eq!(back.entries.len(), 1);
        fs::write(&path, format!("{good}\nnot json\n{good}\n")).unwrap_or_else(|e| panic!("{e}"));
        assert!(matches!(
            read_transcript(&path),
            Err(SessionError::Damaged { line: 2, .. })
        ));
    }
}
