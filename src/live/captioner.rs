//! Live captioning from start to end: the source started first (a wrong device or file is
//! reported at once), the model loaded, then the engine run with every event recorded on disk
//! (one session after another, as new ones are asked for) before a front-end sees it; on any exit
//! (the input's end, a signal, a request, a panic) the tentative tail is committed and the
//! recording closed, once.

use std::ops::ControlFlow;
use std::panic::AssertUnwindSafe;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use anyhow::{bail, Result};

use super::engine::{self, commit_event, Feed, Output, Pace};
use super::requests::{channel, Handle, Inbox};
use super::settings::Settings;
use crate::asr::{Model, ModelError};
use crate::audio::level::Meter;
use crate::audio::source::{Capture, Input, SourceOptions};
use crate::audio::{AudioError, AudioState};
use crate::session::{data_dir, News, Recorder};
use crate::stream::{Clock, ClockKind, Event, Streamer};

/// A front-end: what it is told, in order, as the session runs.
pub trait Sink {
    /// A stream event, once it is on disk. `Break` ends the session (its tail committed).
    fn event(&mut self, e: &Event) -> ControlFlow<()>;
    /// News of the recording: a session started, writing failed, or works again.
    fn news(&mut self, news: News);
}

/// How captioning ended.
#[derive(Debug, Default)]
pub struct Ended {
    /// The directory of the last session recorded.
    pub saved: Option<PathBuf>,
    /// Why the captions stopped before the input's end, if they did (the transcript so far is
    /// saved).
    pub failure: Option<LiveError>,
}

/// Why the captions stopped before the input's end.
#[derive(Debug, thiserror::Error)]
pub enum LiveError {
    /// The model failed on the audio.
    #[error(transparent)]
    Model(#[from] ModelError),
    /// The engine panicked.
    #[error("an internal error stopped the captions; the transcript so far is saved")]
    Internal,
    /// The source failed: the words heard before are committed.
    #[error(transparent)]
    Source(Arc<AudioError>),
}

/// Live captioning of one input, ready to run.
pub struct Captioner {
    settings: Settings,
    model: Model,
    audio: Arc<AudioState>,
    capture: Capture,
    clock: ClockKind,
    switch_at: Vec<f64>,
    /// Where sessions are recorded (none without a data directory, or with `--no-save`).
    data: Option<PathBuf>,
    handle: Handle,
    inbox: Inbox,
}

impl Captioner {
    /// Start the source, then load the model (a device's audio is kept while it loads).
    pub fn open(settings: Settings, source: &SourceOptions, clock: ClockKind) -> Result<Captioner> {
        use std::io::IsTerminal;
        if settings.input == Input::Stdin && std::io::stdin().is_terminal() {
            bail!("--input -: standard input is a terminal; pipe raw PCM into it, e.g. arecord -f S16_LE -r 16000 -c 1 -t raw | livecap stream --input -");
        }
        let audio = Arc::new(AudioState::new());
        let capture = Capture::start(&settings.input, source, audio.clone())?;
        let model = Model::load_as(&settings.model, settings.compute)
            .and_then(|m| m.check_options(&settings.decode).map(|_| m));
        let model = match model {
            Ok(m) => m,
            Err(e) => {
                capture.join();
                return Err(e.into());
            }
        };
        let (handle, inbox) = channel(audio.wake(), Some(capture.controls()));
        let data = settings.record.as_ref().and_then(|_| data_dir());
        Ok(Captioner {
            settings,
            model,
            audio,
            capture,
            clock,
            switch_at: Vec::new(),
            data,
            handle,
            inbox,
        })
    }

    /// Switch to the other mode when the stream clock reaches each of these (seconds).
    pub fn switch_mode_at(&mut self, times: &[f64]) {
        self.switch_at = times.to_vec();
    }

    /// Where requests to the running captioner go.
    pub fn handle(&self) -> Handle {
        self.handle.clone()
    }

    /// The input level, as the source publishes it.
    pub fn meter(&self) -> Arc<Meter> {
        self.capture.meter()
    }

    /// Why captioning started without an input device (the system default could not be
    /// opened and the source was told to wait for one), if it did.
    pub fn missing_device(&self) -> Option<&str> {
        self.capture.missing_device()
    }

    /// Whether the captions are recorded on disk.
    pub fn saving(&self) -> bool {
        self.data.is_some()
    }

    /// Run until the input ends, `stop` is set (a signal), a stop is requested or `sink` says
    /// so; then close the recording and the source.
    pub fn run(self, stop: &AtomicBool, sink: &mut dyn Sink) -> Ended {
        let Captioner {
            settings,
            model,
            audio,
            capture,
            clock,
            switch_at,
            data,
            handle,
            inbox,
        } = self;
        drop(handle);
        let mut recorder = match (&settings.record, data) {
            (Some(opts), Some(dir)) => {
                let (r, news) = Recorder::start(&dir, opts.clone());
                sink.news(news);
                Some(r)
            }
            (Some(_), None) => {
                sink.news(News::Failed(
                    "there is no data directory (set LIVECAP_DATA_DIR)".into(),
                ));
                None
            }
            (None, _) => None,
        };
        let mut streamer = Streamer::new(
            &model,
            settings.decode.clone(),
            settings.mode,
            settings.window,
        );
        let mut clock = Clock::new(clock);
        let controls = capture.controls();
        let name = settings.input.to_string();
        let pace = Pace {
            step: settings.step,
            switch_at,
        };
        let mut out = Recorded {
            recorder: &mut recorder,
            sink,
        };
        let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| {
            let feed = Feed {
                audio: &audio,
                controls: Some(&controls),
                name: &name,
            };
            engine::run(
                &mut streamer,
                feed,
                &mut clock,
                &pace,
                &inbox,
                stop,
                &mut out,
            )
        }));
        let failure = match outcome {
            Ok(Ok(())) => None,
            Ok(Err(e)) => Some(LiveError::Model(e)),
            Err(_) => {
                // Keep the words that were shown, if the streamer can still give them.
                let at = clock.now(&audio);
                let tail = std::panic::catch_unwind(AssertUnwindSafe(|| streamer.finish()));
                if let Some(e) = tail.ok().and_then(|words| commit_event(&words, at)) {
                    let _ = out.event(&e);
                }
                Some(LiveError::Internal)
            }
        };
        // Requests sent from now on are refused.
        drop(inbox);
        let saved = recorder
            .as_ref()
            .and_then(|r| r.dir().map(std::path::Path::to_path_buf));
        if let Some(Err(e)) = recorder.map(Recorder::finish) {
            sink.news(News::Failed(e.to_string()));
        }
        capture.join();
        Ended {
            saved,
            failure: failure.or_else(|| audio.error().map(LiveError::Source)),
        }
    }
}

/// The engine's output: on disk first, then to the front-end.
struct Recorded<'a> {
    recorder: &'a mut Option<Recorder>,
    sink: &'a mut dyn Sink,
}

impl Output for Recorded<'_> {
    fn event(&mut self, e: &Event) -> ControlFlow<()> {
        if let Some(news) = self.recorder.as_mut().and_then(|r| r.on_event(e)) {
            self.sink.news(news);
        }
        self.sink.event(e)
    }

    fn audio(&mut self, samples: &[f32]) {
        if let Some(news) = self.recorder.as_mut().and_then(|r| r.on_audio(samples)) {
            self.sink.news(news);
        }
    }
}
