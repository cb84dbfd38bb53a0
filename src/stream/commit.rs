//! Turning a sequence of overlapping hypotheses into steady text: words with times, removal of
//! what a new hypothesis repeats of the committed text, and commitment of the words two
//! hypotheses agree on (local agreement), the earlier one having heard at least a second less.

use serde::{Deserialize, Serialize};

use crate::asr::Segment;

/// One word of a hypothesis, with times in seconds of audio since the stream began.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Word {
    pub text: String,
    pub start: f64,
    pub end: f64,
    /// When (stream clock) this word was first shown in its final form.
    pub shown_at: f64,
    #[serde(skip)]
    key: String,
}

impl Word {
    pub fn new(text: &str, start: f64, end: f64, shown_at: f64) -> Self {
        Self {
            key: key(text),
            text: text.to_string(),
            start,
            end,
            shown_at,
        }
    }
}

impl Word {
    /// The word as compared: lower case, no punctuation.
    pub fn key(&self) -> &str {
        &self.key
    }
}

/// How words are compared: case and punctuation do not count.
pub fn key(text: &str) -> String {
    text.chars()
        .filter(|c| c.is_alphanumeric() || *c == '\'')
        .flat_map(char::to_lowercase)
        .collect()
}

/// The words of timed segments: their aligned words where they have them; otherwise each word
/// gets a share of its segment's time in proportion to its length.
pub fn words_of(segments: &[Segment], shown_at: f64) -> Vec<Word> {
    let mut out: Vec<Word> = Vec::new();
    for s in segments {
        if !s.words.is_empty() {
            for w in &s.words {
                if key(&w.text).is_empty() {
                    if let Some(last) = out.last_mut() {
                        last.text.push_str(&w.text);
                        last.end = last.end.max(w.end);
                    }
                } else {
                    out.push(Word::new(&w.text, w.start, w.end, shown_at));
                }
            }
            continue;
        }
        let parts: Vec<&str> = s.text.split_whitespace().collect();
        let weight = |w: &str| w.chars().count() as f64 + 1.0;
        let total: f64 = parts.iter().map(|w| weight(w)).sum();
        let span = (s.end - s.start).max(0.0);
        let mut t = s.start;
        for p in parts {
            let d = span * weight(p) / total;
            if key(p).is_empty() {
                // Lone punctuation belongs to the word before it.
                if let Some(last) = out.last_mut() {
                    last.text.push_str(p);
                    last.end = t + d;
                }
            } else {
                out.push(Word::new(p, t, t + d, shown_at));
            }
            t += d;
        }
    }
    out
}

/// Two hypotheses agree on a word when they place it this close (seconds).
const AGREE_SECS: f64 = 1.0;
/// A window-mode hypothesis is checked against the latest one that heard at least this much
/// less audio. Two hypotheses only half a second apart (the default step) agree on words the
/// audio's edge cuts short and commit them: base at int8 on stream-dev (stepped clock) commits
/// at 36.4 % WER against the previous hypothesis at 0.5 s steps, 24.1 % at 1 s steps.
const AGREE_GAP_SECS: f64 = 1.0;
/// Committed words kept for matching overlaps and building prompts.
const KEEP_COMMITTED: usize = 200;
/// Committed words a new hypothesis is matched against.
const OVERLAP_WORDS: usize = 40;

/// Committed text and the tentative tail, updated hypothesis by hypothesis.
#[derive(Debug, Default)]
pub struct Committer {
    committed: Vec<Word>,
    /// Words committed over the whole stream.
    total: usize,
    /// Audio time the committed text reaches.
    end: f64,
    /// The latest hypothesis, less what was committed.
    tentative: Vec<Word>,
    /// Recent hypotheses of [`Committer::update_following`], with the audio time each heard up
    /// to: the latest that heard [`AGREE_GAP_SECS`] less than the next one, and all after it.
    earlier: std::collections::VecDeque<(f64, Vec<Word>)>,
}

impl Committer {
    pub fn new() -> Self {
        Self::default()
    }

    /// Audio time (seconds) up to which text is committed.
    pub fn end(&self) -> f64 {
        self.end
    }

    pub fn tentative(&self) -> &[Word] {
        &self.tentative
    }

    /// Words committed over the whole stream.
    pub fn total(&self) -> usize {
        self.total
    }

