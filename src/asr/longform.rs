//! Transcription of audio of any length: 30-second windows, each advanced to the last complete
//! segment's timestamp, previous text carried as the prompt, silent windows skipped.

use super::align::WordTiming;
use super::chunks::{self, Chunk};
use super::decode::{detect_language, DecodeOptions, Rng, Task, WindowDecoder, WindowResult};
use super::mel::{HOP, N_FRAMES, SAMPLE_RATE};
use super::{heard, Model, ModelError};
use crate::audio::vad::Vad;
use crate::transcript::{Segment, Transcript, Word};

/// Seconds per timestamp token.
const TIME_PRECISION: f64 = 0.02;
/// Mel frames per audio position of the encoder.
const INPUT_STRIDE: usize = 2;

/// New tokens a streaming window of `secs` seconds is let decode: some twice the fastest speech
/// (about 5 tokens a second with its timestamps). A decoder still going past it is looping or
/// sampling at a high temperature; cutting it there only saves the time (up to 224 tokens at a
/// temperature that fails anyway).
fn window_token_budget(secs: f64) -> usize {
    (12.0 + 10.0 * secs).ceil() as usize
}

fn frames_to_secs(frames: usize) -> f64 {
    (frames * HOP) as f64 / SAMPLE_RATE as f64
}

/// The start-of-transcript sequence for the task and language.
fn sot_sequence(model: &Model, language: &str, task: Task) -> Vec<u32> {
    let t = &model.tokens;
    let mut seq = vec![t.sot];
    if t.is_multilingual() {
        if let Some(l) = t.language_token(language) {
            seq.push(l);
        }
        let task_tok = match task {
            Task::Transcribe => t.transcribe,
            Task::Translate => t.translate,
        };
        seq.extend(task_tok);
    }
    seq
}

/// The decoder's prompt: `<|startofprev|>`, the vocabulary and the end of the previous text
/// (if any), within Whisper's budget of half the text context, then the start-of-transcript
/// sequence. The vocabulary is kept whole (up to the budget); the previous text gives way.
fn decoder_input(
    model: &Model,
    vocabulary: &[u32],
    prev: &[u32],
    language: &str,
    task: Task,
) -> Vec<u32> {
    let mut input = Vec::new();
    if !prev.is_empty() || !vocabulary.is_empty() {
        let budget = model.net.dims.n_text_ctx / 2 - 1;
        let vocabulary = &vocabulary[..vocabulary.len().min(budget)];
        let keep = (budget - vocabulary.len()).min(prev.len());
        input.push(model.tokens.sot_prev);
        input.extend(vocabulary);
        input.extend(&prev[prev.len() - keep..]);
    }
    input.extend(sot_sequence(model, language, task));
    input
}

/// The vocabulary as the decoder reads it: " Claflin, Dashwood, ratatui."
pub fn vocabulary_tokens(model: &Model, vocabulary: &[String]) -> Vec<u32> {
    let words: Vec<&str> = vocabulary
        .iter()
        .map(|w| w.trim())
        .filter(|w| !w.is_empty())
        .collect();
    if words.is_empty() {
        return Vec::new();
    }
    model
        .tokenizer
        .encode(format!(" {}.", words.join(", ")), false)
        .map(|e| e.get_ids().to_vec())
        .unwrap_or_default()
}

/// Whisper's no-speech rule: likely silence, and nothing said with confidence.
fn is_silence(result: &WindowResult, opts: &DecodeOptions) -> bool {
    match (opts.no_speech_threshold, opts.logprob_threshold) {
        (Some(ns), Some(lp)) => result.no_speech_prob > ns && result.avg_logprob < lp,
        _ => false,
    }
}

/// What a transcription carries from one chunk to the next: the language, and the text said
/// before, which the next window is given as its prompt.
#[derive(Debug, Clone, Default)]
pub struct Carry {
    /// The language decoded in: asked for, or detected in the first speech.
    pub language: Option<String>,
    /// Text tokens of what was said before (the end of it is the next window's prompt).
    pub prompt: Vec<u32>,
}

impl Carry {
    /// The start of a transcription: the language and the initial prompt of `opts`.
    pub fn new(model: &Model, opts: &DecodeOptions) -> Self {
        let mut prompt = Vec::new();
        if let Some(p) = opts
            .initial_prompt
            .as_deref()
            .filter(|p| !p.trim().is_empty())
        {
            if let Ok(enc) = model.tokenizer.encode(format!(" {}", p.trim()), false) {
                prompt.extend(enc.get_ids());
            }
        }
        Self {
            language: opts.language.clone(),
            prompt,
        }
    }
}

