//! Decoding one 30-second window: prompt, suppression, timestamp rules, greedy or sampled
//! search, temperature fallback on compression ratio and log-probability, and a repetition
//! guard.

use std::io::Write;

use candle_core::Tensor;
use rayon::prelude::*;

use super::{kernels, Model, ModelError};
use crate::transcript::ends_sentence;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Task {
    Transcribe,
    Translate,
}

/// How to decode. The defaults are Whisper's own.
#[derive(Debug, Clone)]
pub struct DecodeOptions {
    pub task: Task,
    /// Language code; `None` detects it (multilingual models) or is English (`.en` models).
    pub language: Option<String>,
    /// Tried in order until a result passes the thresholds.
    pub temperatures: Vec<f32>,
    pub compression_ratio_threshold: Option<f32>,
    pub logprob_threshold: Option<f32>,
    pub no_speech_threshold: Option<f32>,
    pub condition_on_previous_text: bool,
    /// Text given to the decoder as if it had been said before the audio.
    pub initial_prompt: Option<String>,
    /// Words and names to spell as given (people, products, places): put before the prompt in
    /// every window, never printed themselves.
    pub vocabulary: Vec<String>,
    /// Latest time, in seconds, the first timestamp of a window may take.
    pub max_initial_timestamp: f32,
    /// Seed for sampling at temperatures above zero.
    pub seed: u64,
    /// Beams searched at temperature 0 (1: greedy). Higher temperatures sample.
    pub beam_size: usize,
    /// Whisper's patience: the search ends once `beam_size × patience` sequences have ended.
    pub patience: f32,
    /// Whisper's length penalty: `None` ranks finished sequences by log-probability per token,
    /// `Some(a)` divides by `((5 + length) / 6)^a`.
    pub length_penalty: Option<f32>,
}

impl Default for DecodeOptions {
    fn default() -> Self {
        Self {
            task: Task::Transcribe,
            language: None,
            temperatures: vec![0.0, 0.2, 0.4, 0.6, 0.8, 1.0],
            compression_ratio_threshold: Some(2.4),
            logprob_threshold: Some(-1.0),
            no_speech_threshold: Some(0.6),
            condition_on_previous_text: true,
            initial_prompt: None,
            vocabulary: Vec::new(),
            max_initial_timestamp: 1.0,
            seed: 0x5eed,
            beam_size: 1,
            patience: 1.0,
            length_penalty: None,
        }
    }
}

/// What one decode of one window produced.
#[derive(Debug, Clone)]
pub struct WindowResult {
    /// Sampled tokens, timestamps included, end-of-text excluded; the forced prefix first.
    pub tokens: Vec<u32>,
    /// How many of `tokens` were forced (the prefix), not sampled.
    pub forced: usize,
    /// Probability of each of `tokens` when it was chosen (1 for forced tokens).
    pub probs: Vec<f32>,
    pub text: String,
    pub avg_logprob: f32,
    pub no_speech_prob: f32,
    pub compression_ratio: f32,
    pub temperature: f32,
    /// The decode fell into a loop and was cut short.
    pub looped: bool,
}

/// `len(text) / len(zlib(text))`, as Whisper measures repetitiveness: with zlib's own
/// compressor (the zlib-rs port, byte for byte), since a weaker one finds less of a short loop.
pub fn compression_ratio(text: &str) -> f32 {
    if text.is_empty() {
        return 0.0;
    }
    let mut enc = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    let compressed = enc
        .write_all(text.as_bytes())
        .and_then(|_| enc.finish())
        .map(|v| v.len())
        .unwrap_or(text.len());
    text.len() as f32 / compressed.max(1) as f32
}

