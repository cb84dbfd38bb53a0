//! `livecap transcribe` as a user runs it: formats read back by ffmpeg, audio in every
//! supported container and sample format, the three model sources, and bad input.

mod common;

use std::path::{Path, PathBuf};

use common::*;
use livecap_eval::report::sign_test;
use livecap_eval::wer::WerCount;

const CLIP: &str = "dev/ls-dev-clean_2412-153948-0000";

fn clip() -> (PathBuf, String) {
    let wav = fixtures().join(format!("{CLIP}.wav"));
    let txt = std::fs::read_to_string(fixtures().join(format!("{CLIP}.txt"))).unwrap_or_default();
    (wav, txt)
}

fn tmp() -> tempfile::TempDir {
    tempfile::tempdir().unwrap_or_else(|e| panic!("temp dir: {e}"))
}

fn model_arg() -> String {
    model_dir().display().to_string()
}

#[test]
fn json_output_has_the_documented_shape() {
    let (wav, reference) = clip();
    let j = transcribe_one_json(&model_arg(), &[&wav.display().to_string()]);
    assert_eq!(j["file"], wav.display().to_string());
    assert_eq!(j["language"], "en");
    let duration = j["duration"].as_f64().unwrap_or(0.0);
    assert!((duration - 11.66).abs() < 0.05, "duration {duration}");
    let segs = j["segments"].as_array().cloned().unwrap_or_default();
    assert!(!segs.is_empty());
    for s in &segs {
        let (a, b) = (
            s["start"].as_f64().unwrap_or(-1.0),
            s["end"].as_f64().unwrap_or(-1.0),
        );
        assert!(0.0 <= a && a < b && b <= duration, "segment {s}");
    }
    let text = j["text"].as_str().unwrap_or("");
    assert!(WerCount::of(&reference, text).rate() < 0.15, "{text}");
}

#[test]
fn srt_and_vtt_are_read_by_ffmpeg() {
    let (wav, _) = clip();
    let dir = tmp();
    for (fmt, other) in [("srt", "vtt"), ("vtt", "srt")] {
        let out = dir.path().join(format!("clip.{fmt}"));
        let o = livecap(&[
            "transcribe",
            "--model",
            &model_arg(),
            "--format",
            fmt,
            "--output",
            &out.display().to_string(),
            &wav.display().to_string(),
        ]);
        assert!(o.status.success(), "{}", stderr(&o));
        let converted = dir.path().join(format!("back.{other}"));
        assert!(
            ffmpeg(&[
                "-i",
                &out.display().to_string(),
                &converted.display().to_string()
            ]),
            "ffmpeg rejected the {fmt} file"
        );
        let back = std::fs::read_to_string(&converted)
            .unwrap_or_default()
            .to_lowercase();
        assert!(
            back.contains("antecedents"),
            "{fmt} cues lost in conversion: {back}"
        );
    }
}

#[test]
fn several_files_go_to_a_directory() {
    let dev = dev_set();
    let files: Vec<String> = dev
        .iter()
        .take(3)
        .map(|(p, _)| p.display().to_string())
        .collect();
    let dir = tmp();
    let out = dir.path().join("subs");
    let mut args = vec!["transcribe", "--model"];
    let m = model_arg();
    args.push(&m);
    let o_s = out.display().to_string();
    args.extend(["--format", "srt", "--output", &o_s]);
    args.extend(files.iter().map(String::as_str));
    let o = livecap(&args);
    assert!(o.status.success(), "{}", stderr(&o));
    for (p, _) in dev.iter().take(3) {
        let stem = p
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let f = out.join(format!("{stem}.srt"));
        assert!(
            std::fs::read_to_string(&f).is_ok_and(|s| s.contains(" --> ")),
            "{} missing",
            f.display()
        );
    }
    // JSON to stdout: one object per line, one line per file.
    let files: Vec<&str> = files.iter().map(String::as_str).collect();
    assert_eq!(transcribe_json(&m, &files).len(), 3);
}

