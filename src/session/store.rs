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
use super::record::AUDIO;
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

/// A session, opened: where it is, what it was, and what it says.
#[derive(Debug, Clone)]
pub struct Opened {
    pub dir: PathBuf,
    pub meta: Option<Meta>,
    pub transcript: ReadBack,
    /// The kept audio, if there is any.
    pub audio: Option<PathBuf>,
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
        let audio = Some(dir.join(AUDIO)).filter(|p| p.is_file());
        Ok(Opened {
            meta: read_meta(&dir),
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
        let Some(audio_path) = opened.audio else {
            return Err(RetranscribeError::NoAudio { id: id.to_string() });
        };
        let spec = match model {
            Some(m) => m.to_string(),
            None => opened
                .meta
                .map(|m| m.model)
                .unwrap_or_else(|| asr::DEFAULT_MODEL.into()),
        };
        let audio = crate::audio::load_file(&audio_path)?;
        let model = Model::load_as(&spec, compute)?;
        model.check_options(opts)?;
        Ok(asr::transcribe(&model, &audio.samples, opts, &mut |_| {})?)
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