/// If the tail of `seq` repeats one pattern, the length to keep (up to the end of its second
/// occurrence), else `None`. Timestamp tokens (>= `ts_begin`) are ignored.
pub fn repetition_cut(seq: &[u32], ts_begin: u32) -> Option<usize> {
    let text: Vec<(usize, u32)> = seq
        .iter()
        .enumerate()
        .filter(|(_, &t)| t < ts_begin)
        .map(|(i, &t)| (i, t))
        .collect();
    let n = text.len();
    for period in 1..=32usize {
        // A single token 8 times, or any longer pattern at least 4 times and 20 tokens in all.
        let reps = if period == 1 {
            8
        } else {
            4.max(20usize.div_ceil(period))
        };
        let span = period * reps;
        if span > n {
            break;
        }
        let tail = &text[n - span..];
        if (period..span).all(|i| tail[i].1 == tail[i - period].1) {
            // Walk back to where the repetition began.
            let mut start = n - span;
            while start > 0 && text[start - 1].1 == text[start - 1 + period].1 {
                start -= 1;
            }
            return Some(text[start + 2 * period - 1].0 + 1);
        }
    }
    None
}

/// Tiny deterministic generator for sampling (SplitMix64).
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }
    fn next_f32(&mut self) -> f32 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        (z >> 40) as f32 / (1u64 << 24) as f32
    }
}

fn log_softmax(logits: &[f32]) -> Vec<f32> {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let sum: f32 = logits.iter().map(|&l| (l - max).exp()).sum();
    let lse = max + sum.ln();
    logits.iter().map(|&l| l - lse).collect()
}

/// The `k` likeliest tokens (fewer if fewer are possible) and their log-probabilities, likeliest
/// first: [`log_softmax`]'s values, without making all of them.
fn top_log_probs(logits: &[f32], k: usize) -> Vec<(usize, f32)> {
    let lse = kernels::logsumexp(logits);
    kernels::top_k(logits, k)
        .into_iter()
        .map(|(i, l)| (i, l - lse))
        .collect()
}

/// The decoder's view of one window, shared by all temperature attempts: the prompt is run once
/// and its cache reused.
pub struct WindowDecoder<'m> {
    model: &'m Model,
    state: super::model::DecoderState,
    prompt_len: usize,
    first_logits: Vec<f32>,
    no_speech_prob: f32,
    suppress: Vec<u32>,
    max_initial_ts: u32,
    /// Tokens the output begins with, as if sampled: a timestamp and text already known.
    forced: Vec<u32>,
    beam_size: usize,
    patience: f32,
    length_penalty: Option<f32>,
    /// The first sampled token may not end the text (a continuation asked for more).
    no_end_first: bool,
}

/// One hypothesis of a beam search: its tokens (forced ones first), each one's probability, the
/// sum of the sampled ones' log-probabilities, and the decoder state that has read them.
struct Beam {
    tokens: Vec<u32>,
    probs: Vec<f32>,
    sum_logprob: f32,
    state: Option<super::model::DecoderState>,
    logits: Vec<f32>,
}

/// A sequence the search has ended (end of text, length limit, or a loop cut short).
struct Finished {
    tokens: Vec<u32>,
    probs: Vec<f32>,
    sum_logprob: f32,
    looped: bool,
}

impl<'m> WindowDecoder<'m> {
    /// Encode nothing; `features` are the encoder output for this window. `input` is the full
    /// decoder prompt: optional `<|startofprev|>` + previous text, then the start sequence.
    pub fn new(
        model: &'m Model,
        features: &Tensor,
        input: &[u32],
        opts: &DecodeOptions,
    ) -> Result<Self, ModelError> {
        Self::with_prefix(model, features, input, &[], opts)
    }

    /// [`WindowDecoder::new`], with the output forced to begin with `forced` (a timestamp,
    /// then text known to be said there); decoding carries on after it.
    pub fn with_prefix(
        model: &'m Model,
        features: &Tensor,
        input: &[u32],
        forced: &[u32],
        opts: &DecodeOptions,
    ) -> Result<Self, ModelError> {
        let t = &model.tokens;
        let mut state = model.net.start(features)?;
        let all: Vec<u32> = input.iter().chain(forced).copied().collect();
        let hidden = model.net.decode(&mut state, &all)?;
        let first_logits = model.net.logits(&hidden, all.len() - 1);
        let no_speech_prob = match (t.no_speech, input.iter().position(|&x| x == t.sot)) {
            (Some(ns), Some(pos)) => {
                let l = if pos == input.len() - 1 {
                    first_logits.clone()
                } else {
                    model.net.logits(&hidden, pos)
                };
                log_softmax(&l)[ns as usize].exp()
            }
            _ => 0.0,
        };
        let mut suppress: Vec<u32> = model.suppress.clone();
        suppress.extend(
            [
                Some(t.sot),
                Some(t.sot_prev),
                t.transcribe,
                t.translate,
                t.sot_lm,
                t.no_speech,
            ]
            .into_iter()
            .flatten(),
        );
        suppress.retain(|&x| (x as usize) < model.net.dims.n_vocab);
        let max_initial_ts = (opts.max_initial_timestamp / 0.02).round() as u32;
        Ok(Self {
            model,
            state,
            prompt_len: all.len(),
            first_logits,
            no_speech_prob,
            suppress,
            max_initial_ts,
            forced: forced.to_vec(),
            beam_size: opts.beam_size.max(1),
            patience: if opts.patience > 0.0 {
                opts.patience
            } else {
                1.0
            },
            length_penalty: opts.length_penalty,
            no_end_first: false,
        })
    }

