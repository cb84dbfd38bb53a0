//! The recorded sessions as users reach them, for the `sessions` command and the app alike:
//! list them, summarize, open one, export its transcript, transcribe its kept audio again.

use std::io;
use std::path::{Path, PathBuf};

use super::cues::load_transcript;
use super::export::{write_transcript, Format};
use super::follow::{newest_live, Follower};
use super::ids::{find, list_ids};
use super::log::{Meta, ReadBack, SessionError, TRANSCRIPT};
use super::reader::{read_meta, read_transcript, summarize, Summary};
use super::record::audio_file;
use crate::asr::{self, ComputeType, DecodeOptions, Model, ModelError};
use crate::audio::AudioError;
use crate::private::create_private;
use crate::transcript::Transcript;

/// Why a session's audio could not be transcribed again.
#[derive(Debug, thiserror::Error)]
pub enum RetranscribeError {
    #[error(transparent)]
    Session(#[from] SessionError),
    #[error("session {id} has no recorded audio; record with --keep-audio to be able to transcribe it again")]
    NoAudio { id: String },
    #[error(transparent)]
    Audio(#[from] AudioError),
    #[error(transparent)]
    Model(#[from] ModelError),
}

/// Why a session's kept audio could not be read.
#[derive(Debug, thiserror::Error)]
pub enum KeptAudioError {
    #[error("session {id} captioned one input, not two apart: play it without --source")]
    OneInput { id: String },
    #[error("session {id} kept no audio from {label:?}; it kept {kept}")]
    NoSource {
        id: String,
        label: String,
        kept: String,
    },
    #[error(transparent)]
    Audio(#[from] AudioError),
}

/// One input's kept audio.
#[derive(Debug, Clone, PartialEq)]
pub struct Kept {
    /// The input's label, when the session captioned two apart.
    pub label: Option<String>,
    pub path: PathBuf,
}

/// A session, opened: where it is, what it was, and what it says.
#[derive(Debug, Clone)]
pub struct Opened {
    pub dir: PathBuf,
    pub meta: Option<Meta>,
    pub transcript: ReadBack,
    /// The kept audio, if there is any: each input's, in input order.
    pub audio: Vec<Kept>,
}

impl Opened {
    fn id(&self) -> String {
        self.dir
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned()
    }

    /// The kept audio: input `source`'s (by its label), or every input's mixed as the call
    /// sounded; `None` when none was kept.
    pub fn kept_samples(&self, source: Option<&str>) -> Result<Option<Vec<f32>>, KeptAudioError> {
        if self.audio.is_empty() {
            return Ok(None);
        }
        let chosen: Vec<&Kept> = match source {
            None => self.audio.iter().collect(),
            Some(want) => {
                let want_key = want.trim().to_lowercase();
                let found: Vec<&Kept> = self
                    .audio
                    .iter()
                    .filter(|k| {
                        k.label
                            .as_deref()
                            .is_some_and(|l| l.to_lowercase() == want_key)
                    })
                    .collect();
                let kept: Vec<&str> = self
                    .audio
                    .iter()
                    .filter_map(|k| k.label.as_deref())
                    .collect();
                if kept.is_empty() {
                    return Err(KeptAudioError::OneInput { id: self.id() });
                }
                if found.is_empty() {
                    return Err(KeptAudioError::NoSource {
                        id: self.id(),
                        label: want.to_string(),
                        kept: kept.join(", "),
                    });
                }
                found
            }
        };
        let mut mixed: Vec<f32> = Vec::new();
        for k in chosen {
            let samples = crate::audio::load_file(&k.path)?.samples;
            if mixed.len() < samples.len() {
                mixed.resize(samples.len(), 0.0);
            }
            for (m, s) in mixed.iter_mut().zip(&samples) {
                *m = (*m + s).clamp(-1.0, 1.0);
            }
        }
        Ok(Some(mixed))
    }
}

/// The sessions under one data directory.
#[derive(Debug, Clone)]
pub struct Store {
    data: PathBuf,
}

impl Store {
    pub fn new(data_dir: &Path) -> Store {
        Store {
            data: data_dir.to_path_buf(),
        }
    }

    /// The user's sessions (see [`super::data_dir`]), if there is a data directory.
    pub fn user() -> Option<Store> {
        super::data_dir().map(|d| Store::new(&d))
    }

    /// Follow session `id`, or the newest one still being recorded; with `from_now`, from what
    /// is committed next.
    pub fn follow(&self, id: Option<&str>, from_now: bool) -> Result<Follower, SessionError> {
        let id = match id {
            Some(id) => id.to_string(),
            None => newest_live(&self.data).ok_or(SessionError::NoneRecording)?,
        };
        Follower::open(&find(&self.data, &id)?, from_now)
    }

    /// Every session, oldest first: its summary, or why it cannot be read.
    pub fn list(&self) -> Vec<Result<Summary, SessionError>> {
        list_ids(&self.data)
            .into_iter()
            .map(|id| summarize(&self.data, &id))
            .collect()
    }

    /// The sessions that have words in them, oldest first, but `except` (the one running).
    pub fn past(&self, except: Option<&str>) -> Vec<Summary> {
        self.list()
            .into_iter()
            .filter_map(Result::ok)
            .filter(|s| Some(s.id.as_str()) != except && s.words > 0)
            .collect()
    }

    /// Session `id`, read.
    pub fn open(&self, id: &str) -> Result<Opened, SessionError> {
        let dir = find(&self.data, id)?;
        let transcript = read_transcript(&dir.join(TRANSCRIPT))?;
        let meta = read_meta(&dir);
        let labels: Vec<Option<String>> = match meta.as_ref().map(|m| m.labels.as_slice()) {
            Some(labels) if !labels.is_empty() => labels.iter().cloned().map(Some).collect(),
            _ => vec![None],
        };
        let audio = labels
            .into_iter()
            .enumerate()
            .map(|(lane, label)| Kept {
                label,
                path: dir.join(audio_file(lane)),
            })
            .filter(|k| k.path.is_file())
            .collect();
        Ok(Opened {
            meta,
            transcript,
            audio,
            dir,
        })
    }

    /// Session `id`'s transcript as the export formats take it (subtitle cues of whole
    /// sentences).
    pub fn transcript(&self, id: &str) -> Result<Transcript, SessionError> {
        load_transcript(&find(&self.data, id)?)
    }

    /// Write session `id` in each of `formats` as `livecap-<id>.<ext>` files (private) into
    /// `into`, or, where that cannot be written, into the session's own directory.
    pub fn export_files(
        &self,
        id: &str,
        formats: &[Format],
        into: &Path,
    ) -> Result<Vec<PathBuf>, ExportError> {
        let dir = find(&self.data, id)?;
        let t = load_transcript(&dir)?;
        let write_all = |into: &Path| -> io::Result<Vec<PathBuf>> {
            let mut out = Vec::new();
            for format in formats {
                let path = into.join(format!("livecap-{id}.{}", format.extension()));
                let mut f = create_private(&path)?;
                write_transcript(&mut f, &t, id, *format)?;
                out.push(path);
            }
            Ok(out)
        };
        write_all(into)
            .or_else(|_| write_all(&dir))
            .map_err(ExportError::Write)
    }

    /// Transcribe session `id`'s kept audio again with full context, with `model` (default: the
    /// one it was recorded with) computing in `compute`.
    pub fn retranscribe(
        &self,
        id: &str,
        model: Option<&str>,
        compute: ComputeType,
        opts: &DecodeOptions,
    ) -> Result<Transcript, RetranscribeError> {
        let opened = self.open(id)?;
        if opened.audio.is_empty() {
            return Err(RetranscribeError::NoAudio { id: id.to_string() });
        }
        let spec = match model {
            Some(m) => m.to_string(),
            None => opened
                .meta
                .map(|m| m.model)
                .unwrap_or_else(|| asr::DEFAULT_MODEL.into()),
        };
        let model = Model::load_as(&spec, compute)?;
        model.check_options(opts)?;
        // Each input on its own, as it was captioned; two inputs' segments in order of time.
        let mut whole: Option<Transcript> = None;
        for kept in &opened.audio {
            let audio = crate::audio::load_file(&kept.path)?;
            let mut t = asr::transcribe(&model, &audio.samples, opts, &mut |_| {})?;
            for s in &mut t.segments {
                s.speaker.clone_from(&kept.label);
            }
            whole = Some(match whole {
                None => t,
                Some(mut w) => {
                    w.duration = w.duration.max(t.duration);
                    w.segments.extend(t.segments);
                    w.segments.sort_by(|a, b| a.start.total_cmp(&b.start));
                    w
                }
            });
        }
        whole.ok_or(RetranscribeError::NoAudio { id: id.to_string() })
    }
}

/// Why an export failed.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error(transparent)]
    Session(#[from] SessionError),
    #[error("cannot write the export: {0}")]
    Write(io::Error),
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::record::{RecordOptions, Recorder};
    use crate::session::News;
    use crate::stream::Mode;

    /// A session of two inputs whose kept audio is `a` and `b`; its id.
    fn two_inputs(data: &Path, a: &[f32], b: &[f32]) -> String {
        let opts = RecordOptions {
            source: "mic+system".into(),
            model: "tiny.en".into(),
            mode: Mode::Window,
            title: None,
            keep_audio: true,
            labels: Some(["You".into(), "Them".into()]),
        };
        let (mut r, news) = Recorder::start(data, opts);
        let News::Started { id, .. } = news else {
            panic!("no session: {news:?}");
        };
        assert_eq!(r.on_audio_from(0, a), None);
        assert_eq!(r.on_audio_from(1, b), None);
        r.finish().expect("finish");
        id
    }

    #[test]
    fn two_inputs_audio_is_kept_apart_and_heard_mixed_or_one_by_its_label() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (a, b) = (vec![0.25f32; 1_600], vec![-0.5f32; 3_200]);
        let id = two_inputs(dir.path(), &a, &b);
        let store = Store::new(dir.path());
        let opened = store.open(&id).expect("open");
        let labels: Vec<Option<&str>> = opened.audio.iter().map(|k| k.label.as_deref()).collect();
        assert_eq!(labels, [Some("You"), Some("Them")]);
        let near = |got: &[f32], want: &[f32]| {
            got.len() == want.len() && got.iter().zip(want).all(|(g, w)| (g - w).abs() < 1e-4)
        };
        let them = opened
            .kept_samples(Some("them"))
            .expect("them")
            .expect("kept");
        assert!(near(&them, &b), "Them's audio, asked in any case");
        let you = opened
            .kept_samples(Some("You"))
            .expect("you")
            .expect("kept");
        assert!(near(&you, &a));
        // Both, as the call sounded: summed where both are, the longer one's after.
        let mixed = opened.kept_samples(None).expect("both").expect("kept");
        let mut want = vec![-0.25f32; 1_600];
        want.extend(vec![-0.5f32; 1_600]);
        assert!(near(&mixed, &want));
        let err = opened
            .kept_samples(Some("Guest"))
            .expect_err("no such input");
        assert_eq!(
            err.to_string(),
            format!("session {id} kept no audio from \"Guest\"; it kept You, Them")
        );
    }

    #[test]
    fn one_inputs_audio_has_no_labels_to_pick() {
        let dir = tempfile::tempdir().expect("temp dir");
        let opts = RecordOptions {
            source: "clip.wav".into(),
            model: "tiny.en".into(),
            mode: Mode::Window,
            title: None,
            keep_audio: true,
            labels: None,
        };
        let (mut r, news) = Recorder::start(dir.path(), opts);
        let News::Started { id, .. } = news else {
            panic!("no session: {news:?}");
        };
        r.on_audio(&[0.1; 800]);
        r.finish().expect("finish");
        let opened = Store::new(dir.path()).open(&id).expect("open");
        assert_eq!(opened.audio.len(), 1);
        assert_eq!(
            opened.kept_samples(None).expect("kept").map(|s| s.len()),
            Some(800)
        );
        let err = opened.kept_samples(Some("You")).expect_err("one input");
        assert!(err.to_string().contains("without --source"), "{err}");
    }
}