/// Re-encode the clip with ffmpeg and check every variant decodes to the same words.
#[test]
fn any_container_rate_channels_and_sample_format() {
    let (wav, reference) = clip();
    let dir = tmp();
    let variants: &[(&str, &[&str])] = &[
        (
            "stereo-44k-f32.wav",
            &["-ac", "2", "-ar", "44100", "-c:a", "pcm_f32le"],
        ),
        ("mono-48k-s24.wav", &["-ar", "48000", "-c:a", "pcm_s24le"]),
        (
            "stereo-22k.flac",
            &["-ac", "2", "-ar", "22050", "-sample_fmt", "s32"],
        ),
        ("mono-8k-s16.wav", &["-ar", "8000", "-c:a", "pcm_s16le"]),
        ("stereo.mp3", &["-ac", "2", "-ar", "44100", "-b:a", "128k"]),
        (
            "mono.ogg",
            &["-ar", "48000", "-c:a", "libvorbis", "-q:a", "5"],
        ),
    ];
    let mut files = Vec::new();
    for (name, args) in variants {
        let out = dir.path().join(name);
        let mut a = vec!["-i", wav.to_str().unwrap_or_default()];
        a.extend_from_slice(args);
        let o = out.display().to_string();
        a.push(&o);
        assert!(ffmpeg(&a), "ffmpeg could not make {name}");
        files.push(o);
    }
    let files: Vec<&str> = files.iter().map(String::as_str).collect();
    let results = transcribe_json(&model_arg(), &files);
    assert_eq!(results.len(), variants.len());
    for r in results {
        let d = r["duration"].as_f64().unwrap_or(0.0);
        assert!((d - 11.66).abs() < 0.1, "{}: duration {d}", r["file"]);
        let wer = WerCount::of(&reference, r["text"].as_str().unwrap_or("")).rate();
        assert!(
            wer < 0.15,
            "{}: WER {:.1}% {}",
            r["file"],
            100.0 * wer,
            r["text"]
        );
    }
}

#[test]
fn bad_audio_inputs_fail_clearly() {
    let dir = tmp();
    let m = model_arg();
    let missing = dir.path().join("nope.wav");
    let o = livecap(&["transcribe", "--model", &m, &missing.display().to_string()]);
    assert_clear_failure(&o, &missing.display().to_string());

    let text = dir.path().join("notes.wav");
    std::fs::write(&text, "these are my meeting notes, not audio\n".repeat(20)).ok();
    let o = livecap(&["transcribe", "--model", &m, &text.display().to_string()]);
    assert_clear_failure(&o, &text.display().to_string());

    let empty = dir.path().join("empty.wav");
    std::fs::write(&empty, b"").ok();
    let o = livecap(&["transcribe", "--model", &m, &empty.display().to_string()]);
    assert_clear_failure(&o, &empty.display().to_string());

    let truncated = dir.path().join("cut.wav");
    let bytes = std::fs::read(clip().0).unwrap_or_default();
    std::fs::write(&truncated, &bytes[..30]).ok();
    let o = livecap(&[
        "transcribe",
        "--model",
        &m,
        &truncated.display().to_string(),
    ]);
    assert_clear_failure(&o, &truncated.display().to_string());

    let o = livecap(&[
        "transcribe",
        "--model",
        &m,
        "--language",
        "klingon",
        &clip().0.display().to_string(),
    ]);
    assert_clear_failure(&o, "--language klingon");
}

#[test]
fn one_bad_file_does_not_lose_the_others() {
    let (wav, _) = clip();
    let dir = tmp();
    let missing = dir.path().join("gone.flac");
    let o = livecap(&[
        "transcribe",
        "--model",
        &model_arg(),
        &wav.display().to_string(),
        &missing.display().to_string(),
    ]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("gone.flac"));
    assert!(
        stdout(&o).to_lowercase().contains("antecedents"),
        "{}",
        stdout(&o)
    );
}

#[test]
fn header_only_wav_is_an_empty_transcript() {
    let dir = tmp();
    let wav = dir.path().join("nothing.wav");
    assert!(ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "anullsrc=r=16000:cl=mono",
        "-t",
        "0",
        "-c:a",
        "pcm_s16le",
        &wav.display().to_string()
    ]));
    let j = transcribe_one_json(&model_arg(), &[&wav.display().to_string()]);
    assert_eq!(j["text"], "");
    assert_eq!(j["segments"].as_array().map(Vec::len), Some(0));
}

fn copy_model(to: &Path, skip: &[&str]) {
    std::fs::create_dir_all(to).ok();
    for f in ["config.json", "tokenizer.json", "model.bin"] {
        if !skip.contains(&f) {
            std::fs::copy(model_dir().join(f), to.join(f))
                .unwrap_or_else(|e| panic!("copy {f}: {e}"));
        }
    }
}

