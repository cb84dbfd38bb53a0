//! Recording a running stream as sessions: every commit appended to the session's transcript the
//! moment it happens, a new session begun on request, the metadata closed at the end. Whoever
//! runs the stream hands its events here before showing them, so what is shown is on disk.

use std::path::{Path, PathBuf};

use super::log::{now, Entry, SessionError, SessionLog};
use crate::stream::{BreakReason, Event, Mode};

/// What happened to the recording, for whoever shows it.
#[derive(Debug, Clone, PartialEq)]
pub enum News {
    /// A session began: its id and directory.
    Started { id: String, dir: PathBuf },
    /// Writing failed (the captions go on; later commits are tried again).
    Failed(String),
    /// Writing works again after a failure.
    Recovered,
}

/// Records a stream's commits into sessions under a data directory.
#[derive(Debug)]
pub struct Recorder {
    data_dir: PathBuf,
    source: String,
    model: String,
    log: Option<SessionLog>,
    /// Stream seconds at which the current session began (its entries count from there).
    base: f64,
    mode: Mode,
    failing: bool,
}

impl Recorder {
    /// Start recording the first session. An error here (an unwritable data directory) is
    /// reported as news, and the recorder tries again at the next commit.
    pub fn start(data_dir: &Path, source: &str, model: &str, mode: Mode) -> (Recorder, News) {
        let mut r = Recorder {
            data_dir: data_dir.to_path_buf(),
            source: source.to_string(),
            model: model.to_string(),
            log: None,
            base: 0.0,
            mode,
            failing: false,
        };
        let news = r.open();
        (r, news)
    }

    fn open(&mut self) -> News {
        match SessionLog::create(&self.data_dir, &self.source, &self.model) {
            Ok(log) => {
                let news = News::Started {
                    id: log.id().to_string(),
                    dir: log.dir().to_path_buf(),
                };
                self.log = Some(log);
                self.failing = false;
                news
            }
            Err(e) => {
                self.failing = true;
                News::Failed(e.to_string())
            }
        }
    }

    /// The current session's id, once it exists.
    pub fn id(&self) -> Option<&str> {
        self.log.as_ref().map(|l| l.id())
    }

    /// The current session's directory, once it exists.
    pub fn dir(&self) -> Option<&Path> {
        self.log.as_ref().map(|l| l.dir())
    }

    /// Take one stream event: a commit is written (and synced) before this returns; a break
    /// for a new session closes this session and opens the next.
    pub fn on_event(&mut self, e: &Event) -> Option<News> {
        match e {
            Event::Commit {
                text, start, end, ..
            } => {
                let entry = Entry {
                    text: text.clone(),
                    start: round3((start - self.base).max(0.0)),
                    end: round3((end - self.base).max(0.0)),
                    wall: now(),
                    mode: self.mode.name().to_string(),
                    model: self.model.clone(),
                };
                self.write(&entry)
            }
            Event::Mode { mode, .. } => {
                self.mode = *mode;
                None
            }
            Event::Break {
                reason: BreakReason::NewSession,
                at,
                ..
            } => {
                let closed = self.close();
                self.base = *at;
                let opened = self.open();
                match closed {
                    Err(e) => Some(News::Failed(e.to_string())),
                    Ok(()) => Some(opened),
                }
            }
            _ => None,
        }
    }

    fn write(&mut self, entry: &Entry) -> Option<News> {
        if self.log.is_none() {
            if let News::Failed(e) = self.open() {
                return Some(News::Failed(e));
            }
        }
        let log = self.log.as_mut()?;
        match log.append(entry) {
            Ok(()) if self.failing => {
                self.failing = false;
                Some(News::Recovered)
            }
            Ok(()) => None,
            Err(e) => {
                self.failing = true;
                Some(News::Failed(e.to_string()))
            }
        }
    }

    fn close(&mut self) -> Result<(), SessionError> {
        match self.log.take() {
            Some(mut log) => log.finish(),
            None => Ok(()),
        }
    }

    /// The stream is over: mark the session as ended.
    pub fn finish(mut self) -> Result<(), SessionError> {
        self.close()
    }
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// Where livecap keeps its data: `LIVECAP_DATA_DIR`, or the platform's data directory
/// (`~/.local/share/livecap` on Linux).
pub fn data_dir() -> Option<PathBuf> {
    match std::env::var_os("LIVECAP_DATA_DIR") {
        Some(d) if !d.is_empty() => Some(PathBuf::from(d)),
        _ => dirs::data_dir().map(|d| d.join("livecap")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::log::{read_transcript, TRANSCRIPT};
    use crate::stream::Word;

    fn commit(text: &str, start: f64, end: f64) -> Event {
        Event::Commit {
            text: text.into(),
            start,
            end,
            emitted_at: end + 1.0,
            words: vec![Word::new(text, start, end, end + 1.0)],
        }
    }

    #[test]
    fn commits_are_on_disk_and_a_new_session_counts_from_its_start() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (mut r, news) = Recorder::start(dir.path(), "clip.wav", "tiny.en", Mode::Window);
        let News::Started { dir: first, .. } = news else {
            panic!("no session: {news:?}");
        };
        assert_eq!(r.on_event(&commit("Hello", 1.0, 1.5)), None);
        let back = read_transcript(&first.join(TRANSCRIPT)).expect("read back");
        assert_eq!(back.entries.len(), 1);
        assert_eq!(back.entries[0].mode, "window");
        let news = r.on_event(&Event::Break {
            reason: BreakReason::NewSession,
            at: 10.0,
            emitted_at: 10.5,
        });
        let Some(News::Started { dir: second, .. }) = news else {
            panic!("no new session: {news:?}");
        };
        assert_ne!(first, second);
        r.on_event(&Event::Mode {
            mode: Mode::Full,
            emitted_at: 11.0,
        });
        r.on_event(&commit("again", 12.0, 12.5));
        let back = read_transcript(&second.join(TRANSCRIPT)).expect("read back");
        assert_eq!(back.entries.len(), 1);
        assert_eq!((back.entries[0].start, back.entries[0].end), (2.0, 2.5));
        assert_eq!(back.entries[0].mode, "full");
        r.finish().expect("finish");
    }

    #[cfg(unix)]
    #[test]
    fn an_unwritable_data_dir_is_news_not_a_crash() {
        let dir = tempfile::tempdir().expect("temp dir");
        let file = dir.path().join("not-a-dir");
        std::fs::write(&file, "x").expect("write");
        let (mut r, news) = Recorder::start(&file, "mic", "tiny.en", Mode::Window);
        assert!(
            matches!(news, News::Failed(ref m) if m.contains("not-a-dir")),
            "{news:?}"
        );
        assert!(matches!(
            r.on_event(&commit("Hello", 1.0, 1.5)),
            Some(News::Failed(_))
        ));
        assert!(r.id().is_none());
    }
}