    /// Decode on after `earlier`, a result of this decoder that ended with a timestamp opening
    /// a segment it did not write, as if the text went on past the window: this time the text
    /// may not end there. The same audio and prompt, without another encoder pass. Returns the
    /// whole result (`earlier`'s tokens first, with their probabilities), or `None` if the
    /// decoder still wrote nothing after them, or wrote what fails `opts`' thresholds, or text
    /// that does not end a sentence. Either way the decoder then serves only
    /// [`WindowDecoder::align`].
    pub fn continue_after(
        &mut self,
        earlier: &WindowResult,
        opts: &DecodeOptions,
        max_len: usize,
        rng: &mut Rng,
    ) -> Result<Option<WindowResult>, ModelError> {
        let input = self.prompt_len - self.forced.len();
        self.state.truncate(input);
        let hidden = self.model.net.decode(&mut self.state, &earlier.tokens)?;
        self.first_logits = self.model.net.logits(&hidden, earlier.tokens.len() - 1);
        self.prompt_len = input + earlier.tokens.len();
        self.forced = earlier.tokens.clone();
        self.no_end_first = true;
        let more = self.run_with_fallback(opts, max_len, rng)?;
        let n = earlier.tokens.len();
        let ts = self.model.tokens.timestamp_begin;
        // Kept only as Whisper writes a whole sentence: fluent, and ending as a sentence does.
        // Pushed on where it meant to stop, the decoder can also write the rest without its
        // punctuation, and that text, as the next chunk's prompt, would take the punctuation
        // out of the rest of the transcript (base on the LJSpeech reading).
        let whole = ends_sentence(&self.model.text(&more.tokens[n..]));
        if more.tokens[n..].iter().all(|&x| x >= ts) || !is_fluent(&more, opts) || !whole {
            return Ok(None);
        }
        let (a, b) = (earlier.tokens.len() - earlier.forced, more.tokens.len() - n);
        let mut probs = earlier.probs.clone();
        probs.extend(&more.probs[n..]);
        let text = self.model.text(&more.tokens[earlier.forced..]);
        Ok(Some(WindowResult {
            avg_logprob: (earlier.avg_logprob * (a + 1) as f32 + more.avg_logprob * (b + 1) as f32)
                / (a + b + 2) as f32,
            forced: earlier.forced,
            probs,
            tokens: more.tokens,
            compression_ratio: compression_ratio(&text),
            text,
            no_speech_prob: earlier.no_speech_prob,
            temperature: earlier.temperature.max(more.temperature),
            looped: false,
        }))
    }

    pub fn no_speech_prob(&self) -> f32 {
        self.no_speech_prob
    }

