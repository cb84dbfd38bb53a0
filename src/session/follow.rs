//! Following a session while another livecap records it: the lines committed since the last
//! look, read from its transcript as they are synced (a line still being written is waited for,
//! never read half), and whether the recording is over, from its metadata. Only the session's
//! files are read: no socket, no lock.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use super::ids::{list_ids, sessions_dir};
use super::log::{Entry, SessionError, TRANSCRIPT};
use super::reader::read_meta;

/// How often a followed session's files are looked at.
pub const EVERY: std::time::Duration = std::time::Duration::from_millis(100);

/// Where a followed recording is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recording {
    /// Still being recorded.
    Live,
    /// Closed cleanly: every line is written.
    Ended,
    /// The process recording it is gone without closing it (it was killed).
    Abandoned,
}

/// A session's transcript, read as it grows.
#[derive(Debug)]
pub struct Follower {
    dir: PathBuf,
    /// Bytes of the transcript read so far.
    offset: u64,
    /// The start of a line not yet ended.
    pending: Vec<u8>,
    /// Lines read so far (for naming a damaged one).
    lines: usize,
}

impl Follower {
    /// Follow the session in `dir`; with `from_now`, the lines already there are skipped.
    pub fn open(dir: &Path, from_now: bool) -> Result<Follower, SessionError> {
        let mut f = Follower {
            dir: dir.to_path_buf(),
            offset: 0,
            pending: Vec::new(),
            lines: 0,
        };
        if from_now {
            f.read_new()?;
        }
        Ok(f)
    }

    /// The session's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The lines whole on disk since the last call.
    pub fn read_new(&mut self) -> Result<Vec<Entry>, SessionError> {
        let path = self.dir.join(TRANSCRIPT);
        let read = |source| SessionError::Read {
            path: path.clone(),
            source,
        };
        let mut file = File::open(&path).map_err(read)?;
        file.seek(SeekFrom::Start(self.offset)).map_err(read)?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes).map_err(read)?;
        self.offset += bytes.len() as u64;
        self.pending.extend_from_slice(&bytes);
        let Some(last_newline) = self.pending.iter().rposition(|&b| b == b'\n') else {
            return Ok(Vec::new());
        };
        let whole: Vec<u8> = self.pending.drain(..=last_newline).collect();
        let mut entries = Vec::new();
        for line in whole.split(|&b| b == b'\n') {
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            self.lines += 1;
            let entry =
                serde_json::from_slice::<Entry>(line).map_err(|e| SessionError::Damaged {
                    path: path.clone(),
                    line: self.lines,
                    reason: e.to_string(),
                })?;
            entries.push(entry);
        }
        Ok(entries)
    }

    /// Whether the recording goes on. Asked before [`Follower::read_new`], an answer other than
    /// `Live` means that read gets every line there will ever be.
    pub fn recording(&self) -> Recording {
        match read_meta(&self.dir) {
            Some(m) if m.ended.is_some() => Recording::Ended,
            Some(m) if m.pid.is_some_and(|pid| !alive(pid)) => Recording::Abandoned,
            None if !self.dir.exists() => Recording::Abandoned,
            _ => Recording::Live,
        }
    }
}

/// The newest session under `data_dir` that is still being recorded.
pub fn newest_live(data_dir: &Path) -> Option<String> {
    list_ids(data_dir).into_iter().rev().find(|id| {
        let dir = sessions_dir(data_dir).join(id);
        read_meta(&dir).is_some_and(|m| m.ended.is_none() && m.pid.is_some_and(alive))
    })
}

/// Whether process `pid` is running.
fn alive(pid: u32) -> bool {
    #[cfg(unix)]
    {
        let Ok(pid) = libc::pid_t::try_from(pid) else {
            return false;
        };
        // SAFETY: signal 0 only checks that the process exists and may be signalled.
        let r = unsafe { libc::kill(pid, 0) };
        r == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
    }
    #[cfg(not(unix))]
    {
        let _ = pid;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::log::tests::entry;
    use crate::session::log::META;
    use crate::session::writer::SessionLog;
    use std::io::Write;

    #[test]
    fn lines_are_read_as_they_come_and_a_torn_one_is_waited_for() {
        let data = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let mut log =
            SessionLog::create(data.path(), "test", "tiny.en").unwrap_or_else(|e| panic!("{e}"));
        log.append(&entry("Before.", 0.0))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(newest_live(data.path()).as_deref(), Some(log.id()));
        let mut all = Follower::open(log.dir(), false).unwrap_or_else(|e| panic!("{e}"));
        let mut now = Follower::open(log.dir(), true).unwrap_or_else(|e| panic!("{e}"));
        let texts = |f: &mut Follower| -> Vec<String> {
            let got = f.read_new().unwrap_or_else(|e| panic!("{e}"));
            got.into_iter().map(|e| e.text).collect()
        };
        assert_eq!(texts(&mut all), ["Before."]);
        assert!(texts(&mut now).is_empty());
        assert_eq!(all.recording(), Recording::Live);

        // Half a line on disk: nothing, until the rest comes.
        let line = serde_json::to_string(&entry("After, in two writes.", 1.0))
            .unwrap_or_else(|e| panic!("{e}"));
        let (a, b) = line.split_at(line.len() / 2);
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .open(log.dir().join(TRANSCRIPT))
            .unwrap_or_else(|e| panic!("{e}"));
        write!(file, "{a}").unwrap_or_else(|e| panic!("{e}"));
        assert!(texts(&mut all).is_empty());
        writeln!(file, "{b}").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(texts(&mut all), ["After, in two writes."]);
        assert_eq!(texts(&mut now), ["After, in two writes."]);

        log.finish().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(all.recording(), Recording::Ended);
        assert_eq!(newest_live(data.path()), None);
    }

    #[test]
    fn a_session_whose_process_is_gone_is_abandoned_and_damage_is_named() {
        let data = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let log =
            SessionLog::create(data.path(), "test", "tiny.en").unwrap_or_else(|e| panic!("{e}"));
        let meta = log.dir().join(META);
        let text = std::fs::read_to_string(&meta).unwrap_or_else(|e| panic!("{e}"));
        let mut m: serde_json::Value =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}"));
        // A pid no process has (above the kernel's limit).
        m["pid"] = serde_json::json!(u32::MAX - 1);
        std::fs::write(&meta, m.to_string()).unwrap_or_else(|e| panic!("{e}"));
        let mut f = Follower::open(log.dir(), false).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(f.recording(), Recording::Abandoned);
        assert_eq!(newest_live(data.path()), None);
        std::fs::write(log.dir().join(TRANSCRIPT), "{\"text\": 1}\n")
            .unwrap_or_else(|e| panic!("{e}"));
        let err = f.read_new().map(|_| ()).map_err(|e| e.to_string());
        assert!(err.as_ref().is_err_and(|e| e.contains("line 1")), "{err:?}");
    }
}
