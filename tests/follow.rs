//! `livecap sessions follow` as a second person runs it, from another terminal, while
//! `livecap stream` captions a recording in real time.

mod common;

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use common::*;
use livecap::session::follow::newest_live;

/// The lines `child` prints, each with when it arrived (seconds after `t0`), on a thread.
fn lines_of(child: &mut Child, t0: Instant) -> JoinHandle<Vec<(f64, String)>> {
    let out = child.stdout.take().unwrap_or_else(|| panic!("no stdout"));
    std::thread::spawn(move || {
        BufReader::new(out)
            .lines()
            .map_while(Result::ok)
            .map(|l| (t0.elapsed().as_secs_f64(), l))
            .collect()
    })
}

fn follow_command(data: &Path, args: &[&str]) -> Command {
    let mut c = livecap_command();
    c.env("LIVECAP_DATA_DIR", data)
        .arg("sessions")
        .arg("follow")
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    c
}

/// Wait for `child` to exit by itself, at most `limit`.
fn exits_within(child: &mut Child, limit: Duration) -> std::process::ExitStatus {
    let t = Instant::now();
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return status;
        }
        if t.elapsed() > limit {
            let _ = child.kill();
            panic!("still running after {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_follower_started_mid_way_prints_the_streams_lines_as_they_come_and_ends_with_it() {
    let data = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    // The first four sentences of the long recording: about 27 s of read speech.
    let wav = data.path().join("reading.wav");
    let wav_arg = wav.to_str().unwrap_or_default();
    let src = long_wav();
    let src_arg = src.to_str().unwrap_or_default();
    assert!(ffmpeg(&["-i", src_arg, "-t", "27.4", wav_arg]));

    let t0 = Instant::now();
    let mut stream = livecap_command()
        .env("LIVECAP_DATA_DIR", data.path())
        .arg("stream")
        .arg("--model")
        .arg(model_dir())
        .args(["--input", wav_arg, "--clock", "realtime"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("running livecap stream: {e}"));
    let printed = lines_of(&mut stream, t0);

    // Mid-way: once the session is being recorded, and some seconds into it.
    while newest_live(data.path()).is_none() {
        assert!(
            t0.elapsed() < Duration::from_secs(60),
            "no session recorded"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_secs(10));
    let id = newest_live(data.path()).unwrap_or_else(|| panic!("the session ended early"));
    // The text follower also shares what it follows as a web page; a page reader reads it all.
    let mut text = follow_command(data.path(), &["--share"])
        .spawn()
        .unwrap_or_else(|e| panic!("running livecap sessions follow: {e}"));
    let mut said = BufReader::new(text.stderr.take().unwrap_or_else(|| panic!("stderr"))).lines();
    let url = said
        .next()
        .and_then(Result::ok)
        .and_then(|l| {
            Some(
                l.split_once("the captions are shared at ")?
                    .1
                    .trim()
                    .to_string(),
            )
        })
        .unwrap_or_else(|| panic!("follow --share said no address"));
    let said = std::thread::spawn(move || said.map_while(Result::ok).collect::<Vec<_>>());
    let page = page_events(&url, None);
    let page = std::thread::spawn(move || read_all(page));
    let mut jsonl = follow_command(data.path(), &[&id, "--from-now", "--format", "jsonl"])
        .spawn()
        .unwrap_or_else(|e| panic!("running livecap sessions follow: {e}"));
    let started = t0.elapsed().as_secs_f64();
    let followed = lines_of(&mut text, t0);
    let followed_json = lines_of(&mut jsonl, t0);

    let status = exits_within(&mut stream, Duration::from_secs(120));
    assert!(status.success(), "livecap stream: {status}");
    // The followers end with the session, by themselves.
    for child in [&mut text, &mut jsonl] {
        let status = exits_within(child, Duration::from_secs(5));
        let mut err = String::new();
        if let Some(mut e) = child.stderr.take() {
            let _ = e.read_to_string(&mut err);
        }
        assert!(status.success(), "follow: {status}: {err}");
        assert!(err.is_empty(), "follow said: {err}");
    }
    let said = said.join().unwrap_or_default();
    assert!(said.is_empty(), "follow --share said: {said:?}");
    let page = page.join().unwrap_or_default();
    assert!(page.contains("event: end"), "{page}");
    let printed = printed.join().unwrap_or_default();
    let followed = followed.join().unwrap_or_default();
    let followed_json = followed_json.join().unwrap_or_default();

    // Exactly the stream's lines, whole and in order, also those from before it started.
    let texts = |l: &[(f64, String)]| l.iter().map(|(_, t)| t.clone()).collect::<Vec<_>>();
    assert!(printed.len() >= 3, "{printed:?}");
    assert_eq!(texts(&followed), texts(&printed));
    let words = |s: &str| s.split_whitespace().map(str::to_string).collect::<Vec<_>>();
    assert_eq!(
        words(&page_commits(&page)),
        words(&texts(&printed).join(" ")),
        "the shared page of the follower"
    );
    // Those the stream printed after the follower was running, each within a second.
    let mut delays = Vec::new();
    for ((at, line), (seen, _)) in printed.iter().zip(&followed) {
        if *at > started + 1.0 {
            delays.push(seen - at);
            assert!(
                seen - at <= 1.0,
                "{line:?} printed at {at:.2} s, followed at {seen:.2} s"
            );
        }
    }
    assert!(
        delays.len() >= 2,
        "too few lines after the follower started: {printed:?}"
    );
    delays.sort_by(f64::total_cmp);
    eprintln!(
        "follower behind the stream: median {:.3} s, p90 {:.3} s, over {} lines",
        delays[delays.len() / 2],
        delays[(delays.len() * 9 / 10).min(delays.len() - 1)],
        delays.len()
    );

    // From now on, as events: what was committed after it started, then a clean end.
    let events: Vec<serde_json::Value> = followed_json
        .iter()
        .map(|(_, l)| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let (last, commits) = events.split_last().unwrap_or_else(|| panic!("no events"));
    assert_eq!(last["type"], "end");
    assert_eq!(last["clean"], true);
    assert!(!commits.is_empty());
    let mut tail = Vec::new();
    for c in commits {
        assert_eq!(c["type"], "commit");
        assert!(c["start"].as_f64().is_some_and(|s| s >= 0.0), "{c}");
        tail.extend(words(c["text"].as_str().unwrap_or_default()));
    }
    let all = words(&texts(&printed).join(" "));
    assert!(all.ends_with(&tail), "{tail:?} is not the end of {all:?}");
    assert!(tail.len() < all.len());
}

#[test]
fn with_nothing_being_recorded_follow_says_so() {
    let data = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let o = follow_command(data.path(), &[])
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert_clear_failure(&o, "no session is being recorded");
    let o = follow_command(data.path(), &["2020-01-01T00-00-00Z"])
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert_clear_failure(&o, "2020-01-01T00-00-00Z");
}
