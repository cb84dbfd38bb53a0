//! What a transcript is made of, whoever made it: words with their times, segments, a whole
//! transcript; how words compare; where a sentence ends, and words joined into lines. The model
//! gives these types, the stream commits them, sessions keep and export them; the captions on
//! screen, the lines `livecap stream` prints and the cues of an export are all cut here, so they
//! end in the same places.

use serde::Serialize;

/// One word: seconds of audio, and how sure the decoder was of it (NaN where the word was not
/// aligned but given a share of its segment's time).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Word {
    pub text: String,
    pub start: f64,
    pub end: f64,
    pub probability: f32,
}

/// A stretch of text the model gave, with its times and what it made of it.
#[derive(Debug, Clone, Serialize)]
pub struct Segment {
    pub start: f64,
    pub end: f64,
    pub text: String,
    #[serde(skip)]
    pub tokens: Vec<u32>,
    #[serde(skip)]
    pub avg_logprob: f32,
    #[serde(skip)]
    pub no_speech_prob: f32,
    #[serde(skip)]
    pub temperature: f32,
    /// The words, timed by alignment (empty where no alignment was made).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub words: Vec<Word>,
    /// Who said it, when a session captioned two inputs apart ("You", "Them").
    #[serde(skip_serializing_if = "Option::is_none")]
    pub speaker: Option<String>,
}

