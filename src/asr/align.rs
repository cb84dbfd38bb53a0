//! Word times from the decoder's cross-attention. The decoder is run once more over a window's
//! text; the attention of its alignment heads (the heads whose attention follows the audio, as
//! listed with the model) is normalised, median-filtered and averaged, and dynamic time warping
//! finds the monotonic path of tokens through the audio frames. A word starts where the path
//! reaches its first token. This is the method of openai-whisper's `timing.py`.

use std::path::Path;

use rayon::prelude::*;

use super::Model;
use crate::transcript::ends_sentence;

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
    // The row with `half` values reflected on each side.
    let reflect = |i: usize| -> usize {
        let i = i.abs_diff(half);
        if i >= n {
            (2 * (n - 1)).saturating_sub(i).min(n - 1)
        } else {
            i
        }
    };
    let mut padded: Vec<f32> = (0..half).map(|i| row[reflect(i)]).collect();
    padded.extend_from_slice(row);
    padded.extend((0..half).map(|i| row[reflect(i + n + half)]));
    if width == MEDIAN_WIDTH {
        median7(&padded, row);
        return;
    }
    let mut win = vec![0f32; width];
    for (j, out) in row.iter_mut().enumerate() {
        win.copy_from_slice(&padded[j..j + width]);
        win.sort_by(f32::total_cmp);
        *out = win[half];
    }
}

/// Lanes of [`median7`]: one vector register of f32s.
const LANES: usize = 16;

/// `out[j]` = the median of `padded[j..j + 7]`: seven values sorted by a network of 16
/// compare-exchanges (each a min and a max), `LANES` outputs side by side.
fn median7(padded: &[f32], out: &mut [f32]) {
    const NETWORK: [(usize, usize); 16] = [
        (0, 6),
        (2, 3),
        (4, 5),
        (0, 2),
        (1, 4),
        (3, 6),
        (0, 1),
        (2, 5),
        (3, 4),
        (1, 2),
        (4, 6),
        (2, 3),
        (4, 5),
        (1, 2),
        (3, 4),
        (5, 6),
    ];
    for (b, chunk) in out.chunks_mut(LANES).enumerate() {
        let at = b * LANES;
        let mut v = [[0f32; LANES]; 7];
        for (k, lane) in v.iter_mut().enumerate() {
            for (x, &y) in lane.iter_mut().zip(&padded[at + k..at + k + chunk.len()]) {
                *x = y;
            }
        }
        for (a, c) in NETWORK {
            let (x, y) = (v[a], v[c]);
            v[a] = std::array::from_fn(|l| x[l].min(y[l]));
            v[c] = std::array::from_fn(|l| x[l].max(y[l]));
        }
        chunk.copy_from_slice(&v[3][..chunk.len()]);
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

/// One head's weights over the first `frames` of its `rows` × `cols` scores: softmax over the
/// audio frames, then each frame standardised over the tokens, then a median filter over time.
/// `None` if the scores are fewer than that.
fn head_weights(s: &[f32], rows: usize, cols: usize, frames: usize) -> Option<Vec<f32>> {
    if s.len() < rows * cols {
        return None;
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
    // Each frame's mean and deviation over the tokens, summed a row at a time.
    let mut mean = vec![0f32; frames];
    for row in w.chunks(frames) {
        for (m, &x) in mean.iter_mut().zip(row) {
            *m += x;
        }
    }
    mean.iter_mut().for_each(|m| *m /= rows as f32);
    let mut std = vec![0f32; frames];
    for row in w.chunks(frames) {
        for ((s, &x), &m) in std.iter_mut().zip(row).zip(&mean) {
            *s += (x - m).powi(2);
        }
    }
    std.iter_mut()
        .for_each(|s| *s = (*s / rows as f32).sqrt().max(1e-10));
    for row in w.chunks_mut(frames) {
        for ((x, &m), &s) in row.iter_mut().zip(&mean).zip(&std) {
            *x = (*x - m) / s;
        }
        median_filter(row, MEDIAN_WIDTH);
    }
    Some(w)
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
    // Each head's weights (a head to a thread), averaged in the heads' order.
    let Some(heads) = scores
        .par_iter()
        .map(|s| head_weights(s, rows, cols, frames))
        .collect::<Option<Vec<Vec<f32>>>>()
    else {
        return Vec::new();
    };
    let mut matrix = vec![0f32; rows * frames];
    for w in &heads {
        for (a, x) in matrix.iter_mut().zip(w) {
            *a += x / scores.len() as f32;
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
    let ends = |w: &WordTiming| ends_sentence(&w.text);
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

    /// Each value's median over `width` values around it (edges reflected), by sorting them:
    /// what the filter must give.
    fn sorted_medians(row: &[f32], width: usize) -> Vec<f32> {
        let (n, half) = (row.len(), width / 2);
        (0..n)
            .map(|j| {
                let mut w: Vec<f32> = (0..width)
                    .map(|k| {
                        let i = (j + k).abs_diff(half);
                        row[if i >= n { 2 * (n - 1) - i } else { i }]
                    })
                    .collect();
                w.sort_by(f32::total_cmp);
                w[half]
            })
            .collect()
    }

    #[test]
    fn the_network_finds_the_median_of_seven() {
        // Every pattern of seven 0s and 1s (enough for a network of compare-exchanges).
        for bits in 0u32..128 {
            let row: Vec<f32> = (0..7).map(|i| ((bits >> i) & 1) as f32).collect();
            let mut out = [0f32; 1];
            median7(&row, &mut out);
            let mut sorted = row.clone();
            sorted.sort_by(f32::total_cmp);
            assert_eq!(out[0], sorted[3], "{row:?}");
        }
        // Rows of many lengths, with ties, through the filter of 7 and the general one of 5.
        let mut seed = 12345u32;
        let mut next = || {
            seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (seed >> 8) as f32 / (1u32 << 24) as f32 - 0.5
        };
        for len in [4usize, 7, 15, 16, 17, 40, 1500] {
            let mut row: Vec<f32> = (0..len).map(|_| next()).collect();
            if len > 20 {
                row[10] = row[11];
                row[12] = row[11];
            }
            for width in [MEDIAN_WIDTH, 5] {
                let mut filtered = row.clone();
                median_filter(&mut filtered, width);
                assert_eq!(
                    filtered,
                    sorted_medians(&row, width),
                    "{len} values, {width} wide"
                );
            }
        }
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
