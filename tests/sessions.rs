//! Sessions on disk: a real streamed session hit by SIGHUP, SIGTERM or SIGKILL at a random
//! moment keeps every committed segment, in files that parse; exports open in ffmpeg; odd ids
//! and titles cannot reach outside the sessions directory.

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::*;
use livecap::session::log::TRANSCRIPT;
use livecap::session::reader::{read_meta, read_transcript};
use livecap_eval::wer::{normalize, WerCount};

/// A title with everything a title should not be able to do.
const ODD_TITLE: &str = "../../escape\n\u{1b}[31mred\u{7}/x";

/// The one session directory under `data`.
fn only_session(data: &Path) -> PathBuf {
    let dirs: Vec<PathBuf> = std::fs::read_dir(data.join("sessions"))
        .unwrap_or_else(|e| panic!("no sessions directory: {e}"))
        .filter_map(Result::ok)
        .map(|e| e.path())
        .collect();
    assert_eq!(dirs.len(), 1, "{dirs:?}");
    dirs[0].clone()
}

fn id_of(dir: &Path) -> String {
    dir.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn sessions(data: &Path, args: &[&str]) -> std::process::Output {
    livecap_command()
        .env("LIVECAP_DATA_DIR", data)
        .arg("sessions")
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("running livecap: {e}"))
}

/// A pseudo-random number in [0, 1) from the clock; printed with any failure.
fn random() -> f64 {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let mut x = nanos as u64 | 1;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    (x % 10_000) as f64 / 10_000.0
}

#[test]
fn signals_at_random_moments_leave_every_commit_on_disk() {
    for (signal, clean) in [("HUP", true), ("TERM", true), ("KILL", false)] {
        let data = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let wait = 4.0 + 8.0 * random();
        let mut child = livecap_command()
            .env("LIVECAP_DATA_DIR", data.path())
            .args(["stream", "--format", "jsonl", "--clock", "realtime"])
            .args(["--keep-audio", "--title", ODD_TITLE, "--input"])
            .arg(long_wav())
            .arg("--model")
            .arg(model_dir())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("running livecap: {e}"));
        let lines = Arc::new(Mutex::new(Vec::<String>::new()));
        let reader = {
            let lines = lines.clone();
            let out = child.stdout.take();
            std::thread::spawn(move || {
                if let Some(out) = out {
                    for l in BufReader::new(out).lines().map_while(Result::ok) {
                        if let Ok(mut v) = lines.lock() {
                            v.push(l);
                        }
                    }
                }
            })
        };
        std::thread::sleep(Duration::from_secs_f64(wait));
        let killed = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(child.id().to_string())
            .status()
            .is_ok_and(|s| s.success());
        assert!(killed);
        let status = child.wait().unwrap_or_else(|e| panic!("{e}"));
        reader.join().ok();
        let lines = lines.lock().map(|l| l.clone()).unwrap_or_default();
        let what = format!("SIG{signal} after {wait:.2} s");
        let events: Vec<serde_json::Value> = lines
            .iter()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{what}: {e}: {l}")))
            .collect();
        let printed: Vec<String> = events
            .iter()
            .filter(|e| e["type"] == "commit")
            .map(|e| e["text"].as_str().unwrap_or_default().to_string())
            .collect();
        assert!(!printed.is_empty(), "{what}: nothing was committed");

        let dir = only_session(data.path());
        let back = read_transcript(&dir.join(TRANSCRIPT))
            .unwrap_or_else(|e| panic!("{what}: the transcript does not parse: {e}"));
        eprintln!(
            "{what}: {status}, {} commits printed, {} on disk, last line torn: {}",
            printed.len(),
            back.entries.len(),
            back.torn
        );
        let on_disk: Vec<String> = back.entries.iter().map(|e| e.text.clone()).collect();
        let meta = read_meta(&dir).unwrap_or_else(|| panic!("{what}: no metadata"));
        let audio = livecap::audio::load_file(&dir.join("audio.wav"))
            .unwrap_or_else(|e| panic!("{what}: the kept audio does not open: {e}"));
        let last_end = back.entries.last().map_or(0.0, |e| e.end);
        assert!(
            audio.duration() + 0.5 >= last_end,
            "{what}: {:.2} s of audio kept, words up to {last_end:.2} s",
            audio.duration()
        );
        if clean {
            assert!(status.success(), "{what}: {status}");
            assert_eq!(on_disk, printed, "{what}: disk and output differ");
            assert!(!back.torn, "{what}");
            assert!(meta.ended.is_some(), "{what}: not marked ended");
            let end = events.last().unwrap_or_else(|| panic!("{what}: no events"));
            assert_eq!(end["type"], "end", "{what}");
            let heard = end["duration"].as_f64().unwrap_or_default();
            assert!(
                (audio.duration() - heard).abs() < 0.2,
                "{what}: {:.2} s kept of {heard:.2} s heard",
                audio.duration()
            );
        } else {
            assert!(!status.success(), "{what}");
            assert!(
                on_disk.len() >= printed.len() && on_disk[..printed.len()] == printed[..],
                "{what}: a printed commit is not on disk\nprinted: {printed:?}\ndisk: {on_disk:?}"
            );
            assert!(meta.ended.is_none(), "{what}");
        }
        // The session lists, shows and exports, however it ended.
        let id = id_of(&dir);
        let list = sessions(data.path(), &["list"]);
        let listed = stdout(&list);
        assert!(
            list.status.success() && listed.starts_with(&id),
            "{what}: {listed}"
        );
        assert_eq!(listed.lines().count(), 1, "{listed}");
        let show = sessions(data.path(), &["show", &id]);
        assert!(show.status.success(), "{what}: {}", stderr(&show));
        let text = sessions(data.path(), &["export", &id]);
        let words = normalize(&stdout(&text));
        assert_eq!(words, normalize(&on_disk.join(" ")), "{what}");
    }
}