    /// Word times for the text among `tokens` (with each one's probability), in seconds from the
    /// window's start. `sot` is the window's start sequence and `frames` the encoder positions
    /// that hold audio. Reuses this decoder's cache, so decode no more after it.
    pub fn align(
        &mut self,
        tokens: &[u32],
        probs: &[f32],
        sot: &[u32],
        frames: usize,
    ) -> Result<Vec<super::align::WordTiming>, ModelError> {
        let t = &self.model.tokens;
        let (text, probs): (Vec<u32>, Vec<f32>) = tokens
            .iter()
            .zip(probs)
            .filter(|(&x, _)| x < t.eot)
            .map(|(&x, &p)| (x, p))
            .unzip();
        if text.is_empty() || self.model.alignment_heads.is_empty() {
            return Ok(Vec::new());
        }
        let mut seq: Vec<u32> = sot.to_vec();
        seq.push(t.no_timestamps);
        seq.extend(&text);
        seq.push(t.eot);
        if seq.len() > self.model.net.dims.n_text_ctx {
            return Ok(Vec::new());
        }
        self.state.truncate(0);
        let scores =
            self.model
                .net
                .attention_scores(&mut self.state, &seq, &self.model.alignment_heads)?;
        let cols = super::model::Whisper::audio_positions(&self.state);
        Ok(super::align::word_timings(
            self.model,
            &text,
            &probs,
            &scores,
            sot.len(),
            cols,
            frames,
        ))
    }

    fn apply_filters(&self, logits: &mut [f32], sampled: &[u32]) {
        let t = &self.model.tokens;
        let ninf = f32::NEG_INFINITY;
        if sampled.is_empty() {
            for &b in &self.model.begin_suppress {
                if let Some(l) = logits.get_mut(b as usize) {
                    *l = ninf;
                }
            }
        }
        for &s in &self.suppress {
            logits[s as usize] = ninf;
        }
        if self.no_end_first && sampled.len() == self.forced.len() {
            logits[t.eot as usize] = ninf;
        }
        // Timestamp rules.
        let tb = t.timestamp_begin as usize;
        let eot = t.eot as usize;
        logits[t.no_timestamps as usize] = ninf;
        let last_ts = sampled.last().is_some_and(|&x| x >= t.timestamp_begin);
        let penult_ts = sampled.len() < 2 || sampled[sampled.len() - 2] >= t.timestamp_begin;
        if last_ts {
            if penult_ts {
                logits[tb..].fill(ninf);
            } else {
                logits[..eot].fill(ninf);
            }
        }
        if let Some(&last) = sampled.iter().rev().find(|&&x| x >= t.timestamp_begin) {
            let bound = if last_ts && !penult_ts {
                last
            } else {
                last + 1
            } as usize;
            let end = bound.min(logits.len());
            logits[tb..end].fill(ninf);
        }
        if sampled.is_empty() {
            logits[..tb].fill(ninf);
            let last_allowed = tb + self.max_initial_ts as usize;
            if last_allowed + 1 < logits.len() {
                logits[last_allowed + 1..].fill(ninf);
            }
        }
        // Sum of timestamp probabilities against the best text token (the normaliser cancels).
        let ts_lse = kernels::logsumexp(&logits[tb..]);
        let max_text = kernels::max(&logits[..tb]);
        if ts_lse > max_text {
            logits[..tb].fill(ninf);
        }
    }

    /// Decode the window at one temperature, up to `max_len` sampled tokens.
    pub fn run(
        &mut self,
        temperature: f32,
        max_len: usize,
        rng: &mut Rng,
    ) -> Result<WindowResult, ModelError> {
        // No more tokens than the context holds after the prompt.
        let room = self
            .model
            .net
            .dims
            .n_text_ctx
            .saturating_sub(self.prompt_len);
        let max_len = max_len.min(room);
        if temperature <= 0.0 && self.beam_size > 1 {
            return self.run_beams(max_len);
        }
        let t = self.model.tokens.clone();
        self.state.truncate(self.prompt_len);
        let mut logits = self.first_logits.clone();
        let forced = self.forced.len();
        let mut sampled: Vec<u32> = self.forced.clone();
        let mut probs: Vec<f32> = vec![1.0; forced];
        let mut sum_logprob = 0f32;
        let mut looped = false;
        loop {
            self.apply_filters(&mut logits, &sampled);
            let lse = kernels::logsumexp(&logits);
            let next = if temperature <= 0.0 {
                kernels::argmax(&logits).map_or(t.eot, |i| i as u32)
            } else {
                let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                let probs: Vec<f32> = logits
                    .iter()
                    .map(|&l| ((l - max) / temperature).exp())
                    .collect();
                let total: f32 = probs.iter().sum();
                let mut r = rng.next_f32() * total;
                let mut pick = t.eot;
                for (i, p) in probs.iter().enumerate() {
                    if *p > 0.0 {
                        pick = i as u32;
                        r -= p;
                        if r <= 0.0 {
                            break;
                        }
                    }
                }
                pick
            };
            let logprob = logits[next as usize] - lse;
            sum_logprob += logprob;
            if next == t.eot {
                break;
            }
            sampled.push(next);
            probs.push(logprob.exp());
            if let Some(keep) = repetition_cut(&sampled[forced..], t.timestamp_begin) {
                sampled.truncate(forced + keep);
                probs.truncate(forced + keep);
                looped = true;
                break;
            }
            if sampled.len() - forced >= max_len {
                break;
            }
            let hidden = self.model.net.decode(&mut self.state, &[next])?;
            logits = self.model.net.logits(&hidden, 0);
        }
        Ok(self.result(sampled, probs, sum_logprob, temperature, looped))
    }