    /// Take a new hypothesis (words in audio order, covering some trailing stretch of the
    /// audio). Returns the words it commits.
    pub fn update(&mut self, hypothesis: Vec<Word>) -> Vec<Word> {
        let fresh = self.strip_overlap(hypothesis, 0.0);
        let agreed = self
            .tentative
            .iter()
            .zip(&fresh)
            .take_while(|(a, b)| a.key == b.key)
            .count();
        let mut fresh = fresh;
        for (new, old) in fresh.iter_mut().zip(&self.tentative).take(agreed) {
            new.shown_at = new.shown_at.min(old.shown_at);
        }
        let rest = fresh.split_off(agreed);
        self.tentative = rest;
        self.commit(fresh)
    }

    /// Take a hypothesis of what follows the committed text only (the decoder was given the
    /// committed text, so nothing in it repeats), made from audio heard up to `heard` seconds.
    /// Commits the words it agrees on with the latest hypothesis that heard at least
    /// [`AGREE_GAP_SECS`] less: the same words, in the same order, at about the same times.
    pub fn update_following(&mut self, hypothesis: Vec<Word>, heard: f64) -> Vec<Word> {
        let end = self.end;
        // The caller has stripped what repeats the committed text: words placed a little
        // before its end are new, and are moved after it.
        let mut fresh: Vec<Word> = hypothesis
            .into_iter()
            .map(|mut w| {
                w.start = w.start.max(end);
                w.end = w.end.max(w.start);
                w
            })
            .collect();
        let same = |a: &Word, b: &Word| a.key == b.key && (a.start - b.start).abs() <= AGREE_SECS;
        // Words shown unchanged since an earlier hypothesis keep the time they were first shown.
        for (new, old) in fresh.iter_mut().zip(&self.tentative) {
            if !same(new, old) {
                break;
            }
            new.shown_at = new.shown_at.min(old.shown_at);
        }
        let reference: Vec<Word> = self
            .earlier
            .iter()
            .rev()
            .find(|(h, _)| *h <= heard - AGREE_GAP_SECS + 1e-9)
            .map(|(_, words)| {
                (words.iter().filter(|w| w.end > end))
                    .map(|w| Word {
                        start: w.start.max(end),
                        ..w.clone()
                    })
                    .collect()
            })
            .unwrap_or_default();
        let agreed = reference
            .iter()
            .zip(&fresh)
            .take_while(|(a, b)| same(a, b))
            .count();
        for (new, old) in fresh.iter_mut().zip(&reference).take(agreed) {
            new.shown_at = new.shown_at.min(old.shown_at);
        }
        self.earlier.push_back((heard, fresh.clone()));
        while self
            .earlier
            .get(1)
            .is_some_and(|(h, _)| *h <= heard - AGREE_GAP_SECS + 1e-9)
        {
            self.earlier.pop_front();
        }
        let rest = fresh.split_off(agreed);
        self.tentative = rest;
        self.commit(fresh)
    }

    /// The committed words still kept (the most recent ones), oldest first.
    pub fn committed(&self) -> &[Word] {
        &self.committed
    }

    /// Forget the tentative tail without committing it.
    pub fn drop_tentative(&mut self) {
        self.tentative.clear();
        self.earlier.clear();
    }

    /// Commit the whole tentative tail (end of input, a pause, a forced cut).
    pub fn commit_all(&mut self) -> Vec<Word> {
        let words = std::mem::take(&mut self.tentative);
        self.commit(words)
    }

    /// Commit the tentative words that end before `t` (seconds).
    pub fn commit_before(&mut self, t: f64) -> Vec<Word> {
        let n = self.tentative.iter().take_while(|w| w.end <= t).count();
        let words: Vec<Word> = self.tentative.drain(..n).collect();
        self.commit(words)
    }

    fn commit(&mut self, words: Vec<Word>) -> Vec<Word> {
        if let Some(last) = words.last() {
            self.end = self.end.max(last.end);
        }
        self.total += words.len();
        self.committed.extend(words.iter().cloned());
        if self.committed.len() > KEEP_COMMITTED {
            let extra = self.committed.len() - KEEP_COMMITTED;
            self.committed.drain(..extra);
        }
        words
    }

    /// The end of the committed text that ends before `t`, at most `max_chars` long, cut at a
    /// word boundary: the prompt for a window that starts at `t`.
    /// Words that start before `floor` (seconds) are left out.
    pub fn text_before(&self, t: f64, max_chars: usize, floor: f64) -> String {
        let mut picked: Vec<&str> = Vec::new();
        let mut len = 0;
        for w in self
            .committed
            .iter()
            .rev()
            .filter(|w| w.end <= t + 0.05 && w.start >= floor)
        {
            len += w.text.len() + 1;
            if len > max_chars {
                break;
            }
            picked.push(&w.text);
        }
        picked.reverse();
        picked.join(" ")
    }