#[test]
fn exports_open_in_ffmpeg_and_retranscribing_gives_the_text() {
    let data = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let (wav, reference) = dev_set()
        .into_iter()
        .find(|(w, _)| {
            w.to_string_lossy()
                .contains("ls-dev-clean_1272-128104-0000")
        })
        .unwrap_or_else(|| panic!("fixture missing"));
    let o = livecap_command()
        .env("LIVECAP_DATA_DIR", data.path())
        .args([
            "stream",
            "--clock",
            "stepped",
            "--keep-audio",
            "--title",
            ODD_TITLE,
        ])
        .arg("--input")
        .arg(&wav)
        .arg("--model")
        .arg(model_dir())
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(o.status.success(), "{}", stderr(&o));
    let dir = only_session(data.path());
    let id = id_of(&dir);

    for format in ["srt", "vtt"] {
        let out = data.path().join(format!("x.{format}"));
        let e = sessions(
            data.path(),
            &[
                "export",
                &id,
                "--format",
                format,
                "--output",
                &out.to_string_lossy(),
            ],
        );
        assert!(e.status.success(), "{}", stderr(&e));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&out).map(|m| m.permissions().mode() & 0o777);
            assert_eq!(mode.ok(), Some(0o600), "exports are private too");
        }
        let back = data.path().join(format!("back.{format}"));
        assert!(
            ffmpeg(&["-i", &out.to_string_lossy(), &back.to_string_lossy()]),
            "ffmpeg does not accept the {format} export:\n{}",
            std::fs::read_to_string(&out).unwrap_or_default()
        );
        let words = normalize(&std::fs::read_to_string(&out).unwrap_or_default());
        assert!(words.len() >= 10, "{words:?}");
    }
    let json = sessions(data.path(), &["export", &id, "--format", "json"]);
    let v: serde_json::Value =
        serde_json::from_str(&stdout(&json)).unwrap_or_else(|e| panic!("JSON export: {e}"));
    let text = v["text"].as_str().unwrap_or_default();
    let wer = WerCount::of(&reference, text).rate();
    assert!(wer <= 0.15, "live WER {wer:.3}: {text}");

    let again = sessions(
        data.path(),
        &[
            "retranscribe",
            &id,
            "--model",
            &model_dir().to_string_lossy(),
        ],
    );
    assert!(again.status.success(), "{}", stderr(&again));
    let wer = WerCount::of(&reference, &stdout(&again)).rate();
    assert!(
        wer <= 0.15,
        "retranscribed WER {wer:.3}: {}",
        stdout(&again)
    );

    // The title is shown, but as text: no control characters reach the terminal.
    let listed = stdout(&sessions(data.path(), &["list"]));
    assert!(listed.contains("../../escape"), "{listed}");
    assert!(
        !listed.contains('\u{1b}') && !listed.contains('\u{7}'),
        "{listed:?}"
    );
    assert_eq!(listed.lines().count(), 1, "{listed:?}");
}

#[test]
fn odd_ids_cannot_reach_outside_the_sessions_directory() {
    let data = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let sessions_dir = data.path().join("sessions");
    // A real session, and a decoy outside the sessions directory that a path could reach.
    let real = sessions_dir.join("2026-11-22T04-09-19Z");
    std::fs::create_dir_all(&real).unwrap_or_else(|e| panic!("{e}"));
    let line = r#"{"text":"Hello.","start":0.0,"end":1.0,"wall":1.0,"mode":"window","model":"m"}"#;
    std::fs::write(real.join(TRANSCRIPT), format!("{line}\n")).unwrap_or_else(|e| panic!("{e}"));
    let decoy = data.path().join("decoy");
    std::fs::create_dir_all(&decoy).unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(decoy.join(TRANSCRIPT), format!("{line}\n")).unwrap_or_else(|e| panic!("{e}"));
    // A directory whose name is not an id is not a session.
    let odd = sessions_dir.join("has space");
    std::fs::create_dir_all(&odd).unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(odd.join(TRANSCRIPT), format!("{line}\n")).unwrap_or_else(|e| panic!("{e}"));

    let listed = stdout(&sessions(data.path(), &["list"]));
    assert_eq!(listed.lines().count(), 1, "{listed}");
    assert!(listed.starts_with("2026-11-22T04-09-19Z"), "{listed}");

    let outside = data.path().join("written.txt");
    for id in [
        "../decoy",
        "..",
        ".",
        "",
        "/etc",
        "2026-11-22T04-09-19Z/../../decoy",
        "has space",
        "x\ny",
        "\u{1b}[31m",
    ] {
        for args in [
            vec!["show", id],
            vec!["export", id, "--output", &outside.to_string_lossy()],
            vec!["retranscribe", id],
        ] {
            let o = sessions(data.path(), &args);
            assert_clear_failure(&o, "no session has the id");
            assert!(stdout(&o).is_empty(), "{args:?}");
        }
        assert!(!outside.exists(), "{id:?} wrote a file");
    }
    let ok = sessions(data.path(), &["show", "2026-11-22T04-09-19Z"]);
    assert!(stdout(&ok).contains("Hello."), "{}", stderr(&ok));
    let none = sessions(data.path(), &["retranscribe", "2026-11-22T04-09-19Z"]);
    assert_clear_failure(&none, "has no recorded audio");
}