/// Transcribe 16 kHz mono samples: cut into chunks at pauses ([`chunks`]), each heard whole
/// with the text before it as its prompt. `on_segment` sees each segment as soon as it is final.
pub fn transcribe(
    model: &Model,
    samples: &[f32],
    opts: &DecodeOptions,
    on_segment: &mut dyn FnMut(&Segment),
) -> Result<Transcript, ModelError> {
    model.check_options(opts)?;
    let mut vad = Vad::remembering_all();
    vad.feed(samples);
    let mut carry = Carry::new(model, opts);
    let mut segments = Vec::new();
    for chunk in chunks::chunks_of(&vad, samples.len() as u64) {
        let part = &samples[chunk.start as usize..(chunk.end as usize).min(samples.len())];
        for s in transcribe_chunk(model, part, &chunk, &vad, opts, &mut carry)? {
            on_segment(&s);
            segments.push(s);
        }
    }
    Ok(Transcript {
        language: carry.language.unwrap_or_else(|| "en".into()),
        duration: samples.len() as f64 / SAMPLE_RATE as f64,
        segments,
    })
}

/// Transcribe one chunk, `samples` being its audio, in 30-second windows each advanced to the
/// last complete segment; `vad` has judged the stream the chunk belongs to, and `carry` brings
/// the text said before and takes this chunk's. Times are seconds of the stream.
pub fn transcribe_chunk(
    model: &Model,
    samples: &[f32],
    chunk: &Chunk,
    vad: &Vad,
    opts: &DecodeOptions,
    carry: &mut Carry,
) -> Result<Vec<Segment>, ModelError> {
    let offset = chunk.start as f64 / SAMPLE_RATE as f64;
    let end = offset + samples.len() as f64 / SAMPLE_RATE as f64;
    let mel = model.mel.compute(samples);
    let content_frames = mel.n_frames;
    let sample_len = model.net.dims.n_text_ctx / 2;
    // Across a pause the text before is not the prompt: what follows is often another speaker,
    // and a prompt of someone else's words (or of their misrecognition) leads the decoder
    // astray. Measured on stream-dev and the wide stream against each clip transcribed alone
    // (tiny.en; BENCHMARKS.md): with the prompt carried across pauses of up to 3 s, 408
    // errors against the clips' 355, 59 sentences worse and 45 better; with none, 345.
    if chunk.gap.is_finite() && chunk.gap >= chunks::PAUSE_SECS {
        carry.prompt.clear();
    }
    let mut segments: Vec<Segment> = Vec::new();
    let mut rng = Rng::new(opts.seed);
    let mut seek = 0usize;
    let vocabulary = vocabulary_tokens(model, &opts.vocabulary);

    while seek < content_frames {
        let segment_size = N_FRAMES.min(content_frames - seek);
        let time_offset = offset + frames_to_secs(seek);
        let window = mel.window(seek, segment_size)?;
        let features = model.net.encode(&window)?;
        let lang = match &carry.language {
            Some(l) => l.clone(),
            None => {
                let (code, _) = detect_language(model, &features)?;
                carry.language = Some(code.to_string());
                code.to_string()
            }
        };
        let input = decoder_input(model, &vocabulary, &carry.prompt, &lang, opts.task);
        let mut dec = WindowDecoder::new(model, &features, &input, opts)?;
        let mut result = dec.run_with_fallback(opts, sample_len, &mut rng)?;

        if is_silence(&result, opts) {
            seek += segment_size;
            continue;
        }

        let mut split = split_window(model, &result, time_offset, segment_size);
        // The window holds the rest of the chunk, and a pause after it, yet the text stopped at
        // the opening timestamp of a segment, as if its speech went on past the window: the
        // decoder is asked to go on in this window (the same audio, the whole chunk in view)
        // before the rest is heard again in a window of its own.
        if seek + segment_size == content_frames
            && split.advance < segment_size
            && opens_unwritten_segment(model, &result)
        {
            if let Some(more) = dec.continue_after(&result, opts, sample_len, &mut rng)? {
                let more_split = split_window(model, &more, time_offset, segment_size);
                if more_split.advance > split.advance {
                    result = more;
                    split = more_split;
                }
            }
        }
        let mut new_segments = split.segments;
        let kept: usize = new_segments.iter().map(|s| s.tokens.len()).sum();
        let words = dec.align(
            &result.tokens[..kept],
            &result.probs[..kept],
            &sot_sequence(model, &lang, opts.task),
            segment_size / INPUT_STRIDE,
        )?;
        attach_words(model, &mut new_segments, &words, time_offset);
        let window_start = seek;
        seek += split.advance;
        // A decode cut short in a loop covers the audio up to its last word; the rest is heard
        // again in the next window, so nothing said after it is skipped.
        if result.looped {
            if let Some(last) = new_segments.iter().rev().find_map(|s| s.words.last()) {
                seek = seek.min(frames_from_secs(last.end - offset));
            }
        }
        // A window that produced nothing usable must still move forward.
        if seek <= window_start {
            seek = window_start + segment_size;
        }

        for mut s in new_segments {
            s.end = s.end.min(end);
            s.start = s.start.min(s.end);
            for w in &mut s.words {
                w.end = w.end.min(s.end);
                w.start = w.start.min(w.end);
            }
            if s.start == s.end || s.text.is_empty() {
                continue;
            }
            if !keep_heard(model, &mut s, vad, end, &lang) {
                continue;
            }
            start_with_sound(&mut s, vad);
            carry.prompt.extend(s.tokens.iter().copied());
            segments.push(s);
        }
        if !opts.condition_on_previous_text || result.temperature > 0.5 {
            carry.prompt.clear();
        }
    }
    Ok(segments)
}