    /// Remove from the head of a hypothesis what the committed text already holds.
    ///
    /// Words long before the committed tail are dropped on time alone. The rest is aligned
    /// against the committed tail (a suffix of the committed words against a prefix of the
    /// hypothesis, by edit distance), so a window that starts inside committed speech (even in
    /// the middle of a word) gives only what is new. Where the text does not line up at all,
    /// words that end before the committed text does are dropped.
    /// Without a repeat of the committed words, words that end more than `slack` seconds
    /// before the committed text does are taken for what it already holds.
    pub fn strip_overlap(&self, hypothesis: Vec<Word>, slack: f64) -> Vec<Word> {
        if self.committed.is_empty() {
            return hypothesis;
        }
        let tail = &self.committed[self.committed.len().saturating_sub(OVERLAP_WORDS)..];
        let horizon = tail[0].start - 1.0;
        let mut h: Vec<Word> = hypothesis
            .into_iter()
            .filter(|w| w.end >= horizon)
            .collect();
        let n = h.len();
        // s[i][j]: best score aligning some suffix of tail[..i] with h[..j].
        let mut prev: Vec<i32> = (0..=n).map(|j| -(j as i32)).collect();
        let mut cur = vec![0i32; n + 1];
        for word in tail {
            cur[0] = 0;
            for j in 1..=n {
                let diag = prev[j - 1] + if word.key == h[j - 1].key { 1 } else { -1 };
                cur[j] = diag.max(prev[j] - 1).max(cur[j - 1] - 1);
            }
            std::mem::swap(&mut prev, &mut cur);
        }
        // A hypothesis word that starts well after the committed text ends is never a repeat.
        let limit = self.end + 1.0;
        let mut best = (0i32, 0usize);
        for (j, &score) in prev.iter().enumerate().skip(1) {
            if h[j - 1].start > limit {
                break;
            }
            if score > best.0 || (score == best.0 && score > 0) {
                best = (score, j);
            }
        }
        let by_text = best.1;
        let by_time = h.iter().take_while(|w| w.end < self.end - 1.0).count();
        let cut = if best.0 > 0 {
            by_text.max(by_time)
        } else {
            h.iter().take_while(|w| w.end <= self.end - slack).count()
        };
        h.split_off(cut.min(n))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Words spaced 0.4 s apart from `t0`.
    fn words(text: &str, t0: f64, shown: f64) -> Vec<Word> {
        text.split_whitespace()
            .enumerate()
            .map(|(i, w)| Word::new(w, t0 + 0.4 * i as f64, t0 + 0.4 * i as f64 + 0.35, shown))
            .collect()
    }

    fn text(w: &[Word]) -> String {
        w.iter()
            .map(|w| w.text.as_str())
            .collect::<Vec<_>>()
            .join(" ")
    }

    #[test]
    fn agreement_commits_the_common_prefix() {
        let mut c = Committer::new();
        assert!(c.update(words("the cat sat", 0.0, 1.0)).is_empty());
        let got = c.update(words("the cat sat on", 0.0, 2.0));
        assert_eq!(text(&got), "the cat sat");
        // Shown since the first hypothesis that had it.
        assert!(got.iter().all(|w| w.shown_at == 1.0));
        assert_eq!(text(c.tentative()), "on");
        let got = c.update(words("the cat sat on the mat", 0.0, 3.0));
        assert_eq!(text(&got), "on");
        assert_eq!(text(&c.commit_all()), "the mat");
        assert_eq!(c.total(), 6);
    }

    #[test]
    fn following_text_commits_only_on_agreement_a_second_apart() {
        let mut c = Committer::new();
        // As the window policy does: what repeats the committed text is stripped first.
        let mut hear = |text: &str, at: f64| {
            let h = c.strip_overlap(words(text, 0.0, at), 0.5);
            c.update_following(h, at)
        };
        assert!(hear("we walked", 1.0).is_empty());
        // Half a second later: agreement, but too close to the first hypothesis.
        assert!(hear("we walked to", 1.5).is_empty());
        // A second after the first: its words are committed, first shown when it was.
        let got = hear("we walked to the", 2.0);
        assert_eq!(text(&got), "we walked");
        assert!(got.iter().all(|w| w.shown_at == 1.0));
        // Against the hypothesis heard at 1.5 s (the one heard at 2 s is too recent).
        assert_eq!(text(&hear("we walked to the shore", 2.5)), "to");
        // A hypothesis that changed its mind commits nothing.
        assert!(hear("we walked to a store", 3.5).is_empty());
        assert_eq!(text(c.tentative()), "a store");
        c.drop_tentative();
        let h = c.strip_overlap(words("we walked to a store", 0.0, 4.5), 0.5);
        assert!(c.update_following(h, 4.5).is_empty());
    }

    #[test]
    fn a_word_placed_just_before_the_committed_end_is_kept() {
        let mut c = Committer::new();
        c.update(words("danger trail", 0.0, 1.0));
        c.update(words("danger trail", 0.0, 2.0));
        c.commit_all();
        assert_eq!(c.end(), 0.75);
        // "philip" comes out with no length, 0.05 s before the committed end.
        let mut h = vec![Word::new("philip", 0.7, 0.7, 3.0)];
        h.extend(words("steels", 0.8, 3.0));
        let kept = c.strip_overlap(h.clone(), 0.5);
        assert_eq!(text(&kept), "philip steels");
        assert_eq!(text(&c.strip_overlap(h, 0.0)), "steels", "without slack");
        c.update_following(kept, 3.0);
        let all = c.commit_all();
        assert_eq!(text(&all), "philip steels");
        assert!(all[0].start >= 0.75 && all[0].end >= all[0].start);
    }

    #[test]
    fn disagreement_commits_nothing() {
        let mut c = Committer::new();
        c.update(words("the cap", 0.0, 1.0));
        assert!(c.update(words("the cat", 0.0, 2.0)).len() == 1);
        // "the" is committed and recognised as such; "cot" disagrees with "cat".
        assert!(c.update(words("the cot sat", 0.0, 3.0)).is_empty());
        assert_eq!(text(c.tentative()), "cot sat");
    }

    #[test]
    fn window_overlap_is_removed_even_with_a_cut_word() {
        let mut c = Committer::new();
        c.update(words("printing in the only sense", 0.0, 1.0));
        c.update(words("printing in the only sense with", 0.0, 2.0));
        assert_eq!(c.end(), 1.6 + 0.35);
        // A window starting inside "in": the first word comes out mangled.
        let h = words("n the only sense with which we", 0.4, 3.0);
        let got = c.update(h);
        assert_eq!(text(&got), "with");
        assert_eq!(text(c.tentative()), "which we");
    }

    #[test]
    fn punctuation_and_case_do_not_matter() {
        let mut c = Committer::new();
        c.update(words("Hello, world", 0.0, 1.0));
        let got = c.update(words("hello world.", 0.0, 2.0));
        assert_eq!(text(&got), "hello world.");
        // The committed words are not repeated when they come back with other punctuation.
        let got = c.update(words("World! How are", 0.4, 3.0));
        assert!(got.is_empty());
        assert_eq!(text(c.tentative()), "How are");
    }

    #[test]
    fn words_far_after_the_committed_text_are_never_overlap() {
        let mut c = Committer::new();
        c.update(words("go now", 0.0, 1.0));
        c.update(words("go now", 0.0, 2.0));
        // Five seconds later the speaker says "now" again.
        let got = c.update(words("now", 5.0, 3.0));
        assert!(got.is_empty());
        assert_eq!(text(c.tentative()), "now");
    }

    #[test]
    fn unmatched_head_is_dropped_by_time() {
        let mut c = Committer::new();
        c.update(words("alpha beta gamma", 0.0, 1.0));
        c.commit_all();
        // Nothing lines up, but the first two words lie inside committed audio.
        let h = vec![
            Word::new("xx", 0.2, 0.5, 2.0),
            Word::new("yy", 0.6, 1.1, 2.0),
            Word::new("delta", 1.3, 1.6, 2.0),
        ];
        c.update(h);
        assert_eq!(text(c.tentative()), "delta");
    }

    #[test]
    fn segment_time_is_shared_by_length() {
        let seg = Segment {
            start: 1.0,
            end: 3.0,
            text: "a bbb -".into(),
            tokens: vec![],
            avg_logprob: 0.0,
            no_speech_prob: 0.0,
            temperature: 0.0,
            words: vec![],
        };
        let w = words_of(&[seg], 0.0);
        assert_eq!(w.len(), 2);
        assert_eq!(w[1].text, "bbb-");
        assert!((w[0].end - 1.5).abs() < 1e-9, "{:?}", w);
        assert!((w[1].end - 3.0).abs() < 1e-9);
    }

    #[test]
    fn prompt_is_text_before_the_window() {
        let mut c = Committer::new();
        c.update(words("one two three four", 0.0, 1.0));
        c.commit_all();
        assert_eq!(c.text_before(0.8, 100, 0.0), "one two");
        assert_eq!(c.text_before(10.0, 11, 0.0), "three four");
        assert_eq!(c.text_before(10.0, 10, 0.0), "four");
    }
}
