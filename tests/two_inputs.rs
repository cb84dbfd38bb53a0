//! Two inputs captioned apart in one session (`--input A+B`), on the stepped clock: each
//! recording's words under its own label, as accurate as the recording captioned alone, kept
//! with their labels in the session and its exports.

mod common;

use std::path::{Path, PathBuf};

use common::*;
use livecap::stream::Event;
use livecap_eval::wer::WerCount;

/// A reader (the first four sentences of the long recording) and three sentences of another
/// speaker, joined, with their references.
fn recordings(dir: &Path) -> [(PathBuf, String); 2] {
    let reader = dir.join("reader.wav");
    assert!(ffmpeg(&[
        "-i",
        &long_wav().to_string_lossy(),
        "-t",
        "27.6",
        &reader.to_string_lossy(),
    ]));
    let reader_text = long_sentences()
        .iter()
        .filter(|s| s.end <= 27.6)
        .map(|s| s.text.clone())
        .collect::<Vec<_>>()
        .join(" ");
    let other: Vec<(PathBuf, String)> = dev_set()
        .into_iter()
        .filter(|(w, _)| w.to_string_lossy().contains("arctic"))
        .collect();
    assert_eq!(other.len(), 3, "the three arctic clips of the dev set");
    let list = dir.join("other.txt");
    let lines: String = other
        .iter()
        .map(|(w, _)| format!("file '{}'\n", w.display()))
        .collect();
    std::fs::write(&list, lines).expect("list");
    let joined = dir.join("other.wav");
    assert!(ffmpeg(&[
        "-f",
        "concat",
        "-safe",
        "0",
        "-i",
        &list.to_string_lossy(),
        "-ar",
        "16000",
        "-ac",
        "1",
        &joined.to_string_lossy(),
    ]));
    let other_text = other
        .iter()
        .map(|(_, t)| t.clone())
        .collect::<Vec<_>>()
        .join(" ");
    [(reader, reader_text), (joined, other_text)]
}

/// `livecap stream` on the stepped clock, as JSON lines: each event with its `source`.
fn stream(input: &str, data: &Path, extra: &[&str]) -> Vec<(Option<String>, Event)> {
    let model = model_dir().to_string_lossy().into_owned();
    let mut args = vec![
        "stream", "--input", input, "--clock", "stepped", "--format", "jsonl", "--model", &model,
    ];
    args.extend_from_slice(extra);
    let out = livecap_env(&args, &[("LIVECAP_DATA_DIR", &data.to_string_lossy())]);
    assert!(out.status.success(), "{}", stderr(&out));
    stdout(&out)
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).expect("a JSON line");
            let source = v["source"].as_str().map(str::to_string);
            (source, serde_json::from_value(v).expect("an event"))
        })
        .collect()
}

fn committed_by(events: &[(Option<String>, Event)], source: Option<&str>) -> String {
    commits(
        events
            .iter()
            .filter(|(s, _)| s.as_deref() == source)
            .map(|(_, e)| e),
    )
}

