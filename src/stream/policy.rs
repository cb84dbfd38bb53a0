//! The two re-transcription policies behind one interface. Full history re-transcribes all audio
//! since it began; the window re-transcribes the uncommitted tail, at least the last N seconds.
//! Both feed the same [`Committer`], so switching between them keeps the committed text.

use std::time::Instant;

use serde::{Deserialize, Serialize};

use super::clock::Clock;
use super::commit::{words_of, Committer, Word};
use super::text_of;
use crate::asr::longform::{choose_language, same_words, transcribe_window, Prefix};
use crate::asr::{self, DecodeOptions, Model, ModelError, Segment};
use crate::audio::vad::Vad;
use crate::audio::{AudioState, SAMPLE_RATE};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Re-transcribe the last few seconds; commit what consecutive hypotheses agree on.
    Window,
    /// Re-transcribe everything heard since the mode began.
    Full,
}

impl Mode {
    pub fn name(self) -> &'static str {
        match self {
            Mode::Window => "window",
            Mode::Full => "full",
        }
    }
}

/// The longest `--window` allowed: the most audio left uncommitted.
const MAX_WINDOW_SECS: f64 = 25.0;
/// The most audio the model hears at once (its encoder takes 30 s whatever it is given).
const MAX_CONTEXT_SECS: f64 = 28.0;
/// This much silence after speech commits the whole hypothesis.
const PAUSE_SECS: f64 = 0.6;
/// How far before the committed text's end a window-mode word may be placed and still be new.
const OVERLAP_SLACK_SECS: f64 = 0.5;
/// A gap this long between committed words is a pause: a window may start after it.
const BOUNDARY_GAP_SECS: f64 = 0.3;
/// Across a silence this long, neither prompt nor prefix carries over: what follows is heard
/// on its own, so a hallucination of what came before has nothing to lean on.
const FORGET_SECS: f64 = 3.0;
/// Committed text given to the decoder as what was said before the window.
const PROMPT_CHARS: usize = 200;
/// A word is kept only if speech is heard within this margin (seconds) of its aligned times.
const SPEECH_MARGIN_SECS: f64 = 0.2;
/// Committed words a new hypothesis is checked against for repeated 4-grams.
const REPEAT_WORDS: usize = 40;

fn pos(secs: f64) -> u64 {
    (secs.max(0.0) * SAMPLE_RATE as f64).round() as u64
}

fn secs(pos: u64) -> f64 {
    pos as f64 / SAMPLE_RATE as f64
}

/// What one update did.
#[derive(Debug, Clone)]
pub struct Update {
    pub mode: Mode,
    /// Audio (seconds since the stream began) this update transcribed.
    pub audio_start: f64,
    pub audio_end: f64,
    /// Seconds of computation.
    pub compute: f64,
    /// When, on the stream clock, the result was ready.
    pub emitted_at: f64,
    /// Skipped as silence, without running the model.
    pub skipped: bool,
    /// Words this update committed.
    pub committed: Vec<Word>,
    /// Seconds of audio, up to `audio_end`, still held afterwards for later updates.
    pub held: f64,
}

pub struct Streamer<'m> {
    model: &'m Model,
    opts: DecodeOptions,
    language: Option<String>,
    mode: Mode,
    window: f64,
    committer: Committer,
    vad: Vad,
    /// Where full history begins.
    full_base: u64,
    /// Everything before this position is silence or committed text.
    settled: u64,
    /// Neither prompt nor prefix reaches back before this (seconds): a break or a long pause.
    forget_before: f64,
}

impl<'m> Streamer<'m> {
    pub fn new(model: &'m Model, opts: DecodeOptions, mode: Mode, window: f64) -> Self {
        Self {
            language: opts.language.clone(),
            model,
            opts,
            mode,
            window: window.clamp(1.0, MAX_WINDOW_SECS),
            committer: Committer::new(),
            vad: Vad::new(),
            full_base: 0,
            settled: 0,
            forget_before: 0.0,
        }
    }

    pub fn mode(&self) -> Mode {
        self.mode
    }

    pub fn committer(&self) -> &Committer {
        &self.committer
    }

