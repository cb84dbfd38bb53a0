//! Recording a running stream as sessions: every commit appended to the session's transcript the
//! moment it happens, a new session begun on request, the metadata closed at the end. Whoever
//! runs the stream hands its events here before showing them, so what is shown is on disk.

use std::path::{Path, PathBuf};

use super::ids::now;
use super::log::{Entry, SessionError};
use super::wav::WavWriter;
use super::writer::SessionLog;
use crate::audio::SAMPLE_RATE;
use crate::stream::{BreakReason, Event, Mode};

/// The recorded audio's file in a session directory (the first input's, when there are two).
pub const AUDIO: &str = "audio.wav";

/// The file keeping input `lane`'s audio: `audio.wav`, then `audio.2.wav`.
pub fn audio_file(lane: usize) -> String {
    match lane {
        0 => AUDIO.to_string(),
        n => format!("audio.{}.wav", n + 1),
    }
}

/// What a recording is of, and what to keep.
#[derive(Debug, Clone)]
pub struct RecordOptions {
    /// The input, as the user named it.
    pub source: String,
    pub model: String,
    pub mode: Mode,
    pub title: Option<String>,
    /// Keep the audio as WAV beside the transcript (each input's, when there are two).
    pub keep_audio: bool,
    /// The two inputs' labels, when the stream captions two apart.
    pub labels: Option<[String; 2]>,
}

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

/// Records a stream's commits (and, if asked, its audio) into sessions under a data directory.
pub struct Recorder {
    data_dir: PathBuf,
    opts: RecordOptions,
    log: Option<SessionLog>,
    /// Each input's kept audio.
    wavs: Vec<WavWriter>,
    /// Stream seconds at which the current session began (its entries count from there).
    base: f64,
    failing: bool,
    audio_failing: bool,
}

impl Recorder {
    /// Start recording the first session. An error here (an unwritable data directory) is
    /// reported as news, and the recorder tries again at the next commit.
    pub fn start(data_dir: &Path, opts: RecordOptions) -> (Recorder, News) {
        let mut r = Recorder {
            data_dir: data_dir.to_path_buf(),
            opts,
            log: None,
            wavs: Vec::new(),
            base: 0.0,
            failing: false,
            audio_failing: false,
        };
        let news = r.open();
        (r, news)
    }

    fn open(&mut self) -> News {
        let created = SessionLog::create(&self.data_dir, &self.opts.source, &self.opts.model)
            .and_then(|mut log| {
                if let Some(t) = &self.opts.title {
                    log.set_title(t)?;
                }
                if let Some(labels) = &self.opts.labels {
                    log.set_labels(labels)?;
                }
                Ok(log)
            });
        match created {
            Ok(log) => {
                let news = News::Started {
                    id: log.id().to_string(),
                    dir: log.dir().to_path_buf(),
                };
                let inputs = if self.opts.labels.is_some() { 2 } else { 1 };
                if self.opts.keep_audio {
                    for lane in 0..inputs {
                        let path = log.dir().join(audio_file(lane));
                        match WavWriter::create(&path, SAMPLE_RATE) {
                            Ok(w) => self.wavs.push(w),
                            Err(e) => {
                                self.wavs.clear();
                                self.audio_failing = true;
                                self.log = Some(log);
                                return News::Failed(format!(
                                    "cannot keep the audio in {}: {e}",
                                    path.display()
                                ));
                            }
                        }
                    }
                }
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

    /// Keep audio as it is heard (with `keep_audio`), in stream order.
    pub fn on_audio(&mut self, samples: &[f32]) -> Option<News> {
        self.on_audio_from(0, samples)
    }

    /// [`Recorder::on_audio`] for input `lane` of two captioned apart.
    pub fn on_audio_from(&mut self, lane: usize, samples: &[f32]) -> Option<News> {
        let w = self.wavs.get_mut(lane)?;
        match w.append(samples) {
            Ok(()) if self.audio_failing => {
                self.audio_failing = false;
                Some(News::Recovered)
            }
            Ok(()) => None,
            Err(e) if !self.audio_failing => {
                self.audio_failing = true;
                Some(News::Failed(format!("cannot keep the audio: {e}")))
            }
            Err(_) => None,
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
        self.on_event_from(None, e)
    }

    /// [`Recorder::on_event`] for one of two inputs captioned apart: its commits are kept under
    /// its label, and only the first input's breaks open a new session.
    pub fn on_event_from(&mut self, source: Option<(usize, &str)>, e: &Event) -> Option<News> {
        match e {
            Event::Break {
                reason: BreakReason::NewSession,
                ..
            } if source.is_some_and(|(lane, _)| lane != 0) => None,
            Event::Commit {
                text, start, end, ..
            } => {
                let entry = Entry {
                    text: text.clone(),
                    start: round3((start - self.base).max(0.0)),
                    end: round3((end - self.base).max(0.0)),
                    wall: now(),
                    mode: self.opts.mode.name().to_string(),
                    model: self.opts.model.clone(),
                    source: source.map(|(_, label)| label.to_string()),
                };
                self.write(&entry)
            }
            Event::Mode { mode, .. } => {
                self.opts.mode = *mode;
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
        self.wavs.clear();
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
    use crate::session::log::TRANSCRIPT;
    use crate::session::reader::read_transcript;
    use crate::stream::Word;

    fn opts(keep_audio: bool) -> RecordOptions {
        RecordOptions {
            source: "clip.wav".into(),
            model: "tiny.en".into(),
            mode: Mode::Window,
            title: Some("a/../../title\n".into()),
            keep_audio,
            labels: None,
        }
    }

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
        let (mut r, news) = Recorder::start(dir.path(), opts(true));
        let News::Started { dir: first, .. } = news else {
            panic!("no session: {news:?}");
        };
        assert_eq!(r.on_event(&commit("Hello", 1.0, 1.5)), None);
        assert_eq!(r.on_audio(&[0.1; 16_000]), None);
        let back = read_transcript(&first.join(TRANSCRIPT)).expect("read back");
        let meta = crate::session::reader::read_meta(&first).expect("metadata");
        assert_eq!(meta.title.as_deref(), Some("a/../../title\n"));
        let audio = crate::audio::load_file(&first.join(AUDIO)).expect("audio kept");
        assert_eq!(audio.samples.len(), 16_000);
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
        r.on_audio(&[0.1; 8_000]);
        let back = read_transcript(&second.join(TRANSCRIPT)).expect("read back");
        let audio = crate::audio::load_file(&second.join(AUDIO)).expect("audio kept");
        assert_eq!(audio.samples.len(), 8_000, "each session has its own audio");
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
        let (mut r, news) = Recorder::start(&file, opts(false));
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
