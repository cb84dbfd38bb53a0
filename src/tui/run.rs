//! Running the app in a terminal: a sink of the captioner (see [`crate::live`]), which runs
//! on the engine thread and tells the UI each event once it is on disk. The UI task selects over
//! keys, engine news and a frame clock, drawing only when something changed, and asks the
//! session for pauses, modes, new sessions and devices as requests. Jobs that touch the disk or
//! the sound system run on blocking tasks and report back as messages.

use std::io::{self, IsTerminal};
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use tokio::sync::mpsc;

use super::app::{App, DeviceItem, Effect, JobError, Msg, PastSession, PlayNews, Popup};
use super::keymap::Keymap;
use super::terminal::Screen;
use super::theme;
use super::view::transcript_line;
use crate::audio::device::Playback;
use crate::audio::level::Meter;
use crate::audio::pcm::PcmFormat;
use crate::audio::source::{Input, SourceOptions};
use crate::cli::AppArgs;
use crate::config;
use crate::live::{self, Captioner, Handle, Request, Sink};
use crate::session::follow::{self, Follower, Recording};
use crate::session::log::TRANSCRIPT;
use crate::session::{data_dir, Format, News, Store};
use crate::share::{Board, Share};
use crate::stream::{ClockKind, Event};

/// At most this many frames a second.
const FRAME: Duration = Duration::from_millis(33);
/// Messages waiting for the UI; the engine waits when it is full (nothing is dropped).
const QUEUE: usize = 1024;
/// What the app says when it opens without a microphone.
pub const NO_MICROPHONE: &str =
    "no microphone: pick an input device, or quit (q) and run livecap --input FILE";
/// The thread the captioner runs on.
const ENGINE_THREAD: &str = "livecap-engine";

/// The terminal shows 24-bit colour (otherwise themes are brought down to 16 colours).
fn truecolor() -> bool {
    std::env::var("COLORTERM").is_ok_and(|v| v.contains("truecolor") || v.contains("24bit"))
}

fn no_color() -> bool {
    std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty())
}

/// How the input is named in the header.
fn input_label(input: &Input) -> String {
    match input {
        Input::File(p) => p
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| p.display().to_string()),
        Input::Stdin => "standard input".into(),
        Input::Device(d) if d.is_empty() => "default device".into(),
        Input::Device(d) => d.clone(),
    }
}

/// How the model is named in the header: a directory or repo id by its last part.
fn model_label(spec: &str) -> String {
    Path::new(spec.trim_end_matches('/'))
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| spec.to_string())
}

