//! Running the app in a terminal. The capture source feeds the shared audio state from its own
//! thread; the engine thread runs the stream, records each commit to disk and then tells the UI;
//! the UI task selects over keys, engine news and a frame clock, drawing only when something
//! changed. Jobs that touch the disk or the sound system run on blocking tasks and report back
//! as messages.

use std::cell::RefCell;
use std::io::{self, IsTerminal};
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use tokio::sync::mpsc;

use super::app::{App, DeviceItem, Effect, Msg, PastSession};
use super::keymap::Keymap;
use super::logfile::StderrToFile;
use super::theme;
use super::view::transcript_line;
use crate::asr::Model;
use crate::audio::pcm::PcmFormat;
use crate::audio::source::{Capture, Input, SourceOptions};
use crate::audio::AudioState;
use crate::cli::{AppArgs, TaskArg};
use crate::cmd::transcribe::decode_options;
use crate::config;
use crate::session::log::{
    create_private, find, list_ids, load_transcript, read_transcript, summarize, TRANSCRIPT,
};
use crate::session::{data_dir, write_transcript, Format, News, RecordOptions, Recorder};
use crate::stream::{self, BreakReason, ClockKind, Control, Mode, RunConfig, Streamer};

/// At most this many frames a second.
const FRAME: Duration = Duration::from_millis(33);
/// Messages waiting for the UI; the engine waits when it is full (nothing is dropped).
const QUEUE: usize = 1024;

/// Settings after the command line, the config file and the defaults have had their say.
struct Settings {
    model: String,
    mode: Mode,
    window: f64,
    step: f64,
}

fn settings(args: &AppArgs, cfg: &config::Config) -> Result<Settings> {
    let window = args.window.or(cfg.window).unwrap_or(5.0);
    if let Err(what) = stream::check_window(window) {
        bail!("--window {window}: {what}");
    }
    let step = args.step.or(cfg.step).unwrap_or(0.5);
    if let Err(what) = stream::check_step(step) {
        bail!("--step {step}: {what}");
    }
    Ok(Settings {
        model: args
            .model
            .clone()
            .or_else(|| cfg.model.clone())
            .unwrap_or_else(|| "tiny.en".into()),
        mode: args.mode.or(cfg.mode).unwrap_or(Mode::Window),
        window,
        step,
    })
}

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
    let cfg = config::load(args.config.as_deref())?;
    let s = settings(args, &cfg)?;
    if !io::stdout().is_terminal() {
        bail!("standard output is not a terminal; for pipes and scripts use `livecap stream`");
    }
    let input = Input::parse(args.input.as_deref().unwrap_or("device:"));
    if input == Input::Stdin && io::stdin().is_terminal() {
        bail!("--input -: standard input is a terminal; pipe raw 16 kHz mono s16le PCM into it");
    }
    let vocabulary = if args.vocabulary.is_empty() {
        cfg.vocabulary.clone()
    } else {
        args.vocabulary.clone()
    };
    let opts = decode_options(
        args.language.as_deref(),
        TaskArg::Transcribe,
        None,
        vocabulary,
        1,
    )?;
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

    let audio = Arc::new(AudioState::new());
    let source_opts = SourceOptions {
        paced: true,
        pcm: PcmFormat::default(),
    };
    // The source first: a wrong device or file is reported at once.
    let capture = Capture::start(&input, &source_opts, audio.clone())?;
    let model = match Model::load(&s.model).and_then(|m| m.check_options(&opts).map(|_| m)) {
        Ok(m) => m,
        Err(e) => {
            capture.join();
            return Err(e.into());
        }
    };
    let data = data_dir();
    // Nothing but the app may write over the screen: messages go to a log file.
    let log_path = data.as_ref().map(|d| d.join("livecap.log"));
    let redirect = StderrToFile::start(log_path.as_deref());
    // A panic prints on the terminal, after the screen and standard error are given back.
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        restore_terminal();
        super::logfile::restore();
        previous(info);
    }));

    let mut app = App::new(
        theme,
        keymap,
        &input_label(&input),
        &model_label(&s.model),
        Instant::now(),
    );
    app.window = s.window;
    app.mode = s.mode;
    app.saving = !args.save.no_save && data.is_some();
    let mut problems: Vec<String> = theme_problem.map(|e| e.to_string()).into_iter().collect();
    problems.extend(key_problems);
    if let Some(p) = problems.first() {
        app.say(p.clone(), true);
    }
    for p in &problems {
        eprintln!("livecap: {p}");
    }

    let stop = Arc::new(AtomicBool::new(false));
    let hangup = Arc::new(AtomicBool::new(false));
    crate::cmd::stop_on_signals(&hangup)?;
    let control = Arc::new(Control::new());
    let (tx, rx) = mpsc::channel(QUEUE);
    let recording = match (&data, app.saving) {
        (Some(d), true) => Some((
            d.clone(),
            RecordOptions {
                source: input.to_string(),
                model: s.model.clone(),
                mode: s.mode,
                title: args.save.title.clone(),
                keep_audio: args.save.keep_audio,
            },
        )),
        _ => None,
    };
    let engine = {
        let (audio, control, stop, tx) = (audio.clone(), control.clone(), stop.clone(), tx.clone());
        let cfg = RunConfig {
            step: s.step,
            switch_at: Vec::new(),
            control: Some(control),
        };
        let (mode, window) = (s.mode, s.window);
        std::thread::Builder::new()
            .name("livecap-engine".into())
            .spawn(move || {
                engine(
                    &model, opts, mode, window, &audio, &cfg, &stop, recording, &tx,
                )
            })
            .context("cannot start the engine thread")?
    };

    let jobs = Jobs {
        tx: tx.clone(),
        data: data.clone(),
    };
    jobs.refresh_past(None);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .context("cannot start the app's runtime")?;
    let outcome = rt.block_on(ui(
        &mut app, rx, tx, &capture, &audio, &control, &jobs, &hangup,
    ));

    // The screen is back; finish the transcript with the words still tentative.
    drop(redirect);
    stop.store(true, Ordering::Relaxed);
    capture.stop();
    // The terminal may be gone (a dropped SSH link): what is said here may go nowhere.
    let say = |m: String| {
        use std::io::Write;
        writeln!(io::stderr(), "livecap: {m}").ok();
    };
    if outcome.is_ok() && !hangup.load(Ordering::Relaxed) {
        say("finishing the transcript…".into());
    }
    let saved = engine.join().ok().flatten();
    capture.join();
    outcome?;
    if let Some(dir) = saved {
        say(format!(
            "the transcript is in {}",
            dir.join(TRANSCRIPT).display()
        ));
    }
    Ok(true)
}

