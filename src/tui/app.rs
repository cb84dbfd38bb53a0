//! The app's state and how it changes. [`App::update`] takes one message (a key, a frame tick,
//! news from the engine or from a background job) and returns at most one [`Effect`] for the
//! runner to carry out. There is no I/O here, so the whole flow is tested by feeding messages.

use std::cell::Cell;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossterm::event::KeyEvent;

use super::captions::Captions;
use super::keymap::{Action, Keymap};
use super::meter::MeterState;
use super::theme::Theme;
use crate::audio::level::Level;
use crate::audio::state::NoticeKind;
use crate::live::LiveError;
use crate::session::log::SessionError;
use crate::session::store::ExportError;
use crate::session::News;
use crate::stream::{BreakReason, Event, Mode};

/// Which pane the scrolling keys move.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Focus {
    Captions,
    History,
}

/// A device in the picker.
#[derive(Debug, Clone, PartialEq)]
pub struct DeviceItem {
    /// What `--input device:` would take.
    pub spec: String,
    /// What the picker shows.
    pub label: String,
    pub default: bool,
}

/// A past session in the history pane.
#[derive(Debug, Clone, PartialEq)]
pub struct PastSession {
    pub id: String,
    /// Seconds of audio.
    pub duration: f64,
    pub words: usize,
    pub title: Option<String>,
}

/// What is open over the screen.
#[derive(Debug, Clone, PartialEq)]
pub enum Popup {
    Help,
    /// Where the captions are shared (`--share`): the link and its QR code.
    Share,
    /// The device picker; `items` is `None` while the devices are being looked up.
    Devices {
        items: Option<Vec<DeviceItem>>,
        selected: usize,
    },
    /// A past session's transcript.
    Transcript {
        id: String,
        lines: Result<Vec<String>, String>,
        scroll: usize,
        /// Another livecap is still recording it: its new lines are added as they are saved.
        live: bool,
    },
}

/// A line of news at the bottom of the screen.
#[derive(Debug, Clone, PartialEq)]
pub struct Status {
    pub text: String,
    pub error: bool,
    pub at: Instant,
}

/// The meter alone redraws at most this often (10 a second: smooth to the eye, light on a slow
/// link); anything else redraws at the next frame.
const METER_EVERY: Duration = Duration::from_millis(100);

/// Information messages fade after this long; errors stay until replaced or dismissed.
const STATUS_FOR: Duration = Duration::from_secs(8);

/// What the engine's last updates cost.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Stats {
    /// Compute time over the audio span of the last update.
    pub rtf: Option<f64>,
    /// Seconds the captions trail the audio.
    pub lag: f64,
    /// Seconds of audio heard in this session.
    pub heard: f64,
    /// Seconds between updates now (more than `--step` while updates take longer).
    pub step: Option<f64>,
}

impl Stats {
    /// Take an update's cost or a lag report; `base` is where the session's time begins.
    fn observe(&mut self, e: &Event, base: f64) {
        match *e {
            Event::Update {
                audio_start,
                audio_end,
                compute,
                emitted_at,
                skipped,
                step,
                ..
            } => {
                let span = audio_end - audio_start;
                if !skipped && span > 0.0 {
                    self.rtf = Some(compute / span);
                }
                self.step = Some(step);
                self.lag = (emitted_at - audio_end).max(0.0);
                self.heard = (audio_end - base).max(0.0);
            }
            Event::Lag { behind, .. } => self.lag = behind,
            _ => {}
        }
    }
}

/// Where the engine is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Live,
    Paused,
    /// The input ended (a file played out); captions stay to be read.
    Ended,
}