/// Run the app until the user quits; `Ok(true)` on a clean exit.
pub fn run(args: &AppArgs) -> Result<bool> {
    let cfg = config::load(args.live.config.as_deref())?;
    let settings = args.live.settings(&cfg)?;
    if !io::stdout().is_terminal() {
        bail!("standard output is not a terminal; for pipes and scripts use `livecap stream`");
    }
    let config_dir = config::config_dir();
    let (theme, theme_problem) = theme::choose(
        args.theme.as_deref().or(cfg.theme.as_deref()),
        config_dir.as_ref().map(|d| d.join("themes")).as_deref(),
        no_color(),
    );
    let theme = if truecolor() {
        theme
    } else {
        theme.in_16_colours()
    };
    let (keymap, key_problems) = Keymap::with_bindings(&cfg.keys);

    let input = settings.input.clone();
    let second = settings.second.clone();
    let labels = second.as_ref().map(|_| settings.labels.clone());
    let (model, window, step, mode) = (
        settings.model.clone(),
        settings.window,
        settings.step,
        settings.mode,
    );
    let source = SourceOptions {
        paced: true,
        pcm: PcmFormat::default(),
        wait_for_default: true,
    };
    let captioner = Captioner::open(settings, &source, ClockKind::Realtime)?;
    let share = match args.live.share.as_deref() {
        Some(addr) => Some(Share::start(addr)?),
        None => None,
    };
    let missing = captioner.missing_device().map(str::to_string);
    let data = data_dir();
    // Nothing but the app may write over the screen: messages go to a log file.
    let log_path = data.as_ref().map(|d| d.join("livecap.log"));
    let redirect = crate::stderr::to_file(log_path.as_deref());
    let input_name = match &second {
        Some(b) => format!("{} + {}", input_label(&input), input_label(b)),
        None => input_label(&input),
    };
    let mut app = App::new(
        theme,
        keymap,
        &input_name,
        &model_label(&model),
        Instant::now(),
    );
    if let Some(labels) = labels {
        app.two_inputs(labels);
    }
    app.window = window;
    app.step = step;
    app.mode = mode;
    app.saving = captioner.saving();
    if let Some(s) = &share {
        app.shared = Some((s.url.clone(), s.qr()));
        app.popup = Some(Popup::Share);
    }
    let mut problems: Vec<String> = theme_problem.map(|e| e.to_string()).into_iter().collect();
    problems.extend(key_problems);
    if let Some(p) = problems.first() {
        app.say(p.clone(), true);
    }
    for p in &problems {
        crate::stderr::say(p);
    }
    // No microphone: the app opens on the device picker and says how to caption a file.
    let first = missing.map(|why| {
        crate::stderr::say(&why);
        app.say(NO_MICROPHONE, true);
        app.open_picker()
    });

    // A signal (or a terminal gone) ends the session: the engine stops, then the UI.
    let hangup = Arc::new(AtomicBool::new(false));
    live::stop_on_signals(&hangup)?;
    let (tx, rx) = mpsc::channel(QUEUE);
    let handle = captioner.handle();
    let meter = captioner.meter();
    let second_meter = captioner.second_meter();
    let engine = {
        let (tx, hangup) = (tx.clone(), hangup.clone());
        let board = share.as_ref().map(|s| s.board().clone());
        std::thread::Builder::new()
            .name(ENGINE_THREAD.into())
            .spawn(move || {
                let mut to_ui = ToUi(tx, board);
                let ended = captioner.run(&hangup, &mut to_ui);
                if let Some(e) = ended.failure {
                    to_ui.send(Msg::EngineFailed(Arc::new(e)));
                }
                ended.saved
            })
            .context("cannot start the engine thread")?
    };

    let jobs = Jobs {
        tx: tx.clone(),
        store: data.as_deref().map(Store::new),
        viewing: Arc::new(AtomicU64::new(0)),
        playing: Arc::default(),
        plays: Arc::default(),
    };
    jobs.refresh_past(None);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .context("cannot start the app's runtime")?;
    let runner = Runner {
        handle,
        meter,
        second_meter,
        jobs,
        device_input: matches!(input, Input::Device(_)),
    };
    let outcome = rt.block_on(ui(&mut app, first, rx, tx, &runner, &hangup));

    // The screen is back; finish the transcript with the words still tentative.
    drop(redirect);
    // The terminal may be gone (a dropped SSH link): what is said here may go nowhere.
    let say = |m: String| crate::stderr::say(m);
    if outcome.is_ok() && !hangup.load(Ordering::Relaxed) {
        say("finishing the transcript…".into());
    }
    // The engine may have ended already (the input failed): nothing to stop then.
    let _ = runner.handle.send(Request::Stop);
    let saved = engine.join().ok().flatten();
    if let Some(share) = share {
        share.finish();
    }
    outcome?;
    if let Some(dir) = saved {
        say(format!(
            "the transcript is in {}",
            dir.join(TRANSCRIPT).display()
        ));
    }
    Ok(true)
}

/// The app as the captioner's sink: every event and piece of news, once it is on disk, becomes
/// a message for the UI.
struct ToUi(mpsc::Sender<Msg>, Option<Arc<Board>>);

impl ToUi {
    fn send(&self, m: Msg) {
        // The UI gone (quitting) is no reason to stop: the session ends on its own request.
        self.0.blocking_send(m).ok();
    }
}

impl Sink for ToUi {
    fn event(&mut self, e: &Event) -> ControlFlow<()> {
        if let Some(board) = &self.1 {
            board.event(e);
        }
        self.send(Msg::Stream(e.clone()));
        ControlFlow::Continue(())
    }

    fn labelled(&mut self, lane: usize, label: &str, e: &Event) -> ControlFlow<()> {
        if let Some(board) = &self.1 {
            board.labelled(lane, label, e);
        }
        self.send(Msg::Labelled {
            lane,
            label: label.to_string(),
            event: e.clone(),
        });
        ControlFlow::Continue(())
    }

