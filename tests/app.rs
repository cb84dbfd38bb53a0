//! The caption app without a terminal: flow tests feed messages to `App::update` and check the
//! state and effects; widget tests draw into a `Buffer` at any size; whole-screen snapshots on
//! `TestBackend` pin the layout.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use livecap::audio::level::Level;
use livecap::audio::state::NoticeKind;
use livecap::session::News;
use livecap::stream::{BreakReason, Event, Mode, Word};
use livecap::tui::app::{
    App, DeviceItem, Effect, Focus, JobError, Msg, PastSession, Phase, PlayNews, Popup,
};
use livecap::tui::keymap::Keymap;
use livecap::tui::theme::{self, Slot};
use ratatui::backend::TestBackend;
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::widgets::Widget;
use ratatui::Terminal;

fn app() -> App {
    let (theme, warning) = theme::choose(None, None, false);
    assert!(warning.is_none());
    let mut a = App::new(
        theme,
        Keymap::default(),
        "interview.wav",
        "tiny.en",
        Instant::now(),
    );
    a.session = Some("2026-11-22T10-00-00Z".into());
    a
}

fn key(c: char) -> Msg {
    Msg::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE))
}

fn special(code: KeyCode) -> Msg {
    Msg::Key(KeyEvent::new(code, KeyModifiers::NONE))
}

/// A commit of `text`, its words spread from `start`, a third of a second each.
fn commit(text: &str, start: f64) -> Msg {
    let words: Vec<Word> = text
        .split_whitespace()
        .enumerate()
        .map(|(i, w)| {
            let s = start + i as f64 / 3.0;
            Word::new(w, s, s + 0.3, s + 1.0)
        })
        .collect();
    let end = words.last().map_or(start, |w| w.end);
    Msg::Stream(Event::Commit {
        text: text.into(),
        start,
        end,
        emitted_at: end + 1.0,
        words,
    })
}

fn partial(text: &str) -> Msg {
    Msg::Stream(Event::Partial {
        text: text.into(),
        start: 0.0,
        end: 0.0,
        emitted_at: 0.0,
    })
}

fn update(audio_start: f64, audio_end: f64, compute: f64) -> Msg {
    paced_update(audio_start, audio_end, compute, 0.5)
}

/// An update after which the engine waits `step` seconds of audio for the next.
fn paced_update(audio_start: f64, audio_end: f64, compute: f64, step: f64) -> Msg {
    Msg::Stream(Event::Update {
        mode: Mode::Window,
        audio_start,
        audio_end,
        compute,
        skipped: false,
        held: 5.0,
        step,
        encoder_passes: 1,
        decoder_tokens: 20,
        emitted_at: audio_end + compute,
    })
}

/// The screen as text, a line per row.
fn draw(app: &App, width: u16, height: u16) -> Vec<String> {
    let area = Rect::new(0, 0, width, height);
    let mut buf = Buffer::empty(area);
    app.render(area, &mut buf);
    rows(&buf)
}

fn rows(buf: &Buffer) -> Vec<String> {
    (0..buf.area.height)
        .map(|y| {
            (0..buf.area.width)
                .map(|x| buf[(x, y)].symbol().to_string())
                .collect::<String>()
        })
        .collect()
}

fn screen_has(screen: &[String], text: &str) -> bool {
    screen.iter().any(|l| l.contains(text))
}

/// A conversation: two sentences committed, a tentative tail, some updates.
fn talking() -> App {
    let mut a = app();
    a.update(commit("Good morning, and welcome to the show.", 0.5));
    a.update(commit("Today we talk about", 4.0));
    a.update(partial("printing in the"));
    a.update(update(0.0, 6.0, 0.9));
    a.dirty = false;
    a
}

#[test]
fn committed_text_stays_and_the_tentative_tail_is_replaced_in_place() {
    let mut a = talking();
    let screen = draw(&a, 100, 30);
    assert!(screen_has(
        &screen,
        "Good morning, and welcome to the show."
    ));
    assert!(screen_has(&screen, "Today we talk about printing in the"));
    a.update(partial("printing in the only sense"));
    let screen = draw(&a, 100, 30);
    assert!(screen_has(
        &screen,
        "Today we talk about printing in the only sense"
    ));
    a.update(commit("printing in the only sense.", 6.0));
    a.update(partial(""));
    assert_eq!(a.captions.sentences().len(), 2);
    assert_eq!(a.captions.tentative(), "");
    let screen = draw(&a, 100, 30);
    assert!(screen_has(
        &screen,
        "Today we talk about printing in the only sense."
    ));
    // The history pane lists the sentences with their times.
    assert!(screen_has(&screen, "00:00 Good morning"));
    assert!(screen_has(&screen, "00:04 Today we talk"));
}