/// Something that happened, for [`App::update`].
#[derive(Debug, Clone)]
pub enum Msg {
    Key(KeyEvent),
    /// The terminal was resized (the next frame lays out again).
    Resize,
    /// A frame is due; `level` is the input level now (`second`, the second input's, when two
    /// are captioned apart).
    Tick {
        now: Instant,
        level: Level,
        second: Option<Level>,
    },
    Stream(Event),
    /// An event of one of two inputs captioned apart, with its label.
    Labelled {
        lane: usize,
        label: String,
        event: Event,
    },
    Session(News),
    /// The engine stopped with an error.
    EngineFailed(Arc<LiveError>),
    Devices(Vec<DeviceItem>),
    Past(Vec<PastSession>),
    Opened {
        id: String,
        lines: Result<Vec<String>, Arc<JobError>>,
        /// Another livecap is still recording it.
        live: bool,
    },
    /// Lines a session open in the viewer has saved since; `ended` when its recording is over.
    Followed {
        id: String,
        lines: Result<Vec<String>, Arc<JobError>>,
        ended: bool,
    },
    /// An export finished: the files written, or why not.
    Exported(Result<Vec<PathBuf>, Arc<JobError>>),
    /// News of a session's audio played again.
    Played(PlayNews),
}

/// How playing a session's audio again goes.
#[derive(Debug, Clone, PartialEq)]
pub enum PlayNews {
    /// It plays, from this time (seconds) through this device.
    Started { from: f64, device: String },
    /// It played to its end.
    Ended,
    /// It could not play, or stopped: why.
    Failed(String),
}

/// Why a job on the saved sessions failed.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    #[error("there is no data directory")]
    NoDataDir,
    #[error(transparent)]
    Open(#[from] SessionError),
    #[error("cannot export session {id}: {source}")]
    Export { id: String, source: ExportError },
}

/// What the runner should do.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    Quit,
    SetPaused(bool),
    SwitchMode(Mode),
    ListDevices,
    SwitchDevice(String),
    NewSession,
    Export,
    OpenSession(String),
    /// The transcript viewer closed: stop following the session in it (and playing it).
    CloseSession,
    /// Play session `id`'s kept audio from `from` seconds.
    Play {
        id: String,
        from: f64,
    },
    StopPlaying,
    RefreshPast,
}

/// One row of the history pane.
#[derive(Debug, Clone, PartialEq)]
pub enum Row {
    Heading(&'static str),
    Past(usize),
    Line(usize),
}

/// The whole app.
#[derive(Debug)]
pub struct App {
    pub theme: Theme,
    pub keymap: Keymap,
    pub input: String,
    pub model: String,
    pub window: f64,
    /// Seconds between updates asked for (`--step`).
    pub step: f64,
    /// The mode asked for (shown at once; the engine confirms it).
    pub mode: Mode,
    pub phase: Phase,
    /// The current session's id, when it is being recorded.
    pub session: Option<String>,
    /// Sessions are recorded (not `--no-save`).
    pub saving: bool,
    pub captions: Captions,
    /// Stream seconds at which this session began.
    pub base: f64,
    pub past: Vec<PastSession>,
    pub focus: Focus,
    /// The shared caption page's link and its QR code (`--share`).
    pub shared: Option<(String, Vec<String>)>,
    /// The captions in block letters, filling the screen below the header.
    pub big: bool,
    /// A past session's audio is playing: from when (as the viewer shows times).
    pub playing: Option<String>,
    /// With two inputs captioned apart: each one's label and captions (the shown captions are
    /// both, merged), and which was heard last.
    pub lanes: Option<Box<[(String, Captions); 2]>>,
    newest_lane: usize,
    /// First caption line shown; `None` follows the newest.
    pub caption_top: Option<usize>,
    /// Selected history row; `None` follows the newest.
    pub history_sel: Option<usize>,
    pub popup: Option<Popup>,
    pub status: Option<Status>,
    pub meter: MeterState,
    pub stats: Stats,
    /// With two inputs: the second one's meter and the cost of its updates.
    pub second: Option<(MeterState, Stats)>,
    pub now: Instant,
    pub quit: bool,
    /// Something changed since the last frame was drawn.
    pub dirty: bool,
    /// (width, height) of the caption pane at the last draw, for paging.
    pub(crate) caption_view: Cell<(usize, usize)>,
    /// Rows visible in the history pane at the last draw.
    pub(crate) history_view: Cell<usize>,
    /// What the meter showed at the last draw, and when it last changed.
    meter_shown: [(i32, i32, bool); 2],
    meter_at: Instant,
}

impl App {
    pub fn new(theme: Theme, keymap: Keymap, input: &str, model: &str, now: Instant) -> Self {
        Self {
            theme,
            keymap,
            input: input.to_string(),
            model: model.to_string(),
            window: 5.0,
            step: 0.5,
            mode: Mode::Window,
            phase: Phase::Live,
            session: None,
            saving: true,
            captions: Captions::new(),
            base: 0.0,
            past: Vec::new(),
            focus: Focus::Captions,
            shared: None,
            big: false,
            playing: None,
            lanes: None,
            newest_lane: 0,
            caption_top: None,
            history_sel: None,
            popup: None,
            status: None,
            meter: MeterState::new(now),
            stats: Stats::default(),
            second: None,
            now,
            quit: false,
            dirty: true,
            caption_view: Cell::new((0, 0)),
            history_view: Cell::new(0),
            meter_shown: [(i32::MIN, i32::MIN, false); 2],
            meter_at: now,
        }
    }