    /// Beam search at temperature 0, as Whisper does it: each step, every beam's `beam_size + 1`
    /// most likely next tokens are candidates; the best `beam_size` that do not end the text go
    /// on, and those that end it are kept until `beam_size × patience` have; the finished
    /// sequence with the best (length-penalised) log-probability wins.
    /// `max_len` already fits the context.
    fn run_beams(&mut self, max_len: usize) -> Result<WindowResult, ModelError> {
        let t = self.model.tokens.clone();
        let forced = self.forced.len();
        let wanted = ((self.beam_size as f32 * self.patience).round() as usize).max(1);
        self.state.truncate(self.prompt_len);
        let mut beams = vec![Beam {
            tokens: self.forced.clone(),
            probs: vec![1.0; forced],
            sum_logprob: 0.0,
            state: Some(self.state.clone()),
            logits: self.first_logits.clone(),
        }];
        let mut finished: Vec<Finished> = Vec::new();
        for _ in 0..max_len {
            // (score, beam, token, log-probability)
            // Each beam's filters and best tokens (a pass over the vocabulary each), a beam to a
            // thread; the candidates in the beams' order.
            let mut candidates: Vec<(f32, usize, u32, f32)> = beams
                .par_iter_mut()
                .enumerate()
                .flat_map_iter(|(b, beam)| {
                    let mut logits = std::mem::take(&mut beam.logits);
                    if !logits.is_empty() {
                        self.apply_filters(&mut logits, &beam.tokens);
                    }
                    let base = beam.sum_logprob;
                    top_log_probs(&logits, self.beam_size + 1)
                        .into_iter()
                        .map(move |(tok, l)| (base + l, b, tok as u32, l))
                })
                .collect();
            candidates.sort_by(|a, c| c.0.total_cmp(&a.0));
            let mut chosen: Vec<(f32, usize, Vec<u32>, Vec<f32>)> = Vec::new();
            for (score, b, tok, l) in candidates {
                if tok == t.eot {
                    if finished.len() < wanted {
                        finished.push(Finished {
                            tokens: beams[b].tokens.clone(),
                            probs: beams[b].probs.clone(),
                            sum_logprob: score,
                            looped: false,
                        });
                    }
                    continue;
                }
                let mut tokens = beams[b].tokens.clone();
                tokens.push(tok);
                let mut probs = beams[b].probs.clone();
                probs.push(l.exp());
                if let Some(keep) = repetition_cut(&tokens[forced..], t.timestamp_begin) {
                    tokens.truncate(forced + keep);
                    probs.truncate(forced + keep);
                    finished.push(Finished {
                        tokens,
                        probs,
                        sum_logprob: score,
                        looped: true,
                    });
                    continue;
                }
                chosen.push((score, b, tokens, probs));
                // Ends ranked below the beams that go on are not candidates.
                if chosen.len() == self.beam_size {
                    break;
                }
            }
            // A parent's last child takes its state; the others copy it.
            let mut children = vec![0usize; beams.len()];
            for c in &chosen {
                children[c.1] += 1;
            }
            let mut next: Vec<Beam> = Vec::with_capacity(chosen.len());
            for (score, b, tokens, probs) in chosen {
                children[b] -= 1;
                let state = if children[b] == 0 {
                    beams[b].state.take()
                } else {
                    beams[b].state.clone()
                };
                next.push(Beam {
                    tokens,
                    probs,
                    sum_logprob: score,
                    state,
                    logits: Vec::new(),
                });
            }
            if finished.len() >= wanted || next.is_empty() {
                beams = next;
                break;
            }
            next.retain(|b| b.state.is_some());
            // The beams' next tokens decoded together: the weights are read once for all.
            let last: Vec<u32> = next.iter().map(|b| b.tokens[b.tokens.len() - 1]).collect();
            let mut states: Vec<&mut super::model::DecoderState> =
                next.iter_mut().filter_map(|b| b.state.as_mut()).collect();
            let hidden = self.model.net.decode_each(&mut states, &last)?;
            for (beam, logits) in next.iter_mut().zip(self.model.net.logits_each(&hidden)) {
                beam.logits = logits;
            }
            beams = next;
        }
        // Too few ended: the beams still open count as they stand.
        if finished.len() < wanted {
            finished.extend(beams.into_iter().map(|b| Finished {
                tokens: b.tokens,
                probs: b.probs,
                sum_logprob: b.sum_logprob,
                looped: false,
            }));
        }
        let penalty = self.length_penalty;
        let rank = |f: &Finished| {
            let n = (f.tokens.len() - forced) as f32;
            let norm = match penalty {
                None => n.max(1.0),
                Some(a) => ((5.0 + n) / 6.0).powf(a),
            };
            f.sum_logprob / norm
        };
        let best = finished
            .into_iter()
            .max_by(|a, c| rank(a).total_cmp(&rank(c)))
            .unwrap_or(Finished {
                tokens: self.forced.clone(),
                probs: vec![1.0; forced],
                sum_logprob: 0.0,
                looped: false,
            });
        Ok(self.result(best.tokens, best.probs, best.sum_logprob, 0.0, best.looped))
    }

