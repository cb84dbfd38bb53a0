//! `livecap stream` as a user runs it: files and raw PCM on standard input, text and JSON
//! output, signals, and bad input.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::*;
use livecap_eval::wer::WerCount;

/// The first two sentences of the long recording (about 12 s) as a wav, raw s16le mono 16 kHz,
/// and raw f32le stereo 44.1 kHz; with their reference text.
fn clip(dir: &Path) -> (PathBuf, PathBuf, PathBuf, String) {
    let wav = dir.join("clip.wav");
    let s16 = dir.join("clip.s16");
    let f32 = dir.join("clip.f32");
    let src = long_wav();
    // The first 12.1 s of the long recording, converted by ffmpeg with `format` options.
    let cut = |format: &[&str], out: &Path| {
        let mut args = vec!["-i", src.to_str().unwrap_or_default(), "-t", "12.1"];
        args.extend_from_slice(format);
        args.push(out.to_str().unwrap_or_default());
        assert!(ffmpeg(&args), "ffmpeg could not write {}", out.display());
    };
    cut(&[], &wav);
    cut(&["-f", "s16le", "-ac", "1", "-ar", "16000"], &s16);
    cut(&["-f", "f32le", "-ac", "2", "-ar", "44100"], &f32);
    let reference: String = long_sentences()
        .iter()
        .take(2)
        .map(|s| s.text.clone())
        .collect::<Vec<_>>()
        .join(" ");
    (wav, s16, f32, reference)
}

/// Run `livecap stream ARGS` with `stdin` fed from a file (or nothing).
fn stream(args: &[&str], stdin: Option<&Path>) -> std::process::Output {
    let model = model_dir();
    let mut c = common::livecap_command();
    c.arg("stream")
        .arg("--model")
        .arg(&model)
        .args(args)
        .env_remove("LIVECAP_MODEL");
    match stdin {
        Some(p) => c.stdin(std::fs::File::open(p).unwrap_or_else(|e| panic!("{e}"))),
        None => c.stdin(Stdio::null()),
    };
    c.output()
        .unwrap_or_else(|e| panic!("running livecap: {e}"))
}

/// Committed text of a JSON Lines event stream, checking every line is an event.
fn committed(jsonl: &str) -> String {
    let mut words = Vec::new();
    let mut ended = false;
    for line in jsonl.lines() {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        let ty = v["type"].as_str().unwrap_or_default();
        assert!(v["emitted_at"].is_number(), "{line}");
        assert!(!ended, "events after the end: {line}");
        match ty {
            "commit" => words.push(v["text"].as_str().unwrap_or_default().to_string()),
            "end" => ended = true,
            "partial" | "update" | "lag" | "mode" | "device" => {}
            other => panic!("unknown event type {other}"),
        }
    }
    assert!(ended, "no end event");
    words.join(" ")
}

#[test]
fn stdin_gives_the_same_text_as_the_file() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let (wav, s16, f32, reference) = clip(dir.path());
    // On the stepped clock the update times, and so the text, do not depend on the machine.
    let common = ["--format", "jsonl", "--clock", "stepped", "--step", "2"];
    let wav_arg = wav.to_string_lossy();
    let mut args = vec!["--input", &wav_arg];
    args.extend(common);
    let from_file = stream(&args, None);
    assert!(from_file.status.success(), "{}", stderr(&from_file));
    let mut args = vec!["--input", "-"];
    args.extend(common);
    let from_stdin = stream(&args, Some(&s16));
    assert!(from_stdin.status.success(), "{}", stderr(&from_stdin));
    let (a, b) = (
        committed(&stdout(&from_file)),
        committed(&stdout(&from_stdin)),
    );
    eprintln!("file:  {a}\nstdin: {b}");
    let vs_reference = WerCount::of(&reference, &a).rate();
    assert!(
        vs_reference <= 0.1,
        "{:.1}% against the reference",
        100.0 * vs_reference
    );
    assert_eq!(WerCount::of(&a, &b).errors, 0, "stdin and file differ");

    // Float stereo at another rate is mixed down and resampled.
    args.extend([
        "--input-format",
        "f32le",
        "--input-rate",
        "44100",
        "--input-channels",
        "2",
    ]);
    let stereo = stream(&args, Some(&f32));
    assert!(stereo.status.success(), "{}", stderr(&stereo));
    let c = committed(&stdout(&stereo));
    let w = WerCount::of(&reference, &c).rate();
    assert!(w <= 0.1, "f32le stereo 44.1 kHz: {:.1}%: {c}", 100.0 * w);
}

