//! Shared helpers for tests that use the real model and the recorded fixtures.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use livecap::asr::Model;

pub mod sound;

/// The test model directory (tiny.en, CTranslate2 layout), as fetched by
/// `scripts/fetch-test-models`.
pub fn model_dir() -> PathBuf {
    let dir = std::env::var_os("LIVECAP_TEST_MODEL")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let home = std::env::var_os("HOME")
                .map(PathBuf::from)
                .unwrap_or_default();
            home.join(".cache/livecap-test/tiny.en-ct2")
        });
    assert!(
        dir.join("model.bin").is_file(),
        "test model not found at {}: run scripts/fetch-test-models (scripts/test does)",
        dir.display()
    );
    dir
}

pub fn model() -> &'static Model {
    static MODEL: OnceLock<Model> = OnceLock::new();
    MODEL.get_or_init(|| match Model::load_dir(&model_dir()) {
        Ok(m) => m,
        Err(e) => panic!("loading the test model: {e}"),
    })
}

/// The multilingual base model (CTranslate2 layout), fetched beside the test model.
pub fn base_model() -> String {
    let dir = model_dir()
        .parent()
        .map(|p| p.join("base-ct2"))
        .unwrap_or_default();
    assert!(
        dir.join("model.bin").is_file(),
        "multilingual test model missing: run scripts/fetch-test-models"
    );
    dir.display().to_string()
}

/// The recorded speech the tests use (`dev/`, `long/`, the streams): the shared recordings,
/// read where they are.
pub fn fixtures() -> PathBuf {
    shared_speech()
}

/// (wav, reference text) for every recording in `dev/`.
pub fn dev_set() -> Vec<(PathBuf, String)> {
    let mut v: Vec<(PathBuf, String)> = std::fs::read_dir(fixtures().join("dev"))
        .map(|d| {
            d.filter_map(Result::ok)
                .map(|e| e.path())
                .collect::<Vec<_>>()
        })
        .unwrap_or_default()
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "wav"))
        .map(|p| {
            let txt = std::fs::read_to_string(p.with_extension("txt")).unwrap_or_default();
            (p, txt)
        })
        .collect();
    v.sort();
    assert!(v.len() >= 20, "dev fixtures missing");
    v
}

pub const LONG: &str = "long/ljspeech_LJ001-0001_to_0032_concat";

pub fn long_wav() -> PathBuf {
    fixtures().join(format!("{LONG}.wav"))
}

pub fn long_reference() -> String {
    std::fs::read_to_string(fixtures().join(format!("{LONG}.txt"))).unwrap_or_default()
}

/// A data directory for the sessions this test process records (so tests never write into the
/// user's own).
pub fn test_data_dir() -> &'static Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| tempfile::tempdir().unwrap_or_else(|e| panic!("temp dir: {e}")))
        .path()
}

/// `livecap` with the test data directory.
pub fn livecap_command() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_livecap"));
    c.env_remove("LIVECAP_MODEL")
        .env("LIVECAP_DATA_DIR", test_data_dir());
    c
}

pub fn livecap(args: &[&str]) -> Output {
    livecap_env(args, &[])
}

pub fn livecap_env(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = livecap_command();
    c.args(args);
    for (k, v) in env {
        c.env(k, v);
    }
    match c.output() {
        Ok(o) => o,
        Err(e) => panic!("running livecap: {e}"),
    }
}