    /// The mode's label, as the header shows it.
    pub fn mode_label(&self) -> String {
        match self.mode {
            Mode::Full => "full history".into(),
            Mode::Window => format!("last {} s", fmt_secs(self.window)),
        }
    }

    /// Open the device picker; the devices are looked up by the effect returned.
    pub fn open_picker(&mut self) -> Effect {
        self.popup = Some(Popup::Devices {
            items: None,
            selected: 0,
        });
        Effect::ListDevices
    }

    pub fn say(&mut self, text: impl Into<String>, error: bool) {
        self.status = Some(Status {
            text: text.into(),
            error,
            at: self.now,
        });
    }

    /// The history pane's rows: past sessions (oldest first), then this session's sentences.
    pub fn history_rows(&self) -> Vec<Row> {
        let mut rows = Vec::new();
        if !self.past.is_empty() {
            rows.push(Row::Heading("past sessions"));
            rows.extend((0..self.past.len()).map(Row::Past));
            rows.push(Row::Heading("this session"));
        }
        rows.extend((0..self.captions.sentences().len()).map(Row::Line));
        rows
    }

    pub fn update(&mut self, msg: Msg) -> Option<Effect> {
        match msg {
            Msg::Tick { now, level, second } => {
                self.tick(now, &level, second.as_ref());
                None
            }
            other => {
                self.dirty = true;
                match other {
                    Msg::Key(k) => {
                        let mut effect = None;
                        for a in self.keymap.actions(&k) {
                            effect = self.act(a).or(effect);
                        }
                        effect
                    }
                    Msg::Resize | Msg::Tick { .. } => None,
                    Msg::Stream(e) => self.on_stream(e),
                    Msg::Labelled { lane, label, event } => self.on_labelled(lane, label, event),
                    Msg::Session(n) => self.on_session(n),
                    Msg::EngineFailed(e) => {
                        self.phase = Phase::Ended;
                        self.say(format!("captioning stopped: {e}"), true);
                        None
                    }
                    Msg::Devices(d) => {
                        if let Some(Popup::Devices { items, selected }) = &mut self.popup {
                            *selected = d.iter().position(|i| i.default).unwrap_or(0);
                            *items = Some(d);
                        }
                        None
                    }
                    Msg::Past(p) => {
                        self.past = p;
                        self.history_sel = None;
                        None
                    }
                    Msg::Opened { id, lines, live } => {
                        self.popup = Some(Popup::Transcript {
                            id,
                            lines: lines.map_err(|e| e.to_string()),
                            scroll: 0,
                            live,
                        });
                        None
                    }
                    Msg::Followed { id, lines, ended } => {
                        self.on_followed(&id, lines, ended);
                        None
                    }
                    Msg::Played(news) => {
                        match news {
                            PlayNews::Started { from, device } => {
                                let from = crate::session::export::timestamp(from, '.');
                                self.say(
                                    format!("the session's audio plays through {device}"),
                                    false,
                                );
                                self.playing = Some(from);
                            }
                            PlayNews::Ended => self.playing = None,
                            PlayNews::Failed(why) => {
                                self.playing = None;
                                self.say(why, true);
                            }
                        }
                        None
                    }
                    Msg::Exported(r) => {
                        match r {
                            Ok(paths) => {
                                let names: Vec<String> =
                                    paths.iter().map(|p| p.display().to_string()).collect();
                                self.say(format!("exported to {}", names.join(" and ")), false);
                            }
                            Err(e) => self.say(e.to_string(), true),
                        }
                        None
                    }
                }
            }
        }
    }