/// Whether a decoded window ends with two timestamps: one closing a segment, one opening the
/// next, whose text the decoder left to the next window.
fn opens_unwritten_segment(model: &Model, result: &WindowResult) -> bool {
    let ts = model.tokens.timestamp_begin;
    let n = result.tokens.len();
    !result.looped && n >= 2 && result.tokens[n - 2] >= ts && result.tokens[n - 1] >= ts
}

/// Keep only the words of a segment that have speech under them ([`heard::spoken`]) in audio
/// ending at `end`; if some go, its text and tokens are what is left. `false` if none is left.
fn keep_heard(model: &Model, s: &mut Segment, vad: &Vad, end: f64, language: &str) -> bool {
    if s.words.is_empty() {
        return true;
    }
    let n = s.words.len();
    s.words = heard::spoken(std::mem::take(&mut s.words), vad, end);
    if s.words.len() == n {
        return true;
    }
    let (Some(first), Some(last)) = (s.words.first(), s.words.last()) else {
        return false;
    };
    s.start = first.start;
    s.end = last.end;
    s.text = heard::join(&s.words, language);
    s.tokens = model
        .tokenizer
        .encode(format!(" {}", s.text), false)
        .map(|e| e.get_ids().to_vec())
        .unwrap_or_default();
    true
}

/// A word that begins with a pause of a fifth of a second or more starts where its sound does:
/// alignment lets the first word after a pause take the pause. (On the LJSpeech recording,
/// 3 sentences in 32 began 0.4-0.5 s before their speech without this.)
fn start_with_sound(s: &mut Segment, vad: &Vad) {
    let at = |t: f64| (t.max(0.0) * SAMPLE_RATE as f64) as u64;
    let pause = at(0.2);
    for w in &mut s.words {
        if let Some(p) = vad.after_pause(at(w.start), at(w.end), pause) {
            w.start = p as f64 / SAMPLE_RATE as f64;
        }
    }
    if let Some(first) = s.words.first() {
        s.start = s.start.max(first.start);
    }
}

