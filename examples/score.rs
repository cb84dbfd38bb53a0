//! Score transcripts (JSON lines as written by `livecap transcribe --format json`) against the
//! reference `X.txt` beside each `X.wav`: prints per-file and overall word error rate.
//!
//! cargo run --release --example score -- out.jsonl [more.jsonl ...]

use livecap_eval::wer::WerCount;

fn main() {
    let mut total = WerCount::default();
    let mut files = 0;
    for path in std::env::args().skip(1) {
        let Ok(text) = std::fs::read_to_string(&path) else {
            eprintln!("score: cannot read {path}");
            std::process::exit(1);
        };
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let Ok(j) = serde_json::from_str::<serde_json::Value>(line) else {
                eprintln!("score: {path}: a line is not JSON");
                std::process::exit(1);
            };
            let file = j["file"].as_str().unwrap_or_default();
            let reference = std::path::Path::new(file).with_extension("txt");
            let Ok(r) = std::fs::read_to_string(&reference) else {
                eprintln!("score: no reference {}", reference.display());
                std::process::exit(1);
            };
            let c = WerCount::of(&r, j["text"].as_str().unwrap_or_default());
            println!(
                "{:6.2}%  {:3}/{:3}  {file}",
                100.0 * c.rate(),
                c.errors,
                c.words
            );
            total = total + c;
            files += 1;
        }
    }
    println!(
        "WER {:.2}% ({} errors / {} words, {files} files)",
        100.0 * total.rate(),
        total.errors,
        total.words
    );
}
