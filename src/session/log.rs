//! A session on disk: a private directory per session holding `transcript.jsonl` (one committed
//! segment per line, written and synced to disk the moment it is committed) and `session.json`
//! (what the session was: when, from what, with which model), so that whatever happens to the
//! process, what was committed is on disk and readable.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::asr::{Segment, Transcript};

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
}

/// A transcript as read back: its entries, and whether its last line was cut off (the process
/// was killed while writing it).
#[derive(Debug, Clone, PartialEq)]
pub struct ReadBack {
    pub entries: Vec<Entry>,
    pub torn: bool,
}

/// Seconds since the Unix epoch, now.
pub fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// `YYYY-MM-DDTHH-MM-SSZ` (UTC) for `secs` since the Unix epoch: sortable and safe in a path.
pub fn id_for(secs: f64) -> String {
    let t = secs.max(0.0) as i64;
    let (days, rest) = (t.div_euclid(86_400), t.rem_euclid(86_400));
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}-{:02}-{:02}Z",
        rest / 3600,
        (rest / 60) % 60,
        rest % 60
    )
}

/// Whether `id` can name a session: letters, digits, `-`, `_`, `.` (not leading), so it can
/// never reach outside the sessions directory.
pub fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && !id.starts_with('.')
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// Where sessions live under a data directory.
pub fn sessions_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("sessions")
}

#[cfg(unix)]
fn private_dir(path: &Path) -> io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    fs::DirBuilder::new().mode(0o700).create(path)
}

#[cfg(not(unix))]
fn private_dir(path: &Path) -> io::Result<()> {
    fs::create_dir(path)
}

/// Options that write, creating the file readable by the owner only.
pub fn private_file() -> OpenOptions {
    let mut o = OpenOptions::new();
    o.write(true).create(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(0o600);
    }
    o
}

/// Create (or replace) a file readable by the owner only, for transcript text written elsewhere
/// (exports).
pub fn create_private(path: &Path) -> io::Result<File> {
    private_file().truncate(true).open(path)
}

/// A session being recorded.
#[derive(Debug)]
pub struct SessionLog {
    dir: PathBuf,
    transcript: File,
    meta: Meta,
}

impl SessionLog {
    /// Start a session under `data_dir`: a new private directory named by the time.
    pub fn create(data_dir: &Path, source: &str, model: &str) -> Result<SessionLog, SessionError> {
        let root = sessions_dir(data_dir);
        fs::create_dir_all(&root).map_err(|source| SessionError::Create {
            path: root.clone(),
            source,
        })?;
        let started = now();
        let base = id_for(started);
        let mut n = 1;
        let (id, dir) = loop {
            let id = if n == 1 {
                base.clone()
            } else {
                format!("{base}.{n}")
            };
            let dir = root.join(&id);
            match private_dir(&dir) {
                Ok(()) => break (id, dir),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists && n < 1000 => n += 1,
                Err(source) => return Err(SessionError::Create { path: dir, source }),
            }
        };
        let path = dir.join(TRANSCRIPT);
        let transcript = private_file()
            .append(true)
            .open(&path)
            .map_err(|source| SessionError::Write { path, source })?;
        let meta = Meta {
            id,
            started,
            ended: None,
            source: source.to_string(),
            model: model.to_string(),
            title: None,
        };
        let log = SessionLog {
            dir,
            transcript,
            meta,
        };
        log.write_meta()?;
        Ok(log)
    }

    pub fn id(&self) -> &str {
        &self.meta.id
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Append one committed segment; on disk (synced) when this returns.
    pub fn append(&mut self, e: &Entry) -> Result<(), SessionError> {
        let path = || self.dir.join(TRANSCRIPT);
        let mut line = serde_json::to_vec(e).map_err(|err| SessionError::Write {
            path: path(),
            source: io::Error::other(err),
        })?;
        line.push(b'\n');
        self.transcript
            .write_all(&line)
            .and_then(|_| self.transcript.sync_data())
            .map_err(|source| SessionError::Write {
                path: path(),
                source,
            })
    }

    /// Give the session a title (any text: it is kept in the metadata, never in a path).
    pub fn set_title(&mut self, title: &str) -> Result<(), SessionError> {
        self.meta.title = Some(title.to_string());
        self.write_meta()
    }

    /// Mark the session as ended cleanly.
    pub fn finish(&mut self) -> Result<(), SessionError> {
        self.meta.ended = Some(now());
        self.write_meta()
    }

    /// Write the metadata whole or not at all (a temporary file renamed over it).
    fn write_meta(&self) -> Result<(), SessionError> {
        let path = self.dir.join(META);
        let tmp = self.dir.join(format!("{META}.tmp"));
        let write = || -> io::Result<()> {
            let mut f = private_file().truncate(true).open(&tmp)?;
            serde_json::to_writer_pretty(&mut f, &self.meta).map_err(io::Error::other)?;
            f.write_all(b"\n")?;
            f.sync_all()?;
            fs::rename(&tmp, &path)
        };
        write().map_err(|source| SessionError::Write { path, source })
    }
}

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

/// The directory of session `id` under `data_dir`, if there is one.
pub fn find(data_dir: &Path, id: &str) -> Result<PathBuf, SessionError> {
    let missing = || SessionError::NoSuchSession { id: id.to_string() };
    if !valid_id(id) {
        return Err(missing());
    }
    let dir = sessions_dir(data_dir).join(id);
    if dir.join(TRANSCRIPT).is_file() {
        Ok(dir)
    } else {
        Err(missing())
    }
}

/// The ids of the sessions under `data_dir`, oldest first.
pub fn list_ids(data_dir: &Path) -> Vec<String> {
    let mut ids: Vec<String> = fs::read_dir(sessions_dir(data_dir))
        .map(|d| {
            d.filter_map(Result::ok)
                .filter_map(|e| e.file_name().into_string().ok())
                .filter(|id| valid_id(id))
                .collect()
        })
        .unwrap_or_default();
    ids.retain(|id| sessions_dir(data_dir).join(id).join(TRANSCRIPT).is_file());
    ids.sort();
    ids
}

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

fn cues(entries: &[Entry]) -> Vec<Segment> {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(text: &str, start: f64) -> Entry {
        Entry {
            text: text.into(),
            start,
            end: start + 1.0,
            wall: 1_700_000_000.0 + start,
            mode: "window".into(),
            model: "tiny.en".into(),
        }
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