/// The engine thread: run the stream, recording each commit (and the audio, if kept) before
/// it is shown; returns the last session's directory.
#[allow(clippy::too_many_arguments)]
fn engine(
    model: &Model,
    opts: crate::asr::DecodeOptions,
    mode: Mode,
    window: f64,
    audio: &AudioState,
    cfg: &RunConfig,
    stop: &AtomicBool,
    recording: Option<(PathBuf, RecordOptions)>,
    tx: &mpsc::Sender<Msg>,
) -> Option<PathBuf> {
    let send = |m: Msg| {
        tx.blocking_send(m).ok();
    };
    let recorder = RefCell::new(recording.map(|(dir, o)| {
        let (r, news) = Recorder::start(&dir, o);
        send(Msg::Session(news));
        r
    }));
    let mut streamer = Streamer::new(model, opts, mode, window);
    let mut clock = stream::Clock::new(ClockKind::Realtime);
    let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| {
        stream::run_keeping(
            &mut streamer,
            audio,
            &mut clock,
            cfg,
            stop,
            &mut |e| {
                // On disk first, then on screen.
                if let Some(news) = recorder.borrow_mut().as_mut().and_then(|r| r.on_event(e)) {
                    send(Msg::Session(news));
                }
                send(Msg::Stream(e.clone()));
            },
            &mut |samples| {
                if let Some(news) = recorder
                    .borrow_mut()
                    .as_mut()
                    .and_then(|r| r.on_audio(samples))
                {
                    send(Msg::Session(news));
                }
            },
        )
    }));
    let mut recorder = recorder.into_inner();
    let result = match outcome {
        Ok(r) => r.map_err(|e| e.to_string()),
        Err(_) => {
            // Keep the words that were on screen.
            if let (Some(r), Some(e)) = (recorder.as_mut(), stream::salvage(&mut streamer, 0.0)) {
                r.on_event(&e);
            }
            Err("an internal error stopped the captions; the transcript so far is saved".into())
        }
    };
    let saved = recorder
        .as_ref()
        .and_then(|r| r.dir().map(Path::to_path_buf));
    if let Some(Err(e)) = recorder.map(Recorder::finish) {
        send(Msg::Session(News::Failed(e.to_string())));
    }
    if let Err(e) = result {
        send(Msg::EngineFailed(e));
    }
    saved
}

/// Background work that reports back as a message.
struct Jobs {
    tx: mpsc::Sender<Msg>,
    data: Option<PathBuf>,
}

impl Jobs {
    fn spawn(&self, f: impl FnOnce(Option<&Path>) -> Msg + Send + 'static) {
        let (tx, data) = (self.tx.clone(), self.data.clone());
        tokio::task::spawn_blocking(move || {
            tx.blocking_send(f(data.as_deref())).ok();
        });
    }

    fn refresh_past(&self, current: Option<String>) {
        let (tx, data) = (self.tx.clone(), self.data.clone());
        // Also before the runtime runs: a plain thread.
        std::thread::spawn(move || {
            tx.blocking_send(Msg::Past(past_sessions(
                data.as_deref(),
                current.as_deref(),
            )))
            .ok();
        });
    }
}

fn past_sessions(data: Option<&Path>, current: Option<&str>) -> Vec<PastSession> {
    let Some(data) = data else {
        return Vec::new();
    };
    list_ids(data)
        .into_iter()
        .filter(|id| Some(id.as_str()) != current)
        .filter_map(|id| summarize(data, &id).ok())
        .filter(|s| s.words > 0)
        .map(|s| PastSession {
            id: s.id,
            duration: s.duration,
            words: s.words,
            title: s.title,
        })
        .collect()
}

