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

use super::echo::Echo;
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
    /// An event of one of two inputs captioned apart, under its label (`lane` 0 or 1).
    fn labelled(&mut self, _lane: usize, _label: &str, e: &Event) -> ControlFlow<()> {
        self.event(e)
    }
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

/// Live captioning of one input (or two, apart), ready to run.
pub struct Captioner {
    settings: Settings,
    model: Model,
    audio: Arc<AudioState>,
    capture: Capture,
    /// The second input, captioned apart (`--input A+B`).
    second: Option<Lane>,
    clock: ClockKind,
    switch_at: Vec<f64>,
    /// Where sessions are recorded (none without a data directory, or with `--no-save`).
    data: Option<PathBuf>,
    handle: Handle,
    inbox: Inbox,
}

/// A second input: its audio, its source, and its engine's requests.
struct Lane {
    audio: Arc<AudioState>,
    capture: Capture,
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
        // Both inputs start before the model loads, so their timelines begin together.
        let second = match &settings.second {
            Some(input) => {
                let audio = Arc::new(AudioState::new());
                match Capture::start(input, source, audio.clone()) {
                    Ok(capture) => Some((audio, capture)),
                    Err(e) => {
                        capture.join();
                        return Err(e.into());
                    }
                }
            }
            None => None,
        };
        let model = Model::load_as(&settings.model, settings.compute)
            .and_then(|m| m.check_options(&settings.decode).map(|_| m));
        let model = match model {
            Ok(m) => m,
            Err(e) => {
                capture.join();
                if let Some((_, c)) = second {
                    c.join();
                }
                return Err(e.into());
            }
        };
        let (mut handle, inbox) = channel(audio.wake(), Some(capture.controls()));
        let second = second.map(|(audio, capture)| {
            let (h, inbox) = channel(audio.wake(), Some(capture.controls()));
            handle = handle.clone().with(h);
            Lane {
                audio,
                capture,
                inbox,
            }
        });
        let data = settings.record.as_ref().and_then(|_| data_dir());
        Ok(Captioner {
            settings,
            model,
            audio,
            capture,
            second,
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

    /// The second input's level, when two are captioned apart.
    pub fn second_meter(&self) -> Option<Arc<Meter>> {
        self.second.as_ref().map(|l| l.capture.meter())
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
            second,
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
        if let Some(second) = second {
            let first = Lane {
                audio,
                capture,
                inbox,
            };
            let pair = Pair {
                settings: &settings,
                model: &model,
                clock,
                switch_at: &switch_at,
            };
            let failure = pair.run([&first, &second], &mut recorder, stop, sink);
            let saved = close_recording(recorder, sink);
            drop((first.inbox, second.inbox));
            first.capture.join();
            second.capture.join();
            let source_failed = first.audio.error().or_else(|| second.audio.error());
            return Ended {
                saved,
                failure: failure.or_else(|| source_failed.map(LiveError::Source)),
            };
        }
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
        let feed = Feed {
            audio: &audio,
            controls: Some(&controls),
            name: &name,
        };
        let failure = run_caught(
            &mut streamer,
            feed,
            &mut clock,
            &pace,
            &inbox,
            stop,
            &mut out,
        );
        // Requests sent from now on are refused.
        drop(inbox);
        let saved = close_recording(recorder, sink);
        capture.join();
        Ended {
            saved,
            failure: failure.or_else(|| audio.error().map(LiveError::Source)),
        }
    }
}

/// Run the engine (see [`engine::run`]); why it stopped before the input's end, if it did. A
/// panic still commits the words that were shown, if the streamer can give them.
fn run_caught(
    streamer: &mut Streamer,
    feed: Feed,
    clock: &mut Clock,
    pace: &Pace,
    inbox: &Inbox,
    stop: &AtomicBool,
    out: &mut dyn Output,
) -> Option<LiveError> {
    let audio = feed.audio;
    let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| {
        engine::run(streamer, feed, clock, pace, inbox, stop, out)
    }));
    match outcome {
        Ok(Ok(())) => None,
        Ok(Err(e)) => Some(LiveError::Model(e)),
        Err(_) => {
            let at = clock.now(audio);
            let tail = std::panic::catch_unwind(AssertUnwindSafe(|| streamer.finish()));
            if let Some(e) = tail.ok().and_then(|words| commit_event(&words, at)) {
                let _ = out.event(&e);
            }
            Some(LiveError::Internal)
        }
    }
}

/// Close the session on disk (telling `sink` if that fails); its directory.
fn close_recording(recorder: Option<Recorder>, sink: &mut dyn Sink) -> Option<PathBuf> {
    let saved = recorder
        .as_ref()
        .and_then(|r| r.dir().map(std::path::Path::to_path_buf));
    if let Some(Err(e)) = recorder.map(Recorder::finish) {
        sink.news(News::Failed(e.to_string()));
    }
    saved
}

/// Two inputs captioned apart: an engine for each on a thread of its own (each with its own
/// speech detection, window and committed text), their events brought together on the
/// caller's thread, on disk first (under their labels), then to the front-end.
struct Pair<'a> {
    settings: &'a Settings,
    model: &'a Model,
    clock: ClockKind,
    switch_at: &'a [f64],
}

/// What an engine of a pair hands over.
enum FromLane {
    Event(Event),
    Audio(Vec<f32>),
    Done(Option<LiveError>),
}

/// How often the pair looks whether a signal asked it to stop, while no event comes.
const PAIR_LOOK_EVERY: std::time::Duration = std::time::Duration::from_millis(50);