    fn news(&mut self, news: News) {
        self.send(Msg::Session(news));
    }
}

/// Background work that reports back as a message.
struct Jobs {
    tx: mpsc::Sender<Msg>,
    store: Option<Store>,
    /// Counts the sessions opened in the viewer: a follower stops when another is opened or the
    /// viewer closes.
    viewing: Arc<AtomicU64>,
    /// A session's audio playing again, numbered (a later play or a stop replaces it).
    playing: Arc<Mutex<Option<(u64, Playback)>>>,
    plays: Arc<AtomicU64>,
}

impl Jobs {
    fn spawn(&self, f: impl FnOnce(Option<&Store>) -> Msg + Send + 'static) {
        let (tx, store) = (self.tx.clone(), self.store.clone());
        tokio::task::spawn_blocking(move || {
            tx.blocking_send(f(store.as_ref())).ok();
        });
    }

    /// Open session `id` in the viewer. While another livecap records it, its new lines follow
    /// as they are saved, until the recording ends or the viewer closes.
    fn open(&self, id: String) {
        let (tx, store) = (self.tx.clone(), self.store.clone());
        let viewing = self.viewing.clone();
        let me = viewing.fetch_add(1, Ordering::SeqCst) + 1;
        std::thread::spawn(move || {
            let live = store
                .as_ref()
                .and_then(|s| s.follow(Some(&id), false).ok())
                .filter(|f| f.recording() == Recording::Live);
            let Some(mut follower) = live else {
                let lines = open_session(store.as_ref(), &id).map_err(Arc::new);
                tx.blocking_send(Msg::Opened {
                    id,
                    lines,
                    live: false,
                })
                .ok();
                return;
            };
            let read = |f: &mut Follower| {
                f.read_new()
                    .map(|entries| {
                        entries
                            .iter()
                            .map(|e| transcript_line(e.start, &labelled(e)))
                            .collect::<Vec<_>>()
                    })
                    .map_err(|e| Arc::new(JobError::from(e)))
            };
            let lines = read(&mut follower);
            let mut failed = lines.is_err();
            let opened = Msg::Opened {
                id: id.clone(),
                lines,
                live: true,
            };
            if tx.blocking_send(opened).is_err() {
                return;
            }
            while !failed && viewing.load(Ordering::SeqCst) == me {
                std::thread::sleep(follow::EVERY);
                // Asked first: once the recording is over, this read gets every line.
                let ended = follower.recording() != Recording::Live;
                let lines = read(&mut follower);
                failed = lines.is_err();
                if lines.as_ref().is_ok_and(Vec::is_empty) && !ended {
                    continue;
                }
                let id = id.clone();
                if tx
                    .blocking_send(Msg::Followed { id, lines, ended })
                    .is_err()
                    || ended
                {
                    return;
                }
            }
        });
    }

    /// The viewer closed.
    fn close(&self) {
        self.viewing.fetch_add(1, Ordering::SeqCst);
        self.stop_playing();
    }

    /// Play session `id`'s kept audio from `from` seconds, in place of whatever plays.
    fn play(&self, id: String, from: f64) {
        self.stop_playing();
        let me = self.plays.fetch_add(1, Ordering::SeqCst) + 1;
        let (tx, store) = (self.tx.clone(), self.store.clone());
        let (playing, plays) = (self.playing.clone(), self.plays.clone());
        std::thread::spawn(move || {
            let started = kept_audio(store.as_ref(), &id, from)
                .and_then(|samples| Playback::start(&samples).map_err(|e| e.to_string()));
            let news = match started {
                Ok(p) => {
                    let news = PlayNews::Started {
                        from,
                        device: p.device.clone(),
                    };
                    let mut slot = playing.lock().unwrap_or_else(|e| e.into_inner());
                    // A stop or another play came while this one was starting.
                    if plays.load(Ordering::SeqCst) != me {
                        return;
                    }
                    *slot = Some((me, p));
                    news
                }
                Err(why) => PlayNews::Failed(why),
            };
            if tx.blocking_send(Msg::Played(news)).is_err() {
                return;
            }
            // Till it ends, or another play or a stop takes its place.
            loop {
                std::thread::sleep(PLAY_LOOK_EVERY);
                let mut slot = playing.lock().unwrap_or_else(|e| e.into_inner());
                let Some((n, p)) = slot.as_ref() else { return };
                if *n != me {
                    return;
                }
                if p.done() {
                    let news = p.failure().map_or(PlayNews::Ended, PlayNews::Failed);
                    slot.take();
                    drop(slot);
                    tx.blocking_send(Msg::Played(news)).ok();
                    return;
                }
            }
        });
    }

