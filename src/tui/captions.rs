//! The caption text of a session: committed sentences that never change once shown, the
//! tentative tail replaced in place, and wrapping both to a width at word boundaries.

use crate::transcript::{Line, Lines};

/// Committed sentences and the tentative tail.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Captions {
    sentences: Lines,
    tentative: String,
    words: usize,
    /// Two inputs' captions merged: every sentence and the tentative tail begin with a label.
    labelled: bool,
}

/// How a piece of caption text looks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Look {
    /// Committed: it will not change.
    Said,
    /// It may still change.
    Tentative,
    /// The label of the input that said what follows.
    Label,
}

/// A piece of a wrapped line: text, and how it looks.
pub type Piece = (String, Look);

impl Captions {
    pub fn new() -> Self {
        Self::default()
    }

    /// Add committed words (`(text, start, end)`); a word ending a sentence closes it.
    pub fn commit<'a>(&mut self, words: impl IntoIterator<Item = (&'a str, f64, f64)>) {
        for (word, start, end) in words {
            if !word.trim().is_empty() {
                self.words += 1;
                self.sentences.push(word, start, end);
            }
        }
    }

    /// End the sentence being built (the audio broke off).
    pub fn close(&mut self) {
        self.sentences.close();
    }

    pub fn set_tentative(&mut self, text: &str) {
        self.tentative = text.trim().to_string();
    }

    pub fn tentative(&self) -> &str {
        &self.tentative
    }

    /// The sentences, the one being built last.
    pub fn sentences(&self) -> &[Line] {
        self.sentences.lines()
    }

    /// Two inputs' captions as one: every sentence on a line of its own after its input's
    /// label, in order of time, and the tentative tail of `newest` (the input heard last) after
    /// its label at the end.
    pub fn merged(lanes: [(&str, &Captions); 2], newest: usize) -> Captions {
        let mut sentences: Vec<(f64, &str, &Line)> = lanes
            .iter()
            .flat_map(|(label, c)| c.sentences().iter().map(move |l| (l.start, *label, l)))
            .collect();
        sentences.sort_by(|a, b| a.0.total_cmp(&b.0));
        let mut out = Captions {
            labelled: true,
            ..Captions::new()
        };
        for (_, label, line) in sentences {
            out.sentences
                .push(&format!("{label}:"), line.start, line.start);
            for word in line.text.split_whitespace() {
                out.sentences.push(word, line.start, line.end);
            }
            out.sentences.close();
        }
        out.words = lanes.iter().map(|(_, c)| c.words).sum();
        if let Some((label, c)) = lanes.get(newest) {
            if !c.tentative.is_empty() {
                out.tentative = format!("{label}: {}", c.tentative);
            }
        }
        out
    }

    /// Committed words so far.
    pub fn words(&self) -> usize {
        self.words
    }

    pub fn is_empty(&self) -> bool {
        self.sentences().is_empty() && self.tentative.is_empty()
    }

    /// Everything wrapped to `width` columns: one sentence per line (or more, wrapped), the
    /// tentative tail carrying on from the open sentence.
    pub fn wrap(&self, width: usize) -> Vec<Vec<Piece>> {
        self.wrap_last(width, usize::MAX)
    }

    /// The last `rows` lines of [`Captions::wrap`] (all of them if there are fewer), wrapping
    /// only the sentences they come from: what a pane that follows the newest needs.
    pub fn wrap_last<'a>(&'a self, width: usize, rows: usize) -> Vec<Vec<Piece>> {
        if width == 0 || rows == 0 {
            return Vec::new();
        }
        // Blocks of lines, newest first.
        let mut blocks: Vec<Vec<Vec<Piece>>> = Vec::new();
        let mut count = 0;
        let open = self.sentences.is_open();
        // A label starts each sentence and the tail of merged captions.
        let looks = |text: &'a str, look: Look| {
            let labelled = self.labelled;
            text.split_whitespace().enumerate().map(move |(i, w)| {
                if labelled && i == 0 {
                    (w, Look::Label)
                } else {
                    (w, look)
                }
            })
        };
        if !open && !self.tentative.is_empty() {
            let mut lines = Vec::new();
            let tail = looks(&self.tentative, Look::Tentative);
            wrap_into(tail, width, &mut lines);
            count += lines.len();
            blocks.push(lines);
        }
        let n = self.sentences().len();
        for (i, s) in self.sentences().iter().enumerate().rev() {
            if count >= rows {
                break;
            }
            let mut lines = Vec::new();
            let words = looks(&s.text, Look::Said);
            if i + 1 == n && open {
                let tail = self
                    .tentative
                    .split_whitespace()
                    .map(|w| (w, Look::Tentative));
                wrap_into(words.chain(tail), width, &mut lines);
            } else {
                wrap_into(words, width, &mut lines);
            }
            count += lines.len();
            blocks.push(lines);
        }
        let mut lines: Vec<Vec<Piece>> = blocks.into_iter().rev().flatten().collect();
        let extra = lines.len().saturating_sub(rows);
        lines.drain(..extra);
        lines
    }
}

