//! Word times from the decoder's cross-attention. The decoder is run once more over a window's
//! text; the attention of its alignment heads (the heads whose attention follows the audio, as
//! listed with the model) is normalised, median-filtered and averaged, and dynamic time warping
//! finds the monotonic path of tokens through the audio frames. A word starts where the path
//! reaches its first token. This is the method of openai-whisper's `timing.py`.

use std::path::Path;

use super::Model;

/// Seconds per encoder position.
const SECS_PER_POSITION: f64 = 0.02;
/// Width of the median filter over time, in encoder positions.
const MEDIAN_WIDTH: usize = 7;
/// Punctuation that belongs to the word after it, and to the word before it.
const PREPENDED: &str = "\"'“¿([{-";
const APPENDED: &str = "\"'.。,，!！?？:：”)]}、";

/// One word of a window's text with its time in the audio.
#[derive(Debug, Clone, PartialEq)]
pub struct WordTiming {
    /// The word as decoded, with a leading space when the text has one.
    pub text: String,
    /// Index of its first token among the text tokens aligned.
    pub first_token: usize,
    /// Number of text tokens it is made of.
    pub n_tokens: usize,
    /// Seconds from the start of the window.
    pub start: f64,
    pub end: f64,
    /// Mean probability of its tokens when they were decoded.
    pub probability: f32,
}

#[derive(serde::Deserialize)]
struct HeadsFile {
    #[serde(default)]
    alignment_heads: Option<Vec<(usize, usize)>>,
}

/// The alignment heads (layer, head) listed with a model: `alignment_heads` in a CTranslate2
/// `config.json` or a Hugging Face `generation_config.json`. Without a usable list, every head
/// of the second half of the decoder's layers, as openai-whisper does for models it does not know.
pub fn alignment_heads(dir: &Path, layers: usize, heads: usize) -> Vec<(usize, usize)> {
    let listed = ["config.json", "generation_config.json"]
        .iter()
        .filter_map(|f| std::fs::read_to_string(dir.join(f)).ok())
        .filter_map(|t| serde_json::from_str::<HeadsFile>(&t).ok())
        .find_map(|h| h.alignment_heads)
        .filter(|h| !h.is_empty() && h.iter().all(|&(l, hh)| l < layers && hh < heads));
    listed.unwrap_or_else(|| {
        (layers / 2..layers)
            .flat_map(|l| (0..heads).map(move |h| (l, h)))
            .collect()
    })
}

/// Median of each row's values over a sliding window of `width` (odd), edges reflected.
fn median_filter(row: &mut [f32], width: usize) {
    let n = row.len();
    let half = width / 2;
    if n <= half {
        return;
    }
    let src = row.to_vec();
    let at = |i: isize| -> f32 {
        let mut i = i;
        if i < 0 {
            i = -i;
        }
        if i >= n as isize {
            i = 2 * (n as isize - 1) - i;
        }
        src[i.clamp(0, n as isize - 1) as usize]
    };
    let mut win = vec![0f32; width];
    for (j, out) in row.iter_mut().enumerate() {
        for (k, w) in win.iter_mut().enumerate() {
            *w = at(j as isize + k as isize - half as isize);
        }
        win.sort_by(f32::total_cmp);
        *out = win[half];
    }
}

/// The cheapest monotonic path through `cost` (rows × cols, row-major) from the top-left to the
/// bottom-right corner, as (row, col) pairs in order.
pub fn dtw(cost: &[f32], rows: usize, cols: usize) -> Vec<(usize, usize)> {
    if rows == 0 || cols == 0 {
        return Vec::new();
    }
    let w = cols + 1;
    let mut acc = vec![f32::INFINITY; (rows + 1) * w];
    // 0: diagonal, 1: from above (next token, same frame), 2: from the left (next frame).
    let mut trace = vec![0u8; (rows + 1) * w];
    acc[0] = 0.0;
    for j in 1..=cols {
        for i in 1..=rows {
            let c0 = acc[(i - 1) * w + j - 1];
            let c1 = acc[(i - 1) * w + j];
            let c2 = acc[i * w + j - 1];
            let (c, t) = if c0 < c1 && c0 < c2 {
                (c0, 0)
            } else if c1 < c0 && c1 < c2 {
                (c1, 1)
            } else {
                (c2, 2)
            };
            acc[i * w + j] = cost[(i - 1) * cols + j - 1] + c;
            trace[i * w + j] = t;
        }
    }
    let (mut i, mut j) = (rows, cols);
    let mut path = Vec::with_capacity(rows + cols);
    while i > 0 || j > 0 {
        path.push((i.saturating_sub(1), j.saturating_sub(1)));
        let t = if i == 0 {
            2
        } else if j == 0 {
            1
        } else {
            trace[i * w + j]
        };
        match t {
            0 => {
                i -= 1;
                j -= 1;
            }
            1 => i -= 1,
            _ => j -= 1,
        }
    }
    path.reverse();
    path
}