#[test]
fn the_tentative_tail_is_drawn_in_the_tentative_style() {
    let a = talking();
    let area = Rect::new(0, 0, 100, 30);
    let mut buf = Buffer::empty(area);
    a.render(area, &mut buf);
    let screen = rows(&buf);
    let (y, line) = screen
        .iter()
        .enumerate()
        .find(|(_, l)| l.contains("printing in the"))
        .expect("tail shown");
    let x = line
        .char_indices()
        .position(|(i, _)| line[i..].starts_with("printing"))
        .expect("column") as u16;
    let tail = &buf[(x, y as u16)];
    let committed = &buf[(x - 3, y as u16)];
    let styles = theme::choose(None, None, false).0;
    assert_eq!(tail.fg, styles[Slot::Tentative].fg.expect("colour"));
    assert_eq!(committed.fg, styles[Slot::Caption].fg.expect("colour"));
    assert_ne!(tail.fg, committed.fg);
}

#[test]
fn mode_key_switches_at_once_and_the_engine_confirms() {
    let mut a = talking();
    assert!(screen_has(&draw(&a, 100, 30), "mode: last 5 s"));
    assert_eq!(a.update(key('m')), Some(Effect::SwitchMode(Mode::Full)));
    assert!(a.dirty);
    assert!(screen_has(&draw(&a, 100, 30), "mode: full history"));
    a.update(Msg::Stream(Event::Mode {
        mode: Mode::Full,
        emitted_at: 7.0,
    }));
    assert_eq!(a.mode, Mode::Full);
    assert_eq!(a.update(key('m')), Some(Effect::SwitchMode(Mode::Window)));
    assert!(screen_has(&draw(&a, 80, 24), "mode: last 5 s"));
}

#[test]
fn space_pauses_and_resumes() {
    let mut a = talking();
    assert_eq!(a.update(key(' ')), Some(Effect::SetPaused(true)));
    assert_eq!(a.phase, Phase::Paused);
    assert!(screen_has(&draw(&a, 80, 24), "PAUSED"));
    assert_eq!(a.update(key(' ')), Some(Effect::SetPaused(false)));
    assert_eq!(a.phase, Phase::Live);
    assert!(screen_has(&draw(&a, 80, 24), "REC"));
}

#[test]
fn help_opens_and_closes_and_lists_the_live_keymap() {
    let mut bindings = BTreeMap::new();
    bindings.insert("p".to_string(), "pause".to_string());
    bindings.insert("space".to_string(), "none".to_string());
    let (km, problems) = Keymap::with_bindings(&bindings);
    assert!(problems.is_empty(), "{problems:?}");
    let mut a = talking();
    a.keymap = km;
    assert_eq!(a.update(key('?')), None);
    assert_eq!(a.popup, Some(Popup::Help));
    let screen = draw(&a, 80, 24);
    assert!(screen_has(&screen, "Keys"));
    assert!(screen_has(&screen, "p  pause/resume"), "{screen:#?}");
    assert!(!screen_has(&screen, "Space"));
    // Keys other than close do nothing under the help.
    assert_eq!(a.update(key('m')), None);
    assert_eq!(a.mode, Mode::Window);
    a.update(special(KeyCode::Esc));
    assert_eq!(a.popup, None);
    // The footer follows the map too.
    let screen = draw(&a, 100, 30);
    assert!(screen_has(&screen, " p pause"));
    assert_eq!(a.update(key(' ')), None);
    assert_eq!(a.update(key('p')), Some(Effect::SetPaused(true)));
}

#[test]
fn q_and_ctrl_c_quit() {
    let mut a = talking();
    assert_eq!(a.update(key('q')), Some(Effect::Quit));
    assert!(a.quit);
    let mut a = talking();
    a.update(key('?'));
    let ctrl_c = Msg::Key(KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL));
    assert_eq!(a.update(ctrl_c), Some(Effect::Quit));
}

