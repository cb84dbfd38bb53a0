//! Echo: on a call without a headset, the microphone hears what the speakers play, so the
//! other side's words would be committed twice, once under each label. A microphone's commit is
//! held until system audio has been transcribed past its end; then the words that system audio
//! committed at the same times (the same words, starting within [`SAME_TIME`]) are the echo. A
//! commit that is mostly echo is dropped; anything else goes on as it was said.

use std::collections::VecDeque;

use crate::stream::{Event, Word};
use crate::transcript::key;

/// Two words are the same saying when they start this close (seconds): the two captures start
/// together, and the sound takes milliseconds from the speakers to the microphone.
const SAME_TIME: f64 = 1.5;
/// A microphone commit is echo when at least this share of its words is.
const ECHO_SHARE: f64 = 0.6;
/// System audio committed since this long before the oldest held commit is kept for matching.
const KEEP: f64 = 30.0;
/// How far system audio must be transcribed past a held commit's end before it is judged
/// anyway (its tentative tail may still hold words then, but not for longer than this).
const WAIT_AT_MOST: f64 = 5.0;

/// Sorts one microphone's commits from echo of one system input. Lanes are 0 and 1.
#[derive(Debug)]
pub struct Echo {
    system: usize,
    /// System audio's committed words, oldest first.
    heard: VecDeque<Word>,
    /// How far system audio has been transcribed, and where its tentative tail starts (if it
    /// has one).
    done_to: f64,
    tentative_from: Option<f64>,
    system_ended: bool,
    /// Microphone commits waiting for system audio to catch up.
    held: VecDeque<Event>,
}

impl Echo {
    /// Echo of lane `system` (system audio) in the other lane (a microphone).
    pub fn new(system: usize) -> Echo {
        Echo {
            system,
            heard: VecDeque::new(),
            done_to: 0.0,
            tentative_from: None,
            system_ended: false,
            held: VecDeque::new(),
        }
    }

    /// The lane of system audio.
    pub fn system(&self) -> usize {
        self.system
    }

    /// Take an event of `lane`; the events to pass on now, in order, with their lanes (a
    /// microphone's commits once judged, everything else at once).
    pub fn on_event(&mut self, lane: usize, e: Event) -> Vec<(usize, Event)> {
        let mic = 1 - self.system;
        let mut out = Vec::new();
        if lane == self.system {
            match &e {
                Event::Commit { words, .. } => self.heard.extend(words.iter().cloned()),
                Event::Partial { text, start, .. } => {
                    self.tentative_from = (!text.is_empty()).then_some(*start);
                }
                Event::Update { audio_end, .. } => self.done_to = self.done_to.max(*audio_end),
                Event::End { .. } => self.system_ended = true,
                _ => {}
            }
            out.push((lane, e));
        } else {
            match e {
                Event::Commit { .. } => self.held.push_back(e),
                // The end comes after every commit of this input.
                Event::End { .. } => {
                    out.extend(self.judge_all().into_iter().map(|c| (mic, c)));
                    out.push((mic, e));
                    return out;
                }
                other => out.push((lane, other)),
            }
        }
        while let Some(end) = self.held.front().map(commit_end) {
            let caught_up =
                self.done_to >= end + 0.5 && self.tentative_from.is_none_or(|from| from >= end);
            if !(self.system_ended || caught_up || self.done_to >= end + WAIT_AT_MOST) {
                break;
            }
            if let Some(c) = self.held.pop_front().and_then(|c| self.judge(c)) {
                out.push((mic, c));
            }
        }
        if let Some(oldest) = self.held.front().map(commit_start) {
            while self.heard.front().is_some_and(|w| w.end < oldest - KEEP) {
                self.heard.pop_front();
            }
        }
        out
    }

    /// Every held commit, judged on what system audio has committed so far (the microphone's
    /// input ended).
    pub fn judge_all(&mut self) -> Vec<Event> {
        let held: Vec<Event> = self.held.drain(..).collect();
        held.into_iter().filter_map(|c| self.judge(c)).collect()
    }

