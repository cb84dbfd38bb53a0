//! What a transcript is made of, whoever made it: where a sentence ends, and committed words
//! joined into lines. The captions on screen, the lines `livecap stream` prints and the cues of
//! an export are all cut here, so they end in the same places.

/// Whether a word ends a sentence (where captions, printed lines and subtitles break).
pub fn ends_sentence(word: &str) -> bool {
    word.ends_with(['.', '?', '!'])
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