/// Split text tokens into words: a word starts at a token that begins with a space, at
/// punctuation, and at the first token; tokens that are only part of a character stay together.
/// Returns each word's text and its number of tokens.
pub fn split_words(model: &Model, tokens: &[u32]) -> Vec<(String, usize)> {
    let mut words: Vec<(String, usize)> = Vec::new();
    let mut pending: Vec<u32> = Vec::new();
    for &t in tokens {
        pending.push(t);
        let piece = model.tokenizer.decode(&pending, false).unwrap_or_default();
        if piece.contains('\u{FFFD}') && pending.len() < 4 {
            continue;
        }
        let n = pending.len();
        pending.clear();
        let trimmed = piece.trim();
        let punctuation = !trimmed.is_empty() && trimmed.chars().all(|c| c.is_ascii_punctuation());
        match words.last_mut() {
            Some(last) if !piece.starts_with(' ') && !punctuation => {
                last.0.push_str(&piece);
                last.1 += n;
            }
            _ => words.push((piece, n)),
        }
    }
    if !pending.is_empty() {
        let piece = model.tokenizer.decode(&pending, false).unwrap_or_default();
        words.push((piece, pending.len()));
    }
    words
}

/// Word times for `text` tokens (no timestamps) decoded against one window. `scores` are the
/// alignment heads' cross-attention scores for the alignment pass's tokens, `rows` × `cols`
/// each, where the pass was the start sequence (`sot_len` tokens), `<|notimestamps|>`, the text
/// and end-of-text. `frames` is how many encoder positions hold audio. `probs` is each text
/// token's probability.
pub fn word_timings(
    model: &Model,
    text: &[u32],
    probs: &[f32],
    scores: &[Vec<f32>],
    sot_len: usize,
    cols: usize,
    frames: usize,
) -> Vec<WordTiming> {
    let rows = sot_len + text.len() + 2;
    let frames = frames.clamp(1, cols);
    if text.is_empty() || scores.is_empty() {
        return Vec::new();
    }
    // Per head: softmax over the audio frames, then standardise each frame over the tokens,
    // then a median filter over time; the heads are averaged.
    let mut matrix = vec![0f32; rows * frames];
    for s in scores {
        if s.len() < rows * cols {
            return Vec::new();
        }
        let mut w: Vec<f32> = (0..rows)
            .flat_map(|r| s[r * cols..r * cols + frames].iter().copied())
            .collect();
        for row in w.chunks_mut(frames) {
            let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let mut sum = 0.0;
            for x in row.iter_mut() {
                *x = (*x - max).exp();
                sum += *x;
            }
            for x in row.iter_mut() {
                *x /= sum;
            }
        }
        for f in 0..frames {
            let mean = (0..rows).map(|r| w[r * frames + f]).sum::<f32>() / rows as f32;
            let var = (0..rows)
                .map(|r| (w[r * frames + f] - mean).powi(2))
                .sum::<f32>()
                / rows as f32;
            let std = var.sqrt().max(1e-10);
            for r in 0..rows {
                w[r * frames + f] = (w[r * frames + f] - mean) / std;
            }
        }
        for (row, acc) in w.chunks_mut(frames).zip(matrix.chunks_mut(frames)) {
            median_filter(row, MEDIAN_WIDTH);
            for (a, x) in acc.iter_mut().zip(row.iter()) {
                *a += x / scores.len() as f32;
            }
        }
    }
    // Rows that predict the text tokens and end-of-text: from <|notimestamps|> to the last text
    // token.
    let first = sot_len;
    let n = text.len() + 1;
    let cost: Vec<f32> = matrix[first * frames..(first + n) * frames]
        .iter()
        .map(|x| -x)
        .collect();
    let path = dtw(&cost, n, frames);
    // The frame where the path first reaches each token.
    let mut jump = vec![0usize; n];
    let mut last_row = None;
    for &(r, c) in &path {
        if last_row != Some(r) {
            jump[r] = c;
            last_row = Some(r);
        }
    }
    let time = |row: usize| jump[row.min(n - 1)] as f64 * SECS_PER_POSITION;
    let mut out = Vec::new();
    let mut at = 0usize;
    for (word, count) in split_words(model, text) {
        let p: f32 = probs
            .get(at..at + count)
            .map_or(0.0, |p| p.iter().sum::<f32>() / count.max(1) as f32);
        out.push(WordTiming {
            text: word,
            first_token: at,
            n_tokens: count,
            start: time(at),
            end: time(at + count),
            probability: p,
        });
        at += count;
    }
    merge_punctuation(&mut out);
    limit_long_words(&mut out);
    out
}