    /// The result of a decode that chose `sampled` (forced tokens first).
    fn result(
        &self,
        sampled: Vec<u32>,
        probs: Vec<f32>,
        sum_logprob: f32,
        temperature: f32,
        looped: bool,
    ) -> WindowResult {
        let forced = self.forced.len();
        let text = self.model.text(&sampled[forced..]);
        let cr = compression_ratio(&text);
        WindowResult {
            avg_logprob: sum_logprob / (sampled.len() - forced + 1) as f32,
            forced,
            probs,
            tokens: sampled,
            text,
            no_speech_prob: self.no_speech_prob,
            compression_ratio: cr,
            temperature,
            looped,
        }
    }

    /// Decode with temperature fallback: the first result that passes the thresholds; if none
    /// does, the one with the best average log-probability among those that are not repetitive
    /// (or among all, if every one is).
    pub fn run_with_fallback(
        &mut self,
        opts: &DecodeOptions,
        max_len: usize,
        rng: &mut Rng,
    ) -> Result<WindowResult, ModelError> {
        let temps = if opts.temperatures.is_empty() {
            vec![0.0]
        } else {
            opts.temperatures.clone()
        };
        let mut tried: Vec<WindowResult> = Vec::with_capacity(temps.len());
        for &temp in &temps {
            let r = self.run(temp, max_len, rng)?;
            if passes(&r, opts) {
                return Ok(r);
            }
            tried.push(r);
        }
        let repetitive = |r: &WindowResult| {
            r.looped
                || opts
                    .compression_ratio_threshold
                    .is_some_and(|th| r.compression_ratio > th)
        };
        let pool: Vec<WindowResult> = if tried.iter().any(|r| !repetitive(r)) {
            tried.into_iter().filter(|r| !repetitive(r)).collect()
        } else {
            tried
        };
        match pool
            .into_iter()
            .max_by(|a, b| a.avg_logprob.total_cmp(&b.avg_logprob))
        {
            Some(r) => Ok(r),
            None => self.run(0.0, max_len, rng),
        }
    }
}

/// Whether a decode result is good enough to keep without trying a higher temperature.
fn passes(r: &WindowResult, opts: &DecodeOptions) -> bool {
    // Silence: kept, and the caller skips the window.
    if let (Some(ns), Some(lp)) = (opts.no_speech_threshold, opts.logprob_threshold) {
        if r.no_speech_prob > ns && r.avg_logprob < lp {
            return true;
        }
    }
    is_fluent(r, opts)
}