#[test]
fn the_device_picker_lists_moves_and_chooses() {
    let mut a = talking();
    assert_eq!(a.update(key('d')), Some(Effect::ListDevices));
    assert!(screen_has(&draw(&a, 80, 24), "Looking for input devices"));
    let items = vec![
        DeviceItem {
            spec: "default".into(),
            label: "default (Default ALSA Output)".into(),
            default: true,
        },
        DeviceItem {
            spec: "usbmic".into(),
            label: "usbmic (USB microphone)".into(),
            default: false,
        },
    ];
    a.update(Msg::Devices(items));
    let screen = draw(&a, 80, 24);
    assert!(screen_has(&screen, "usbmic (USB microphone)"));
    assert!(screen_has(&screen, "[default]"));
    a.update(key('j'));
    a.update(key('j'));
    assert_eq!(
        a.update(special(KeyCode::Enter)),
        Some(Effect::SwitchDevice("usbmic".into()))
    );
    assert_eq!(a.popup, None);
    a.update(Msg::Stream(Event::Device {
        kind: NoticeKind::Switched,
        device: "usbmic".into(),
        message: "capturing from usbmic now".into(),
        at: 8.0,
        emitted_at: 8.0,
    }));
    let screen = draw(&a, 100, 30);
    assert!(screen_has(&screen, "input: usbmic"));
    assert!(screen_has(&screen, "capturing from usbmic now"));
    // Esc closes without choosing.
    a.update(key('d'));
    assert_eq!(a.update(special(KeyCode::Esc)), None);
    assert_eq!(a.popup, None);
}

#[test]
fn scrolling_back_stops_following_and_g_follows_again() {
    let mut a = app();
    for i in 0..60 {
        a.update(commit(
            &format!("Sentence number {i} is here."),
            i as f64 * 2.0,
        ));
    }
    let screen = draw(&a, 80, 24);
    assert!(screen_has(&screen, "Sentence number 59 is here."));
    a.update(special(KeyCode::PageUp));
    assert!(a.caption_top.is_some());
    let screen = draw(&a, 80, 24);
    assert!(!screen_has(&screen, "Sentence number 59 is here."));
    assert!(screen_has(&screen, "scrolled back"));
    // New words do not move the view while scrolled back.
    let captions = |screen: Vec<String>| -> Vec<String> {
        // The pane rows, left of the history pane.
        screen
            .iter()
            .skip(2)
            .map(|l| l.split("││").next().unwrap_or("").to_string())
            .collect()
    };
    let before = captions(draw(&a, 80, 24));
    a.update(commit("Another one.", 200.0));
    assert_eq!(captions(draw(&a, 80, 24)), before);
    a.update(key('g'));
    assert!(screen_has(&draw(&a, 80, 24), "Sentence number 0 is here."));
    a.update(key('G'));
    assert_eq!(a.caption_top, None);
    assert!(screen_has(&draw(&a, 80, 24), "Another one."));
}

#[test]
fn history_focus_selects_a_past_session_and_opens_it() {
    let mut a = talking();
    a.update(Msg::Past(vec![PastSession {
        id: "2026-11-21T09-00-00Z".into(),
        duration: 754.0,
        words: 1800,
        title: None,
    }]));
    let screen = draw(&a, 100, 30);
    assert!(screen_has(&screen, "past sessions"));
    assert!(screen_has(&screen, "11-21 09:00 12:34 1800w"));
    a.update(special(KeyCode::Tab));
    assert_eq!(a.focus, Focus::History);
    a.update(key('g'));
    a.update(key('j'));
    assert_eq!(
        a.update(special(KeyCode::Enter)),
        Some(Effect::OpenSession("2026-11-21T09-00-00Z".into()))
    );
    a.update(Msg::Opened {
        id: "2026-11-21T09-00-00Z".into(),
        lines: Ok(vec!["00:00:01.000  Yesterday's words.".into()]),
        live: false,
    });
    let screen = draw(&a, 80, 24);
    assert!(screen_has(&screen, "Yesterday's words."));
    assert!(!screen_has(&screen, "being recorded"));
    assert_eq!(a.update(special(KeyCode::Esc)), Some(Effect::CloseSession));
    assert_eq!(a.popup, None);
    // Narrow: only the focused pane is shown.
    let narrow = draw(&a, 60, 20);
    assert!(screen_has(&narrow, "History") && !screen_has(&narrow, "Captions"));
    a.update(special(KeyCode::Tab));
    let narrow = draw(&a, 60, 20);
    assert!(screen_has(&narrow, "Captions") && !screen_has(&narrow, "History"));
}