    fn stop_playing(&self) {
        self.plays.fetch_add(1, Ordering::SeqCst);
        let old = self
            .playing
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some((_, p)) = old {
            p.stop();
        }
    }

    fn refresh_past(&self, current: Option<String>) {
        let (tx, store) = (self.tx.clone(), self.store.clone());
        // Also before the runtime runs: a plain thread.
        std::thread::spawn(move || {
            let past = store.map_or_else(Vec::new, |s| {
                s.past(current.as_deref())
                    .into_iter()
                    .map(|s| PastSession {
                        id: s.id,
                        duration: s.duration,
                        words: s.words,
                        title: s.title,
                    })
                    .collect()
            });
            tx.blocking_send(Msg::Past(past)).ok();
        });
    }
}

fn devices() -> Msg {
    let list = crate::audio::device::list_devices(false);
    Msg::Devices(
        list.into_iter()
            .map(|d| DeviceItem {
                label: match (&d.description, d.system) {
                    (Some(desc), true) => {
                        format!("System audio: {}", desc.lines().next().unwrap_or(""))
                    }
                    (Some(desc), false) => {
                        format!("{} ({})", d.name, desc.lines().next().unwrap_or(""))
                    }
                    (None, true) => format!("System audio: {}", d.name),
                    (None, false) => d.name.clone(),
                },
                // The default output's monitor follows the default output.
                spec: if d.system && d.is_default {
                    crate::audio::device::SYSTEM.to_string()
                } else {
                    d.name
                },
                default: d.is_default && !d.system,
            })
            .collect(),
    )
}

/// A saved piece's text, after its input's label when the session captioned two apart.
fn labelled(e: &crate::session::log::Entry) -> String {
    match &e.source {
        Some(who) => format!("{who}: {}", e.text.trim()),
        None => e.text.clone(),
    }
}

/// How often a playing session's audio is looked at (whether it ended).
const PLAY_LOOK_EVERY: Duration = Duration::from_millis(100);

/// Session `id`'s kept audio from `from` seconds on, or why there is none.
fn kept_audio(store: Option<&Store>, id: &str, from: f64) -> Result<Vec<f32>, String> {
    let opened = store
        .ok_or_else(|| JobError::NoDataDir.to_string())?
        .open(id)
        .map_err(|e| e.to_string())?;
    // Both inputs of a call, mixed as it sounded.
    let samples = opened
        .kept_samples(None)
        .map_err(|e| e.to_string())?
        .ok_or_else(|| {
            format!(
                "session {id} has no kept audio; record with --keep-audio to be able to hear it again"
            )
        })?;
    let first = (from.max(0.0) * crate::audio::SAMPLE_RATE as f64) as usize;
    Ok(samples.get(first..).unwrap_or_default().to_vec())
}

fn open_session(store: Option<&Store>, id: &str) -> Result<Vec<String>, JobError> {
    let back = store.ok_or(JobError::NoDataDir)?.open(id)?.transcript;
    let mut lines: Vec<String> = back
        .entries
        .iter()
        .map(|e| transcript_line(e.start, &labelled(e)))
        .collect();
    if back.torn {
        lines.push("(the last line was cut off when livecap was stopped)".into());
    }
    Ok(lines)
}

/// Export the session to text and SRT, in the current directory (or, if that is not
/// writable, the session's own).
fn export(store: Option<&Store>, id: &str) -> Result<Vec<PathBuf>, JobError> {
    store
        .ok_or(JobError::NoDataDir)?
        .export_files(id, &[Format::Txt, Format::Srt], Path::new("."))
        .map_err(|source| JobError::Export {
            id: id.to_string(),
            source,
        })
}