/// Give each segment its words (`words` timed from `offset`, over the segments' text tokens in
/// order), and let the words and the segment's bounds agree: a segment is where its words are,
/// unless its first or last word has swallowed a pause the timestamps saw (openai-whisper's
/// rules). Words stay inside their segment, in order.
pub fn attach_words(model: &Model, segments: &mut [Segment], words: &[WordTiming], offset: f64) {
    let eot = model.tokens.eot;
    let mut durations: Vec<f64> = words.iter().map(|w| w.end - w.start).collect();
    durations.sort_by(f64::total_cmp);
    let median = durations
        .get(durations.len() / 2)
        .copied()
        .unwrap_or(0.0)
        .min(0.7);
    let mut first_token = 0usize;
    let mut next = 0usize;
    for seg in segments.iter_mut() {
        let n_text = seg.tokens.iter().filter(|&&t| t < eot).count();
        let upto = first_token + n_text;
        let mut mine: Vec<Word> = Vec::new();
        while next < words.len() && words[next].first_token < upto {
            let w = &words[next];
            let text = w.text.trim();
            if !text.is_empty() {
                mine.push(Word {
                    text: text.to_string(),
                    start: offset + w.start,
                    end: offset + w.end,
                    probability: w.probability,
                });
            }
            next += 1;
        }
        first_token = upto;
        if let (Some(first), Some(last)) = (mine.first().cloned(), mine.last().cloned()) {
            if seg.start < first.end && seg.start - 0.5 > first.start {
                mine[0].start = (first.end - median).min(seg.start).max(0.0);
            } else {
                seg.start = first.start;
            }
            let n = mine.len();
            if seg.end > last.start && seg.end + 0.5 < last.end {
                mine[n - 1].end = (last.start + median).max(seg.end);
            } else {
                seg.end = last.end;
            }
        }
        let mut t = seg.start;
        for w in &mut mine {
            w.start = w.start.clamp(t, seg.end.max(t));
            w.end = w.end.clamp(w.start, seg.end.max(w.start));
            t = w.end;
        }
        seg.words = mine;
    }
}

/// A decoded window cut at its timestamp tokens.
struct Split {
    /// Segments closed by a timestamp (or the whole window, if it has no inner timestamps).
    segments: Vec<Segment>,
    /// Text after the last closed segment, which the window cut off.
    tail: Option<Segment>,
    /// Mel frames to advance: to the last closing timestamp, or the whole window.
    advance: usize,
}

fn split_window(model: &Model, result: &WindowResult, time_offset: f64, size: usize) -> Split {
    let t = &model.tokens;
    let tokens = &result.tokens;
    let is_ts = |x: u32| x >= t.timestamp_begin;
    let at = |x: u32| time_offset + x.saturating_sub(t.timestamp_begin) as f64 * TIME_PRECISION;
    let n = tokens.len();
    let single_ts_ending = n >= 2 && !is_ts(tokens[n - 2]) && is_ts(tokens[n - 1]);
    let consecutive: Vec<usize> = (1..n)
        .filter(|&i| is_ts(tokens[i - 1]) && is_ts(tokens[i]))
        .collect();
    let make = |slice: &[u32], start: f64, end: f64| Segment {
        start,
        end,
        text: model.text(slice).trim().to_string(),
        tokens: slice.to_vec(),
        avg_logprob: result.avg_logprob,
        no_speech_prob: result.no_speech_prob,
        temperature: result.temperature,
        words: Vec::new(),
        speaker: None,
    };
    let window_end = time_offset + frames_to_secs(size);
    let mut segments = Vec::new();
    if consecutive.is_empty() {
        let mut end = window_end;
        if let Some(&last_ts) = tokens.iter().rev().find(|&&x| is_ts(x)) {
            if last_ts != t.timestamp_begin {
                end = at(last_ts);
            }
        }
        segments.push(make(tokens, time_offset, end));
        return Split {
            segments,
            tail: None,
            advance: size,
        };
    }
    let mut slices = consecutive;
    if single_ts_ending {
        slices.push(n);
    }
    let mut last = 0;
    for &cur in &slices {
        let s = &tokens[last..cur];
        if let (Some(&a), Some(&b)) = (s.first(), s.last()) {
            segments.push(make(s, at(a), at(b)));
        }
        last = cur;
    }
    if single_ts_ending {
        return Split {
            segments,
            tail: None,
            advance: size,
        };
    }
    let tail = tokens[last..]
        .first()
        .map(|&a| make(&tokens[last..], at(a), window_end))
        .filter(|s| !s.text.is_empty());
    let last_ts = tokens[last - 1].saturating_sub(t.timestamp_begin) as usize;
    Split {
        segments,
        tail,
        advance: last_ts * INPUT_STRIDE,
    }
}

/// What one streaming window holds.
#[derive(Debug, Clone, Default)]
pub struct WindowText {
    /// Timed segments, the last one possibly cut off by the end of the audio; the first one
    /// begins with the forced prefix, if any.
    pub segments: Vec<Segment>,
    /// The words after the forced prefix, timed by alignment, in seconds of the stream.
    pub words: Vec<Word>,
    /// Whisper judged the window to be silence.
    pub silent: bool,
    /// Average log-probability of the tokens decoded after the prefix.
    pub avg_logprob: f32,
    /// Compression ratio of the text decoded after the prefix.
    pub compression_ratio: f32,
}

