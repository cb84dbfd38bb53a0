//! Turning a sequence of overlapping hypotheses into steady text: words with times, removal of
//! the words a new hypothesis places in audio the committed text already covers, and
//! commitment of the words two hypotheses agree on (local agreement), the earlier one having
//! heard at least a second less, or of words known to be final.

use serde::{Deserialize, Serialize};

use crate::transcript::{self, key};

/// One word of a hypothesis as the stream shows it: a [`transcript::Word`] with times in seconds
/// of audio since the stream began, and when it was shown.
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

/// The words of the model, as not yet shown.
pub fn unshown(words: Vec<transcript::Word>) -> Vec<Word> {
    words
        .into_iter()
        .map(|w| Word::new(&w.text, w.start, w.end, f64::NAN))
        .collect()
}

/// Two hypotheses agree on a word when they place it this close (seconds).
const AGREE_SECS: f64 = 1.0;
/// A window-mode hypothesis is checked against the latest one that heard at least this much
/// less audio. Hypotheses that heard little more than each other agree on words the audio's
/// edge cuts short and commit them. Measured with tiny.en on the stepped clock over stream-dev,
/// the wide stream and the LJSpeech reading (296 utterances, BENCHMARKS.md), together with
/// hearing each pause-bounded stretch without the text before it: 409 errors against 458 at
/// one second, 60 utterances better and 34 worse; it commits a sentence later (median 0.74
/// against 0.51 s on stream-dev, 2.1 against 1.1 s on the reading).
const AGREE_GAP_SECS: f64 = 2.0;
/// Committed words kept for building prompts and windows.
const KEEP_COMMITTED: usize = 200;