#[test]
fn bad_models_fail_clearly() {
    let (wav, _) = clip();
    let wav = wav.display().to_string();
    let dir = tmp();

    let none = dir.path().join("empty-model");
    std::fs::create_dir_all(&none).ok();
    let o = livecap(&["transcribe", "--model", &none.display().to_string(), &wav]);
    assert_clear_failure(&o, &none.display().to_string());
    assert!(stderr(&o).contains("no weights"), "{}", stderr(&o));

    let cut = dir.path().join("truncated");
    copy_model(&cut, &["model.bin"]);
    let full = std::fs::read(model_dir().join("model.bin")).unwrap_or_default();
    std::fs::write(cut.join("model.bin"), &full[..full.len() / 3]).ok();
    let o = livecap(&["transcribe", "--model", &cut.display().to_string(), &wav]);
    assert_clear_failure(&o, &cut.join("model.bin").display().to_string());
    assert!(stderr(&o).contains("truncated"), "{}", stderr(&o));

    let garbage = dir.path().join("garbage");
    copy_model(&garbage, &["model.bin"]);
    std::fs::write(garbage.join("model.bin"), b"\x06\0\0\0not really a model").ok();
    let o = livecap(&[
        "transcribe",
        "--model",
        &garbage.display().to_string(),
        &wav,
    ]);
    assert_clear_failure(&o, &garbage.join("model.bin").display().to_string());

    let notok = dir.path().join("no-tokenizer");
    copy_model(&notok, &["tokenizer.json"]);
    let o = livecap(&["transcribe", "--model", &notok.display().to_string(), &wav]);
    assert_clear_failure(&o, &notok.join("tokenizer.json").display().to_string());

    let badcfg = dir.path().join("bad-config");
    copy_model(&badcfg, &["config.json"]);
    std::fs::write(badcfg.join("config.json"), "{ nope").ok();
    let o = livecap(&["transcribe", "--model", &badcfg.display().to_string(), &wav]);
    assert_clear_failure(&o, &badcfg.join("config.json").display().to_string());

    // The multilingual tokenizer beside the English-only weights.
    let mixed = dir.path().join("mixed");
    copy_model(&mixed, &["tokenizer.json"]);
    let other = model_dir()
        .parent()
        .map(|p| p.join("base-ct2/tokenizer.json"))
        .unwrap_or_default();
    std::fs::copy(&other, mixed.join("tokenizer.json"))
        .unwrap_or_else(|e| panic!("{}: {e}", other.display()));
    let o = livecap(&["transcribe", "--model", &mixed.display().to_string(), &wav]);
    assert_clear_failure(&o, &mixed.join("tokenizer.json").display().to_string());

    let o = livecap(&["transcribe", "--model", "./does/not/exist", &wav]);
    assert_clear_failure(&o, "--model ./does/not/exist");
    let o = livecap(&["transcribe", "--model", "huge.en", &wav]);
    assert_clear_failure(&o, "--model huge.en");
}

