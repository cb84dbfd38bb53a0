//! Judge `livecap stream --format jsonl` output against a reference with sentence times: word
//! error rate, commit and first-display latency per sentence (median, 90th percentile), repeated
//! text, words committed in pauses and after speech ends, and compute per update as the session
//! grows.
//!
//! cargo run --release --example stream_report -- events.jsonl segments.tsv
//! (a plain-text transcript in place of the events is scored as text only)

use livecap::stream::Event;
use livecap_eval::report::{quantile, read_sentences, Report};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [events_path, tsv_path] = &args[..] else {
        eprintln!("usage: stream_report EVENTS.jsonl SEGMENTS.tsv");
        std::process::exit(2);
    };
    let read = |p: &str| {
        std::fs::read_to_string(p).unwrap_or_else(|e| {
            eprintln!("stream_report: cannot read {p}: {e}");
            std::process::exit(1);
        })
    };
    let events: Vec<Event> = read(events_path)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    // A plain transcript (`livecap transcribe` output) is judged as one commit at the end.
    let plain = events.is_empty();
    let events = if plain {
        let text = read(events_path);
        vec![Event::Commit {
            text: text.clone(),
            start: 0.0,
            end: 0.0,
            emitted_at: 0.0,
            words: text
                .split_whitespace()
                .map(|w| livecap::stream::Word::new(w, 0.0, 0.0, 0.0))
                .collect(),
        }]
    } else {
        events
    };
    let sentences = read_sentences(&read(tsv_path));
    let r = Report::new(&events, &sentences);
    let q = |v: &[f64], p: f64| quantile(v, p).map_or("-".into(), |x| format!("{x:.2}"));
    let (c, d) = (r.commit_latencies(), r.display_latencies());
    println!("wer_percent\t{:.2}", 100.0 * r.wer.rate());
    println!("sentences_committed\t{}/{}", c.len(), sentences.len());
    if !plain {
        let covered = r.covered.iter().filter(|&&c| c).count();
        println!("sentences_covered\t{covered}/{}", sentences.len());
    }
    println!("commit_latency_median_s\t{}", q(&c, 0.5));
    println!("commit_latency_p90_s\t{}", q(&c, 0.9));
    println!("display_latency_median_s\t{}", q(&d, 0.5));
    println!("display_latency_p90_s\t{}", q(&d, 0.9));
    println!("extra_repeated_4grams\t{}", r.extra_repeats.len());
    let onsets = r.sentences.iter().filter(|s| s.onset).count();
    println!("onsets_recognised\t{}/{}", onsets, sentences.len());
    for g in &r.extra_repeats {
        println!("  repeated\t{g}");
    }
    // Committed words wholly in a pause, more than half a second from every reference sentence
    // (words from silence), and those after the last sentence (words after speech ends).
    if !plain {
        let last_end = sentences.iter().fold(0f64, |m, s| m.max(s.end));
        let in_pauses = livecap_eval::report::words_in_pauses(&events, &sentences);
        let after = in_pauses
            .iter()
            .filter(|w| w.start > last_end + 0.5)
            .count();
        println!("words_in_pauses\t{}", in_pauses.len());
        println!("words_after_speech_ends\t{after}");
        for w in &in_pauses {
            println!("  in a pause\t{:.2}\t{:.2}\t{}", w.start, w.end, w.text);
        }
    }
    // Sentence by sentence (with LIVECAP_REPORT_SENTENCES=1): errors, words, commit latency,
    // what was committed.
    if std::env::var_os("LIVECAP_REPORT_SENTENCES").is_some() {
        for (i, (s, l)) in r.sentences.iter().zip(&r.latencies).enumerate() {
            println!(
                "  sentence\t{i}\t{}/{}\t{}\t{}\t{}\t{}",
                s.errors,
                s.words,
                l.map_or("-".into(), |l| format!("{:.2} s", l.0)),
                if s.onset { "onset" } else { "NO-ONSET" },
                match r.covered.get(i) {
                    Some(false) => "UNCOVERED",
                    _ => "covered",
                },
                s.got
            );
        }
    }
    // Compute per update: over the session, and in quarters of it.
    let n = r.updates.len();
    let all: Vec<f64> = r.updates.iter().map(|u| u.0).collect();
    println!("update_compute_median_s\t{}", q(&all, 0.5));
    for k in 0..4 {
        let part = &r.updates[k * n / 4..(k + 1) * n / 4];
        let compute: Vec<f64> = part.iter().map(|u| u.0).collect();
        let span: Vec<f64> = part.iter().map(|u| u.1).collect();
        let work = &r.work[k * n / 4..(k + 1) * n / 4];
        let passes: Vec<f64> = work.iter().map(|w| w.0 as f64).collect();
        let tokens: Vec<f64> = work.iter().map(|w| w.1 as f64).collect();
        println!(
            "update_compute_q{}_median_s\t{}\taudio_median_s\t{}\tencoder_passes_median\t{}\tdecoder_tokens_median\t{}",
            k + 1,
            q(&compute, 0.5),
            q(&span, 0.5),
            q(&passes, 0.5),
            q(&tokens, 0.5)
        );
    }
}