    fn tick(&mut self, now: Instant, level: &Level, second: Option<&Level>) {
        self.now = now;
        self.meter.observe(level, now);
        if let Some(level) = second {
            let (meter, _) = self
                .second
                .get_or_insert_with(|| (MeterState::new(now), Stats::default()));
            meter.observe(level, now);
        }
        let looks = |m: &MeterState| {
            (
                m.rms_db.round() as i32,
                m.peak_shown(now).round() as i32,
                m.clip_lit(now),
            )
        };
        let shown = [
            looks(&self.meter),
            self.second
                .as_ref()
                .map_or((i32::MIN, i32::MIN, false), |(m, _)| looks(m)),
        ];
        let due = now.saturating_duration_since(self.meter_at) >= METER_EVERY;
        let clip_changed = (0..2).any(|i| shown[i].2 != self.meter_shown[i].2);
        if shown != self.meter_shown && (due || clip_changed) {
            self.meter_shown = shown;
            self.meter_at = now;
            self.dirty = true;
        }
        if let Some(s) = &self.status {
            if !s.error && now.saturating_duration_since(s.at) >= STATUS_FOR {
                self.status = None;
                self.dirty = true;
            }
        }
    }

    /// Two inputs are captioned apart, labelled `labels`.
    pub fn two_inputs(&mut self, labels: [String; 2]) {
        let [a, b] = labels;
        self.lanes = Some(Box::new([(a, Captions::new()), (b, Captions::new())]));
    }

    /// An event of one of two inputs: its words go to its own captions (shown merged, each
    /// sentence after its label); the first input's other events steer the session as one
    /// input's do, the second's only say their news.
    fn on_labelled(&mut self, lane: usize, label: String, e: Event) -> Option<Effect> {
        let lane = lane.min(1);
        let lanes = self.lanes.get_or_insert_with(|| {
            Box::new([
                (String::new(), Captions::new()),
                (String::new(), Captions::new()),
            ])
        });
        lanes[lane].0 = label;
        let captions = &mut lanes[lane].1;
        let words_changed = match &e {
            Event::Commit { words, .. } => {
                let base = self.base;
                captions.commit(
                    words
                        .iter()
                        .map(|w| (w.text.as_str(), w.start - base, w.end - base)),
                );
                true
            }
            Event::Partial { text, .. } => {
                captions.set_tentative(text);
                true
            }
            Event::Break { .. }
            | Event::Device {
                kind: NoticeKind::Lost,
                ..
            } => {
                captions.close();
                false
            }
            _ => false,
        };
        if words_changed {
            self.newest_lane = lane;
        }
        let effect = match (&e, lane) {
            (Event::Commit { .. } | Event::Partial { .. }, _) => None,
            (_, 0) => self.on_stream(e),
            (Event::Update { .. } | Event::Lag { .. }, _) => {
                let now = self.now;
                let (_, stats) = self
                    .second
                    .get_or_insert_with(|| (MeterState::new(now), Stats::default()));
                stats.observe(&e, 0.0);
                None
            }
            (Event::Device { kind, message, .. }, _) => {
                let error = matches!(kind, NoticeKind::Lost | NoticeKind::Refused);
                self.say(message.clone(), error);
                None
            }
            _ => None,
        };
        if let Some(lanes) = &self.lanes {
            if effect == Some(Effect::RefreshPast) {
                // A new session: both inputs start afresh.
                self.two_inputs([lanes[0].0.clone(), lanes[1].0.clone()]);
            } else {
                self.captions = Captions::merged(
                    [(&lanes[0].0, &lanes[0].1), (&lanes[1].0, &lanes[1].1)],
                    self.newest_lane,
                );
            }
        }
        effect
    }