#[test]
fn two_recordings_are_captioned_apart_each_under_its_label() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("data");
    let [(a, a_ref), (b, b_ref)] = recordings(dir.path());
    let pair = format!("{}+{}", a.display(), b.display());
    let events = stream(&pair, &data, &["--labels", "Reader,Guest", "--keep-audio"]);
    let (reader, guest) = (
        committed_by(&events, Some("Reader")),
        committed_by(&events, Some("Guest")),
    );
    assert!(
        committed_by(&events, None).is_empty(),
        "events without a source"
    );
    let no_save = ["--no-save"];
    let alone_a = committed_by(&stream(&a.to_string_lossy(), &data, &no_save), None);
    let alone_b = committed_by(&stream(&b.to_string_lossy(), &data, &no_save), None);
    for (label, got, alone, reference, other) in [
        ("Reader", &reader, &alone_a, &a_ref, &b_ref),
        ("Guest", &guest, &alone_b, &b_ref, &a_ref),
    ] {
        let wer = WerCount::of(reference, got).rate();
        let wer_alone = WerCount::of(reference, alone).rate();
        eprintln!(
            "{label}: {got}\nWER {:.1}% (alone {:.1}%)",
            100.0 * wer,
            100.0 * wer_alone
        );
        assert!(
            wer <= wer_alone + 0.03,
            "{label}: WER {:.1}% beside the other input, {:.1}% alone",
            100.0 * wer,
            100.0 * wer_alone
        );
        // No line under the wrong label: the other recording's words are not here.
        let crossed = WerCount::of(other, got).rate();
        assert!(
            crossed > 0.8,
            "{label} holds the other input's words: {got}"
        );
    }
    // Each input ends on its own.
    let ends = events
        .iter()
        .filter(|(_, e)| matches!(e, Event::End { .. }))
        .count();
    assert_eq!(ends, 2);

    // The session keeps the labels: in `show` and in every export.
    let env = [("LIVECAP_DATA_DIR", data.to_string_lossy().into_owned())];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let list = stdout(&livecap_env(&["sessions", "list"], &env));
    let id = list
        .lines()
        .next()
        .and_then(|l| l.split_whitespace().next())
        .expect("a session")
        .to_string();
    let show = stdout(&livecap_env(&["sessions", "show", &id], &env));
    let lines_of = |who: &str, text: &str| -> String {
        text.lines()
            .filter_map(|l| l.split_once(&format!("{who}: ")).map(|(_, t)| t))
            .collect::<Vec<_>>()
            .join(" ")
    };
    assert!(
        WerCount::of(&a_ref, &lines_of("Reader", &show)).rate() <= 0.15,
        "{show}"
    );
    assert!(
        WerCount::of(&b_ref, &lines_of("Guest", &show)).rate() <= 0.25,
        "{show}"
    );
    // A reader following the session gets each input's lines after its label.
    let followed = stdout(&livecap_env(&["sessions", "follow", &id], &env));
    assert_eq!(
        normalize_words(&lines_of("Reader", &followed)),
        normalize_words(&reader),
        "{followed}"
    );
    assert_eq!(
        normalize_words(&lines_of("Guest", &followed)),
        normalize_words(&guest),
        "{followed}"
    );
    let srt = stdout(&livecap_env(
        &["sessions", "export", &id, "-f", "srt"],
        &env,
    ));
    assert_eq!(
        normalize_words(&lines_of("Reader", &srt)),
        normalize_words(&reader),
        "{srt}"
    );
    assert_eq!(
        normalize_words(&lines_of("Guest", &srt)),
        normalize_words(&guest),
        "{srt}"
    );
    let vtt = stdout(&livecap_env(
        &["sessions", "export", &id, "-f", "vtt"],
        &env,
    ));
    assert!(
        vtt.contains("<v Reader>") && vtt.contains("<v Guest>"),
        "{vtt}"
    );
    let json = stdout(&livecap_env(
        &["sessions", "export", &id, "-f", "json"],
        &env,
    ));
    let json: serde_json::Value = serde_json::from_str(&json).expect("json");
    let speakers: Vec<&str> = json["segments"]
        .as_array()
        .expect("segments")
        .iter()
        .filter_map(|s| s["speaker"].as_str())
        .collect();
    assert!(speakers.contains(&"Reader") && speakers.contains(&"Guest"));

    // Each input's audio is kept apart, whole, and said in `show`.
    let session = data.join("sessions").join(&id);
    for (file, input) in [("audio.wav", &a), ("audio.2.wav", &b)] {
        let kept = samples(&session.join(file));
        let heard = samples(input);
        assert_eq!(
            kept.len(),
            heard.len(),
            "{file}: all of {}",
            input.display()
        );
        let worst = kept
            .iter()
            .zip(&heard)
            .map(|(k, h)| (k - h).abs())
            .fold(0.0f32, f32::max);
        assert!(worst <= 1.5 / 32_768.0, "{file} differs by {worst}");
    }
    assert!(show.contains("audio.2.wav (Guest)"), "{show}");
    // A label the session does not have: one sentence naming the ones it has.
    let out = livecap_env(&["sessions", "play", &id, "--source", "Host"], &env);
    assert_clear_failure(&out, "\"Host\"; it kept Reader, Guest");

    // Transcribed again, each input apart, under its label.
    let again = stdout(&livecap_env(
        &["sessions", "retranscribe", &id, "-f", "srt"],
        &env,
    ));
    for (label, reference) in [("Reader", &a_ref), ("Guest", &b_ref)] {
        let wer = WerCount::of(reference, &lines_of(label, &again)).rate();
        assert!(
            wer <= 0.15,
            "{label} transcribed again: WER {:.1}%\n{again}",
            100.0 * wer
        );
    }
}

fn samples(path: &Path) -> Vec<f32> {
    livecap::audio::load_file(path)
        .unwrap_or_else(|e| panic!("{e}"))
        .samples
}

fn normalize_words(text: &str) -> Vec<String> {
    livecap_eval::wer::normalize(text)
}

#[test]
fn bad_labels_are_one_sentence() {
    let dir = tempfile::tempdir().expect("temp dir");
    let [(a, _), (b, _)] = recordings(dir.path());
    let pair = format!("{}+{}", a.display(), b.display());
    for labels in ["You", "You,You", "A,B,C", ","] {
        let out = livecap(&["stream", "--input", &pair, "--no-save", "--labels", labels]);
        assert_clear_failure(&out, "--labels");
    }
}
