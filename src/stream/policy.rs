//! The two re-transcription policies behind one interface. Full history transcribes the session
//! as `livecap transcribe` does, in chunks cut at pauses: a chunk that a pause has closed is
//! final, and only the open one is transcribed again. The window re-transcribes the uncommitted
//! tail, at least the last N seconds. Both feed the same [`Committer`], so switching between them
//! keeps the committed text. Words are kept where the audio bears them out ([`heard`]), never
//! judged by their text.

use std::time::Instant;

use serde::{Deserialize, Serialize};

use super::clock::Clock;
use super::commit::{unshown, Committer, Word};
use crate::asr::chunks::{Chunk, Chunker};
use crate::asr::longform::{choose_language, transcribe_chunk, transcribe_window, Carry, Prefix};
use crate::asr::{heard, DecodeOptions, Model, ModelError, WorkDone};
use crate::audio::vad::Vad;
use crate::audio::{AudioState, SAMPLE_RATE};
use crate::transcript::{self, ends_sentence};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Re-transcribe the last few seconds; commit what hypotheses agree on, and at pauses.
    Window,
    /// Transcribe everything heard since the mode began as `transcribe` does, in chunks cut at
    /// pauses; commit each chunk once a pause closes it.
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
/// How far before the committed text's end a window-mode word may be placed and still be new.
const OVERLAP_SLACK_SECS: f64 = 0.5;
/// A gap this long between committed words is a pause: a window may start after it.
const BOUNDARY_GAP_SECS: f64 = 0.3;
/// Across a silence this long, neither prompt nor prefix carries over: what follows is heard
/// on its own, so a hallucination of what came before has nothing to lean on.
const FORGET_SECS: f64 = 3.0;
/// Speech this old (seconds) that the decoder would not continue from the committed words is
/// heard afresh.
const FRESH_AFTER_SECS: f64 = 2.0;
/// Committed text given to the decoder as what was said before the window.
const PROMPT_CHARS: usize = 200;

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
    /// Audio before this position (samples) will not be read again: whoever owns the audio
    /// may drop it.
    pub keep_from: u64,
    /// What the model computed.
    pub work: WorkDone,
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
    /// A window reaches back over committed words no further than this (seconds): the start of
    /// the last pause, or of speech the decoder would not continue from its committed words.
    reach_floor: f64,
    /// Full history: where its chunks are cut, what the last closed one hands on, and the open
    /// one as last transcribed (with what it would hand on).
    chunker: Chunker,
    carry: Carry,
    open: Option<(Chunk, Vec<Word>, Carry)>,
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
            reach_floor: 0.0,
            chunker: Chunker::new(0),
            carry: Carry::default(),
            open: None,
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
            self.begin_chunks();
        }
        self.mode = mode;
    }

    /// Full history begins at `full_base`: its first chunk is heard after the committed text,
    /// which is its prompt unless a break or a long pause lies between.
    fn begin_chunks(&mut self) {
        let committed_end = pos(self.committer.end());
        let heard_before = (committed_end > 0).then_some(committed_end);
        self.chunker = Chunker::new(self.full_base).after_speech(heard_before);
        let before =
            self.committer
                .text_before(secs(self.full_base), PROMPT_CHARS, self.forget_before);
        self.carry = Carry {
            language: self.language.clone(),
            prompt: self.encode(&before),
        };
        self.open = None;
    }

    /// The tokens of `text` as said after other text.
    fn encode(&self, text: &str) -> Vec<u32> {
        if text.is_empty() {
            return Vec::new();
        }
        self.model
            .tokenizer
            .encode(format!(" {text}"), false)
            .map(|e| e.get_ids().to_vec())
            .unwrap_or_default()
    }

    /// Re-transcribe according to the policy, with `visible` samples arrived, and commit what
    /// is stable. Words are shown when `clock` says the computation ends; moving the clock on
    /// by it, and dropping the audio before [`Update::keep_from`], are the caller's.
    pub fn update(
        &mut self,
        audio: &AudioState,
        visible: u64,
        clock: &Clock,
    ) -> Result<Update, ModelError> {
        let began = Instant::now();
        let work = self.model.net.work();
        let fed = self.vad.fed();
        if visible > fed {
            self.vad.feed(&audio.read(fed, visible));
        }
        let update = match self.mode {
            Mode::Window => self.update_window(audio, visible, began, clock)?,
            Mode::Full => self.update_full(audio, visible, began, clock)?,
        };
        if secs(self.vad.trailing_silence()) >= FORGET_SECS {
            self.forget_before = self.forget_before.max(secs(visible));
        }
        // Later windows start no earlier than this one: the committed text they reach back
        // over only grows.
        let keep = match self.mode {
            Mode::Full => self.chunker.start().max(self.full_base),
            Mode::Window => pos(update.audio_start),
        };
        Ok(Update {
            keep_from: keep.min(self.vad.fed()),
            work: self.model.net.work() - work,
            ..update
        })
    }

    /// The computation since `began`, and when on `clock` its result is shown.
    fn finished(began: Instant, clock: &Clock, audio: &AudioState) -> (f64, f64) {
        let compute = began.elapsed().as_secs_f64();
        (compute, clock.after(compute, audio))
    }

    fn update_window(
        &mut self,
        audio: &AudioState,
        visible: u64,
        began: Instant,
        clock: &Clock,
    ) -> Result<Update, ModelError> {
        let mut committed = Vec::new();
        // Words are left tentative for at most `window` seconds (on stream-dev, agreement
        // commits sooner: a limit of 5 s and one of 25 s gave the same text).
        let old = visible.saturating_sub(pos(self.window));
        committed.extend(self.committer.commit_before(secs(old)));
        // Audio not yet transcribed is taken up to 25 s back, however late the update.
        let floor = visible.saturating_sub(pos(MAX_WINDOW_SECS));
        if pos(self.committer.end()).max(self.settled) < floor {
            committed.extend(self.committer.commit_before(secs(floor)));
        }
        // A pause closes what was said before it: heard up to the pause, it is committed, and
        // later windows start after it.
        let mut closing: Vec<(u64, Option<Vec<Word>>)> = Vec::new();
        let mut first_start = None;
        for chunk in self.chunker.closed(&self.vad) {
            let end = chunk.end.min(visible);
            let done = pos(self.committer.end()).max(self.settled).max(floor);
            let unheard = self.vad.speech_between(done, end);
            let words = if unheard {
                let (start, context) = self.window_start(done, end, audio.held_from());
                first_start.get_or_insert(start);
                let samples = audio.read(start, end);
                self.window_hypothesis(&samples, start, context)?
            } else {
                None
            };
            // What follows the pause is heard without the text before it (nor that text as its
            // prompt); speech the closing window gave no words for stays in the next windows.
            if !unheard || words.as_ref().is_some_and(|w| !w.is_empty()) {
                self.forget_before = self.forget_before.max(secs(chunk.end));
            }
            closing.push((end, words));
        }
        let done = pos(self.committer.end())
            .max(self.settled)
            .max(floor)
            .max(pos(self.reach_floor.max(self.forget_before)))
            .min(visible);
        let (start, context) = self.window_start(done, visible, audio.held_from());
        let reached_back = !context.is_empty();
        // Where the words not yet committed begin.
        let speech = self.vad.speech_since(done.max(start));
        let hypothesis = if speech {
            let samples = audio.read(start, visible);
            self.window_hypothesis(&samples, start, context)?
        } else {
            None
        };
        let (compute, emitted_at) = Self::finished(began, clock, audio);
        for (end, words) in closing {
            if let Some(mut words) = words {
                for w in &mut words {
                    w.shown_at = emitted_at;
                }
                committed.extend(self.committer.update_following(words, secs(end)));
            }
            committed.extend(self.committer.commit_before(secs(end)));
        }
        match hypothesis {
            Some(mut words) => {
                if words.is_empty() && self.committer.tentative().is_empty() {
                    if reached_back {
                        // Speech the decoder would not continue from the committed words (they
                        // were another speaker's, or garbled) for a couple of seconds: it is
                        // heard afresh, without them.
                        if self
                            .vad
                            .speech_between(done, visible.saturating_sub(pos(FRESH_AFTER_SECS)))
                        {
                            self.reach_floor = self.reach_floor.max(self.committer.end());
                        }
                    } else {
                        // Speech heard afresh that gave nothing worth keeping (words placed on
                        // silence, a loop) for `window` seconds is given up, as a word would be
                        // committed: the window does not grow over it again and again.
                        let given_up = visible.saturating_sub(pos(self.window));
                        self.settled = self.settled.max(given_up);
                    }
                }
                for w in &mut words {
                    w.shown_at = emitted_at;
                }
                committed.extend(self.committer.update_following(words, secs(visible)));
            }
            // Silence, by level or by Whisper's judgement: whatever was said before is final.
            None => committed.extend(self.committer.commit_all()),
        }
        if !speech {
            self.settled = visible;
        }
        Ok(Update {
            mode: Mode::Window,
            audio_start: secs(first_start.unwrap_or(start).min(start)),
            audio_end: secs(visible),
            compute,
            emitted_at,
            skipped: !speech && first_start.is_none(),
            committed,
            keep_from: 0,
            work: WorkDone::default(),
        })
    }

    /// Full history: the chunks a pause has closed are transcribed as `livecap transcribe`
    /// would and committed; the open one is transcribed again and shown as tentative.
    fn update_full(
        &mut self,
        audio: &AudioState,
        visible: u64,
        began: Instant,
        clock: &Clock,
    ) -> Result<Update, ModelError> {
        let closed = self.chunker.closed(&self.vad);
        let open = self.chunker.open(visible);
        let unchanged = closed.is_empty()
            && match (&open, &self.open) {
                (Some(c), Some((last, _, _))) => c == last,
                (None, None) => true,
                _ => false,
            };
        let mut start = visible;
        let mut finals: Vec<Vec<Word>> = Vec::new();
        if !unchanged {
            for chunk in &closed {
                start = start.min(chunk.start);
                let words = match self.open.take() {
                    // The open chunk was last heard just as it was closed (and after the same
                    // text: the carry changes only when a chunk closes).
                    Some((c, words, carry)) if c == *chunk => {
                        self.carry = carry;
                        words
                    }
                    _ => {
                        let mut carry = self.carry.clone();
                        let words = self.chunk_words(audio, chunk, &mut carry)?;
                        self.carry = carry;
                        words
                    }
                };
                finals.push(words);
            }
            self.open = match open {
                Some(chunk) => {
                    start = start.min(chunk.start);
                    let mut carry = self.carry.clone();
                    let words = self.chunk_words(audio, &chunk, &mut carry)?;
                    Some((chunk, words, carry))
                }
                None => None,
            };
        }
        let (compute, emitted_at) = Self::finished(began, clock, audio);
        let mut committed = Vec::new();
        for mut words in finals {
            for w in &mut words {
                w.shown_at = emitted_at;
            }
            committed.extend(self.committer.commit_final(words));
        }
        if !unchanged {
            let mut words = self.open.as_ref().map(|o| o.1.clone()).unwrap_or_default();
            for w in &mut words {
                w.shown_at = emitted_at;
            }
            self.committer.propose(words);
        }
        Ok(Update {
            mode: Mode::Full,
            audio_start: secs(start),
            audio_end: secs(visible),
            compute,
            emitted_at,
            skipped: unchanged,
            committed,
            keep_from: 0,
            work: WorkDone::default(),
        })
    }

    /// The words of one chunk of full history, heard after what `carry` holds (which then
    /// holds this chunk's text too).
    fn chunk_words(
        &mut self,
        audio: &AudioState,
        chunk: &Chunk,
        carry: &mut Carry,
    ) -> Result<Vec<Word>, ModelError> {
        let samples = audio.read(chunk.start, chunk.end);
        if carry.language.is_none() {
            carry.language = Some(self.language(&samples)?);
        }
        let segments = transcribe_chunk(self.model, &samples, chunk, &self.vad, &self.opts, carry)?;
        Ok(unshown(transcript::words(&segments)))
    }

    /// The language to decode in: as asked, or detected once, in the first speech.
    fn language(&mut self, samples: &[f32]) -> Result<String, ModelError> {
        if let Some(l) = &self.language {
            return Ok(l.clone());
        }
        let l = choose_language(self.model, samples, &self.opts)?;
        self.language = Some(l.clone());
        Ok(l)
    }

    /// Where a window that must cover `done..visible` starts, reaching back over committed
    /// words to the start of a sentence or to a pause so that the model hears the speech
    /// around the uncommitted tail whole; and the committed words it covers, which the decoder
    /// is given as the window's beginning.
    fn window_start(&self, done: u64, visible: u64, held: u64) -> (u64, Vec<Word>) {
        let oldest = visible
            .saturating_sub(pos(MAX_CONTEXT_SECS))
            .max(held)
            .max(pos(self.forget_before))
            .max(pos(self.reach_floor));
        let words = self.committer.committed();
        let end = secs(done);
        let usable = &words[heard_again(words, secs(oldest), end)..];
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
                || ends_sentence(&usable[i - 1].text)
                || usable[i].start - usable[i - 1].end >= BOUNDARY_GAP_SECS
        };
        // The committed text ends a sentence: the window starts after it. (Measured on
        // stream-dev: reaching further back, into the sentences before, puts the model on the
        // last speaker's words and loses the next speaker's; 42.5 % WER against 39.3 %.)
        let last = &usable[usable.len() - 1];
        if ends_sentence(&last.text) {
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

    /// The words of window audio `samples` starting at absolute position `start`, or `None` if
    /// Whisper heard no speech. `context` are committed words the audio begins with.
    fn window_hypothesis(
        &mut self,
        samples: &[f32],
        start: u64,
        context: Vec<Word>,
    ) -> Result<Option<Vec<Word>>, ModelError> {
        let language = self.language(samples)?;
        let offset = secs(start);
        let prompt = self
            .committer
            .text_before(offset, PROMPT_CHARS, self.forget_before);
        let prefix_text = context
            .iter()
            .map(|w| w.text.as_str())
            .collect::<Vec<_>>()
            .join(" ");
        let prefix = Prefix {
            tokens: self.encode(&prefix_text),
            start: context.first().map_or(0.0, |w| w.start - offset),
        };
        let w = transcribe_window(
            self.model,
            samples,
            offset,
            &self.encode(&prompt),
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
        let heard = heard::spoken(
            w.words,
            &self.vad,
            offset + samples.len() as f64 / SAMPLE_RATE as f64,
        );
        // Word times can come out a little early (a word of no length placed before the end of
        // the committed text): the decoder continues the committed text, so only a word well
        // inside it is taken for what it already holds.
        let words = self
            .committer
            .strip_overlap(unshown(transcript::joined(heard)), OVERLAP_SLACK_SECS);
        Ok(Some(words))
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
        let words = self.committer.commit_all();
        if self.mode == Mode::Full {
            self.begin_chunks();
        } else {
            self.chunker = Chunker::new(pos);
        }
        words
    }
}

/// Where the committed `words` that a window may hear again begin: those after `oldest`
/// (seconds: a break, a long pause, the context's limit), in one run up to `end`. A word counts
/// as after `oldest` when most of it is: the first word after a pause is often timed from the
/// end of the word before it, and leaving it out would start the window inside its speech.
fn heard_again(words: &[Word], oldest: f64, end: f64) -> usize {
    words
        .iter()
        .rposition(|w| (w.start + w.end) / 2.0 < oldest || w.end > end + 0.05)
        .map_or(0, |i| i + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(times: &[(&str, f64, f64)]) -> Vec<Word> {
        times
            .iter()
            .map(|&(t, s, e)| Word::new(t, s, e, 0.0))
            .collect()
    }

    #[test]
    fn a_word_timed_into_the_pause_before_it_is_heard_again() {
        // "surpassed." ends at 52.78, a pause closes a chunk at 52.85, and "Printing" is timed
        // from 52.78.
        let w = words(&[
            ("surpassed.", 51.9, 52.78),
            ("Printing", 52.78, 53.52),
            ("then", 53.52, 54.1),
        ]);
        assert_eq!(heard_again(&w, 52.85, 54.1), 1);
        // A word mostly before the limit stays out, and so does everything before it.
        assert_eq!(heard_again(&w, 53.3, 54.1), 2);
        assert_eq!(heard_again(&w, 0.0, 54.1), 0);
        // The words heard again run up to the committed end: with a word past it, none are.
        assert_eq!(heard_again(&w, 0.0, 53.0), 3);
    }
}