    fn on_stream(&mut self, e: Event) -> Option<Effect> {
        match e {
            Event::Commit { words, .. } => {
                let base = self.base;
                self.captions.commit(
                    words
                        .iter()
                        .map(|w| (w.text.as_str(), w.start - base, w.end - base)),
                );
            }
            Event::Partial { text, .. } => self.captions.set_tentative(&text),
            e @ (Event::Update { .. } | Event::Lag { .. }) => self.stats.observe(&e, self.base),
            Event::Mode { mode, .. } => self.mode = mode,
            Event::Device {
                kind,
                device,
                message,
                ..
            } => {
                let error = matches!(kind, NoticeKind::Lost | NoticeKind::Refused);
                match kind {
                    NoticeKind::Lost => self.captions.close(),
                    NoticeKind::Switched => self.input = device,
                    _ => {}
                }
                self.say(message, error);
            }
            Event::Break { reason, at, .. } => {
                self.captions.close();
                if reason == BreakReason::NewSession {
                    self.captions = Captions::new();
                    self.base = at;
                    self.stats = Stats::default();
                    self.caption_top = None;
                    self.history_sel = None;
                    return Some(Effect::RefreshPast);
                }
            }
            Event::End { .. } => {
                self.phase = Phase::Ended;
                let quit = self.keymap.keys_for(Action::Quit).join("/");
                self.say(format!("the input has ended; {quit} quits"), false);
            }
        }
        None
    }

    fn on_session(&mut self, n: News) -> Option<Effect> {
        match n {
            News::Started { id, .. } => {
                self.session = Some(id);
                None
            }
            News::Failed(e) => {
                self.say(format!("{e}; captions go on, unsaved"), true);
                None
            }
            News::Recovered => {
                self.say("the transcript is being saved again", false);
                None
            }
        }
    }

    /// Carry out an action from the keymap.
    fn act(&mut self, a: Action) -> Option<Effect> {
        if a == Action::Quit {
            self.quit = true;
            return Some(Effect::Quit);
        }
        if self.popup.is_some() {
            return self.act_in_popup(a);
        }
        match a {
            Action::Pause => match self.phase {
                Phase::Live => {
                    self.phase = Phase::Paused;
                    Some(Effect::SetPaused(true))
                }
                Phase::Paused => {
                    self.phase = Phase::Live;
                    Some(Effect::SetPaused(false))
                }
                Phase::Ended => None,
            },
            Action::SwitchMode => {
                self.mode = match self.mode {
                    Mode::Window => Mode::Full,
                    Mode::Full => Mode::Window,
                };
                Some(Effect::SwitchMode(self.mode))
            }
            Action::PickDevice => Some(self.open_picker()),
            Action::NewSession => {
                if self.phase == Phase::Ended {
                    self.say("the input has ended; there is nothing more to record", true);
                    return None;
                }
                self.say("starting a new session", false);
                Some(Effect::NewSession)
            }
            Action::Save => {
                if self.session.is_none() {
                    let why = if self.saving {
                        "this session could not be saved, so there is nothing to export"
                    } else {
                        "this session is not being saved (--no-save)"
                    };
                    self.say(why, true);
                    return None;
                }
                Some(Effect::Export)
            }
            Action::BigText => {
                self.big = !self.big;
                None
            }
            Action::FocusNext => {
                self.focus = match self.focus {
                    Focus::Captions => Focus::History,
                    Focus::History => Focus::Captions,
                };
                None
            }
            Action::Help => {
                self.popup = Some(Popup::Help);
                None
            }
            Action::Cancel => {
                self.status = None;
                None
            }
            Action::Confirm => {
                if self.focus != Focus::History {
                    return None;
                }
                let rows = self.history_rows();
                match self.history_sel.and_then(|i| rows.get(i)) {
                    Some(Row::Past(i)) => {
                        self.past.get(*i).map(|p| Effect::OpenSession(p.id.clone()))
                    }
                    _ => None,
                }
            }
            scroll => {
                match self.focus {
                    Focus::Captions => self.scroll_captions(scroll),
                    Focus::History => self.scroll_history(scroll),
                }
                None
            }
        }
    }