#[test]
fn bash_completion_parses_and_completes_commands() {
    let out = livecap(&["completions", "bash"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let dir = tmp();
    let script = dir.path().join("livecap.bash");
    std::fs::write(&script, &out.stdout).unwrap_or_else(|e| panic!("{e}"));
    let check = std::process::Command::new("bash")
        .arg("-n")
        .arg(&script)
        .output()
        .unwrap_or_else(|e| panic!("bash: {e}"));
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
    // What bash does on `livecap tr<Tab>`, and on `livecap sessions <Tab>`.
    let complete = |words: &str, cword: usize| -> String {
        let run = format!(
            "source '{}'; COMP_WORDS=({words}); COMP_CWORD={cword}; COMP_LINE='{words}'; \
             COMP_POINT=${{#COMP_LINE}}; _livecap livecap \"${{COMP_WORDS[$COMP_CWORD]}}\" \
             \"${{COMP_WORDS[$((COMP_CWORD-1))]}}\"; printf '%s\\n' \"${{COMPREPLY[@]}}\"",
            script.display()
        );
        let out = std::process::Command::new("bash")
            .args(["-c", &run])
            .output()
            .unwrap_or_else(|e| panic!("bash: {e}"));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let got = complete("livecap tr", 1);
    assert_eq!(
        got.split_whitespace().collect::<Vec<_>>(),
        ["transcribe"],
        "{got}"
    );
    let got = complete("livecap sessions ''", 2);
    for sub in ["list", "show", "export", "retranscribe"] {
        assert!(
            got.split_whitespace().any(|w| w == sub),
            "{sub} not in {got}"
        );
    }
    for shell in ["zsh", "fish", "elvish", "powershell"] {
        let out = livecap(&["completions", shell]);
        assert!(out.status.success() && out.stdout.len() > 500, "{shell}");
    }
    let out = livecap(&["completions", "tcsh"]);
    assert!(!out.status.success());
}

#[test]
fn man_page_renders_without_warnings() {
    let out = livecap(&["man"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let dir = tmp();
    let page = dir.path().join("livecap.1");
    std::fs::write(&page, &out.stdout).unwrap_or_else(|e| panic!("{e}"));
    let render = std::process::Command::new("groff")
        .args(["-man", "-Tutf8", "-ww"])
        .arg(&page)
        .output()
        .unwrap_or_else(|e| panic!("groff: {e}"));
    let warnings = String::from_utf8_lossy(&render.stderr);
    assert!(render.status.success() && warnings.is_empty(), "{warnings}");
    let text = String::from_utf8_lossy(&render.stdout);
    // grotty emboldens by overstriking ("L\x08L"): keep the last of each struck character.
    let mut plain = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if chars.peek() == Some(&'\x08') {
            chars.next();
        } else {
            plain.push(c);
        }
    }
    let plain = plain.replace(['\u{2010}', '\u{2212}'], "-");
    for want in [
        "LIVECAP TRANSCRIBE",
        "LIVECAP STREAM",
        "LIVECAP SESSIONS EXPORT",
        "--switch-mode-at",
        "--keep-audio",
    ] {
        assert!(plain.contains(want), "{want} not in the page");
    }
    let version = livecap(&["--version"]);
    let v = String::from_utf8_lossy(&version.stdout);
    assert!(
        v.starts_with("livecap ") && v.contains(env!("CARGO_PKG_VERSION")),
        "{v}"
    );
}

/// `livecap transcribe` of every dev file with `extra` flags, scored against the references.
fn dev_wer(model: &str, extra: &[&str]) -> WerCount {
    pooled(&dev_errors(model, extra))
}

/// Errors of several files added up.
fn pooled(errors: &[WerCount]) -> WerCount {
    errors.iter().fold(WerCount::default(), |a, &b| a + b)
}

/// Each dev file's errors, in the dev set's order.
fn dev_errors(model: &str, extra: &[&str]) -> Vec<WerCount> {
    let dev = dev_set();
    let mut args: Vec<String> = extra.iter().map(|a| a.to_string()).collect();
    args.extend(dev.iter().map(|(p, _)| p.display().to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    transcribe_json(model, &args)
        .iter()
        .zip(&dev)
        .map(|(j, (_, reference))| WerCount::of(reference, j["text"].as_str().unwrap_or("")))
        .collect()
}

#[test]
fn int8_transcripts_are_as_accurate_as_float16_on_both_models() {
    let tiny = model_arg();
    let base = base_model();
    for (model, extra) in [
        (tiny.as_str(), vec![]),
        (base.as_str(), vec!["--language", "en"]),
    ] {
        let with = |compute: &str| {
            let mut args = extra.clone();
            args.extend(["--compute-type", compute]);
            dev_wer(model, &args)
        };
        let (float16, int8) = (with("float16"), with("int8"));
        eprintln!(
            "{model}: float16 {:.2}%, int8 {:.2}%",
            100.0 * float16.rate(),
            100.0 * int8.rate()
        );
        assert!(float16.words > 200, "dev set missing");
        assert!(
            int8.rate() <= float16.rate() + 0.005,
            "{model}: int8 WER {:.2}% against float16 {:.2}%",
            100.0 * int8.rate(),
            100.0 * float16.rate()
        );
    }
}

/// Names tiny.en mishears in the dev clips: "fill up steels", "Whitmore".
const NAMES: &str = "Philip Steels, Whittemore";

#[test]
fn vocabulary_spells_names_as_given_and_costs_no_accuracy() {
    let model = model_arg();
    let clips: Vec<String> = ["cmu-arctic_aew_a0001", "cmu-arctic_aew_a0002"]
        .iter()
        .map(|c| {
            fixtures()
                .join(format!("dev/{c}.wav"))
                .display()
                .to_string()
        })
        .collect();
    let texts = |extra: &[&str]| -> String {
        let mut args: Vec<&str> = extra.to_vec();
        args.extend(clips.iter().map(String::as_str));
        transcribe_json(&model, &args)
            .iter()
            .map(|j| j["text"].as_str().unwrap_or("").to_string())
            .collect::<Vec<_>>()
            .join(" ")
    };
    let without = texts(&[]);
    // At least one name is misspelt without the vocabulary (int8 happens to get "Philip
    // Steels" right; "Whittemore" is "Whitmore" at every precision).
    let missing: Vec<&str> = ["Philip Steels", "Whittemore"]
        .into_iter()
        .filter(|n| !without.contains(n))
        .collect();
    assert!(
        !missing.is_empty(),
        "the model already spells the names: {without}"
    );
    let with = texts(&["--vocabulary", NAMES]);
    assert!(
        with.contains("Philip Steels") && with.contains("Whittemore"),
        "{with}"
    );
    // Given, not said: the vocabulary is never printed for its own sake.
    assert_eq!(with.matches("Whittemore").count(), 1, "{with}");

    // From the config file, when no flag is given.
    let dir = tmp();
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        "vocabulary = [\"Philip Steels\", \"Whittemore\"]\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let mut args = vec!["transcribe", "--model", model.as_str()];
    args.extend(clips.iter().map(String::as_str));
    let o = livecap_env(&args, &[("LIVECAP_CONFIG", &config.display().to_string())]);
    assert!(o.status.success(), "{}", stderr(&o));
    let from_config = stdout(&o);
    assert!(
        from_config.contains("Philip Steels") && from_config.contains("Whittemore"),
        "{from_config}"
    );

    // Live: the committed text spells them too.
    let o = livecap(&[
        "stream",
        "--model",
        &model,
        "--input",
        &clips[0],
        "--clock",
        "stepped",
        "--no-save",
        "--vocabulary",
        NAMES,
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("Philip Steels"), "{}", stdout(&o));

    // Every dev file, with and without: no worse.
    let (plain, named) = (
        dev_wer(&model, &[]).rate(),
        dev_wer(&model, &["--vocabulary", NAMES]).rate(),
    );
    eprintln!(
        "dev WER {:.2}% without, {:.2}% with the vocabulary",
        100.0 * plain,
        100.0 * named
    );
    assert!(named <= plain, "{named} > {plain}");
}

#[test]
fn beam_search_is_no_worse_than_greedy_on_the_dev_files() {
    let model = model_arg();
    let (greedy, beam) = (
        dev_errors(&model, &["--beam-size", "1"]),
        dev_errors(&model, &["--beam-size", "5"]),
    );
    let (g, b) = (pooled(&greedy), pooled(&beam));
    let better = greedy
        .iter()
        .zip(&beam)
        .filter(|(g, b)| b.errors < g.errors)
        .count();
    let worse = greedy
        .iter()
        .zip(&beam)
        .filter(|(g, b)| b.errors > g.errors)
        .count();
    eprintln!(
        "dev WER: greedy {:.2}%, 5 beams {:.2}%; beams better on {better} files, worse on {worse}",
        100.0 * g.rate(),
        100.0 * b.rate()
    );
    assert!(g.words > 200, "dev set missing");
    // Per file, beams may not be worse on significantly more files than they are better on (a
    // two-sided sign test). Pooled, one error is 0.34 points of these 292 words: faster-whisper
    // 1.2.1 on the same model makes 3 more errors with 5 beams than greedy (BENCHMARKS.md, the
    // AVX2 run; "to it more" among them), and livecap's count moves by one or two between CPUs
    // (AVX-512 and AVX2 sum in other orders), so the bound is 1.5 points, as `tests/engine.rs`
    // holds against faster-whisper.
    assert!(
        worse <= better || sign_test(better, worse) >= 0.05,
        "5 beams worse on {worse} files, better on {better}"
    );
    assert!(
        b.rate() <= g.rate() + 0.015,
        "5 beams {:.2}%, greedy {:.2}%",
        100.0 * b.rate(),
        100.0 * g.rate()
    );
    let first = dev_set()[0].0.display().to_string();
    let o = livecap(&["transcribe", "--model", &model, "--beam-size", "0", &first]);
    assert_clear_failure(&o, "--beam-size 0");
}