/// Attach opening punctuation to the word after it and closing punctuation to the word before.
fn merge_punctuation(words: &mut Vec<WordTiming>) {
    let is = |w: &WordTiming, set: &str| {
        let t = w.text.trim();
        !t.is_empty() && t.chars().all(|c| set.contains(c))
    };
    let mut i = 0;
    while i < words.len() {
        if i > 0 && is(&words[i], APPENDED) && !words[i].text.starts_with(' ') {
            let w = words.remove(i);
            let prev = &mut words[i - 1];
            prev.text.push_str(&w.text);
            prev.n_tokens += w.n_tokens;
            prev.end = prev.end.max(w.end);
            continue;
        }
        if i + 1 < words.len() && is(&words[i], PREPENDED) && words[i].text.trim() != "-" {
            let w = words.remove(i);
            let next = &mut words[i];
            next.text = format!("{}{}", w.text, next.text.trim_start());
            next.first_token = w.first_token;
            next.n_tokens += w.n_tokens;
            next.start = w.start.min(next.start);
            continue;
        }
        i += 1;
    }
}

/// A word far longer than is usual at a sentence boundary has swallowed a pause: cut it to
/// twice the median word length (at most 0.7 s), as openai-whisper does.
fn limit_long_words(words: &mut [WordTiming]) {
    let mut durations: Vec<f64> = words
        .iter()
        .map(|w| w.end - w.start)
        .filter(|d| *d > 0.0)
        .collect();
    if durations.is_empty() {
        return;
    }
    durations.sort_by(f64::total_cmp);
    let median = durations[durations.len() / 2].min(0.7);
    let max = median * 2.0;
    let ends = |w: &WordTiming| {
        w.text
            .trim_end()
            .ends_with(['.', '?', '!', '。', '！', '？'])
    };
    for i in 1..words.len() {
        if words[i].end - words[i].start > max {
            if ends(&words[i]) {
                words[i].end = words[i].start + max;
            } else if ends(&words[i - 1]) {
                words[i].start = words[i].end - max;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dtw_follows_the_cheap_diagonal() {
        // Three tokens over six frames: token k is cheap on frames 2k and 2k+1.
        let (rows, cols) = (3, 6);
        let cost: Vec<f32> = (0..rows * cols)
            .map(|i| if (i % cols) / 2 == i / cols { 0.0 } else { 1.0 })
            .collect();
        let path = dtw(&cost, rows, cols);
        assert_eq!(path.first(), Some(&(0, 0)));
        assert_eq!(path.last(), Some(&(2, 5)));
        let starts: Vec<usize> = (0..rows)
            .map(|r| path.iter().find(|p| p.0 == r).map_or(99, |p| p.1))
            .collect();
        assert_eq!(starts, vec![0, 2, 4]);
        // Monotonic in both coordinates.
        assert!(path
            .windows(2)
            .all(|w| w[1].0 >= w[0].0 && w[1].1 >= w[0].1));
    }

    #[test]
    fn median_filter_removes_spikes_and_keeps_steps() {
        let mut row = vec![0.0, 0.0, 9.0, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0, 1.0];
        median_filter(&mut row, 3);
        assert_eq!(row, vec![0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0, 1.0]);
    }

    fn wt(text: &str, start: f64, end: f64) -> WordTiming {
        WordTiming {
            text: text.into(),
            first_token: 0,
            n_tokens: 1,
            start,
            end,
            probability: 1.0,
        }
    }

    #[test]
    fn punctuation_joins_its_word() {
        let mut w = vec![
            wt(" Hello", 0.0, 0.5),
            wt(",", 0.5, 0.6),
            wt(" (", 0.6, 0.7),
            wt("world", 0.7, 1.0),
            wt(".", 1.0, 1.1),
        ];
        merge_punctuation(&mut w);
        let t: Vec<&str> = w.iter().map(|w| w.text.as_str()).collect();
        assert_eq!(t, vec![" Hello,", " (world."]);
        assert_eq!(w[1].start, 0.6);
        assert_eq!(w[1].end, 1.1);
    }

    #[test]
    fn a_word_after_a_sentence_end_does_not_swallow_the_pause() {
        let mut w = vec![
            wt(" one", 0.0, 0.3),
            wt(" two.", 0.3, 0.6),
            wt(" three", 0.6, 3.0),
            wt(" four", 3.0, 3.3),
        ];
        limit_long_words(&mut w);
        assert!((w[2].start - 2.4).abs() < 1e-9, "{:?}", w[2]);
    }
}
