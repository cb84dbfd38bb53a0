//! Writing a session as it happens: its private directory, each committed segment appended and
//! synced the moment it is committed, and the metadata replaced whole.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use super::ids::{id_for, now, sessions_dir};
use super::log::{Entry, Meta, SessionError, META, TRANSCRIPT};
use crate::private::{private_dir, private_file};

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
            labels: Vec::new(),
            pid: Some(std::process::id()),
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

    /// Say which two inputs the session captions apart, in input order.
    pub fn set_labels(&mut self, labels: &[String]) -> Result<(), SessionError> {
        self.meta.labels = labels.to_vec();
        self.write_meta()
    }

    /// Mark the session as ended cleanly.
    pub fn finish(&mut self) -> Result<(), SessionError> {
        self.meta.ended = Some(now());
        self.meta.pid = None;
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
