//! The live session as both front-ends run it: requests sent while the engine is busy are all
//! carried out, in order, and every word is recorded on disk, session by session.

mod common;

use std::ops::ControlFlow;
use std::sync::atomic::AtomicBool;

use clap::Parser;
use common::*;
use livecap::audio::pcm::PcmFormat;
use livecap::audio::source::SourceOptions;
use livecap::cli::Cli;
use livecap::config::Config;
use livecap::live::{Captioner, Handle, Request, Sink};
use livecap::session::{News, Store};
use livecap::stream::{BreakReason, ClockKind, Event, Mode};
use livecap_eval::wer::WerCount;

/// Records what the session says, and at chosen moments (while the engine is in the middle of
/// an update, telling its events) sends requests, as a key press in the app would.
struct Scripted {
    handle: Handle,
    events: Vec<Event>,
    news: Vec<News>,
    commits: usize,
    /// (after this many commits, send these requests, one after another)
    script: Vec<(usize, Vec<Request>)>,
}

impl Sink for Scripted {
    fn event(&mut self, e: &Event) -> ControlFlow<()> {
        self.events.push(e.clone());
        if matches!(e, Event::Commit { .. }) {
            self.commits += 1;
            while self.script.first().is_some_and(|(n, _)| *n <= self.commits) {
                let (_, requests) = self.script.remove(0);
                for r in requests {
                    self.handle
                        .send(r)
                        .unwrap_or_else(|e| panic!("the session refused a request: {e}"));
                }
            }
        }
        ControlFlow::Continue(())
    }

    fn news(&mut self, news: News) {
        self.news.push(news);
    }
}

#[test]
fn requests_sent_inside_one_update_are_all_carried_out_in_order() {
    let clip = fixtures().join("dev/ls-dev-clean_2412-153948-0000.wav");
    let reference =
        std::fs::read_to_string(clip.with_extension("txt")).unwrap_or_else(|e| panic!("{e}"));
    let data = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    // This test binary's only test: the data directory is set for the whole process.
    std::env::set_var("LIVECAP_DATA_DIR", data.path());
    let model = model_dir();
    let cli = Cli::try_parse_from([
        "livecap",
        "--input",
        &clip.to_string_lossy(),
        "--model",
        &model.to_string_lossy(),
        "--title",
        "flow",
    ])
    .unwrap_or_else(|e| panic!("{e}"));
    let settings = cli
        .app
        .live
        .settings(&Config::default())
        .unwrap_or_else(|e| panic!("{e}"));
    let source = SourceOptions {
        paced: false,
        pcm: PcmFormat::default(),
        wait_for_default: false,
    };
    let session =
        Captioner::open(settings, &source, ClockKind::Stepped).unwrap_or_else(|e| panic!("{e}"));
    assert!(session.saving());
    let mut sink = Scripted {
        handle: session.handle(),
        events: Vec::new(),
        news: Vec::new(),
        commits: 0,
        script: vec![
            // Two requests that used to overwrite each other: a pause, then a new session.
            (
                1,
                vec![Request::Pause, Request::NewSession, Request::Resume],
            ),
            // Two mode switches inside one update: both are carried out, so the mode is back.
            (
                2,
                vec![Request::SetMode(Mode::Full), Request::SetMode(Mode::Window)],
            ),
        ],
    };
    let stop = AtomicBool::new(false);
    let ended = session.run(&stop, &mut sink);
    assert!(ended.failure.is_none(), "{:?}", ended.failure);
    let events = &sink.events;

    let breaks: Vec<(usize, BreakReason)> = events
        .iter()
        .enumerate()
        .filter_map(|(i, e)| match e {
            Event::Break { reason, .. } => Some((i, *reason)),
            _ => None,
        })
        .collect();
    let reasons: Vec<BreakReason> = breaks.iter().map(|b| b.1).collect();
    assert_eq!(
        reasons,
        [BreakReason::Pause, BreakReason::NewSession],
        "{events:#?}"
    );
    // Nothing was left to commit between the two breaks: the pause committed it all.
    let (first, second) = (breaks[0].0, breaks[1].0);
    assert!(
        !events[first..second]
            .iter()
            .any(|e| matches!(e, Event::Commit { .. })),
        "{events:#?}"
    );
    assert_eq!(modes(events), [Mode::Full, Mode::Window], "{events:#?}");
    assert!(matches!(events.last(), Some(Event::End { .. })));

    // Two sessions on disk, the words before the break in the first, the rest in the second,
    // none lost or repeated.
    let started = sink
        .news
        .iter()
        .filter(|n| matches!(n, News::Started { .. }))
        .count();
    assert_eq!(started, 2, "{:?}", sink.news);
    let store = Store::new(data.path());
    let sessions: Vec<_> = store.list().into_iter().map(|s| s.ok()).collect();
    assert_eq!(sessions.len(), 2);
    let text_of = |id: &str| -> String {
        let opened = store.open(id).unwrap_or_else(|e| panic!("{e}"));
        opened
            .transcript
            .entries
            .iter()
            .map(|e| e.text.as_str())
            .collect::<Vec<_>>()
            .join(" ")
    };
    let ids: Vec<String> = sessions
        .iter()
        .map(|s| s.as_ref().map(|s| s.id.clone()).unwrap_or_default())
        .collect();
    let (before, after) = (text_of(&ids[0]), text_of(&ids[1]));
    let before_break = commits(&events[..first]);
    assert_eq!(before, before_break);
    assert!(
        !before.is_empty() && !after.is_empty(),
        "{before:?} / {after:?}"
    );
    let on_disk = format!("{before} {after}");
    assert_eq!(on_disk, commits(events));
    let wer = WerCount::of(&reference, &on_disk).rate();
    assert!(
        wer <= 0.25,
        "WER {:.1}% across the break: {on_disk}",
        100.0 * wer
    );
    assert_eq!(
        ended.saved.as_deref(),
        Some(data.path().join("sessions").join(&ids[1]).as_path())
    );
}
