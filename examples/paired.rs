//! Compare two systems (or two settings) utterance by utterance: for each reference sentence,
//! the errors each one makes, pooled errors, and how many sentences got better, worse or stayed
//! the same, with a two-sided sign test on the better/worse counts (a difference the sign test
//! does not find at p < 0.05 is noise). Several streams can be given at once and are pooled.
//!
//! cargo run --release --example paired -- [--tags MANIFEST.tsv] A B SEGMENTS.tsv [A B SEGMENTS.tsv ...]
//!
//! A and B are each `livecap stream --format jsonl` events (the committed words), plain text
//! (`livecap transcribe` of the stream, aligned with the whole reference), or `livecap
//! transcribe --format json` of each sentence's own recording (matched by file name against the
//! segments' first column; each scored on its own). With `--tags`, the manifest's `tags` column
//! (matched by clip name the same way) breaks the comparison down by tag; several `--tags` may
//! be given. With `PAIRED_SHOW=1`, each sentence that differs is printed (to stderr) with what A
//! and B gave for it.

use std::collections::BTreeMap;

use livecap::stream::Event;
use livecap_eval::report::{read_sentences, score_sentences, sign_test, Sentence};
use livecap_eval::wer::WerCount;

fn read(p: &str) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| {
        eprintln!("paired: cannot read {p}: {e}");
        std::process::exit(1);
    })
}

/// The file name of a path, without its extension.
fn stem(path: &str) -> String {
    std::path::Path::new(path)
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Errors per sentence of one system's output, and the words it gave for each; `names` are the
/// sentences' recordings.
fn errors(path: &str, sentences: &[Sentence], names: &[String]) -> Vec<(usize, String)> {
    let text = read(path);
    let json: Vec<serde_json::Value> = text
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    // Each recording transcribed on its own.
    if json.first().is_some_and(|j| j.get("file").is_some()) {
        let by_name: BTreeMap<String, &str> = json
            .iter()
            .map(|j| {
                (
                    stem(j["file"].as_str().unwrap_or_default()),
                    j["text"].as_str().unwrap_or_default(),
                )
            })
            .collect();
        return sentences
            .iter()
            .zip(names)
            .map(|(s, n)| {
                let Some(t) = by_name.get(n) else {
                    eprintln!("paired: {path} has no transcript of {n}");
                    std::process::exit(1);
                };
                (WerCount::of(&s.text, t).errors, t.to_string())
            })
            .collect();
    }
    let events: Vec<Event> = json
        .into_iter()
        .filter_map(|j| serde_json::from_value(j).ok())
        .collect();
    let hypothesis = if events.is_empty() {
        text
    } else {
        events
            .iter()
            .filter_map(|e| match e {
                Event::Commit { text, .. } => Some(text.as_str()),
                _ => None,
            })
            .collect::<Vec<_>>()
            .join(" ")
    };
    score_sentences(sentences, &hypothesis)
        .into_iter()
        .map(|s| (s.errors, s.got))
        .collect()
}

#[derive(Default, Clone, Copy)]
struct Tally {
    sentences: usize,
    words: usize,
    a: usize,
    b: usize,
    better: usize,
    worse: usize,
}

impl Tally {
    fn add(&mut self, words: usize, a: usize, b: usize) {
        self.sentences += 1;
        self.words += words;
        self.a += a;
        self.b += b;
        match b.cmp(&a) {
            std::cmp::Ordering::Less => self.better += 1,
            std::cmp::Ordering::Greater => self.worse += 1,
            std::cmp::Ordering::Equal => {}
        }
    }

    fn row(&self, name: &str) {
        let pct = |e: usize| 100.0 * e as f64 / self.words.max(1) as f64;
        let p = sign_test(self.better, self.worse);
        println!(
            "| {name} | {} | {} | {} ({:.2} %) | {} ({:.2} %) | {} | {} | {} | {:.3} | {} |",
            self.sentences,
            self.words,
            self.a,
            pct(self.a),
            self.b,
            pct(self.b),
            self.better,
            self.worse,
            self.sentences - self.better - self.worse,
            p,
            if p < 0.05 {
                if self.b < self.a {
                    "B better"
                } else {
                    "B worse"
                }
            } else {
                "noise"
            }
        );
    }
}

fn main() {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let mut tags: BTreeMap<String, Vec<String>> = BTreeMap::new();
    while args.first().is_some_and(|a| a == "--tags") && args.len() > 1 {
        let manifest = read(&args[1]);
        let mut lines = manifest.lines();
        let header: Vec<&str> = lines.next().unwrap_or_default().split('\t').collect();
        let col = |name: &str| header.iter().position(|h| *h == name);
        let (Some(file), Some(tag)) = (col("file"), col("tags")) else {
            eprintln!("paired: {} has no file and tags columns", args[1]);
            std::process::exit(1);
        };
        for l in lines {
            let f: Vec<&str> = l.split('\t').collect();
            if let (Some(name), Some(t)) = (f.get(file), f.get(tag)) {
                tags.insert(
                    stem(name),
                    t.split(',').map(|s| s.trim().to_string()).collect(),
                );
            }
        }
        args.drain(..2);
    }
    if args.is_empty() || !args.len().is_multiple_of(3) {
        eprintln!("usage: paired [--tags MANIFEST.tsv] A B SEGMENTS.tsv [A B SEGMENTS.tsv ...]");
        std::process::exit(2);
    }
    println!("| set | sentences | words | errors A | errors B | B better | B worse | same | sign test p | verdict |");
    println!("|---|---|---|---|---|---|---|---|---|---|");
    let mut all = Tally::default();
    let mut by_tag: BTreeMap<String, Tally> = BTreeMap::new();
    for triple in args.chunks(3) {
        let tsv = read(&triple[2]);
        let sentences = read_sentences(&tsv);
        let names: Vec<String> = tsv
            .lines()
            .skip(1)
            .map(|l| l.split('\t').next().unwrap_or_default().to_string())
            .collect();
        let (a, b) = (
            errors(&triple[0], &sentences, &names),
            errors(&triple[1], &sentences, &names),
        );
        let mut set = Tally::default();
        for (i, s) in sentences.iter().enumerate() {
            let words = WerCount::of(&s.text, "").words;
            set.add(words, a[i].0, b[i].0);
            for t in names.get(i).and_then(|n| tags.get(n)).into_iter().flatten() {
                by_tag
                    .entry(t.clone())
                    .or_default()
                    .add(words, a[i].0, b[i].0);
            }
        }
        // With PAIRED_SHOW set, each sentence that differs: errors of A and B, the reference,
        // and what A and B gave for it.
        for (i, s) in sentences.iter().enumerate() {
            if std::env::var_os("PAIRED_SHOW").is_some() && a[i].0 != b[i].0 {
                eprintln!(
                    "{}\t{}\t{}\t{}\n\tA: {}\n\tB: {}",
                    triple[2], a[i].0, b[i].0, s.text, a[i].1, b[i].1
                );
            }
        }
        set.row(&triple[2]);
        let t = all;
        all = Tally {
            sentences: t.sentences + set.sentences,
            words: t.words + set.words,
            a: t.a + set.a,
            b: t.b + set.b,
            better: t.better + set.better,
            worse: t.worse + set.worse,
        };
    }
    if args.len() > 3 {
        all.row("**pooled**");
    }
    for (tag, t) in &by_tag {
        t.row(&format!("tag `{tag}`"));
    }
}
