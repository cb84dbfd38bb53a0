//! The two re-transcription policies behind one interface. Full history re-transcribes all audio
//! since it began; the window re-transcribes the uncommitted tail, at least the last N seconds.
//! Both feed the same [`Committer`], so switching between them keeps the committed text.

use std::time::Instant;

use serde::{Deserialize, Serialize};

use super::clock::Clock;
use super::commit::{words_of, Committer, Word};
use super::vad::Vad;
use crate::asr::longform::{choose_language, transcribe_window};
use crate::asr::{self, DecodeOptions, Model, ModelError};
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

/// The longest stretch a window may cover; older uncommitted words are committed as they are.
const MAX_WINDOW_SECS: f64 = 25.0;
/// This much silence after speech commits the whole hypothesis.
const PAUSE_SECS: f64 = 0.6;
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
        }
    }

    pub fn mode(&self) -> Mode {
        self.mode
    }

    pub fn committer(&self) -> &Committer {
        &self.committer
    }

    /// Switch policy. Full history begins at the oldest audio still held: what the window
    /// trimmed away is committed already.
    pub fn set_mode(&mut self, mode: Mode, audio: &AudioState) {
        if mode == Mode::Full && self.mode != Mode::Full {
            self.full_base = audio.held_from();
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
        let start = match self.mode {
            Mode::Full => self.full_base,
            Mode::Window => {
                let floor = visible.saturating_sub(pos(MAX_WINDOW_SECS));
                let done = pos(self.committer.end()).max(self.settled);
                let want = done.min(visible.saturating_sub(pos(self.window)));
                if want < floor {
                    committed.extend(self.committer.commit_before(secs(floor)));
                }
                want.max(floor)
            }
        }
        .max(audio.held_from())
        .min(visible);
        let speech = self.vad.speech_since(start);
        let hypothesis = if speech {
            let samples = audio.read(start, visible);
            self.hypothesis(&samples, start)?
        } else {
            None
        };
        let compute = began.elapsed().as_secs_f64();
        clock.advance(compute);
        let emitted_at = clock.now(audio);
        match hypothesis {
            Some(mut words) if !words.is_empty() => {
                for w in &mut words {
                    w.shown_at = emitted_at;
                }
                committed.extend(self.committer.update(words));
                if secs(self.vad.trailing_silence()) >= PAUSE_SECS {
                    committed.extend(self.committer.commit_all());
                }
            }
            // Silence, by level or by Whisper's judgement: whatever was said before is final.
            _ => committed.extend(self.committer.commit_all()),
        }
        if !speech {
            self.settled = visible;
        }
        // Later windows start no earlier than this one did.
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

    /// The words of audio `samples` starting at absolute position `start`, or `None` if Whisper
    /// heard no speech.
    fn hypothesis(&mut self, samples: &[f32], start: u64) -> Result<Option<Vec<Word>>, ModelError> {
        let language = match &self.language {
            Some(l) => l.clone(),
            None => {
                let l = choose_language(self.model, samples, &self.opts)?;
                self.language = Some(l.clone());
                l
            }
        };
        let offset = secs(start);
        let prompt = self.committer.text_before(offset, PROMPT_CHARS);
        let segments = match self.mode {
            Mode::Window => {
                let prompt_tokens = if prompt.is_empty() {
                    Vec::new()
                } else {
                    self.model
                        .tokenizer
                        .encode(format!(" {prompt}"), false)
                        .map(|e| e.get_ids().to_vec())
                        .unwrap_or_default()
                };
                let w = transcribe_window(
                    self.model,
                    samples,
                    offset,
                    &prompt_tokens,
                    &language,
                    &self.opts,
                )?;
                if w.silent {
                    return Ok(None);
                }
                w.segments
            }
            Mode::Full => {
                let opts = DecodeOptions {
                    language: Some(language),
                    initial_prompt: (!prompt.is_empty()).then_some(prompt),
                    ..self.opts.clone()
                };
                let mut t = asr::transcribe(self.model, samples, &opts, &mut |_| {})?;
                for s in &mut t.segments {
                    s.start += offset;
                    s.end += offset;
                }
                t.segments
            }
        };
        Ok(Some(words_of(&segments, f64::NAN)))
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
        self.committer.commit_all()
    }
}