fn devices() -> Msg {
    let list = crate::audio::device::list_devices(false);
    Msg::Devices(Ok(list
        .into_iter()
        .map(|d| DeviceItem {
            label: match &d.description {
                Some(desc) => format!("{} ({})", d.name, desc.lines().next().unwrap_or("")),
                None => d.name.clone(),
            },
            spec: d.name,
            default: d.is_default,
        })
        .collect()))
}

fn open_session(data: Option<&Path>, id: &str) -> Result<Vec<String>, String> {
    let data = data.ok_or("there is no data directory")?;
    let dir = find(data, id).map_err(|e| e.to_string())?;
    let back = read_transcript(&dir.join(TRANSCRIPT)).map_err(|e| e.to_string())?;
    let mut lines: Vec<String> = back
        .entries
        .iter()
        .map(|e| transcript_line(e.start, &e.text))
        .collect();
    if back.torn {
        lines.push("(the last line was cut off when livecap was stopped)".into());
    }
    Ok(lines)
}

/// Export the session to text and SRT, in the current directory (or, if that is not
/// writable, the session's own).
fn export(data: Option<&Path>, id: &str) -> Result<Vec<PathBuf>, String> {
    let data = data.ok_or("there is no data directory")?;
    let dir = find(data, id).map_err(|e| e.to_string())?;
    let t = load_transcript(&dir).map_err(|e| e.to_string())?;
    let write_all = |into: &Path| -> io::Result<Vec<PathBuf>> {
        let mut out = Vec::new();
        for format in [Format::Txt, Format::Srt] {
            let path = into.join(format!("livecap-{id}.{}", format.extension()));
            let mut f = create_private(&path)?;
            write_transcript(&mut f, &t, id, format)?;
            out.push(path);
        }
        Ok(out)
    };
    write_all(Path::new("."))
        .or_else(|_| write_all(&dir))
        .map_err(|e| format!("cannot export session {id}: {e}"))
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

#[allow(clippy::too_many_arguments)]
async fn ui(
    app: &mut App,
    mut rx: mpsc::Receiver<Msg>,
    tx: mpsc::Sender<Msg>,
    capture: &Capture,
    audio: &AudioState,
    control: &Control,
    jobs: &Jobs,
    hangup: &AtomicBool,
) -> Result<()> {
    let mut terminal = ratatui::try_init().context("cannot set up the terminal")?;
    read_terminal(tx);
    let mut frames = tokio::time::interval(FRAME);
    frames.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let result = loop {
        let effect = tokio::select! {
            Some(msg) = rx.recv() => app.update(msg),
            _ = frames.tick() => {
                if hangup.load(Ordering::Relaxed) {
                    break Ok(());
                }
                app.update(Msg::Tick { now: Instant::now(), level: capture.level() });
                if app.dirty {
                    if let Err(e) = terminal.draw(|f| f.render_widget(&*app, f.area())) {
                        // The terminal is gone (a dropped link): end as if hung up.
                        eprintln!("livecap: cannot draw on the terminal ({e}); ending the session");
                        hangup.store(true, Ordering::Relaxed);
                        break Ok(());
                    }
                    app.dirty = false;
                }
                None
            }
        };
        if let Some(effect) = effect {
            carry_out(effect, app, capture, audio, control, jobs);
        }
        if app.quit {
            break Ok(());
        }
    };
    restore_terminal();
    result
}

/// Normal mode, the main screen, the cursor shown.
fn restore_terminal() {
    ratatui::restore();
    crossterm::execute!(io::stdout(), crossterm::cursor::Show).ok();
}

fn carry_out(
    effect: Effect,
    app: &mut App,
    capture: &Capture,
    audio: &AudioState,
    control: &Control,
    jobs: &Jobs,
) {
    match effect {
        Effect::Quit => {}
        Effect::SetPaused(paused) => {
            audio.set_paused(paused);
            if paused {
                control.request_break(BreakReason::Pause, audio);
            }
        }
        Effect::SwitchMode(mode) => control.request_mode(mode, audio),
        Effect::NewSession => control.request_break(BreakReason::NewSession, audio),
        Effect::ListDevices => jobs.spawn(|_| devices()),
        Effect::SwitchDevice(spec) => {
            if capture.switch_device(&spec) {
                app.say(format!("switching to {spec}…"), false);
            } else {
                app.say(
                    format!(
                        "this session reads {}; start livecap with --input device:{spec} to caption that device",
                        app.input
                    ),
                    true,
                );
            }
        }
        Effect::Export => {
            if let Some(id) = app.session.clone() {
                jobs.spawn(move |data| Msg::Exported(export(data, &id)));
            }
        }
        Effect::OpenSession(id) => {
            jobs.spawn(move |data| {
                let lines = open_session(data, &id);
                Msg::Opened { id, lines }
            });
        }
        Effect::RefreshPast => jobs.refresh_past(app.session.clone()),
    }
}
