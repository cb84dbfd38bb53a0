//! Which decoded words the audio bears out. A decoder that invents (a loop, a phrase from the
//! prompt said again, "Thank you." in a pause) places its invented words where nobody spoke:
//! the alignment puts them on silence, or crowds them into a span too short to say them. Words
//! are judged by where they lie in the audio, never by their text, so a phrase said again with
//! its own speech under it is kept however often it recurs.

use crate::audio::vad::Vad;
use crate::audio::SAMPLE_RATE;
use crate::transcript::Word;

/// A word is kept only if speech is heard within this margin (seconds) of its aligned times.
const SPEECH_MARGIN_SECS: f64 = 0.2;
/// Words said one after another take at least this long each, beyond two of them: a run of `k`
/// words (3 or more) aligned into less than `(k - 2) ×` this is crowded. Measured on the
/// stream-dev and wide clips, the dev clips and the LJSpeech recording (tiny.en, words matching
/// the reference): the fastest runs take 0.107 s a word over 3 words, 0.100 over 4 and 0.127
/// over 6, all well above; a decoder loop squeezed into the end of a window ("8. Quick change
/// how do you do it?" said twice more in 0.7 s) takes 0.058.
const CROWDED_SECS_PER_WORD: f64 = 0.1;

fn pos(secs: f64) -> u64 {
    (secs.max(0.0) * SAMPLE_RATE as f64).round() as u64
}

/// The words that speech lies under, in order: not on silence, not crowded, not past the end
/// of the audio they were heard in (`end`, seconds).
pub fn spoken(words: Vec<Word>, vad: &Vad, end: f64) -> Vec<Word> {
    let crowded = crowded(&words);
    words
        .into_iter()
        .zip(crowded)
        .filter(|(w, crowded)| {
            !crowded
                && w.start < end
                && vad.speech_between(
                    pos(w.start - SPEECH_MARGIN_SECS),
                    pos(w.end + SPEECH_MARGIN_SECS),
                )
        })
        .map(|(w, _)| w)
        .collect()
}

/// Which words lie in a run aligned into too short a span to say it, without room of their
/// own (a word given [`CROWDED_SECS_PER_WORD`] or more is not crowded, though a run it belongs
/// to may be: real words before a squeezed loop keep their place).
fn crowded(words: &[Word]) -> Vec<bool> {
    let mut out = vec![false; words.len()];
    for i in 0..words.len() {
        for j in i + 2..words.len() {
            let span = words[j].end - words[i].start;
            if span < (j - i - 1) as f64 * CROWDED_SECS_PER_WORD {
                for (c, w) in out[i..=j].iter_mut().zip(&words[i..=j]) {
                    *c |= w.end - w.start < CROWDED_SECS_PER_WORD;
                }
            }
        }
    }
    out
}

/// Languages written without spaces between words.
const UNSPACED: &[&str] = &["zh", "ja", "th", "lo", "my", "yue"];

/// The text of `words` in `language`.
pub fn join(words: &[Word], language: &str) -> String {
    let sep = if UNSPACED.contains(&language) {
        ""
    } else {
        " "
    };
    words
        .iter()
        .map(|w| w.text.as_str())
        .collect::<Vec<_>>()
        .join(sep)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn word(text: &str, start: f64, end: f64) -> Word {
        Word {
            text: text.into(),
            start,
            end,
            probability: 0.9,
        }
    }

    /// A detector that heard speech from 1 s to 4 s of 6.
    fn vad() -> Vad {
        let mut v = Vad::remembering_all();
        let tone: Vec<f32> = (0..48_000).map(|i| 0.3 * (i as f32 * 0.3).sin()).collect();
        v.feed(&vec![0.0; 16_000]);
        v.feed(&tone);
        v.feed(&vec![0.0; 32_000]);
        v
    }

    fn texts(words: &[Word]) -> Vec<&str> {
        words.iter().map(|w| w.text.as_str()).collect()
    }

    #[test]
    fn a_phrase_said_again_over_its_own_speech_is_kept() {
        let mut words = Vec::new();
        for (k, t0) in [1.0, 2.5].iter().enumerate() {
            for (i, w) in ["at", "the", "end", "of", "the", "day"].iter().enumerate() {
                let s = t0 + 0.2 * i as f64;
                words.push(word(&format!("{w}{k}"), s, s + 0.18));
            }
        }
        let kept = spoken(words.clone(), &vad(), 6.0);
        assert_eq!(texts(&kept), texts(&words));
    }

    #[test]
    fn words_on_silence_crowded_or_past_the_end_go() {
        let words = vec![
            word("before", 0.2, 0.6),
            word("real", 1.5, 1.9),
            word("said", 2.0, 3.7),
            // A loop squeezed into the end of the speech: 5 words in 0.25 s.
            word("thank", 3.70, 3.75),
            word("you", 3.75, 3.80),
            word("thank", 3.80, 3.85),
            word("you", 3.85, 3.90),
            word("so", 3.90, 3.95),
            word("after", 4.8, 5.2),
            word("past", 5.0, 5.0),
        ];
        let kept = spoken(words, &vad(), 5.0);
        assert_eq!(texts(&kept), ["real", "said"]);
    }

    #[test]
    fn quick_short_words_are_not_crowded() {
        // "are you going to" in 0.4 s, the quickest 4 words measured in real speech.
        let words = vec![
            word("are", 1.0, 1.1),
            word("you", 1.1, 1.2),
            word("going", 1.2, 1.3),
            word("to", 1.3, 1.4),
            word("a", 1.4, 1.4),
        ];
        assert_eq!(spoken(words.clone(), &vad(), 6.0), words);
    }
}