/// Two hypotheses' words that are the same word at about the same time.
fn same(a: &Word, b: &Word) -> bool {
    a.key == b.key && (a.start - b.start).abs() <= AGREE_SECS
}

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

    /// Take a hypothesis of what follows the committed text only (the decoder was given the
    /// committed text, so nothing in it repeats), made from audio heard up to `heard` seconds.
    /// Commits the words it agrees on with the latest hypothesis that heard at least
    /// [`AGREE_GAP_SECS`] less: the same words, in the same order, at about the same times.
    pub fn update_following(&mut self, hypothesis: Vec<Word>, heard: f64) -> Vec<Word> {
        let end = self.end;
        // The caller has stripped what the committed text already covers: words placed a
        // little before its end are new, and are moved after it.
        let mut fresh = hypothesis;
        self.follow_end(&mut fresh);
        self.keep_first_shown(&mut fresh);
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

    /// Words shown unchanged since an earlier hypothesis keep the time they were first shown.
    fn keep_first_shown(&self, words: &mut [Word]) {
        for (new, old) in words.iter_mut().zip(&self.tentative) {
            if !same(new, old) {
                break;
            }
            new.shown_at = new.shown_at.min(old.shown_at);
        }
    }

    /// Take a hypothesis of what follows the committed text, none of it final yet: it replaces
    /// the tentative tail.
    pub fn propose(&mut self, mut words: Vec<Word>) {
        self.follow_end(&mut words);
        self.keep_first_shown(&mut words);
        self.tentative = words;
        self.earlier.clear();
    }

    /// Commit words known to be final (a closed chunk of full history) in place of the
    /// tentative words they cover; the tentative words after them stay.
    pub fn commit_final(&mut self, mut words: Vec<Word>) -> Vec<Word> {
        self.follow_end(&mut words);
        self.keep_first_shown(&mut words);
        let end = words.last().map_or(self.end, |w| w.end);
        self.tentative.retain(|w| w.start >= end);
        self.earlier.clear();
        self.commit(words)
    }

    /// Words placed a little before the committed end are moved after it.
    fn follow_end(&self, words: &mut [Word]) {
        for w in words {
            w.start = w.start.max(self.end);
            w.end = w.end.max(w.start);
        }
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

    /// Remove from the head of a hypothesis the words it places in audio the committed text
    /// already covers: those that end more than `slack` seconds before the committed text does.
    /// Only times count: the same words said again after it are new words.
    pub fn strip_overlap(&self, hypothesis: Vec<Word>, slack: f64) -> Vec<Word> {
        if self.committed.is_empty() {
            return hypothesis;
        }
        let limit = self.end - slack;
        let mut h = hypothesis;
        let cut = h.iter().take_while(|w| w.end <= limit).count();
        h.split_off(cut)
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
        assert!(c
            .update_following(words("the cat sat", 0.0, 1.0), 1.0)
            .is_empty());
        let g = AGREE_GAP_SECS;
        let got = c.update_following(words("the cat sat on", 0.0, 1.0 + g), 1.0 + g);
        assert_eq!(text(&got), "the cat sat");
        // Shown since the first hypothesis that had it.
        assert!(got.iter().all(|w| w.shown_at == 1.0));
        assert_eq!(text(c.tentative()), "on");
        // The decoder continues the committed text: a hypothesis holds only what follows it.
        let got = c.update_following(words("on the mat", 1.2, 1.0 + 2.0 * g), 1.0 + 2.0 * g);
        assert_eq!(text(&got), "on");
        assert_eq!(text(&c.commit_all()), "the mat");
        assert_eq!(c.total(), 6);
    }

    #[test]
    fn following_text_commits_only_on_agreement_a_gap_apart() {
        let g = AGREE_GAP_SECS;
        let mut c = Committer::new();
        let mut hear = |text: &str, t0: f64, at: f64| {
            let h = c.strip_overlap(words(text, t0, at), 0.5);
            c.update_following(h, at)
        };
        assert!(hear("we walked", 0.0, 1.0).is_empty());
        // Half the gap later: agreement, but too close to the first hypothesis.
        assert!(hear("we walked to", 0.0, 1.0 + g / 2.0).is_empty());
        // The gap after the first: its words are committed, first shown when it was.
        let got = hear("we walked to the", 0.0, 1.0 + g);
        assert_eq!(text(&got), "we walked");
        assert!(got.iter().all(|w| w.shown_at == 1.0));
        // Against the hypothesis heard half the gap later (the last one is too recent).
        assert_eq!(text(&hear("to the shore", 0.8, 1.0 + 1.5 * g)), "to");
        // A hypothesis that changed its mind commits nothing.
        assert!(hear("a store", 1.2, 1.0 + 2.5 * g).is_empty());
        assert_eq!(text(c.tentative()), "a store");
        c.drop_tentative();
        let h = c.strip_overlap(words("a store", 1.2, 1.0 + 3.5 * g), 0.5);
        assert!(c.update_following(h, 1.0 + 3.5 * g).is_empty());
    }

    #[test]
    fn a_word_placed_just_before_the_committed_end_is_kept() {
        let mut c = Committer::new();
        c.commit_final(words("danger trail", 0.0, 1.0));
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
        let g = AGREE_GAP_SECS;
        c.update_following(words("the cap", 0.0, 1.0), 1.0);
        assert_eq!(
            text(&c.update_following(words("the cat", 0.0, 1.0 + g), 1.0 + g)),
            "the"
        );
        // "cot" disagrees with "cat".
        assert!(c
            .update_following(words("cot sat", 0.4, 1.0 + 2.0 * g), 1.0 + 2.0 * g)
            .is_empty());
        assert_eq!(text(c.tentative()), "cot sat");
    }

    #[test]
    fn a_phrase_said_again_after_the_committed_text_is_new() {
        let mut c = Committer::new();
        c.commit_final(words("he could not stay any longer", 0.0, 1.0));
        // Said again right after: the same words, in audio of their own.
        let again = words("he could not stay any longer", 2.4, 3.0);
        assert_eq!(text(&c.strip_overlap(again.clone(), 0.5)), text(&again));
        c.propose(again);
        assert_eq!(text(&c.commit_all()), "he could not stay any longer");
        assert_eq!(c.total(), 12);
    }

    #[test]
    fn words_inside_committed_audio_are_dropped_by_time() {
        let mut c = Committer::new();
        c.commit_final(words("alpha beta gamma", 0.0, 1.0));
        // Whatever their text, the first two words lie inside committed audio.
        let h = vec![
            Word::new("xx", 0.2, 0.5, 2.0),
            Word::new("yy", 0.6, 1.1, 2.0),
            Word::new("delta", 1.3, 1.6, 2.0),
        ];
        c.propose(c.strip_overlap(h, 0.0));
        assert_eq!(text(c.tentative()), "delta");
    }

    #[test]
    fn punctuation_and_case_do_not_matter() {
        let mut c = Committer::new();
        c.update_following(words("Hello, world", 0.0, 1.0), 1.0);
        let at = 1.0 + AGREE_GAP_SECS;
        let got = c.update_following(words("hello world.", 0.0, at), at);
        assert_eq!(text(&got), "hello world.");
    }

    #[test]
    fn final_words_replace_the_tentative_ones_they_cover() {
        let mut c = Committer::new();
        c.propose(words("one two three four", 0.0, 1.0));
        // A chunk closes after "two": its words are final, first shown with the proposal.
        let got = c.commit_final(words("one two", 0.0, 2.0));
        assert_eq!(text(&got), "one two");
        assert!(got.iter().all(|w| w.shown_at == 1.0));
        assert_eq!(text(c.tentative()), "three four");
        c.propose(words("three for", 0.8, 3.0));
        assert_eq!(c.tentative()[0].shown_at, 1.0);
        assert_eq!(c.tentative()[1].shown_at, 3.0);
        assert_eq!(text(&c.commit_all()), "three for");
        assert_eq!(c.total(), 4);
    }

    #[test]
    fn prompt_is_text_before_the_window() {
        let mut c = Committer::new();
        c.commit_final(words("one two three four", 0.0, 1.0));
        assert_eq!(c.text_before(0.8, 100, 0.0), "one two");
        assert_eq!(c.text_before(10.0, 11, 0.0), "three four");
        assert_eq!(c.text_before(10.0, 10, 0.0), "four");
    }
}