    /// Switch policy. Full history begins where the committed text ends, so nothing committed
    /// is transcribed again; the tentative words are kept, to be confirmed or replaced.
    pub fn set_mode(&mut self, mode: Mode, audio: &AudioState) {
        if mode == Mode::Full && self.mode != Mode::Full {
            self.full_base = pos(self.committer.end())
                .max(self.settled)
                .max(audio.held_from());
        }
        self.mode = mode;
    }

    /// Re-transcribe according to the policy, with `visible` samples arrived, and commit what
    /// is stable. The clock is advanced by the time this takes.
    pub fn update(
        &mut self,
        audio: &AudioState,
        visible: u64,
        clock: &mut Clock,
    ) -> Result<Update, ModelError> {
        let began = Instant::now();
        let fed = self.vad.fed();
        if visible > fed {
            self.vad.feed(&audio.read(fed, visible));
        }
        let mut committed = Vec::new();
        let (start, context) = match self.mode {
            Mode::Full => (self.full_base.max(audio.held_from()).min(visible), None),
            Mode::Window => {
                // Words are left tentative for at most `window` seconds (on stream-dev,
                // agreement commits sooner: a limit of 5 s and one of 25 s gave the same text).
                let old = visible.saturating_sub(pos(self.window));
                committed.extend(self.committer.commit_before(secs(old)));
                // Audio not yet transcribed is taken up to 25 s back, however late the update.
                let floor = visible.saturating_sub(pos(MAX_WINDOW_SECS));
                if pos(self.committer.end()).max(self.settled) < floor {
                    committed.extend(self.committer.commit_before(secs(floor)));
                }
                let done = pos(self.committer.end())
                    .max(self.settled)
                    .max(floor)
                    .min(visible);
                let (start, context) = self.window_start(done, visible, audio.held_from());
                (start, Some(context))
            }
        };
        // Where the words not yet committed begin.
        let done = pos(self.committer.end()).max(self.settled).min(visible);
        let speech = self.vad.speech_since(done.max(start));
        let hypothesis = if speech {
            let samples = audio.read(start, visible);
            self.hypothesis(&samples, start, context.unwrap_or_default())?
        } else {
            None
        };
        let compute = began.elapsed().as_secs_f64();
        clock.advance(compute);
        let emitted_at = clock.now(audio);
        match hypothesis {
            Some(words) => {
                let mut words = self.keep_heard(words);
                // Speech that gave nothing worth keeping (a loop, a repeat, words placed on
                // silence) for `window` seconds is given up, as a word would be committed: the
                // window does not grow over it again and again.
                if words.is_empty() && self.committer.tentative().is_empty() {
                    let given_up = visible.saturating_sub(pos(self.window));
                    self.settled = self.settled.max(given_up);
                }
                for w in &mut words {
                    w.shown_at = emitted_at;
                }
                committed.extend(self.committer.update_following(words, secs(visible)));
                if secs(self.vad.trailing_silence()) >= PAUSE_SECS {
                    committed.extend(self.committer.commit_all());
                }
            }
            // Silence, by level or by Whisper's judgement: whatever was said before is final.
            None => committed.extend(self.committer.commit_all()),
        }
        if !speech {
            self.settled = visible;
        }
        if secs(self.vad.trailing_silence()) >= FORGET_SECS {
            self.forget_before = self.forget_before.max(secs(visible));
        }
        // Later windows start no earlier than this one: the committed text they reach back
        // over only grows.
        let keep = match self.mode {
            Mode::Full => self.full_base,
            Mode::Window => start,
        };
        audio.trim_before(keep.min(self.vad.fed()));
        Ok(Update {
            mode: self.mode,
            audio_start: secs(start),
            audio_end: secs(visible),
            compute,
            emitted_at,
            skipped: !speech,
            committed,
            held: secs(visible.saturating_sub(audio.held_from())),
        })
    }