/// `livecap transcribe --model MODEL --format json ARGS...`, which must succeed with one JSON
/// object per line; returns them.
pub fn transcribe_json(model: &str, args: &[&str]) -> Vec<serde_json::Value> {
    let mut all = vec!["transcribe", "--model", model, "--format", "json"];
    all.extend_from_slice(args);
    let o = livecap(&all);
    assert!(o.status.success(), "{}", stderr(&o));
    stdout(&o)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

/// [`transcribe_json`] for one file.
pub fn transcribe_one_json(model: &str, args: &[&str]) -> serde_json::Value {
    let mut v = transcribe_json(model, args);
    assert_eq!(v.len(), 1, "one JSON object expected");
    v.remove(0)
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// A failed run that explains itself in one sentence naming `what`, without a panic.
pub fn assert_clear_failure(o: &Output, what: &str) {
    let err = stderr(o);
    assert!(
        !o.status.success(),
        "expected failure, got success; stderr: {err}"
    );
    assert!(err.contains(what), "stderr should name {what:?}: {err}");
    assert!(
        !err.contains("panicked") && !err.contains("RUST_BACKTRACE"),
        "panic: {err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "one line expected: {err}");
}

pub fn ffmpeg(args: &[&str]) -> bool {
    Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-y"])
        .args(args)
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

/// Reference sentences of the long recording, with the times they end.
pub fn long_sentences() -> Vec<livecap_eval::report::Sentence> {
    let tsv = std::fs::read_to_string(fixtures().join(format!("{LONG}.segments.tsv")))
        .unwrap_or_default();
    let s = livecap_eval::report::read_sentences(&tsv);
    assert!(
        s.len() >= 30,
        "sentence times of the long recording missing"
    );
    s
}

/// Every event of a stream, collected in order.
#[derive(Default)]
pub struct Collect(pub Vec<livecap::stream::Event>);

impl livecap::live::engine::Output for Collect {
    fn event(&mut self, e: &livecap::stream::Event) -> std::ops::ControlFlow<()> {
        self.0.push(e.clone());
        std::ops::ControlFlow::Continue(())
    }

    fn audio(&mut self, _: &[f32]) {}
}

/// Run the real model in `mode` over `source` on `clock`, an update every `step` seconds,
/// taking requests from `inbox`, until the source ends or a stop is asked for; every event, in
/// order.
pub fn run_engine(
    source: livecap::live::engine::Feed,
    mode: livecap::stream::Mode,
    clock: livecap::stream::ClockKind,
    pace: &livecap::live::engine::Pace,
    inbox: &livecap::live::requests::Inbox,
) -> Vec<livecap::stream::Event> {
    use livecap::stream::{Clock, Streamer};
    let mut streamer = Streamer::new(model(), livecap::asr::DecodeOptions::default(), mode, 5.0);
    let mut clock = Clock::new(clock);
    let stop = std::sync::atomic::AtomicBool::new(false);
    let mut events = Collect::default();
    livecap::live::engine::run(
        &mut streamer,
        source,
        &mut clock,
        pace,
        inbox,
        &stop,
        &mut events,
    )
    .unwrap_or_else(|e| panic!("stream failed: {e}"));
    events.0
}

/// Stream `samples` through the real model on the stepped clock; every event, in order.
pub fn stream_events(
    samples: &[f32],
    mode: livecap::stream::Mode,
    step: f64,
    switch_at: &[f64],
) -> Vec<livecap::stream::Event> {
    let audio = livecap::audio::AudioState::new();
    audio.push(samples);
    audio.finish(None);
    let pace = livecap::live::engine::Pace {
        step,
        switch_at: switch_at.to_vec(),
    };
    let (_requests, inbox) = livecap::live::requests::channel(audio.wake(), None);
    let source = livecap::live::engine::Feed {
        audio: &audio,
        controls: None,
        name: "test audio",
    };
    run_engine(
        source,
        mode,
        livecap::stream::ClockKind::Stepped,
        &pace,
        &inbox,
    )
}

/// The committed text of `events`, in order.
pub fn commits<'a>(events: impl IntoIterator<Item = &'a livecap::stream::Event>) -> String {
    use livecap::stream::Event;
    events
        .into_iter()
        .filter_map(|e| match e {
            Event::Commit { text, .. } => Some(text.as_str()),
            _ => None,
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// The modes `events` switched to, in order.
pub fn modes(events: &[livecap::stream::Event]) -> Vec<livecap::stream::Mode> {
    events
        .iter()
        .filter_map(|e| match e {
            livecap::stream::Event::Mode { mode, .. } => Some(*mode),
            _ => None,
        })
        .collect()
}

/// The speech recordings shared with the project (`../shared/fixtures/speech`), read where they
/// are: recordings from public repositories are never copied into this one.
pub fn shared_speech() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/fixtures/speech");
    assert!(
        dir.join("README.md").is_file(),
        "the shared speech recordings are missing: the tests read them from {}",
        dir.display()
    );
    dir
}

/// Utterances said one after another with pauses between them: the audio, each utterance's
/// reference and times, and each one's own recording where there is one.
#[derive(Clone, Default)]
pub struct Utterances {
    pub samples: Vec<f32>,
    pub sentences: Vec<livecap_eval::report::Sentence>,
    pub clips: Vec<Option<PathBuf>>,
}

impl Utterances {
    pub fn duration(&self) -> f64 {
        self.samples.len() as f64 / 16_000.0
    }

    /// These, then `other` right after.
    pub fn then(mut self, other: &Utterances) -> Utterances {
        let offset = self.duration();
        self.samples.extend(&other.samples);
        self.sentences.extend(
            other
                .sentences
                .iter()
                .map(|s| livecap_eval::report::Sentence {
                    text: s.text.clone(),
                    start: s.start + offset,
                    end: s.end + offset,
                }),
        );
        self.clips.extend(other.clips.iter().cloned());
        self
    }

    /// The reference of all of them.
    pub fn reference(&self) -> String {
        self.sentences
            .iter()
            .map(|s| s.text.as_str())
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// A shared stream (`stream.wav` and `stream.segments.tsv` in `dir` of the shared recordings),
/// whose utterances are the recordings in its `clips/`.
pub fn shared_stream(dir: &str) -> Utterances {
    let dir = shared_speech().join(dir);
    let audio =
        livecap::audio::load_file(&dir.join("stream.wav")).unwrap_or_else(|e| panic!("{e}"));
    let tsv = std::fs::read_to_string(dir.join("stream.segments.tsv"))
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    let sentences = livecap_eval::report::read_sentences(&tsv);
    let clips = tsv
        .lines()
        .skip(1)
        .map(|l| {
            let name = l.split('\t').next().unwrap_or_default();
            let clip = dir.join("clips").join(format!("{name}.wav"));
            clip.is_file().then_some(clip)
        })
        .collect();
    assert!(sentences.len() >= 30, "{} is incomplete", dir.display());
    Utterances {
        samples: audio.samples,
        sentences,
        clips,
    }
}

/// The LJSpeech reading (one reader, 32 sentences, 233 s) from the shared recordings.
pub fn shared_reading() -> Utterances {
    let base = shared_speech().join("long/ljspeech_LJ001-0001_to_0032_concat");
    let audio =
        livecap::audio::load_file(&base.with_extension("wav")).unwrap_or_else(|e| panic!("{e}"));
    let tsv = std::fs::read_to_string(base.with_extension("segments.tsv"))
        .unwrap_or_else(|e| panic!("{}: {e}", base.display()));
    let sentences = livecap_eval::report::read_sentences(&tsv);
    assert_eq!(sentences.len(), 32, "the LJSpeech reading is incomplete");
    Utterances {
        samples: audio.samples,
        clips: vec![None; sentences.len()],
        sentences,
    }
}

/// Checks every stream must pass: times ordered, commits within the audio, the end event last.
pub fn check_events(events: &[livecap::stream::Event], duration: f64) {
    let mut last_emit = 0.0;
    let mut last_commit_end = 0.0f64;
    let mut words = 0;
    for e in events {
        let at = match e {
            livecap::stream::Event::Partial { emitted_at, .. }
            | livecap::stream::Event::Update { emitted_at, .. }
            | livecap::stream::Event::Lag { emitted_at, .. }
            | livecap::stream::Event::Mode { emitted_at, .. }
            | livecap::stream::Event::Device { emitted_at, .. }
            | livecap::stream::Event::Break { emitted_at, .. }
            | livecap::stream::Event::End { emitted_at, .. } => *emitted_at,
            livecap::stream::Event::Commit {
                emitted_at,
                words: w,
                start,
                end,
                ..
            } => {
                assert!(start <= end && *end <= duration + 0.05, "{e:?}");
                assert!(
                    *start >= last_commit_end - 2.0,
                    "commit goes back in time: {e:?}"
                );
                last_commit_end = last_commit_end.max(*end);
                words += w.len();
                for word in w {
                    assert!(word.shown_at <= *emitted_at + 1e-6, "{word:?}");
                }
                *emitted_at
            }
        };
        assert!(at + 1e-6 >= last_emit, "emitted_at goes backwards at {e:?}");
        last_emit = at;
    }
    match events.last() {
        Some(livecap::stream::Event::End {
            words: total,
            duration: d,
            ..
        }) => {
            assert_eq!(*total, words);
            assert!((d - duration).abs() < 0.01, "{d} vs {duration}");
        }
        other => panic!("the last event must be the end: {other:?}"),
    }
}

/// A reader of the events of the caption page at `url` (`--share`), the request sent; with
/// `last`, as a page that reconnects after the piece numbered `last`.
pub fn page_events(url: &str, last: Option<usize>) -> std::net::TcpStream {
    use std::io::Write;
    let rest = url.trim_start_matches("http://");
    let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
    let mut s = std::net::TcpStream::connect(host).unwrap_or_else(|e| panic!("{host}: {e}"));
    let resume = last.map_or(String::new(), |n| format!("Last-Event-ID: {n}\r\n"));
    write!(
        s,
        "GET /{path}events HTTP/1.1\r\nHost: {host}\r\nAccept: text/event-stream\r\n{resume}\r\n"
    )
    .unwrap_or_else(|e| panic!("{e}"));
    s
}

/// Everything a page reader receives until the server closes, as text.
pub fn read_all(mut s: std::net::TcpStream) -> String {
    use std::io::Read;
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while let Ok(n) = s.read(&mut buf) {
        if n == 0 {
            break;
        }
        got.extend_from_slice(&buf[..n]);
    }
    String::from_utf8_lossy(&got).into_owned()
}

/// The committed text in a page's events, piece after piece, joined by spaces.
pub fn page_commits(events: &str) -> String {
    events
        .split("\n\n")
        .filter(|e| e.contains("event: commit"))
        .filter_map(|e| {
            let data = e.lines().find_map(|l| l.strip_prefix("data: "))?;
            let v: serde_json::Value = serde_json::from_str(data).ok()?;
            Some(v["text"].as_str()?.to_string())
        })
        .collect::<Vec<_>>()
        .join(" ")
}