/// Text known to have been said at the start of a streaming window: decoding is forced to begin
/// with it and carries on after it.
#[derive(Debug, Clone, Default)]
pub struct Prefix {
    /// Its text tokens.
    pub tokens: Vec<u32>,
    /// Seconds from the window's start where it begins.
    pub start: f64,
}

/// Transcribe at most 30 seconds of 16 kHz samples in one decoder pass, keeping the text the
/// window cuts off at its end (long-form transcription would decode it again in the next
/// window). `time_offset` is added to every timestamp; `prompt` is text said before the audio;
/// `prefix`, if it has tokens, is what the window's audio begins with.
pub fn transcribe_window(
    model: &Model,
    samples: &[f32],
    time_offset: f64,
    prompt: &[u32],
    prefix: &Prefix,
    language: &str,
    opts: &DecodeOptions,
) -> Result<WindowText, ModelError> {
    let mel = model.mel.compute(samples);
    let size = mel.n_frames.min(N_FRAMES);
    if size == 0 {
        return Ok(WindowText::default());
    }
    let features = model.net.encode(&mel.window(0, size)?)?;
    let vocabulary = vocabulary_tokens(model, &opts.vocabulary);
    let input = decoder_input(model, &vocabulary, prompt, language, opts.task);
    let mut forced = Vec::new();
    if !prefix.tokens.is_empty() {
        let ts = (prefix.start.max(0.0) / TIME_PRECISION).round() as u32;
        forced.push(model.tokens.timestamp_begin + ts.min(1500));
        forced.extend(&prefix.tokens);
    }
    // Room for the prompt, the prefix and a window's worth of new text.
    let sample_len = model.net.dims.n_text_ctx / 2;
    if input.len() + forced.len() + sample_len > model.net.dims.n_text_ctx {
        forced.truncate(0);
    }
    let mut rng = Rng::new(opts.seed);
    let mut dec = WindowDecoder::with_prefix(model, &features, &input, &forced, opts)?;
    let budget = window_token_budget(samples.len() as f64 / SAMPLE_RATE as f64);
    let result = dec.run_with_fallback(opts, sample_len.min(budget), &mut rng)?;
    let fresh = result.tokens.len() - result.forced;
    if forced.is_empty() && is_silence(&result, opts) {
        return Ok(WindowText {
            silent: true,
            ..WindowText::default()
        });
    }
    let timings = dec.align(
        &result.tokens,
        &result.probs,
        &sot_sequence(model, language, opts.task),
        size / INPUT_STRIDE,
    )?;
    let split = split_window(model, &result, time_offset, size);
    let end = time_offset + samples.len() as f64 / SAMPLE_RATE as f64;
    let mut segments: Vec<Segment> = split.segments.into_iter().chain(split.tail).collect();
    attach_words(model, &mut segments, &timings, time_offset);
    let prefix_words = timings
        .iter()
        .filter(|w| w.first_token < prefix.tokens.len() && !w.text.trim().is_empty())
        .count();
    let words: Vec<Word> = if fresh == 0 {
        Vec::new()
    } else {
        segments
            .iter()
            .flat_map(|s| s.words.iter().cloned())
            .skip(if forced.is_empty() { 0 } else { prefix_words })
            .map(|mut w| {
                w.end = w.end.min(end);
                w.start = w.start.min(w.end);
                w
            })
            .collect()
    };
    let segments = segments
        .into_iter()
        .filter_map(|mut s| {
            s.end = s.end.min(end);
            s.start = s.start.min(s.end);
            (!s.text.is_empty()).then_some(s)
        })
        .collect();
    Ok(WindowText {
        segments,
        words,
        silent: false,
        avg_logprob: result.avg_logprob,
        compression_ratio: result.compression_ratio,
    })
}

/// The language to decode in: the one asked for, or the one detected in the first 30 seconds.
pub fn choose_language(
    model: &Model,
    samples: &[f32],
    opts: &DecodeOptions,
) -> Result<String, ModelError> {
    if let Some(l) = &opts.language {
        return Ok(l.clone());
    }
    if !model.tokens.is_multilingual() {
        return Ok("en".into());
    }
    let mel = model.mel.compute(samples);
    let features = model
        .net
        .encode(&mel.window(0, mel.n_frames.min(N_FRAMES))?)?;
    Ok(detect_language(model, &features)?.0.to_string())
}

fn frames_from_secs(s: f64) -> usize {
    (s * SAMPLE_RATE as f64 / HOP as f64).round() as usize
}