#[test]
fn a_session_another_livecap_records_is_shown_live_in_the_viewer() {
    let mut a = talking();
    let id = "2026-11-21T09-00-00Z".to_string();
    let line = |i: usize| format!("00:00:{i:02}.000  Line {i}.");
    a.update(Msg::Opened {
        id: id.clone(),
        lines: Ok((0..3).map(line).collect()),
        live: true,
    });
    let screen = draw(&a, 80, 24);
    assert!(screen_has(&screen, "live, being recorded"));
    assert!(screen_has(&screen, "Line 2."));
    // New lines are added as they are saved, and the viewer keeps showing the newest.
    for i in 3..40 {
        a.update(Msg::Followed {
            id: id.clone(),
            lines: Ok(vec![line(i)]),
            ended: false,
        });
    }
    let screen = draw(&a, 80, 24);
    assert!(screen_has(&screen, "Line 39."), "{screen:#?}");
    // Lines of a session no longer open are not added.
    a.update(Msg::Followed {
        id: "2026-11-20T14-30-00Z".into(),
        lines: Ok(vec!["00:01:00.000  Elsewhere.".into()]),
        ended: false,
    });
    // Scrolled back, the viewer stays where the reader is.
    a.update(key('g'));
    a.update(Msg::Followed {
        id: id.clone(),
        lines: Ok(vec![line(40)]),
        ended: true,
    });
    let screen = draw(&a, 80, 24);
    assert!(screen_has(&screen, "Line 0."));
    assert!(!screen_has(&screen, "Line 40.") && !screen_has(&screen, "Elsewhere."));
    assert!(!screen_has(&screen, "live, being recorded"));
    match &a.popup {
        Some(Popup::Transcript {
            lines: Ok(lines),
            live,
            ..
        }) => {
            assert_eq!(lines.len(), 41);
            assert!(!live);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(a.update(special(KeyCode::Esc)), Some(Effect::CloseSession));
}

#[test]
fn a_line_of_a_past_session_is_played_from_its_time_and_stopped() {
    let mut a = talking();
    let id = "2026-11-21T09-00-00Z".to_string();
    let lines: Vec<String> = (0..30)
        .map(|i| livecap::tui::view::transcript_line(i as f64 * 4.5 + 0.25, &format!("Line {i}.")))
        .collect();
    a.update(Msg::Opened {
        id: id.clone(),
        lines: Ok(lines),
        live: false,
    });
    // The top line is the one played: its own time.
    assert_eq!(
        a.update(key('p')),
        Some(Effect::Play {
            id: id.clone(),
            from: 0.25
        })
    );
    a.update(Msg::Played(PlayNews::Failed(format!(
        "session {id} has no kept audio; record with --keep-audio to be able to hear it again"
    ))));
    assert!(screen_has(&draw(&a, 100, 30), "no kept audio"));
    a.update(key('j'));
    a.update(key('j'));
    let play_third_line = |a: &mut App| {
        assert_eq!(
            a.update(key('p')),
            Some(Effect::Play {
                id: id.clone(),
                from: 9.25
            })
        );
        a.update(Msg::Played(PlayNews::Started {
            from: 9.25,
            device: "default".into(),
        }));
    };
    play_third_line(&mut a);
    let screen = draw(&a, 100, 30);
    assert!(
        screen_has(&screen, "playing from 00:00:09.250"),
        "{screen:#?}"
    );
    // `p` again stops it; so does closing the viewer.
    assert_eq!(a.update(key('p')), Some(Effect::StopPlaying));
    assert!(!screen_has(&draw(&a, 100, 30), "playing from"));
    play_third_line(&mut a);
    a.update(Msg::Played(PlayNews::Ended));
    assert!(!screen_has(&draw(&a, 100, 30), "playing from"));
    assert_eq!(a.update(special(KeyCode::Esc)), Some(Effect::CloseSession));
    // Outside the viewer, `p` does nothing.
    assert_eq!(a.update(key('p')), None);
}

#[test]
fn two_inputs_are_shown_apart_each_sentence_after_its_label_in_order_of_time() {
    let mut a = app();
    let said = |lane: usize, label: &str, text: &str, at: f64| match commit(text, at) {
        Msg::Stream(event) => Msg::Labelled {
            lane,
            label: label.into(),
            event,
        },
        other => other,
    };
    a.update(said(0, "You", "Can you hear me?", 1.0));
    a.update(said(1, "Them", "Yes, loud and clear.", 2.5));
    a.update(said(0, "You", "Good, let us start.", 5.0));
    a.update(Msg::Labelled {
        lane: 1,
        label: "Them".into(),
        event: Event::Partial {
            text: "The first item".into(),
            start: 7.0,
            end: 8.0,
            emitted_at: 8.2,
        },
    });
    let screen = draw(&a, 100, 30);
    let row = |text: &str| {
        screen
            .iter()
            .position(|l| l.contains(text))
            .unwrap_or_else(|| panic!("{text} not on the screen: {screen:#?}"))
    };
    let (you, them, you_again, tentative) = (
        row("You: Can you hear me?"),
        row("Them: Yes, loud and clear."),
        row("You: Good, let us start."),
        row("Them: The first item"),
    );
    assert!(
        you < them && them < you_again && you_again < tentative,
        "{screen:#?}"
    );
    // Words are counted once, without the labels.
    assert_eq!(a.captions.words(), 12);

    // Labels are drawn in their own colour, apart from the words they introduce.
    let area = Rect::new(0, 0, 100, 30);
    let mut buf = Buffer::empty(area);
    a.render(area, &mut buf);
    let styles = theme::choose(None, None, false).0;
    let at = |text: &str, offset: usize| {
        let y = row(text);
        let x = screen[y]
            .chars()
            .collect::<String>()
            .find(text)
            .expect("column");
        // Columns count characters; the screen rows are built from one-cell symbols.
        let x = screen[y][..x].chars().count() + offset;
        buf[(x as u16, y as u16)].fg
    };
    let label = styles[Slot::Label].fg.expect("colour");
    assert_eq!(at("Them: Yes", 0), label);
    assert_eq!(
        at("Them: Yes", 6),
        styles[Slot::Caption].fg.expect("colour")
    );
    assert_eq!(at("Them: The first", 0), label);
    assert_eq!(
        at("Them: The first", 6),
        styles[Slot::Tentative].fg.expect("colour")
    );
}

#[test]
fn two_inputs_are_each_metered_and_either_falling_behind_is_said() {
    let mut a = app();
    a.two_inputs(["You".into(), "Them".into()]);
    let loud = Level {
        rms_db: -6.0,
        peak_db: -3.0,
        clipped: false,
        clipped_blocks: 0,
        blocks: 10,
    };
    let now = a.now + Duration::from_secs(1);
    a.update(Msg::Tick {
        now,
        level: Level::default(),
        second: Some(loud),
    });
    let screen = draw(&a, 100, 30);
    let meters = &screen[1];
    let (you, them) = (
        meters.find("You [").unwrap_or_else(|| panic!("{meters}")),
        meters.find("Them [").unwrap_or_else(|| panic!("{meters}")),
    );
    assert!(you < them, "{meters}");
    // Only the second input is loud: its bar is filled, the first's is empty.
    let bar = |from: usize| -> usize {
        meters[from..]
            .split(']')
            .next()
            .unwrap_or_default()
            .matches('█')
            .count()
    };
    assert_eq!(bar(you), 0, "{meters}");
    assert!(bar(them) > 10, "{meters}");
    assert!(meters.contains("peak  -3 dB"), "{meters}");

    // The second input falls behind: the header says which.
    a.update(Msg::Labelled {
        lane: 1,
        label: "Them".into(),
        event: Event::Lag {
            behind: 3.5,
            compute: 2.0,
            coalesced: 4,
            emitted_at: 12.0,
        },
    });
    let header = &draw(&a, 120, 30)[0];
    assert!(header.contains("Them lag 3.5 s"), "{header}");
    assert!(!header.contains("You lag"), "{header}");
    assert!(header.contains("input: "), "{header}");
}

#[test]
fn a_new_session_clears_the_captions_when_the_engine_breaks() {
    let mut a = talking();
    assert_eq!(a.update(key('n')), Some(Effect::NewSession));
    // Until the engine has committed the tail, the old captions stay.
    assert_eq!(a.captions.sentences().len(), 2);
    a.update(Msg::Session(News::Started {
        id: "2026-11-22T10-05-00Z".into(),
        dir: PathBuf::from("/tmp/x"),
    }));
    let effect = a.update(Msg::Stream(Event::Break {
        reason: BreakReason::NewSession,
        at: 30.0,
        emitted_at: 30.2,
    }));
    assert_eq!(effect, Some(Effect::RefreshPast));
    assert!(a.captions.is_empty());
    assert_eq!(a.session.as_deref(), Some("2026-11-22T10-05-00Z"));
    // Times in the new session count from its start.
    a.update(commit("Fresh start.", 31.0));
    assert!(screen_has(&draw(&a, 100, 30), "00:01 Fresh start."));
}

#[test]
fn export_needs_a_saved_session_and_reports_where_it_went() {
    let mut a = talking();
    assert_eq!(a.update(key('s')), Some(Effect::Export));
    a.update(Msg::Exported(Ok(vec![PathBuf::from("livecap-x.txt")])));
    assert!(screen_has(&draw(&a, 80, 24), "exported to livecap-x.txt"));
    a.update(Msg::Exported(Err(std::sync::Arc::new(JobError::NoDataDir))));
    assert!(screen_has(&draw(&a, 80, 24), "there is no data directory"));
    a.session = None;
    a.saving = false;
    assert_eq!(a.update(key('s')), None);
    assert!(screen_has(&draw(&a, 80, 24), "not being saved"));
}

#[test]
fn trouble_shows_on_the_status_line_and_captions_go_on() {
    let mut a = talking();
    a.update(Msg::Session(News::Failed(
        "cannot write the session's /data/t.jsonl: No space left on device".into(),
    )));
    let screen = draw(&a, 100, 30);
    assert!(screen_has(&screen, "No space left on device"));
    a.update(commit("Still here.", 9.0));
    assert!(screen_has(&draw(&a, 100, 30), "Still here."));
    // Errors stay; information fades.
    let later = a.now + Duration::from_secs(30);
    a.update(Msg::Tick {
        now: later,
        level: Level::default(),
        second: None,
    });
    assert!(a.status.is_some());
    a.update(special(KeyCode::Esc));
    assert!(a.status.is_none());
    a.update(Msg::Session(News::Recovered));
    a.update(Msg::Tick {
        now: later + Duration::from_secs(9),
        level: Level::default(),
        second: None,
    });
    assert!(a.status.is_none());
    a.update(Msg::Stream(Event::End {
        duration: 10.0,
        updates: 20,
        compute: 4.0,
        words: 12,
        mode: Mode::Window,
        emitted_at: 10.0,
    }));
    assert_eq!(a.phase, Phase::Ended);
    assert!(screen_has(&draw(&a, 80, 24), "ENDED"));
}

#[test]
fn ticks_redraw_only_when_the_meter_visibly_moves() {
    let mut a = talking();
    let t = a.now;
    let loud = Level {
        rms_db: -20.0,
        peak_db: -6.0,
        clipped: false,
        clipped_blocks: 0,
        blocks: 10,
    };
    a.update(Msg::Tick {
        now: t + Duration::from_millis(120),
        level: loud,
        second: None,
    });
    assert!(a.dirty);
    a.dirty = false;
    a.update(Msg::Tick {
        now: t + Duration::from_millis(150),
        level: loud,
        second: None,
    });
    assert!(!a.dirty, "nothing changed");
    let screen = draw(&a, 80, 24);
    assert!(screen_has(&screen, "peak  -6 dB"));
    // A level change within a tenth of a second of the last waits for the next tick after it.
    let quieter = Level {
        rms_db: -30.0,
        ..loud
    };
    a.update(Msg::Tick {
        now: t + Duration::from_millis(180),
        level: quieter,
        second: None,
    });
    assert!(!a.dirty, "meter redrawn too soon");
    a.update(Msg::Tick {
        now: t + Duration::from_millis(230),
        level: quieter,
        second: None,
    });
    assert!(a.dirty);
    a.dirty = false;
    // A clip shows at once.
    a.update(Msg::Tick {
        now: t + Duration::from_millis(250),
        level: Level {
            clipped_blocks: 1,
            ..quieter
        },
        second: None,
    });
    assert!(a.dirty);
    assert!(screen_has(&draw(&a, 80, 24), "CLIP"));
}

#[test]
fn the_header_shows_lag_when_captions_fall_behind() {
    let mut a = talking();
    assert!(screen_has(&draw(&a, 100, 30), "rtf 0.15"));
    a.update(Msg::Stream(Event::Lag {
        behind: 4.5,
        compute: 3.0,
        coalesced: 5,
        emitted_at: 12.0,
    }));
    assert!(screen_has(&draw(&a, 100, 30), "lag 4.5 s"));
}

#[test]
fn the_header_shows_how_often_updates_come_when_the_machine_needs_longer() {
    let mut a = talking();
    assert!(!screen_has(&draw(&a, 100, 30), "every"));
    // An update of 1.5 s on a 0.5 s step: the engine paces itself at 1.7 s.
    a.update(paced_update(10.0, 12.0, 1.5, 1.725));
    let screen = draw(&a, 100, 30);
    assert!(screen_has(&screen, "every 1.7 s"), "{screen:#?}");
    // Cheap again: the step is back to --step and the header to the real-time factor.
    a.update(paced_update(12.0, 12.5, 0.05, 0.5));
    let screen = draw(&a, 100, 30);
    assert!(
        !screen_has(&screen, "every") && screen_has(&screen, "rtf 0.10"),
        "{screen:#?}"
    );
}

#[test]
fn any_size_draws_without_panicking() {
    let mut a = talking();
    for (w, h) in [
        (0, 0),
        (1, 1),
        (5, 2),
        (20, 6),
        (40, 10),
        (80, 24),
        (250, 80),
    ] {
        let screen = draw(&a, w, h);
        assert_eq!(screen.len(), h as usize);
    }
    let screen = draw(&a, 80, 24);
    // At 80x24 the essentials are all there.
    assert!(screen_has(&screen, "mode: last 5 s"));
    assert!(screen_has(&screen, "? help"));
    assert!(screen_has(&screen, "quit"));
    a.update(key('?'));
    for (w, h) in [(0, 0), (3, 3), (20, 6), (80, 24)] {
        draw(&a, w, h);
    }
    a.update(key('d'));
    a.update(special(KeyCode::Esc));
    a.update(key('d'));
    a.update(Msg::Devices(Vec::new()));
    for (w, h) in [(0, 0), (3, 3), (20, 6), (80, 24)] {
        draw(&a, w, h);
    }
}

fn snapshot(app: &App, width: u16, height: u16) -> String {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).expect("test terminal");
    terminal
        .draw(|f| f.render_widget(app, f.area()))
        .expect("draw");
    format!("{}", terminal.backend())
}

fn with_past(mut a: App) -> App {
    a.update(Msg::Past(vec![
        PastSession {
            id: "2026-11-20T14-30-00Z".into(),
            duration: 3_725.0,
            words: 9_120,
            title: Some("weekly sync".into()),
        },
        PastSession {
            id: "2026-11-21T09-00-00Z".into(),
            duration: 754.0,
            words: 1_800,
            title: None,
        },
    ]));
    a
}

#[test]
fn screen_100x30() {
    insta::assert_snapshot!(snapshot(&with_past(talking()), 100, 30));
}

#[test]
fn screen_80x24() {
    insta::assert_snapshot!(snapshot(&with_past(talking()), 80, 24));
}

#[test]
fn screen_narrow() {
    insta::assert_snapshot!(snapshot(&talking(), 60, 16));
}

#[test]
fn screen_help_80x24() {
    let mut a = talking();
    a.update(key('?'));
    insta::assert_snapshot!(snapshot(&a, 80, 24));
}

#[test]
fn screen_devices_80x24() {
    let mut a = talking();
    a.update(key('d'));
    a.update(Msg::Devices(vec![
        DeviceItem {
            spec: "default".into(),
            label: "default (Default Audio Device)".into(),
            default: true,
        },
        DeviceItem {
            spec: "hw:CARD=USB,DEV=0".into(),
            label: "hw:CARD=USB,DEV=0 (USB Audio, USB Audio)".into(),
            default: false,
        },
    ]));
    insta::assert_snapshot!(snapshot(&a, 80, 24));
}

/// The text drawn in block letters: each letter's cells read back as the 8x8 font's pixels
/// (`cell` columns by `cell` rows of the screen per letter, as `b` drew them) and matched
/// against the font's printable characters.
fn read_big_text(screen: &[String], top: usize, (w, h): (usize, usize)) -> Vec<String> {
    let (px, py) = (8 / w, 8 / h);
    // The pixels (column, row within the cell) each block character lights.
    let pixels = |c: char| -> Vec<(usize, usize)> {
        let quadrants = [
            (' ', 0b0000),
            ('▘', 0b0001),
            ('▝', 0b0010),
            ('▀', 0b0011),
            ('▖', 0b0100),
            ('▌', 0b0101),
            ('▞', 0b0110),
            ('▛', 0b0111),
            ('▗', 0b1000),
            ('▚', 0b1001),
            ('▐', 0b1010),
            ('▜', 0b1011),
            ('▄', 0b1100),
            ('▙', 0b1101),
            ('▟', 0b1110),
            ('█', 0b1111),
        ];
        let bits = quadrants.iter().find(|q| q.0 == c).map_or(0, |q| q.1);
        // One pixel per cell fills it; two stacked are the top and bottom halves.
        let bits = match (px, py, c) {
            (1, 1, '█') => return vec![(0, 0)],
            (1, 2, '▀') => return vec![(0, 0)],
            (1, 2, '▄') => return vec![(0, 1)],
            (1, 2, '█') => return vec![(0, 0), (0, 1)],
            _ => bits,
        };
        (0..4)
            .filter(|b| bits & (1 << b) != 0)
            .map(|b| (b % 2, b / 2))
            .collect()
    };
    let grid: Vec<Vec<char>> = screen.iter().map(|l| l.chars().collect()).collect();
    let mut lines = Vec::new();
    let mut y = top;
    while y + h <= grid.len() {
        let mut line = String::new();
        let letters = grid[y].len() / w;
        for i in 0..letters {
            let mut glyph = [0u8; 8];
            for cy in 0..h {
                for cx in 0..w {
                    for (dx, dy) in pixels(grid[y + cy][i * w + cx]) {
                        glyph[cy * py + dy] |= 1 << (cx * px + dx);
                    }
                }
            }
            let c = (' '..='~')
                .find(|&c| font8x8::UnicodeFonts::get(&font8x8::BASIC_FONTS, c) == Some(glyph))
                .unwrap_or('?');
            line.push(c);
        }
        lines.push(line.trim_end().to_string());
        y += h;
    }
    while lines.last().is_some_and(|l| l.is_empty()) {
        lines.pop();
    }
    lines
}

#[test]
fn b_shows_the_newest_captions_in_block_letters_and_again_the_panes() {
    let mut a = talking();
    a.update(key('b'));
    assert!(a.big);
    let styles = theme::choose(None, None, false).0;
    // 80x24: quadrant letters, 20 to a line; 200x60: full-cell letters, 25 to a line. The
    // header stays; below it, the captions read back from the letters, newest at the bottom.
    for (width, height, cell, expected) in [
        (
            80,
            24,
            (4, 4),
            vec![
                "Good morning, and",
                "welcome to the show.",
                "Today we talk about",
                "printing in the",
            ],
        ),
        (
            200,
            60,
            (8, 8),
            vec![
                "Good morning, and welcome",
                "to the show.",
                "Today we talk about",
                "printing in the",
            ],
        ),
    ] {
        let area = Rect::new(0, 0, width, height);
        let mut buf = Buffer::empty(area);
        a.render(area, &mut buf);
        let screen = rows(&buf);
        assert!(screen[0].contains("livecap") && screen[0].contains("mode: last 5 s"));
        assert!(!screen_has(&screen, "Good morning"), "{screen:#?}");
        assert_eq!(
            read_big_text(&screen, 2, cell),
            expected,
            "{width}x{height}"
        );
        // The last line is the tentative tail, dimmed; the lines above are committed.
        let lit = |y: usize| {
            (0..width)
                .map(|x| &buf[(x, y as u16)])
                .filter(|c| c.symbol() != " ")
                .map(|c| c.fg)
                .collect::<Vec<_>>()
        };
        let tail = 2 + 3 * cell.1;
        let tail_colours: Vec<_> = (tail..tail + cell.1).flat_map(lit).collect();
        assert!(!tail_colours.is_empty());
        assert!(tail_colours
            .iter()
            .all(|&c| Some(c) == styles[Slot::Tentative].fg));
        assert!((2..2 + cell.1)
            .flat_map(lit)
            .all(|c| Some(c) == styles[Slot::Caption].fg));
        assert!(screen_has(&screen, "b big"), "{:?}", screen.last());
    }
    // New words appear at the bottom; the oldest line leaves the top when the screen is full.
    for i in 0..6 {
        a.update(commit(
            &format!("Line number {i} is here."),
            10.0 + 3.0 * i as f64,
        ));
    }
    a.update(partial("and more"));
    let lines = read_big_text(&draw(&a, 80, 24), 2, (4, 4));
    assert_eq!(lines.len(), 5);
    assert_eq!(lines[4], "and more");
    assert_eq!(lines[2..4], ["Line number 5 is", "here."]);
    a.update(key('b'));
    assert!(!a.big);
    assert!(screen_has(&draw(&a, 80, 24), "Line number 5 is here."));
}

#[test]
fn screen_big_text_80x24() {
    let mut a = talking();
    a.update(key('b'));
    insta::assert_snapshot!(snapshot(&a, 80, 24));
}

#[test]
fn the_shared_page_link_and_its_whole_qr_code_show_at_80x24() {
    let mut a = talking();
    let url = "http://192.168.100.200:65535/0123456789abcdef0123456789abcdef/";
    let qr = livecap::share::qr_lines(url);
    a.shared = Some((url.to_string(), qr.clone()));
    a.popup = Some(Popup::Share);
    let screen = draw(&a, 80, 24);
    assert!(screen_has(&screen, url), "{screen:#?}");
    for line in &qr {
        assert!(screen_has(&screen, line), "QR line missing: {line}");
    }
    // The help says where too; Esc closes.
    a.update(special(KeyCode::Esc));
    assert_eq!(a.popup, None);
    a.update(key('?'));
    assert!(screen_has(&draw(&a, 100, 30), url));
}
