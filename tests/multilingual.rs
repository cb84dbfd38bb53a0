//! Multilingual models: language detection, `--language`, `--task translate`; and the clear
//! refusal of an English-only model asked for another language. Speech is synthesised with
//! espeak-ng, so the words are known.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;

fn speak(dir: &Path, voice: &str, text: &str) -> PathBuf {
    let out = dir.join(format!("{voice}.wav"));
    let ok = Command::new("espeak-ng")
        .args(["-v", voice, "-w"])
        .arg(&out)
        .arg(text)
        .status()
        .map(|s| s.success());
    assert_eq!(
        ok.ok(),
        Some(true),
        "espeak-ng is needed (scripts/test installs it)"
    );
    out
}

fn has_words(text: &str, words: &[&str]) -> usize {
    let t = text.to_lowercase();
    words.iter().filter(|w| t.contains(*w)).count()
}

#[test]
fn detects_transcribes_and_translates() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let de = speak(dir.path(), "de", "Guten Morgen. Heute ist das Wetter in Berlin sehr schön, und wir gehen am Nachmittag in den Park.");
    let en = speak(dir.path(), "en-us", "Good morning. The weather in Berlin is very nice today, and we are going to the park in the afternoon.");
    let m = base_model();
    let (de_s, en_s) = (de.display().to_string(), en.display().to_string());

    let j = transcribe_one_json(&m, &[&de_s]);
    assert_eq!(j["language"], "de", "{j}");
    let text = j["text"].as_str().unwrap_or("");
    assert!(
        has_words(text, &["guten", "morgen", "heute", "berlin", "park"]) >= 4,
        "{text}"
    );

    let j = transcribe_one_json(&m, &[&en_s]);
    assert_eq!(j["language"], "en", "{j}");

    let j = transcribe_one_json(&m, &["--language", "german", &de_s]);
    assert_eq!(j["language"], "de");

    let j = transcribe_one_json(&m, &["--task", "translate", &de_s]);
    let text = j["text"].as_str().unwrap_or("");
    assert!(
        has_words(
            text,
            &["good", "morning", "today", "park", "berlin", "weather"]
        ) >= 3,
        "translation: {text}"
    );
    assert!(
        has_words(text, &["guten", "morgen", "heute"]) == 0,
        "not translated: {text}"
    );
}

#[test]
fn english_only_model_refuses_other_languages() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let en = speak(dir.path(), "en-us", "Good morning.")
        .display()
        .to_string();
    let tiny = model_dir().display().to_string();
    let o = livecap(&["transcribe", "--model", &tiny, "--language", "de", &en]);
    assert_clear_failure(&o, "English-only");
    let o = livecap(&["transcribe", "--model", &tiny, "--task", "translate", &en]);
    assert_clear_failure(&o, "English-only");
}
