//! Judging a finished stream against a reference with sentence times: word error rate, when each
//! sentence was committed and first shown, and text the stream repeated that the reference does
//! not. Used by the benchmarks and the tests.

use crate::wer::{align, normalize, Edit, WerCount};
use livecap::stream::{Event, Word};

/// A reference sentence and when its speech began and ended (seconds of audio).
#[derive(Debug, Clone, Default)]
pub struct Sentence {
    pub text: String,
    pub start: f64,
    pub end: f64,
}

/// A committed word with the clock times that matter for latency.
#[derive(Debug, Clone)]
struct Timed {
    token: String,
    committed_at: f64,
    shown_at: f64,
}

/// Per-sentence timing and overall accuracy of one stream.
#[derive(Debug, Clone)]
pub struct Report {
    pub wer: WerCount,
    /// Committed text, in order.
    pub text: String,
    /// For each reference sentence: (commit latency, first-display latency) of its last
    /// recognised word, or `None` if none of its words was committed.
    pub latencies: Vec<Option<(f64, f64)>>,
    /// 4-grams that occur more often in the committed text than in the reference.
    pub extra_repeats: Vec<String>,
    /// Compute seconds and transcribed audio seconds of each update, in order.
    pub updates: Vec<(f64, f64)>,
    /// Encoder passes and decoded tokens of each update, in order (the same updates).
    pub work: Vec<(u64, u64)>,
    /// Each sentence scored on its own.
    pub sentences: Vec<SentenceScore>,
    /// For each reference sentence, whether some committed word lies at its time.
    pub covered: Vec<bool>,
}

/// Committed words lying wholly in a pause, more than half a second from every reference
/// sentence: words from silence.
pub fn words_in_pauses<'a>(events: &'a [Event], sentences: &[Sentence]) -> Vec<&'a Word> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Commit { words, .. } => Some(words),
            _ => None,
        })
        .flatten()
        .filter(|w| {
            sentences
                .iter()
                .all(|s| w.end < s.start - 0.5 || w.start > s.end + 0.5)
        })
        .collect()
}

/// How far (seconds) outside a sentence's span a committed word may lie and still be at its
/// time: less than half the shortest pause between the streams' recordings (0.6 s).
pub const COVER_MARGIN_SECS: f64 = 0.25;

/// For each reference sentence, whether some committed word (by its aligned times) overlaps its
/// span widened by [`COVER_MARGIN_SECS`]: the sentence was captioned, whatever the words' text.
pub fn covered(events: &[Event], sentences: &[Sentence]) -> Vec<bool> {
    let words: Vec<(f64, f64)> = events
        .iter()
        .filter_map(|e| match e {
            Event::Commit { words, .. } => Some(words.iter().map(|w| (w.start, w.end))),
            _ => None,
        })
        .flatten()
        .collect();
    sentences
        .iter()
        .map(|s| {
            let (a, b) = (s.start - COVER_MARGIN_SECS, s.end + COVER_MARGIN_SECS);
            words.iter().any(|&(start, end)| start < b && end > a)
        })
        .collect()
}

/// How one reference sentence came out in a transcript aligned with the whole reference.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SentenceScore {
    /// Reference words (normalised).
    pub words: usize,
    /// Substitutions, deletions and insertions falling in this sentence.
    pub errors: usize,
    /// Its first word was recognised.
    pub onset: bool,
    /// The transcript's words aligned with it.
    pub got: String,
}

/// The normalised words of all `sentences`, and the sentence each one belongs to.
pub fn reference_tokens(sentences: &[Sentence]) -> (Vec<String>, Vec<usize>) {
    let mut tokens: Vec<String> = Vec::new();
    let mut sentence: Vec<usize> = Vec::new();
    for (i, s) in sentences.iter().enumerate() {
        for t in normalize(&s.text) {
            tokens.push(t);
            sentence.push(i);
        }
    }
    (tokens, sentence)
}