impl Pair<'_> {
    fn run(
        &self,
        lanes: [&Lane; 2],
        recorder: &mut Option<Recorder>,
        stop: &AtomicBool,
        sink: &mut dyn Sink,
    ) -> Option<LiveError> {
        let (tx, rx) = std::sync::mpsc::channel::<(usize, FromLane)>();
        let ending = AtomicBool::new(false);
        let labels = &self.settings.labels;
        std::thread::scope(|scope| {
            for (i, lane) in lanes.into_iter().enumerate() {
                let tx = tx.clone();
                let ending = &ending;
                let input = if i == 0 {
                    self.settings.input.to_string()
                } else {
                    self.settings
                        .second
                        .as_ref()
                        .map(ToString::to_string)
                        .unwrap_or_default()
                };
                let controls = lane.capture.controls();
                scope.spawn(move || {
                    let failure = self.run_lane(i, lane, &controls, &input, ending, &tx);
                    tx.send((i, FromLane::Done(failure))).ok();
                });
            }
            drop(tx);
            // A microphone beside system audio may hear the speakers: its echo is not kept.
            let system = |i: Option<&crate::audio::source::Input>| i.is_some_and(|i| i.is_system());
            let mut echo = match (
                system(Some(&self.settings.input)),
                system(self.settings.second.as_ref()),
            ) {
                (true, false) => Some(Echo::new(0)),
                (false, true) => Some(Echo::new(1)),
                _ => None,
            };
            let mut out = Joined {
                recorder,
                sink,
                labels,
                ending: &ending,
            };
            let mut failure = None;
            let mut done = 0;
            while done < 2 {
                if stop.load(std::sync::atomic::Ordering::Relaxed) {
                    ending.store(true, std::sync::atomic::Ordering::Relaxed);
                }
                let (lane, got) = match rx.recv_timeout(PAIR_LOOK_EVERY) {
                    Ok(got) => got,
                    Err(std::sync::mpsc::RecvTimeoutError::Timeout) => continue,
                    Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
                };
                match got {
                    FromLane::Event(e) => {
                        let ready = match echo.as_mut() {
                            Some(echo) => echo.on_event(lane, e),
                            None => vec![(lane, e)],
                        };
                        for (lane, e) in ready {
                            out.event(lane, &e);
                        }
                    }
                    FromLane::Audio(samples) => out.audio(lane, &samples),
                    FromLane::Done(f) => {
                        failure = failure.or(f);
                        done += 1;
                    }
                }
            }
            // An input that stopped without its end leaves nothing held.
            if let Some(echo) = echo.as_mut() {
                let mic = 1 - echo.system();
                for c in echo.judge_all() {
                    out.event(mic, &c);
                }
            }
            failure
        })
    }

    /// One input's engine, until its input ends or the pair is ending; why it stopped early.
    fn run_lane(
        &self,
        lane: usize,
        on: &Lane,
        controls: &crate::audio::source::Controls,
        name: &str,
        ending: &AtomicBool,
        tx: &std::sync::mpsc::Sender<(usize, FromLane)>,
    ) -> Option<LiveError> {
        let s = self.settings;
        let mut streamer = Streamer::new(self.model, s.decode.clone(), s.mode, s.window);
        let mut clock = Clock::new(self.clock);
        let pace = Pace {
            step: s.step,
            switch_at: self.switch_at.to_vec(),
        };
        let keep = s.record.as_ref().is_some_and(|r| r.keep_audio);
        let mut out = ToPair { lane, keep, tx };
        let feed = Feed {
            audio: &on.audio,
            controls: Some(controls),
            name,
        };
        run_caught(
            &mut streamer,
            feed,
            &mut clock,
            &pace,
            &on.inbox,
            ending,
            &mut out,
        )
    }
}

/// Where a pair's events go, on the caller's thread: on disk first, under the input's label,
/// then to the front-end.
struct Joined<'a> {
    recorder: &'a mut Option<Recorder>,
    sink: &'a mut dyn Sink,
    labels: &'a [String; 2],
    ending: &'a AtomicBool,
}

impl Joined<'_> {
    fn event(&mut self, lane: usize, e: &Event) {
        let label = self.labels[lane].as_str();
        if let Some(news) = self
            .recorder
            .as_mut()
            .and_then(|r| r.on_event_from(Some((lane, label)), e))
        {
            self.sink.news(news);
        }
        if self.sink.labelled(lane, label, e).is_break() {
            self.ending
                .store(true, std::sync::atomic::Ordering::Relaxed);
        }
    }

    /// An input's audio, kept (with `--keep-audio`).
    fn audio(&mut self, lane: usize, samples: &[f32]) {
        if let Some(news) = self
            .recorder
            .as_mut()
            .and_then(|r| r.on_audio_from(lane, samples))
        {
            self.sink.news(news);
        }
    }
}

/// An engine of a pair's output: everything to the pair's thread.
struct ToPair<'a> {
    lane: usize,
    /// The audio is kept, so it is sent.
    keep: bool,
    tx: &'a std::sync::mpsc::Sender<(usize, FromLane)>,
}

impl Output for ToPair<'_> {
    fn event(&mut self, e: &Event) -> ControlFlow<()> {
        match self.tx.send((self.lane, FromLane::Event(e.clone()))) {
            Ok(()) => ControlFlow::Continue(()),
            Err(_) => ControlFlow::Break(()),
        }
    }

    fn audio(&mut self, samples: &[f32]) {
        if self.keep {
            self.tx
                .send((self.lane, FromLane::Audio(samples.to_vec())))
                .ok();
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