/// Read keys and resizes on a thread of their own until the UI is gone.
fn read_terminal(tx: mpsc::Sender<Msg>) {
    use crossterm::event::{self, Event as TermEvent, KeyEventKind};
    std::thread::spawn(move || loop {
        match event::poll(Duration::from_millis(100)) {
            Ok(true) => {
                let msg = match event::read() {
                    Ok(TermEvent::Key(k)) if k.kind != KeyEventKind::Release => Msg::Key(k),
                    Ok(TermEvent::Resize(..)) => Msg::Resize,
                    Ok(_) => continue,
                    Err(_) => break,
                };
                if tx.blocking_send(msg).is_err() {
                    break;
                }
            }
            Ok(false) if tx.is_closed() => break,
            Ok(false) => {}
            Err(_) => break,
        }
    });
}

/// What the UI steers: the session, the level it shows, the background jobs.
struct Runner {
    handle: Handle,
    meter: Arc<Meter>,
    /// The second input's level, when two are captioned apart.
    second_meter: Option<Arc<Meter>>,
    jobs: Jobs,
    /// The session reads a capture device (another can be picked).
    device_input: bool,
}

async fn ui(
    app: &mut App,
    first: Option<Effect>,
    mut rx: mpsc::Receiver<Msg>,
    tx: mpsc::Sender<Msg>,
    runner: &Runner,
    hangup: &AtomicBool,
) -> Result<()> {
    // The only panic hook: a panic here gives the terminal back before its message; the
    // engine's are told on the status line, and the screen stays.
    let mut screen = Screen::enter(ENGINE_THREAD).context("cannot set up the terminal")?;
    let terminal = screen.terminal();
    read_terminal(tx);
    if let Some(effect) = first {
        carry_out(effect, app, runner);
    }
    let mut frames = tokio::time::interval(FRAME);
    frames.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let result = loop {
        let effect = tokio::select! {
            Some(msg) = rx.recv() => app.update(msg),
            _ = frames.tick() => {
                if hangup.load(Ordering::Relaxed) {
                    break Ok(());
                }
                app.update(Msg::Tick {
                    now: Instant::now(),
                    level: runner.meter.read(),
                    second: runner.second_meter.as_ref().map(|m| m.read()),
                });
                if app.dirty {
                    if let Err(e) = terminal.draw(|f| f.render_widget(&*app, f.area())) {
                        // The terminal is gone (a dropped link): end as if hung up.
                        crate::stderr::say(format!("cannot draw on the terminal ({e}); ending the session"));
                        hangup.store(true, Ordering::Relaxed);
                        break Ok(());
                    }
                    app.dirty = false;
                    if app.captions.words() > 0 {
                        crate::faults::panic_if_asked(crate::faults::Place::Ui);
                    }
                }
                None
            }
        };
        if let Some(effect) = effect {
            carry_out(effect, app, runner);
        }
        if app.quit {
            break Ok(());
        }
    };
    drop(screen);
    result
}

fn carry_out(effect: Effect, app: &mut App, runner: &Runner) {
    // Sent in order; a session that has ended (its input failed) takes no more requests, and
    // the screen already says why.
    let ask = |r: Request| {
        let _ = runner.handle.send(r);
    };
    match effect {
        Effect::Quit => {}
        Effect::SetPaused(true) => ask(Request::Pause),
        Effect::SetPaused(false) => ask(Request::Resume),
        Effect::SwitchMode(mode) => ask(Request::SetMode(mode)),
        Effect::NewSession => ask(Request::NewSession),
        Effect::ListDevices => runner.jobs.spawn(|_| devices()),
        Effect::SwitchDevice(spec) => {
            if runner.device_input {
                app.say(format!("switching to {spec}…"), false);
            }
            ask(Request::SwitchDevice(spec));
        }
        Effect::Export => {
            if let Some(id) = app.session.clone() {
                runner
                    .jobs
                    .spawn(move |store| Msg::Exported(export(store, &id).map_err(Arc::new)));
            }
        }
        Effect::OpenSession(id) => runner.jobs.open(id),
        Effect::CloseSession => runner.jobs.close(),
        Effect::Play { id, from } => runner.jobs.play(id, from),
        Effect::StopPlaying => runner.jobs.stop_playing(),
        Effect::RefreshPast => runner.jobs.refresh_past(app.session.clone()),
    }
}