impl Segment {
    /// A segment known only by its time and text (read back from a saved transcript).
    pub fn from_text(start: f64, end: f64, text: &str) -> Self {
        Self {
            start,
            end,
            text: text.to_string(),
            tokens: Vec::new(),
            avg_logprob: 0.0,
            no_speech_prob: 0.0,
            temperature: 0.0,
            words: Vec::new(),
            speaker: None,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Transcript {
    pub language: String,
    pub duration: f64,
    pub segments: Vec<Segment>,
}

impl Transcript {
    /// All segment texts joined with single spaces.
    pub fn text(&self) -> String {
        self.segments
            .iter()
            .map(|s| s.text.trim())
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// How words are compared: case and punctuation do not count.
pub fn key(text: &str) -> String {
    text.chars()
        .filter(|c| c.is_alphanumeric() || *c == '\'')
        .flat_map(char::to_lowercase)
        .collect()
}

/// Add `w` to `out`; a word that is only punctuation belongs to the word before it.
fn push_word(out: &mut Vec<Word>, w: Word) {
    if key(&w.text).is_empty() {
        if let Some(last) = out.last_mut() {
            last.text.push_str(&w.text);
            last.end = last.end.max(w.end);
        }
    } else {
        out.push(w);
    }
}

/// Words as captions show them: lone punctuation joined to the word before it.
pub fn joined(words: Vec<Word>) -> Vec<Word> {
    let mut out = Vec::with_capacity(words.len());
    for w in words {
        push_word(&mut out, w);
    }
    out
}

/// The words of segments: their aligned words where they have them; otherwise each word gets a
/// share of its segment's time in proportion to its length.
pub fn words(segments: &[Segment]) -> Vec<Word> {
    let mut out: Vec<Word> = Vec::new();
    for s in segments {
        if !s.words.is_empty() {
            for w in &s.words {
                push_word(&mut out, w.clone());
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
            let w = Word {
                text: p.to_string(),
                start: t,
                end: t + d,
                probability: f32::NAN,
            };
            push_word(&mut out, w);
            t += d;
        }
    }
    out
}

/// Whether a word (or text) ends a sentence (where captions, printed lines and subtitles
/// break): a full stop, question or exclamation mark, Latin or CJK.
pub fn ends_sentence(word: &str) -> bool {
    word.trim_end()
        .ends_with(['.', '?', '!', '\u{3002}', '\u{ff1f}', '\u{ff01}'])
}

/// A line of committed text: a sentence, or the part of one that a limit cut off.
#[derive(Debug, Clone, PartialEq)]
pub struct Line {
    /// Seconds of audio since the stream began; a line never begins before the last one ends.
    pub start: f64,
    pub end: f64,
    pub text: String,
}

/// Words joined into lines. A line ends after a word that ends a sentence, at a break
/// ([`Lines::close`]), or before a word that would take it past `max_chars` characters or
/// `max_secs` seconds.
#[derive(Debug, Clone, PartialEq)]
pub struct Lines {
    lines: Vec<Line>,
    /// The last line is still being built.
    open: bool,
    max_chars: usize,
    max_secs: f64,
}

impl Default for Lines {
    fn default() -> Self {
        Self::new(usize::MAX, f64::INFINITY)
    }
}

impl Lines {
    pub fn new(max_chars: usize, max_secs: f64) -> Self {
        Self {
            lines: Vec::new(),
            open: false,
            max_chars,
            max_secs,
        }
    }

    /// Lines from now on hold at most this many characters.
    pub fn set_max_chars(&mut self, max_chars: usize) {
        self.max_chars = max_chars;
    }

    /// Add `text` (a word, or several), said from `start` to `end` seconds.
    pub fn push(&mut self, text: &str, start: f64, end: f64) {
        let text = text.trim();
        if text.is_empty() {
            return;
        }
        let fits = |l: &Line| {
            l.text.chars().count() + 1 + text.chars().count() <= self.max_chars
                && end - l.start <= self.max_secs
        };
        match self.lines.last_mut() {
            Some(l) if self.open && fits(l) => {
                l.text.push(' ');
                l.text.push_str(text);
                l.end = l.end.max(end);
            }
            last => {
                let start = start.max(last.map_or(f64::NEG_INFINITY, |l| l.end));
                self.lines.push(Line {
                    start,
                    end: end.max(start),
                    text: text.to_string(),
                });
            }
        }
        self.open = !ends_sentence(text);
    }

    /// End the line being built (the audio broke off, or the input ended).
    pub fn close(&mut self) {
        self.open = false;
    }

    /// Whether the last line is still being built.
    pub fn is_open(&self) -> bool {
        self.open && !self.lines.is_empty()
    }

    /// Every line, the one being built last.
    pub fn lines(&self) -> &[Line] {
        &self.lines
    }

    /// The line being built, if any.
    pub fn open_line(&self) -> Option<&Line> {
        self.lines.last().filter(|_| self.open)
    }

    /// Take out the finished lines; the one being built stays.
    pub fn take_finished(&mut self) -> Vec<Line> {
        let open = self.is_open().then(|| self.lines.pop()).flatten();
        let done = std::mem::take(&mut self.lines);
        self.lines.extend(open);
        done
    }

    pub fn into_lines(self) -> Vec<Line> {
        self.lines
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sentences_end_at_latin_and_cjk_stops_only() {
        for end in [
            "done.",
            "why?",
            "now!",
            "ok. ",
            "終わり。",
            "本当？",
            "はい！",
        ] {
            assert!(ends_sentence(end), "{end:?}");
        }
        for open in ["so,", "and", "e.g", "3.5x", "「はい", ""] {
            assert!(!ends_sentence(open), "{open:?}");
        }
    }

    #[test]
    fn segment_time_is_shared_by_length_and_punctuation_joins_the_word_before() {
        let seg = Segment::from_text(1.0, 3.0, "a bbb -");
        let w = words(&[seg]);
        assert_eq!(w.len(), 2);
        assert_eq!(w[1].text, "bbb-");
        assert!((w[0].end - 1.5).abs() < 1e-9, "{:?}", w);
        assert!((w[1].end - 3.0).abs() < 1e-9);
        let w = joined(vec![
            Word {
                text: "Yes".into(),
                start: 0.0,
                end: 0.4,
                probability: 0.9,
            },
            Word {
                text: "?".into(),
                start: 0.4,
                end: 0.5,
                probability: 0.9,
            },
        ]);
        assert_eq!(w.len(), 1);
        assert_eq!((w[0].text.as_str(), w[0].end), ("Yes?", 0.5));
    }

    fn texts(lines: &[Line]) -> Vec<&str> {
        lines.iter().map(|l| l.text.as_str()).collect()
    }

    #[test]
    fn a_line_ends_with_its_sentence_or_at_a_break() {
        let mut l = Lines::default();
        for (w, t) in [("Hello", 0.0), ("there.", 0.5), ("How", 2.0), ("are", 2.4)] {
            l.push(w, t, t + 0.3);
        }
        assert_eq!(texts(l.lines()), ["Hello there.", "How are"]);
        assert!(l.is_open());
        assert_eq!(l.open_line().map(|x| x.start), Some(2.0));
        l.close();
        l.push("you?", 3.0, 3.3);
        assert_eq!(texts(l.lines()), ["Hello there.", "How are", "you?"]);
        assert!(!l.is_open() && l.open_line().is_none());
    }

    #[test]
    fn limits_cut_before_the_word_that_would_pass_them() {
        let mut l = Lines::new(11, 2.0);
        for (i, w) in "one two three four five".split(' ').enumerate() {
            l.push(w, i as f64 * 0.4, i as f64 * 0.4 + 0.3);
        }
        assert_eq!(texts(l.lines()), ["one two", "three four", "five"]);
        let mut l = Lines::new(usize::MAX, 1.0);
        for (i, w) in "a b c d".split(' ').enumerate() {
            l.push(w, i as f64 * 0.4, i as f64 * 0.4 + 0.3);
        }
        // "c" would end 1.1 s after the line began.
        assert_eq!(texts(l.lines()), ["a b", "c d"]);
        assert!(l.lines().iter().all(|x| x.text.chars().count() <= 11));
    }

    #[test]
    fn lines_never_overlap_and_finished_ones_can_be_taken() {
        let mut l = Lines::default();
        l.push("First.", 0.0, 2.0);
        l.push("Early", 1.5, 1.8);
        assert_eq!(l.lines()[1].start, 2.0);
        assert_eq!(l.lines()[1].end, 2.0);
        assert_eq!(texts(&l.take_finished()), ["First."]);
        assert_eq!(texts(l.lines()), ["Early"]);
        l.push("end.", 2.0, 2.5);
        assert_eq!(texts(&l.take_finished()), ["Early end."]);
        assert!(l.lines().is_empty());
        l.push("   ", 3.0, 3.1);
        assert!(l.lines().is_empty());
    }
}