#[test]
fn text_output_is_the_committed_text() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let (wav, _, _, reference) = clip(dir.path());
    let o = stream(&["--input", &wav.to_string_lossy()], None);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    // Not a terminal: no control sequences, whole lines only.
    assert!(!out.contains('\x1b') && !out.contains('\r'), "{out:?}");
    assert!(out.ends_with('\n'));
    assert!(out.lines().count() >= 2, "a line per sentence: {out}");
    let w = WerCount::of(&reference, &out).rate();
    assert!(w <= 0.1, "{:.1}%: {out}", 100.0 * w);
}

#[test]
fn sigterm_commits_the_tail_and_exits_cleanly() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let (_, s16, _, reference) = clip(dir.path());
    let pcm = std::fs::read(&s16).unwrap_or_else(|e| panic!("{e}"));
    let mut child = common::livecap_command()
        .args(["stream", "--input", "-", "--format", "jsonl", "--model"])
        .arg(model_dir())
        .env_remove("LIVECAP_MODEL")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{e}"));
    // All the speech arrives at once and the pipe stays open, as from a live microphone
    // whose speaker has stopped talking.
    let mut stdin = child.stdin.take().unwrap_or_else(|| panic!("no stdin"));
    stdin.write_all(&pcm).unwrap_or_else(|e| panic!("{e}"));
    stdin.flush().ok();
    let stdout = child.stdout.take().unwrap_or_else(|| panic!("no stdout"));
    let mut lines = BufReader::new(stdout).lines();
    let mut seen = Vec::new();
    // Wait for the first update that covers all the audio, then ask the stream to stop.
    for line in lines.by_ref() {
        let line = line.unwrap_or_default();
        let v: serde_json::Value = serde_json::from_str(&line).unwrap_or_default();
        seen.push(line);
        if v["type"] == "update" && v["audio_end"].as_f64().unwrap_or(0.0) > 12.0 {
            break;
        }
    }
    let pid = child.id().to_string();
    // The shell's own `kill`, so the test needs no procps.
    let kill = Command::new("sh")
        .args(["-c", &format!("kill -TERM {pid}")])
        .status();
    assert!(kill.is_ok_and(|s| s.success()));
    seen.extend(lines.map(|l| l.unwrap_or_default()));
    let status = child.wait().unwrap_or_else(|e| panic!("{e}"));
    drop(stdin);
    assert!(status.success(), "exit status {status:?}");
    let text = committed(&seen.join("\n"));
    let w = WerCount::of(&reference, &text).rate();
    assert!(w <= 0.1, "{:.1}% after SIGTERM: {text}", 100.0 * w);
}

#[test]
fn bad_stream_input_is_one_clear_sentence() {
    let o = stream(&["--input", "/nonexistent/talk.wav"], None);
    assert_clear_failure(&o, "/nonexistent/talk.wav");
    let o = stream(&["--input", "x.wav", "--window", "0"], None);
    assert_clear_failure(&o, "--window");
    let o = stream(&["--input", "x.wav", "--step=-1"], None);
    assert_clear_failure(&o, "--step");
    let o = stream(&["--input", "-", "--input-rate", "0"], None);
    assert_clear_failure(&o, "--input-rate");
    let o = stream(&["--input", "-", "--input-channels", "0"], None);
    assert_clear_failure(&o, "--input-channels");
    let o = stream(&["--input", "device:zzz-no-such-mic"], None);
    assert_clear_failure(&o, "device:zzz-no-such-mic");
    let o = stream(&["--input", "x.wav", "--switch-mode-at=-3"], None);
    assert_clear_failure(&o, "--switch-mode-at");
}

#[test]
fn odd_trailing_bytes_on_stdin_are_reported_not_fatal() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let raw = dir.path().join("odd.s16");
    // One second of silence and a stray byte.
    let mut bytes = vec![0u8; 32_000];
    bytes.push(7);
    std::fs::write(&raw, bytes).unwrap_or_else(|e| panic!("{e}"));
    let o = stream(&["--input", "-", "--format", "jsonl"], Some(&raw));
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("1 bytes"), "{}", stderr(&o));
    assert_eq!(committed(&stdout(&o)), "");
}