/// Greedy word wrap of `(word, look)` into lines of at most `width` characters; a word
/// longer than a line is cut.
fn wrap_into<'a>(
    words: impl Iterator<Item = (&'a str, Look)>,
    width: usize,
    lines: &mut Vec<Vec<Piece>>,
) {
    let mut line: Vec<Piece> = Vec::new();
    let mut len = 0usize;
    for (word, look) in words {
        let mut chars: Vec<char> = word.chars().collect();
        while !chars.is_empty() {
            let need = chars.len() + usize::from(len > 0);
            if len > 0 && len + need > width {
                lines.push(std::mem::take(&mut line));
                len = 0;
                continue;
            }
            let take = chars.len().min(width - len - usize::from(len > 0));
            let part: String = chars.drain(..take).collect();
            let sep = if len > 0 { " " } else { "" };
            len += sep.len() + take;
            match line.last_mut() {
                Some((text, t)) if *t == look => {
                    text.push_str(sep);
                    text.push_str(&part);
                }
                _ => line.push((format!("{sep}{part}"), look)),
            }
            if !chars.is_empty() {
                lines.push(std::mem::take(&mut line));
                len = 0;
            }
        }
    }
    if !line.is_empty() {
        lines.push(line);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(lines: &[Vec<Piece>]) -> Vec<String> {
        lines
            .iter()
            .map(|l| l.iter().map(|(t, _)| t.as_str()).collect())
            .collect()
    }

    #[test]
    fn sentences_break_lines_and_the_tail_follows_the_open_one() {
        let mut c = Captions::new();
        c.commit([
            ("Hello", 0.5, 0.8),
            ("there.", 0.9, 1.2),
            ("How", 2.0, 2.1),
            ("are", 2.2, 2.4),
        ]);
        c.set_tentative("you today");
        assert_eq!(c.sentences().len(), 2);
        assert_eq!(c.sentences()[1].start, 2.0);
        let lines = c.wrap(40);
        assert_eq!(text(&lines), vec!["Hello there.", "How are you today"]);
        assert_eq!(
            lines[1],
            vec![
                ("How are".to_string(), Look::Said),
                (" you today".to_string(), Look::Tentative)
            ]
        );
        // The tail is replaced in place; committed text stays as it was.
        c.set_tentative("you");
        assert_eq!(text(&c.wrap(40)), vec!["Hello there.", "How are you"]);
        assert_eq!(c.words(), 4);
    }

    #[test]
    fn wrapping_fits_the_width_and_cuts_only_overlong_words() {
        let mut c = Captions::new();
        c.commit(
            "the quick brown fox jumps over the lazy dog"
                .split(' ')
                .map(|w| (w, 0.0, 0.1)),
        );
        let lines = text(&c.wrap(10));
        assert_eq!(
            lines,
            vec!["the quick", "brown fox", "jumps over", "the lazy", "dog"]
        );
        c.commit([("Supercalifragilistic.", 1.0, 2.0)]);
        for l in text(&c.wrap(8)) {
            assert!(l.chars().count() <= 8, "{l:?}");
        }
        assert!(c.wrap(0).is_empty());
        // The last rows alone are the same as the end of everything.
        let all = c.wrap(8);
        for rows in [0, 1, 3, all.len(), all.len() + 5] {
            let last = c.wrap_last(8, rows);
            assert_eq!(last[..], all[all.len() - last.len()..], "{rows}");
            assert_eq!(last.len(), rows.min(all.len()));
        }
        let letters = |s: &str| s.chars().filter(|c| *c != ' ').count();
        let all: String = c.sentences().iter().map(|s| s.text.as_str()).collect();
        assert_eq!(letters(&text(&c.wrap(1)).concat()), letters(&all));
    }

    #[test]
    fn a_closed_sentence_leaves_the_tail_on_a_line_of_its_own() {
        let mut c = Captions::new();
        c.commit([("Stop", 0.0, 0.4)]);
        c.close();
        c.set_tentative("and go");
        assert_eq!(text(&c.wrap(20)), vec!["Stop", "and go"]);
    }

    #[test]
    fn two_inputs_merged_begin_each_sentence_and_the_tail_with_a_label() {
        let (mut you, mut them) = (Captions::new(), Captions::new());
        you.commit([("Can", 0.0, 0.2), ("you?", 0.3, 0.5)]);
        them.commit([("Yes.", 1.0, 1.2)]);
        them.set_tentative("I can");
        let merged = Captions::merged([("You", &you), ("Them", &them)], 1);
        assert_eq!(merged.words(), 3);
        let lines = merged.wrap(40);
        assert_eq!(
            lines,
            vec![
                vec![
                    ("You:".to_string(), Look::Label),
                    (" Can you?".to_string(), Look::Said)
                ],
                vec![
                    ("Them:".to_string(), Look::Label),
                    (" Yes.".to_string(), Look::Said)
                ],
                vec![
                    ("Them:".to_string(), Look::Label),
                    (" I can".to_string(), Look::Tentative)
                ],
            ]
        );
        // One input's captions have no labels.
        assert!(them
            .wrap(40)
            .iter()
            .flatten()
            .all(|(_, look)| *look != Look::Label));
    }
}