    /// Where a window that must cover `done..visible` starts, reaching back over committed
    /// words to the start of a sentence or to a pause so that the model hears the speech
    /// around the uncommitted tail whole; and the committed words it covers, which the decoder
    /// is given as the window's beginning.
    fn window_start(&self, done: u64, visible: u64, held: u64) -> (u64, Vec<Word>) {
        let oldest = visible
            .saturating_sub(pos(MAX_CONTEXT_SECS))
            .max(held)
            .max(pos(self.forget_before));
        let words = self.committer.committed();
        let end = secs(done);
        // Committed words that may be heard again: after the break or long pause, inside the
        // context, and in one run up to the committed end.
        let first_usable = words
            .iter()
            .rposition(|w| pos(w.start) < oldest || w.end > end + 0.05)
            .map_or(0, |i| i + 1);
        let usable = &words[first_usable..];
        let trailing_gap = usable
            .last()
            .map_or(f64::INFINITY, |w| secs(visible) - w.end);
        if usable.is_empty()
            || secs(done) - usable[usable.len() - 1].end > FORGET_SECS
            || trailing_gap > MAX_CONTEXT_SECS
        {
            return (done.max(oldest).min(visible), Vec::new());
        }
        // A word begins a sentence when the one before it ends one or a pause lies between.
        let begins = |i: usize| {
            i == 0
                || super::ends_sentence(&usable[i - 1].text)
                || usable[i].start - usable[i - 1].end >= BOUNDARY_GAP_SECS
        };
        // The committed text ends a sentence: the window starts after it. (Measured on
        // stream-dev: reaching further back, into the sentences before, puts the model on the
        // last speaker's words and loses the next speaker's; 42.5 % WER against 39.3 %.)
        let last = &usable[usable.len() - 1];
        if super::ends_sentence(&last.text) {
            let start = pos(last.end).max(oldest).min(done);
            return (start, Vec::new());
        }
        let mut from = usable.len() - 1;
        while from > 0 && !begins(from) {
            from -= 1;
        }
        let first = &usable[from];
        let lead = if from > 0 {
            (first.start - usable[from - 1].end).clamp(0.0, 0.2)
        } else {
            0.2
        };
        let start = pos(first.start - lead).max(oldest).min(done);
        (start, usable[from..].to_vec())
    }

    /// Words whose aligned times touch heard speech; words placed on silence are invented.
    fn keep_heard(&self, words: Vec<Word>) -> Vec<Word> {
        words
            .into_iter()
            .filter(|w| {
                self.vad.speech_between(
                    pos(w.start - SPEECH_MARGIN_SECS),
                    pos(w.end + SPEECH_MARGIN_SECS),
                )
            })
            .collect()
    }

    /// The words of audio `samples` starting at absolute position `start`, or `None` if Whisper
    /// heard no speech. In window mode, `context` are committed words the audio begins with.
    fn hypothesis(
        &mut self,
        samples: &[f32],
        start: u64,
        context: Vec<Word>,
    ) -> Result<Option<Vec<Word>>, ModelError> {
        let language = match &self.language {
            Some(l) => l.clone(),
            None => {
                let l = choose_language(self.model, samples, &self.opts)?;
                self.language = Some(l.clone());
                l
            }
        };
        let offset = secs(start);
        let prompt = self
            .committer
            .text_before(offset, PROMPT_CHARS, self.forget_before);
        let encode = |text: &str| -> Vec<u32> {
            if text.is_empty() {
                return Vec::new();
            }
            self.model
                .tokenizer
                .encode(format!(" {text}"), false)
                .map(|e| e.get_ids().to_vec())
                .unwrap_or_default()
        };
        let words = match self.mode {
            Mode::Window => {
                let prefix_text = context
                    .iter()
                    .map(|w| w.text.as_str())
                    .collect::<Vec<_>>()
                    .join(" ");
                let prefix = Prefix {
                    tokens: encode(&prefix_text),
                    start: context.first().map_or(0.0, |w| w.start - offset),
                };
                let w = transcribe_window(
                    self.model,
                    samples,
                    offset,
                    &encode(&prompt),
                    &prefix,
                    &language,
                    &self.opts,
                )?;
                if w.silent {
                    return Ok(None);
                }
                // Every temperature failed and the text is a loop: nothing of it is kept.
                if self
                    .opts
                    .compression_ratio_threshold
                    .is_some_and(|th| w.compression_ratio > th)
                {
                    return Ok(Some(Vec::new()));
                }
                let seg = Segment {
                    words: w.words,
                    ..Segment::from_text(offset, offset, "")
                };
                words_of(&[seg], f64::NAN)
            }
            Mode::Full => {
                let opts = DecodeOptions {
                    language: Some(language),
                    initial_prompt: (!prompt.is_empty()).then_some(prompt.clone()),
                    ..self.opts.clone()
                };
                let mut t = asr::transcribe(self.model, samples, &opts, &mut |_| {})?;
                for s in &mut t.segments {
                    s.start += offset;
                    s.end += offset;
                    for w in &mut s.words {
                        w.start += offset;
                        w.end += offset;
                    }
                }
                words_of(&t.segments, f64::NAN)
            }
        };
        // What the committed text already holds is not new.
        // Word times can come out a little early (a word of no length placed before the end
        // of the committed text): in window mode, where the decoder continues the committed
        // text, only a repeat of its words is taken for overlap, or a word well inside it.
        let slack = match self.mode {
            Mode::Window => OVERLAP_SLACK_SECS,
            Mode::Full => 0.0,
        };
        let words = self.committer.strip_overlap(words, slack);
        Ok(Some(self.without_repeats(words, &prompt)))
    }