    fn act_in_popup(&mut self, a: Action) -> Option<Effect> {
        let popup = self.popup.as_mut()?;
        match popup {
            Popup::Help | Popup::Share => {
                if matches!(a, Action::Help | Action::Cancel | Action::Confirm) {
                    self.popup = None;
                }
                None
            }
            Popup::Devices { items, selected } => {
                let n = items.as_ref().map_or(0, Vec::len);
                match a {
                    Action::ScrollUp | Action::PageUp | Action::Top => {
                        *selected = if a == Action::ScrollUp {
                            selected.saturating_sub(1)
                        } else {
                            0
                        };
                        None
                    }
                    Action::ScrollDown | Action::PageDown | Action::Bottom => {
                        *selected = if a == Action::ScrollDown {
                            (*selected + 1).min(n.saturating_sub(1))
                        } else {
                            n.saturating_sub(1)
                        };
                        None
                    }
                    Action::Confirm => {
                        let spec = items
                            .as_ref()
                            .and_then(|v| v.get(*selected))
                            .map(|d| d.spec.clone());
                        self.popup = None;
                        spec.map(Effect::SwitchDevice)
                    }
                    Action::Cancel | Action::PickDevice => {
                        self.popup = None;
                        None
                    }
                    _ => None,
                }
            }
            Popup::Transcript {
                id, lines, scroll, ..
            } => {
                match a {
                    Action::Cancel | Action::Confirm => {
                        self.popup = None;
                        self.playing = None;
                        return Some(Effect::CloseSession);
                    }
                    Action::Play if self.playing.is_some() => {
                        self.playing = None;
                        return Some(Effect::StopPlaying);
                    }
                    Action::Play => {
                        let from = lines
                            .as_ref()
                            .ok()
                            .and_then(|l| l.get(*scroll))
                            .and_then(|l| super::view::line_start(l));
                        return from.map(|from| Effect::Play {
                            id: id.clone(),
                            from,
                        });
                    }
                    Action::ScrollUp
                    | Action::ScrollDown
                    | Action::PageUp
                    | Action::PageDown
                    | Action::Top
                    | Action::Bottom => {
                        let last = lines.as_ref().map_or(0, |l| l.len()).saturating_sub(1);
                        let rows = self.caption_view.get().1;
                        *scroll = scrolled(*scroll, last, rows, a).unwrap_or(last);
                    }
                    _ => {}
                }
                None
            }
        }
    }

    /// New lines of the session open in the viewer: added at the end, shown at once when the
    /// viewer was showing the end.
    fn on_followed(&mut self, id: &str, new: Result<Vec<String>, Arc<JobError>>, ended: bool) {
        let rows = self.caption_view.get().1.max(1);
        let Some(Popup::Transcript {
            id: open,
            lines: Ok(lines),
            scroll,
            live,
        }) = &mut self.popup
        else {
            return;
        };
        if open != id {
            return;
        }
        let at_end = *scroll + rows >= lines.len();
        *live = !ended;
        match new {
            Ok(new) => lines.extend(new),
            Err(e) => {
                *live = false;
                let e = e.to_string();
                self.say(e, true);
                return;
            }
        }
        if at_end {
            *scroll = lines.len().saturating_sub(rows);
        }
    }

    fn scroll_captions(&mut self, a: Action) {
        let (width, height) = self.caption_view.get();
        let last_top = self.captions.wrap(width).len().saturating_sub(height);
        let top = self.caption_top.unwrap_or(last_top).min(last_top);
        // Back at the bottom: follow the captions again.
        self.caption_top = scrolled(top, last_top, height, a);
    }

    fn scroll_history(&mut self, a: Action) {
        let n = self.history_rows().len();
        if n == 0 {
            return;
        }
        let last = n - 1;
        let sel = self.history_sel.unwrap_or(last).min(last);
        self.history_sel = scrolled(sel, last, self.history_view.get(), a);
    }
}

/// Where a scrolling key moves `pos` in `0..=last`, with `rows` visible; `None` at `last` (the
/// newest, followed from then on).
fn scrolled(pos: usize, last: usize, rows: usize, a: Action) -> Option<usize> {
    let page = rows.max(2) - 1;
    let new = match a {
        Action::ScrollUp => pos.saturating_sub(1),
        Action::ScrollDown => pos + 1,
        Action::PageUp => pos.saturating_sub(page),
        Action::PageDown => pos + page,
        Action::Top => 0,
        _ => last,
    };
    (new < last).then_some(new)
}

/// Seconds without a needless ".0".
fn fmt_secs(s: f64) -> String {
    if s.fract() == 0.0 {
        format!("{s:.0}")
    } else {
        format!("{s}")
    }
}