/// Neither repetitive nor unlikely, by `opts`' thresholds.
fn is_fluent(r: &WindowResult, opts: &DecodeOptions) -> bool {
    let too_repetitive = r.looped
        || opts
            .compression_ratio_threshold
            .is_some_and(|th| r.compression_ratio > th);
    let too_unlikely = opts.logprob_threshold.is_some_and(|th| r.avg_logprob < th);
    !too_repetitive && !too_unlikely
}

/// Most likely language of encoded audio, with its probability.
pub fn detect_language(
    model: &Model,
    features: &Tensor,
) -> Result<(&'static str, f32), ModelError> {
    let t = &model.tokens;
    if !t.is_multilingual() {
        return Ok(("en", 1.0));
    }
    let mut state = model.net.start(features)?;
    let hidden = model.net.decode(&mut state, &[t.sot])?;
    let logits = model.net.logits(&hidden, 0);
    let lang: Vec<f32> = t
        .languages
        .iter()
        .map(|(_, id)| logits[*id as usize])
        .collect();
    let lp = log_softmax(&lang);
    let (best, p) = lp
        .iter()
        .enumerate()
        .max_by(|a, b| a.1.total_cmp(b.1))
        .map(|(i, p)| (i, p.exp()))
        .unwrap_or((0, 0.0));
    Ok((t.languages.get(best).map(|(c, _)| *c).unwrap_or("en"), p))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_likeliest_tokens_are_log_softmaxs_best() {
        let logits = [
            0.5,
            f32::NEG_INFINITY,
            3.0,
            -1.0,
            3.0,
            2.0,
            f32::NEG_INFINITY,
        ];
        let all = log_softmax(&logits);
        let top = top_log_probs(&logits, 3);
        assert_eq!(top, vec![(2, all[2]), (4, all[4]), (5, all[5])]);
        // Never a token that cannot be.
        let top = top_log_probs(&logits, 10);
        assert_eq!(top.len(), 5);
        assert!(top.iter().all(|(i, l)| *l == all[*i] && l.is_finite()));
        assert!(top.windows(2).all(|w| w[0].1 >= w[1].1));
        assert!(top_log_probs(&logits, 0).is_empty());
    }

    #[test]
    fn compression_ratio_rises_with_repetition() {
        let plain = "The quick brown fox jumps over the lazy dog near the river bank.";
        let looped = "I'm going to go. ".repeat(20);
        assert!(compression_ratio(plain) < 1.5);
        assert!(compression_ratio(&looped) > 2.4);
        assert_eq!(compression_ratio(""), 0.0);
    }

    #[test]
    fn a_short_loop_measures_as_zlib_measures_it() {
        // Whisper's 2.4 threshold is set on zlib's numbers; a window's loop is often this short
        // (zlib: 48 / 18 bytes = 2.67; a weaker compressor gives 1.5 and lets it through).
        let looped = " June, June, June, June, June, June, June, June.";
        assert!(
            (compression_ratio(looped) - 48.0 / 18.0).abs() < 1e-3,
            "{}",
            compression_ratio(looped)
        );
        assert!(compression_ratio(&" Thank you.".repeat(6)) > 2.4);
    }

    #[test]
    fn repetition_is_cut_after_second_copy() {
        let ts = 50_000;
        let mut seq = vec![1, 2, 3];
        for _ in 0..8 {
            seq.extend([7, 8, 9, 10, 11]);
        }
        let keep = repetition_cut(&seq, ts);
        assert_eq!(keep, Some(3 + 10));
        assert_eq!(repetition_cut(&[1, 2, 3, 4, 5, 6, 7, 8, 9], ts), None);
        assert_eq!(repetition_cut(&[5; 7], ts), None);
        assert_eq!(repetition_cut(&[5; 8], ts), Some(2));
    }

    #[test]
    fn sampler_is_uniform_enough() {
        let mut r = Rng::new(1);
        let mean: f32 = (0..10_000).map(|_| r.next_f32()).sum::<f32>() / 10_000.0;
        assert!((mean - 0.5).abs() < 0.02, "{mean}");
    }
}