/// Score `text` sentence by sentence against `sentences`, aligned as a whole.
pub fn score_sentences(sentences: &[Sentence], text: &str) -> Vec<SentenceScore> {
    let (ref_tokens, ref_sentence) = reference_tokens(sentences);
    let hyp = normalize(text);
    let mut out = vec![SentenceScore::default(); sentences.len()];
    for &s in &ref_sentence {
        out[s].words += 1;
    }
    let (mut i, mut j) = (0usize, 0usize);
    let mut got: Vec<Vec<&str>> = vec![Vec::new(); sentences.len()];
    for op in align(&ref_tokens, &hyp) {
        // Insertions count against the sentence being read when they came.
        let s = ref_sentence
            .get(i)
            .or(ref_sentence.last())
            .copied()
            .unwrap_or(0);
        if s >= out.len() {
            break;
        }
        let first = i == 0 || ref_sentence.get(i - 1) != Some(&s);
        match op {
            Edit::Match => {
                out[s].onset |= first;
                got[s].push(&hyp[j]);
                i += 1;
                j += 1;
            }
            Edit::Substitute => {
                out[s].errors += 1;
                got[s].push(&hyp[j]);
                i += 1;
                j += 1;
            }
            Edit::Delete => {
                out[s].errors += 1;
                i += 1;
            }
            Edit::Insert => {
                out[s].errors += 1;
                got[s].push(&hyp[j]);
                j += 1;
            }
        }
    }
    for (o, g) in out.iter_mut().zip(got) {
        o.got = g.join(" ");
    }
    out
}

/// Two-sided sign test: the probability of a split at least this uneven between `a` and `b` if
/// either were equally likely.
pub fn sign_test(a: usize, b: usize) -> f64 {
    let n = a + b;
    if n == 0 {
        return 1.0;
    }
    let k = a.min(b);
    // P(X <= k) for X ~ Binomial(n, 1/2), in logs to stay finite.
    let ln_choose = |n: usize, k: usize| -> f64 {
        (1..=k)
            .map(|i| ((n - k + i) as f64).ln() - (i as f64).ln())
            .sum()
    };
    let tail: f64 = (0..=k)
        .map(|i| (ln_choose(n, i) - n as f64 * std::f64::consts::LN_2).exp())
        .sum();
    (2.0 * tail).min(1.0)
}

/// The `q`-quantile (0..=1) of `values`, by nearest rank; `None` if empty.
pub fn quantile(values: &[f64], q: f64) -> Option<f64> {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let rank = ((q * v.len() as f64).ceil() as usize).clamp(1, v.len());
    Some(v[rank - 1])
}

fn four_grams(tokens: &[String]) -> std::collections::HashMap<String, usize> {
    let mut m = std::collections::HashMap::new();
    for w in tokens.windows(4) {
        *m.entry(w.join(" ")).or_insert(0) += 1;
    }
    m
}

impl Report {
    pub fn new(events: &[Event], sentences: &[Sentence]) -> Self {
        let mut timed: Vec<Timed> = Vec::new();
        let mut texts: Vec<&str> = Vec::new();
        let mut updates = Vec::new();
        let mut work = Vec::new();
        for e in events {
            match e {
                Event::Commit {
                    words, emitted_at, ..
                } => {
                    for w in words {
                        texts.push(&w.text);
                        for token in normalize(&w.text) {
                            timed.push(Timed {
                                token,
                                committed_at: *emitted_at,
                                shown_at: w.shown_at,
                            });
                        }
                    }
                }
                Event::Update {
                    compute,
                    audio_start,
                    audio_end,
                    skipped: false,
                    encoder_passes,
                    decoder_tokens,
                    ..
                } => {
                    updates.push((*compute, audio_end - audio_start));
                    work.push((*encoder_passes, *decoder_tokens));
                }
                _ => {}
            }
        }
        let text = texts.join(" ");
        let reference: String = sentences
            .iter()
            .map(|s| s.text.as_str())
            .collect::<Vec<_>>()
            .join(" ");
        let wer = WerCount::of(&reference, &text);

        let (ref_tokens, ref_sentence) = reference_tokens(sentences);
        let hyp_tokens: Vec<String> = timed.iter().map(|t| t.token.clone()).collect();
        let mut latencies: Vec<Option<(f64, f64)>> = vec![None; sentences.len()];
        let (mut i, mut j) = (0usize, 0usize);
        for op in align(&ref_tokens, &hyp_tokens) {
            match op {
                Edit::Match | Edit::Substitute => {
                    let s = ref_sentence[i];
                    let h = &timed[j];
                    if op == Edit::Match || latencies[s].is_none() {
                        let end = sentences[s].end;
                        latencies[s] = Some((h.committed_at - end, h.shown_at - end));
                    }
                    i += 1;
                    j += 1;
                }
                Edit::Delete => i += 1,
                Edit::Insert => j += 1,
            }
        }
        let (said, got) = (four_grams(&ref_tokens), four_grams(&hyp_tokens));
        let mut extra_repeats: Vec<String> = got
            .into_iter()
            .filter(|(g, n)| *n > 1 && *n > said.get(g).copied().unwrap_or(0))
            .map(|(g, _)| g)
            .collect();
        extra_repeats.sort();
        let scores = score_sentences(sentences, &text);
        let covered = covered(events, sentences);
        Self {
            covered,
            wer,
            text,
            latencies,
            extra_repeats,
            updates,
            work,
            sentences: scores,
        }
    }

