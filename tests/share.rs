//! The shared caption page (`--share`): in a real browser (headless Chromium driven by
//! ChromeDriver over WebDriver) while `livecap stream` captions a recording in real time; its
//! key; and many readers, idle or stalled, against a stream on the stepped clock.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, ChildStderr, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use livecap::stream::Event;
use livecap_eval::wer::normalize;
use serde_json::{json, Value};

/// The first four sentences of the long recording (27 s of read speech), as a WAV file and as
/// raw 16-bit PCM.
fn reading(dir: &Path) -> (std::path::PathBuf, Vec<u8>) {
    let wav = dir.join("reading.wav");
    let raw = dir.join("reading.raw");
    assert!(ffmpeg(&[
        "-i",
        long_wav().to_str().unwrap_or_default(),
        "-t",
        "27.4",
        wav.to_str().unwrap_or_default(),
    ]));
    sound::raw_clip(&wav, 0.0, 27.4, &raw);
    let pcm = std::fs::read(&raw).unwrap_or_else(|e| panic!("{e}"));
    (wav, pcm)
}

/// `livecap stream --share` of `input` on `clock`, JSON events on its standard output; with
/// the page's address, from what it says on standard error.
fn shared_stream(input: &std::ffi::OsStr, clock: &str) -> (Child, String) {
    let mut stream = livecap_command()
        .arg("stream")
        .arg("--no-save")
        .arg("--model")
        .arg(model_dir())
        .arg("--input")
        .arg(input)
        .args(["--clock", clock, "--share", "--format", "jsonl"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("livecap stream: {e}"));
    let url = shared_url(stream.stderr.take().unwrap_or_else(|| panic!("stderr")));
    (stream, url)
}

/// The page's address, from what livecap says on standard error.
fn shared_url(stderr: ChildStderr) -> String {
    let mut lines = BufReader::new(stderr).lines();
    let url = lines
        .by_ref()
        .map_while(Result::ok)
        .find_map(|l| {
            l.split_once("the captions are shared at ")
                .map(|(_, u)| u.trim().to_string())
        })
        .unwrap_or_else(|| panic!("no shared address said"));
    // The rest is drained, so livecap never waits on a full pipe.
    std::thread::spawn(move || for _ in lines.map_while(Result::ok) {});
    url
}

/// A GET's status code.
fn status_of(url: &str) -> u16 {
    match ureq::get(url).timeout(Duration::from_secs(5)).call() {
        Ok(r) => r.status(),
        Err(ureq::Error::Status(code, _)) => code,
        Err(e) => panic!("{url}: {e}"),
    }
}

/// ChromeDriver with a headless Chromium session.
struct Browser {
    driver: Child,
    base: String,
    session: String,
}

impl Browser {
    fn start() -> Browser {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .unwrap_or_else(|e| panic!("{e}"));
        let driver = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("chromedriver: {e} (scripts/test installs chromium and chromium-driver)")
            });
        let base = format!("http://127.0.0.1:{port}");
        let t0 = Instant::now();
        while ureq::get(&format!("{base}/status")).call().is_err() {
            assert!(
                t0.elapsed() < Duration::from_secs(30),
                "chromedriver did not start"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": "/usr/bin/chromium",
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                         "--disable-dev-shm-usage", "--no-first-run"]
            }
        }}});
        let mut b = Browser {
            driver,
            base,
            session: String::new(),
        };
        let r = b.post("/session", caps);
        b.session = r["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no browser session: {r}"))
            .to_string();
        b
    }

    fn post(&self, path: &str, body: Value) -> Value {
        let url = format!("{}{path}", self.base);
        let r = ureq::post(&url)
            .send_json(body)
            .unwrap_or_else(|e| panic!("{url}: {e}"));
        let v: Value = r.into_json().unwrap_or_else(|e| panic!("{url}: {e}"));
        v["value"].clone()
    }

    fn go(&self, url: &str) {
        self.post(
            &format!("/session/{}/url", self.session),
            json!({ "url": url }),
        );
    }

    fn reload(&self) {
        self.post(&format!("/session/{}/refresh", self.session), json!({}));
    }

    fn run(&self, script: &str) -> Value {
        self.post(
            &format!("/session/{}/execute/sync", self.session),
            json!({ "script": script, "args": [] }),
        )
    }

    /// The committed words on the page, and what its state line says.
    fn read(&self) -> (Vec<String>, String) {
        let v = self.run(
            "return [Array.from(document.querySelectorAll('#committed span.c'))\
             .map(s => s.textContent).join(' '), document.getElementById('state').textContent]",
        );
        (
            normalize(v[0].as_str().unwrap_or_default()),
            v[1].as_str().unwrap_or_default().to_string(),
        )
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if !self.session.is_empty() {
            let _ = ureq::delete(&format!("{}/session/{}", self.base, self.session)).call();
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// One test at a time: the browser's timings are not measured beside another stream.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

#[test]
fn the_page_shows_committed_words_within_a_second_and_a_reload_resumes_without_loss() {
    let _alone = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let (wav, _) = reading(dir.path());
    let browser = Browser::start();
    let t0 = Instant::now();
    let (mut stream, url) = shared_stream(wav.as_os_str(), "realtime");
    // Each committed word, with when livecap printed its commit.
    let out = stream.stdout.take().unwrap_or_else(|| panic!("stdout"));
    let printed = std::thread::spawn(move || {
        let mut words: Vec<(f64, String)> = Vec::new();
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            let at = t0.elapsed().as_secs_f64();
            if let Ok(Event::Commit { text, .. }) = serde_json::from_str::<Event>(&line) {
                words.extend(normalize(&text).into_iter().map(|w| (at, w)));
            }
        }
        words
    });

    // Nothing without the key, nor with a wrong one; nothing but the page and its events.
    let base = url
        .trim_end_matches('/')
        .rsplit_once('/')
        .map_or("", |p| p.0);
    let wrong = format!("{base}/{}/", "0".repeat(32));
    for u in [
        format!("{base}/"),
        wrong.clone(),
        format!("{wrong}events"),
        format!("{url}sessions"),
        format!("{url}../"),
        format!("{base}/favicon.ico"),
    ] {
        assert_eq!(status_of(&u), 404, "{u}");
    }
    assert_eq!(status_of(&url), 200);

    // The page, read every 100 ms: when each count of committed words first showed.
    browser.go(&url);
    let mut seen: Vec<(f64, Vec<String>)> = Vec::new();
    let mut reloaded = None;
    let mut resumed = None;
    let mut state = String::new();
    while t0.elapsed() < Duration::from_secs(90) {
        let (words, s) = browser.read();
        let at = t0.elapsed().as_secs_f64();
        state = s;
        if seen.last().is_none_or(|l| l.1 != words) {
            seen.push((at, words));
        }
        if resumed.is_none() && seen.last().is_some_and(|s| s.1.len() >= 10) {
            // A page that reconnects after piece 2 gets piece 3 first (read aside, so the page
            // is still read every 0.1 s).
            let mut s = page_events(&url, Some(2));
            resumed = Some(std::thread::spawn(move || {
                s.set_read_timeout(Some(Duration::from_secs(10))).ok();
                let mut got = String::new();
                let mut b = [0u8; 1024];
                loop {
                    if let Some(id) = got.lines().find_map(|l| l.strip_prefix("id: ")) {
                        return id.trim().to_string();
                    }
                    match s.read(&mut b) {
                        Ok(n) if n > 0 => got.push_str(&String::from_utf8_lossy(&b[..n])),
                        _ => return format!("no id in: {got}"),
                    }
                }
            }));
        }
        if reloaded.is_none() && at > 15.0 {
            browser.reload();
            reloaded = Some(seen.len());
        }
        if state == "ended" {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let status = stream.wait().unwrap_or_else(|e| panic!("{e}"));
    assert!(status.success());
    let resumed = resumed.map(|r| r.join().unwrap_or_else(|_| panic!("resumed reader")));
    assert_eq!(resumed.as_deref(), Some("3"));
    let printed = printed.join().unwrap_or_else(|_| panic!("reader"));
    assert!(printed.len() > 40, "{printed:?}");
    assert_eq!(state, "ended", "the page did not see the end");
    let said: Vec<String> = printed.iter().map(|w| w.1.clone()).collect();

    // Every state of the page is the start of what was committed: nothing twice, nothing
    // out of order, after the reload too; at the end, everything.
    for (at, words) in &seen {
        assert!(
            said.starts_with(words),
            "at {at:.1} s the page shows {words:?}\ncommitted: {said:?}"
        );
    }
    assert_eq!(seen.last().map(|s| &s.1), Some(&said));
    let reloaded = reloaded.unwrap_or_else(|| panic!("no reload"));
    assert!(
        seen[reloaded..]
            .iter()
            .find(|s| !s.1.is_empty())
            .is_some_and(|s| s.1.len() + 10 >= seen[reloaded - 1].1.len()),
        "after the reload the page did not show what it had"
    );

    // Each word within a second of livecap printing it (outside the reload's blank moment).
    let mut delays = Vec::new();
    for (i, (at, _)) in printed.iter().enumerate() {
        let shown = seen
            .iter()
            .filter(|s| s.0 >= *at - 0.05)
            .find(|s| s.1.len() > i)
            .map(|s| s.0);
        let Some(shown) = shown else {
            panic!("word {i} never shown");
        };
        let before_reload = seen[..reloaded].iter().any(|s| s.0 >= *at && s.1.len() > i);
        // Words committed during the reload's blank moment are not timed.
        let after_reload = seen[reloaded..]
            .iter()
            .map(|s| s.1.len())
            .find(|&n| n > 0)
            .unwrap_or(0);
        if before_reload || i >= after_reload {
            delays.push(shown - at);
        }
    }
    delays.sort_by(f64::total_cmp);
    let worst = delays.last().copied().unwrap_or_default();
    eprintln!(
        "page behind the stream: median {:.2} s, p90 {:.2} s, worst {worst:.2} s, over {} words \
         (the page is read every 0.1 s)",
        delays[delays.len() / 2],
        delays[delays.len() * 9 / 10],
        delays.len()
    );
    assert!(delays.len() >= printed.len() / 2);
    assert!(worst <= 1.0, "a word showed {worst:.2} s after its commit");
}

/// The status line of the response on `s`.
fn status_line(s: &mut TcpStream) -> String {
    let mut line = Vec::new();
    let mut b = [0u8];
    while s.read(&mut b).is_ok_and(|n| n == 1) && b[0] != b'\n' {
        line.push(b[0]);
    }
    String::from_utf8_lossy(&line).trim().to_string()
}

/// A stepped-clock stream of the reading on standard input, fed once `readers` have connected
/// to its page: its events, and its peak memory (kB).
fn stream_with_readers(pcm: &[u8], readers: usize) -> (Vec<Event>, u64, Vec<String>) {
    let (mut stream, url) = shared_stream(std::ffi::OsStr::new("-"), "stepped");
    let out = stream.stdout.take().unwrap_or_else(|| panic!("stdout"));
    let events = std::thread::spawn(move || {
        BufReader::new(out)
            .lines()
            .map_while(Result::ok)
            .filter_map(|l| serde_json::from_str::<Event>(&l).ok())
            .collect::<Vec<_>>()
    });
    // Readers that read everything as it comes, and one that never reads.
    let mut idle = Vec::new();
    for _ in 0..readers {
        let s = page_events(&url, None);
        idle.push(std::thread::spawn(move || read_all(s)));
    }
    let stalled = (readers > 0).then(|| page_events(&url, None));
    let mut refused = Vec::new();
    if readers > 0 {
        // The rest of the places, then one too many.
        let mut extra: Vec<TcpStream> = (readers + 1..livecap::share::MAX_READERS)
            .map(|_| page_events(&url, None))
            .collect();
        for s in &mut extra {
            assert_eq!(status_line(s), "HTTP/1.1 200 OK");
        }
        let mut over = page_events(&url, None);
        refused.push(status_line(&mut over));
    }
    let pid = stream.id();
    let peak = || -> u64 {
        std::fs::read_to_string(format!("/proc/{pid}/status"))
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with("VmHWM:"))
                    .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
            })
            .unwrap_or(0)
    };
    let mut stdin = stream.stdin.take().unwrap_or_else(|| panic!("stdin"));
    for chunk in pcm.chunks(32_000) {
        stdin.write_all(chunk).unwrap_or_else(|e| panic!("{e}"));
    }
    drop(stdin);
    // The peak, read until the process is gone.
    let mut kb = 0;
    let status = loop {
        if let Some(status) = stream.try_wait().unwrap_or_else(|e| panic!("{e}")) {
            break status;
        }
        kb = kb.max(peak());
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success());
    drop(stalled);
    let events = events.join().unwrap_or_else(|_| panic!("events"));
    // Every reader that read got every committed piece, and the end.
    let commits = events
        .iter()
        .filter(|e| matches!(e, Event::Commit { .. }))
        .count();
    let text = events
        .iter()
        .filter_map(|e| match e {
            Event::Commit { text, .. } => Some(text.trim()),
            _ => None,
        })
        .collect::<Vec<_>>()
        .join(" ");
    for r in idle {
        let got = r.join().unwrap_or_else(|_| panic!("reader"));
        assert_eq!(got.matches("event: commit").count(), commits);
        assert_eq!(page_commits(&got), text);
        assert!(got.contains("event: end"));
    }
    (events, kb, refused)
}

#[test]
fn two_hundred_readers_and_one_that_never_reads_do_not_slow_the_captions_or_grow_memory() {
    let _alone = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let (_, pcm) = reading(dir.path());
    let (alone, alone_kb, _) = stream_with_readers(&pcm, 0);
    let (read, read_kb, refused) = stream_with_readers(&pcm, 200);
    assert_eq!(refused, ["HTTP/1.1 503 Service Unavailable"]);
    // On the stepped clock the captions and their times are the same with readers or without:
    // nothing waited on them.
    let committed = |events: &[Event]| -> Vec<(String, f64)> {
        events
            .iter()
            .filter_map(|e| match e {
                Event::Commit {
                    text, emitted_at, ..
                } => Some((text.clone(), *emitted_at)),
                _ => None,
            })
            .collect()
    };
    assert!(committed(&alone).len() > 5);
    assert_eq!(committed(&alone), committed(&read));
    eprintln!(
        "peak memory: {alone_kb} kB alone, {read_kb} kB with 200 readers and one that never reads"
    );
    assert!(alone_kb > 0);
    assert!(
        read_kb <= alone_kb + 48 * 1024,
        "{read_kb} kB with readers, {alone_kb} kB without"
    );
}