    /// The commit, unless it is mostly echo of system audio.
    fn judge(&self, c: Event) -> Option<Event> {
        let Event::Commit { words, .. } = &c else {
            return Some(c);
        };
        let echoed = words
            .iter()
            .filter(|w| {
                let k = key(&w.text);
                !k.is_empty()
                    && self
                        .heard
                        .iter()
                        .any(|h| key(&h.text) == k && (h.start - w.start).abs() <= SAME_TIME)
            })
            .count();
        let echo = !words.is_empty() && echoed as f64 >= ECHO_SHARE * words.len() as f64;
        (!echo).then_some(c)
    }
}

fn commit_end(e: &Event) -> f64 {
    match e {
        Event::Commit { end, .. } => *end,
        _ => 0.0,
    }
}

fn commit_start(e: &Event) -> f64 {
    match e {
        Event::Commit { start, .. } => *start,
        _ => 0.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn commit(text: &str, start: f64) -> Event {
        let words: Vec<Word> = text
            .split_whitespace()
            .enumerate()
            .map(|(i, w)| {
                let s = start + i as f64 * 0.4;
                Word::new(w, s, s + 0.3, s + 1.0)
            })
            .collect();
        crate::live::engine::commit_event(&words, start + 2.0).unwrap_or(Event::Mode {
            mode: crate::stream::Mode::Window,
            emitted_at: 0.0,
        })
    }

    fn update(audio_end: f64) -> Event {
        Event::Update {
            mode: crate::stream::Mode::Window,
            audio_start: 0.0,
            audio_end,
            compute: 0.1,
            skipped: false,
            held: 0.0,
            step: 1.0,
            encoder_passes: 1,
            decoder_tokens: 1,
            emitted_at: audio_end,
        }
    }

    fn texts(out: &[(usize, Event)]) -> Vec<(usize, String)> {
        out.iter()
            .filter_map(|(l, e)| match e {
                Event::Commit { text, .. } => Some((*l, text.clone())),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn the_microphone_hearing_the_speakers_is_dropped_and_its_own_words_kept() {
        // Lane 1 is system audio, lane 0 the microphone.
        let mut echo = Echo::new(1);
        let mut out = Vec::new();
        // The microphone commits first what the speakers played, then its own words.
        out.extend(echo.on_event(0, commit("the meeting starts at noon", 1.1)));
        out.extend(echo.on_event(0, commit("sounds good to me", 6.0)));
        assert!(texts(&out).is_empty(), "held until system audio catches up");
        out.extend(echo.on_event(1, commit("The meeting starts at noon.", 1.0)));
        out.extend(echo.on_event(1, update(4.0)));
        out.extend(echo.on_event(1, update(9.0)));
        assert_eq!(
            texts(&out),
            [
                (1, "The meeting starts at noon.".to_string()),
                (0, "sounds good to me".to_string())
            ]
        );
    }

    #[test]
    fn the_same_words_at_another_time_are_not_echo() {
        let mut echo = Echo::new(1);
        let mut out = Vec::new();
        out.extend(echo.on_event(1, commit("at the end of the day", 1.0)));
        // Said again by the person at the microphone, ten seconds later: kept.
        out.extend(echo.on_event(0, commit("at the end of the day", 11.0)));
        out.extend(echo.on_event(1, update(20.0)));
        assert_eq!(texts(&out).len(), 2);
    }

    #[test]
    fn nothing_is_held_past_the_end_of_either_input() {
        let mut echo = Echo::new(1);
        let mut out = Vec::new();
        out.extend(echo.on_event(0, commit("one last thing", 3.0)));
        assert!(texts(&out).is_empty());
        out.extend(echo.on_event(
            0,
            Event::End {
                duration: 5.0,
                updates: 5,
                compute: 1.0,
                words: 3,
                mode: crate::stream::Mode::Window,
                emitted_at: 5.0,
            },
        ));
        assert_eq!(texts(&out), [(0, "one last thing".to_string())]);
        assert!(matches!(out.last(), Some((0, Event::End { .. }))));
    }
}