    /// Commit latencies of the sentences that were committed.
    pub fn commit_latencies(&self) -> Vec<f64> {
        self.latencies.iter().flatten().map(|l| l.0).collect()
    }

    /// First-display latencies of the sentences that were committed.
    pub fn display_latencies(&self) -> Vec<f64> {
        self.latencies.iter().flatten().map(|l| l.1).collect()
    }
}

/// Reference sentences from a `segments.tsv` (a header line, then `id`, `start_s`, `end_s`,
/// `transcript` separated by tabs).
pub fn read_sentences(tsv: &str) -> Vec<Sentence> {
    tsv.lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            Some(Sentence {
                start: f.get(1)?.trim().parse().ok()?,
                end: f.get(2)?.trim().parse().ok()?,
                text: f.get(3)?.trim().to_string(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn commit(words: &[(&str, f64)], at: f64) -> Event {
        Event::Commit {
            text: String::new(),
            start: 0.0,
            end: 0.0,
            emitted_at: at,
            words: words
                .iter()
                .map(|(w, shown)| Word::new(w, 0.0, 0.0, *shown))
                .collect(),
        }
    }

    fn sentence(text: &str, end: f64) -> Sentence {
        Sentence {
            text: text.into(),
            end,
            ..Sentence::default()
        }
    }

    #[test]
    fn latency_is_measured_at_each_sentence_end() {
        let sentences = vec![
            sentence("The cat sat.", 2.0),
            sentence("It was nineteen ninety.", 5.0),
            sentence("Never said", 9.0),
        ];
        let events = vec![
            commit(&[("the", 1.0), ("cat", 1.5)], 2.0),
            commit(&[("sat.", 2.5), ("It", 3.0)], 3.5),
            commit(&[("was", 4.0), ("1990.", 5.5)], 6.0),
        ];
        let r = Report::new(&events, &sentences);
        assert_eq!(r.latencies[0], Some((1.5, 0.5)));
        assert_eq!(r.latencies[1], Some((1.0, 0.5)));
        assert_eq!(r.latencies[2], None);
        assert_eq!(r.wer.errors, 2);
        assert!(r.extra_repeats.is_empty());
        assert_eq!(quantile(&r.commit_latencies(), 0.5), Some(1.0));
    }

    #[test]
    fn repeated_text_is_found() {
        let sentences = vec![sentence("one two three four five six", 1.0)];
        let events = vec![
            commit(&[("one", 0.0), ("two", 0.0), ("three", 0.0)], 1.0),
            commit(&[("four", 0.0), ("five", 0.0)], 1.0),
            commit(
                &[("two", 0.0), ("three", 0.0), ("four", 0.0), ("five", 0.0)],
                1.0,
            ),
            commit(&[("six", 0.0)], 1.0),
        ];
        let r = Report::new(&events, &sentences);
        // Numbers are compared as digits.
        assert_eq!(r.extra_repeats, vec!["2 3 4 5".to_string()]);
    }

    #[test]
    fn sentences_are_scored_on_their_own() {
        let sentences = vec![
            sentence("The cat sat.", 2.0),
            sentence("A dog ran far.", 5.0),
        ];
        let s = score_sentences(&sentences, "the cat sat dog ran far away");
        assert_eq!((s[0].words, s[0].errors, s[0].onset), (3, 0, true));
        assert_eq!((s[1].words, s[1].errors, s[1].onset), (4, 2, false));
        assert_eq!(s[1].got, "dog ran far away");
    }

    #[test]
    fn quantiles() {
        let v = [5.0, 1.0, 3.0, 2.0, 4.0];
        assert_eq!(quantile(&v, 0.5), Some(3.0));
        assert_eq!(quantile(&v, 0.9), Some(5.0));
        assert_eq!(quantile(&[], 0.5), None);
    }
}