    /// A hypothesis cut where it starts to repeat: at the first 4 words that the recent
    /// committed text or the hypothesis itself already holds, and wholly when it only says
    /// again the end of what was committed before it.
    fn without_repeats(&self, words: Vec<Word>, prompt: &str) -> Vec<Word> {
        if !words.is_empty() && same_words(&tail_words(prompt, words.len()), &text_of(&words)) {
            return Vec::new();
        }
        // Across a break or a long pause, saying the same again is not a loop.
        let recent = self.committer.committed();
        let after_break = recent
            .iter()
            .position(|w| w.start >= self.forget_before)
            .unwrap_or(recent.len());
        let recent = &recent[after_break.max(recent.len().saturating_sub(REPEAT_WORDS))..];
        // Where each 4 words were last seen: committed ones long before any of the hypothesis.
        let mut seen: std::collections::HashMap<[&str; 4], isize> = recent
            .windows(4)
            .map(|g| {
                (
                    [g[0].key(), g[1].key(), g[2].key(), g[3].key()],
                    isize::MIN / 2,
                )
            })
            .collect();
        // The committed words just before the hypothesis count as its start.
        let lead: Vec<&Word> = recent.iter().rev().take(3).rev().collect();
        let joined: Vec<&Word> = lead.iter().copied().chain(words.iter()).collect();
        let mut cut = words.len();
        for (i, g) in joined.windows(4).enumerate() {
            let gram = [g[0].key(), g[1].key(), g[2].key(), g[3].key()];
            let i = i as isize;
            // Overlapping its first occurrence is a stammer ("want to want to"); a loop says
            // the 4 words again after them, or one word over and over.
            let one_word = gram.iter().all(|w| *w == gram[0]);
            match seen.get(&gram) {
                Some(&first) if i - first >= 4 || one_word => {
                    cut = (i as usize).saturating_sub(lead.len());
                    break;
                }
                Some(_) => {}
                None => {
                    seen.insert(gram, i);
                }
            }
        }
        let mut words = words;
        words.truncate(cut);
        words
    }

    /// End of input: commit whatever is still tentative.
    pub fn finish(&mut self) -> Vec<Word> {
        self.committer.commit_all()
    }

    /// A break in the audio at `pos` (a pause, a new session, a lost device): commit whatever
    /// is tentative, and let no later update look back across it.
    pub fn break_at(&mut self, pos: u64) -> Vec<Word> {
        self.full_base = self.full_base.max(pos);
        self.settled = self.settled.max(pos);
        self.forget_before = self.forget_before.max(secs(pos));
        self.committer.commit_all()
    }
}

/// The last `n` words of `text`.
fn tail_words(text: &str, n: usize) -> String {
    let w: Vec<&str> = text.split_whitespace().collect();
    w[w.len().saturating_sub(n)..].join(" ")
}
