//! The text decoder: token and position embeddings, then self-attention over a key/value cache,
//! cross-attention over the encoded audio and an MLP a layer, over plain slices. It takes one
//! token or one prompt at a time; `DecoderState` holds a window's cross-attention keys/values
//! (computed once by `start`) and the cache of the tokens so far.

use candle_core::Tensor;
use half::f16;
use rayon::prelude::*;

use super::add_into;
use super::linear::{Linear, Precision};
use super::norm::LayerNorm;
use super::weights::{Dims, Weights};
use crate::asr::kernels::{self, Mat};
use crate::asr::{ComputeType, ModelError};

/// One decoder layer: self-attention, cross-attention over the audio, and the MLP, each after
/// its layer norm.
struct DecoderLayer {
    attn_ln: LayerNorm,
    q: Linear,
    k: Linear,
    v: Linear,
    out: Linear,
    cross_ln: LayerNorm,
    cross_q: Linear,
    cross_k: Linear,
    cross_v: Linear,
    cross_out: Linear,
    mlp_ln: LayerNorm,
    fc1: Linear,
    fc2: Linear,
}

/// Heads (layer, head) whose cross-attention scores to keep, and where to keep them.
pub(super) type Capture<'a> = (&'a [(usize, usize)], &'a mut Vec<Vec<f32>>);

/// Per-window decoder state: cross-attention keys/values of the encoded audio, and the
/// self-attention cache of the tokens decoded so far. A clone shares the audio's keys and values
/// and copies the cache (a beam that branches): only the positions it holds, as the cache grows
/// with the tokens.
#[derive(Clone)]
pub struct DecoderState {
    /// Cross-attention keys (scaled) and values in half precision, per head: the keys in blocks
    /// of [`kernels::KEY_BLOCK`] positions, each hd × block (heads × blocks × hd × block), the
    /// values t × hd (heads × t × hd). They are read in full for every decoded token, front to
    /// back.
    cross: std::sync::Arc<Vec<(Vec<f16>, Vec<f16>)>>,
    /// The same in f32 and token-major (t × d), for decoding several tokens at once.
    cross32: std::sync::Arc<Vec<(Vec<f32>, Vec<f32>)>>,
    /// Audio positions (t).
    pub(super) n_audio: usize,
    /// Self-attention keys (scaled) and values of the tokens so far in f16, token-major (len × d
    /// between decodes; room for n_text_ctx positions is reserved, not filled).
    cache: Vec<(Vec<f16>, Vec<f16>)>,
    len: usize,
    /// Values a cached position holds (d).
    width: usize,
}

impl DecoderState {
    /// Number of tokens already in the self-attention cache.
    pub fn len(&self) -> usize {
        self.len
    }
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
    /// Forget cached tokens after the first `n` (to restart a decode on the same audio).
    pub fn truncate(&mut self, n: usize) {
        self.len = self.len.min(n);
        let kept = self.len * self.width;
        for (k, v) in &mut self.cache {
            k.truncate(kept);
            v.truncate(kept);
        }
    }
}

/// The decoder: token embeddings (also the vocabulary projection), positions, layers and the
/// final layer norm.
pub(super) struct Decoder {
    embed: Linear,
    positions: Vec<f32>,
    layers: Vec<DecoderLayer>,
    ln: LayerNorm,
    /// 1/sqrt(sqrt(head dim)), applied to both queries and keys.
    scale: f32,
    heads: usize,
    /// Tokens the decoder holds at most.
    n_ctx: usize,
    n_vocab: usize,
    d: usize,
}

impl Decoder {
    pub(super) fn load(w: &mut Weights, dims: &Dims) -> Result<Self, ModelError> {
        let d = dims.d_model;
        let half = |w: &mut Weights, name: &str, i: usize, o: usize, bias: bool| {
            w.linear(name, i, o, bias, Precision::Half)
        };
        let embed = half(w, "decoder.embed_tokens", d, dims.n_vocab, false)?;
        let positions = w.vec("decoder.embed_positions.weight", &[dims.n_text_ctx, d])?;
        let mut layers = Vec::new();
        for i in 0..dims.decoder_layers {
            let p = format!("decoder.layers.{i}");
            layers.push(DecoderLayer {
                attn_ln: w.norm(&format!("{p}.self_attn_layer_norm"), d)?,
                q: half(w, &format!("{p}.self_attn.q_proj"), d, d, true)?,
                k: half(w, &format!("{p}.self_attn.k_proj"), d, d, false)?,
                v: half(w, &format!("{p}.self_attn.v_proj"), d, d, true)?,
                out: half(w, &format!("{p}.self_attn.out_proj"), d, d, true)?,
                cross_ln: w.norm(&format!("{p}.encoder_attn_layer_norm"), d)?,
                cross_q: half(w, &format!("{p}.encoder_attn.q_proj"), d, d, true)?,
                cross_k: half(w, &format!("{p}.encoder_attn.k_proj"), d, d, false)?,
                cross_v: half(w, &format!("{p}.encoder_attn.v_proj"), d, d, true)?,
                cross_out: half(w, &format!("{p}.encoder_attn.out_proj"), d, d, true)?,
                mlp_ln: w.norm(&format!("{p}.final_layer_norm"), d)?,
                fc1: half(w, &format!("{p}.fc1"), d, 4 * d, true)?,
                fc2: half(w, &format!("{p}.fc2"), 4 * d, d, true)?,
            });
        }
        Ok(Self {
            embed,
            positions,
            layers,
            ln: w.norm("decoder.layer_norm", d)?,
            scale: ((d / dims.decoder_heads) as f32).powf(-0.25),
            heads: dims.decoder_heads,
            n_ctx: dims.n_text_ctx,
            n_vocab: dims.n_vocab,
            d,
        })
    }

    /// Keep the layers and the token embedding as `compute` asks: 8-bit for int8, half
    /// precision for float16, single for float32.
    pub(super) fn convert(&mut self, compute: ComputeType) {
        let to = match compute {
            ComputeType::Int8 => Precision::Int8,
            ComputeType::Float16 => Precision::Half,
            ComputeType::Float32 => Precision::Single,
        };
        for l in &mut self.layers {
            for linear in [
                &mut l.q,
                &mut l.k,
                &mut l.v,
                &mut l.out,
                &mut l.cross_q,
                &mut l.cross_k,
                &mut l.cross_v,
                &mut l.cross_out,
                &mut l.fc1,
                &mut l.fc2,
            ] {
                linear.convert(to);
            }
        }
        self.embed.convert(to);
    }

    /// Prepare decoding against encoded audio (1, t, d).
    pub(super) fn start(&self, audio: &Tensor) -> candle_core::Result<DecoderState> {
        let (_, t, d) = audio.dims3()?;
        let feats = audio.flatten_all()?.to_vec1::<f32>()?;
        let cross32: Vec<(Vec<f32>, Vec<f32>)> = self
            .layers
            .iter()
            .map(|l| {
                let mut k = l.cross_k.apply_audio(&feats);
                for v in k.iter_mut() {
                    *v *= self.scale;
                }
                (k, l.cross_v.apply_audio(&feats))
            })
            .collect();
        // Per head, the keys in blocks of positions (each dimension-major) and the values
        // position-major, as `attend_blocked_f16` reads them; filled a block of positions at a
        // time (the strided reads stay in the cache).
        let heads = self.heads;
        let hd = d / heads;
        let blocks = t.div_ceil(kernels::KEY_BLOCK);
        let per_head = blocks * kernels::KEY_BLOCK * hd;
        let layout = |k: &[f32], v: &[f32]| {
            let mut kb = vec![f16::ZERO; heads * per_head];
            for (h, head) in kb.chunks_exact_mut(per_head).enumerate() {
                for (b, block) in head.chunks_exact_mut(hd * kernels::KEY_BLOCK).enumerate() {
                    for (i, row) in block.chunks_exact_mut(kernels::KEY_BLOCK).enumerate() {
                        for (j, x) in row.iter_mut().enumerate() {
                            let at = b * kernels::KEY_BLOCK + j;
                            if at < t {
                                *x = f16::from_f32(k[at * d + h * hd + i]);
                            }
                        }
                    }
                }
            }
            let mut vh = vec![f16::ZERO; t * d];
            for (h, head) in vh.chunks_exact_mut(t * hd).enumerate() {
                for (j, row) in head.chunks_exact_mut(hd).enumerate() {
                    for (x, &y) in row.iter_mut().zip(&v[j * d + h * hd..]) {
                        *x = f16::from_f32(y);
                    }
                }
            }
            (kb, vh)
        };
        let cross = cross32.par_iter().map(|(k, v)| layout(k, v)).collect();
        let ctx = self.n_ctx * d;
        Ok(DecoderState {
            cross: std::sync::Arc::new(cross),
            cross32: std::sync::Arc::new(cross32),
            n_audio: t,
            cache: self
                .layers
                .iter()
                .map(|_| (Vec::with_capacity(ctx), Vec::with_capacity(ctx)))
                .collect(),
            len: 0,
            width: d,
        })
    }

    /// Run `tokens` through the decoder after the cached ones; returns the final hidden state of
    /// each new token (n × d, layer-normed). With `capture`, the pass keeps the cross-attention
    /// scores it asks for and ends at the last layer that has them, the state as it was and
    /// no hidden state returned.
    pub(super) fn forward(
        &self,
        state: &mut DecoderState,
        tokens: &[u32],
        mut capture: Option<Capture<'_>>,
    ) -> Result<Vec<f32>, ModelError> {
        let d = self.d;
        let n = tokens.len();
        let offset = state.len;
        if offset + n > self.n_ctx {
            return Err(ModelError::ContextFull {
                limit: self.n_ctx,
                asked: offset + n,
            });
        }
        let mut x = vec![0f32; n * d];
        for (i, (&tok, row)) in tokens.iter().zip(x.chunks_exact_mut(d)).enumerate() {
            self.embed_into(tok, offset + i, row)?;
        }
        let heads = self.heads;
        let hd = d / heads;
        // With scores to capture, the pass ends at the last layer that has them.
        let last = capture
            .as_ref()
            .and_then(|(wanted, _)| wanted.iter().map(|&(l, _)| l).max());
        for (li, l) in self.layers.iter().enumerate() {
            // Self-attention, causal over the cache.
            let h = l.attn_ln.apply(&x);
            let mut q = l.q.apply_hidden(&h);
            let k = l.k.apply_hidden(&h);
            let v = l.v.apply_hidden(&h);
            for i in 0..n {
                let (k, v) = (&k[i * d..(i + 1) * d], &v[i * d..(i + 1) * d]);
                self.keep(&mut state.cache[li], offset + i, k, v);
            }
            for e in q.iter_mut() {
                *e *= self.scale;
            }
            let cache = &state.cache[li];
            let mut att = vec![0f32; n * d];
            let attend_row = |(i, out): (usize, &mut [f32])| {
                self.attend_cache(cache, &q[i * d..(i + 1) * d], offset + i + 1, out);
            };
            if n == 1 {
                attend_row((0, &mut att));
            } else {
                att.par_chunks_mut(d).enumerate().for_each(attend_row);
            }
            add_into(&mut x, &l.out.apply_hidden(&att));
            // Cross-attention over the audio.
            let h = l.cross_ln.apply(&x);
            let mut q = l.cross_q.apply_hidden(&h);
            for e in q.iter_mut() {
                *e *= self.scale;
            }
            let (xk, xv) = &state.cross32[li];
            let t = state.n_audio;
            let mut att = vec![0f32; n * d];
            if n == 1 && capture.is_none() {
                // One token: the heads go to the threads.
                att.par_chunks_mut(hd).enumerate().for_each_init(
                    || vec![0f32; t.div_ceil(kernels::KEY_BLOCK) * kernels::KEY_BLOCK],
                    |scores, (hh, out)| {
                        Self::attend_audio(
                            &state.cross[li],
                            t,
                            hh,
                            &q[hh * hd..(hh + 1) * hd],
                            scores,
                            out,
                        );
                    },
                );
            } else {
                // Heads whose scores are kept.
                let captured: Vec<bool> = (0..heads)
                    .map(|hh| {
                        capture
                            .as_ref()
                            .is_some_and(|(wanted, _)| wanted.contains(&(li, hh)))
                    })
                    .collect();
                let mut scores = Vec::new();
                for (hh, &kept) in captured.iter().enumerate() {
                    if !kept && last == Some(li) {
                        continue;
                    }
                    scores.resize(n * t, 0.0);
                    let qm = Mat {
                        data: &q,
                        offset: hh * hd,
                        rows: n,
                        cols: hd,
                        row_stride: d,
                    };
                    let km = Mat {
                        data: xk,
                        offset: hh * hd,
                        rows: t,
                        cols: hd,
                        row_stride: d,
                    };
                    let vm = Mat {
                        data: xv,
                        offset: hh * hd,
                        rows: t,
                        cols: hd,
                        row_stride: d,
                    };
                    kernels::matmul_bt(qm, km, &mut scores, 0, t);
                    if let Some((heads, out)) = capture.as_mut() {
                        for (k, _) in heads.iter().enumerate().filter(|(_, &h)| h == (li, hh)) {
                            out[k] = scores.clone();
                        }
                    }
                    if last == Some(li) {
                        continue;
                    }
                    kernels::softmax_rows(&mut scores, t);
                    kernels::matmul(Mat::new(&scores, n, t), vm, &mut att, hh * hd, d);
                }
            }
            if last == Some(li) {
                // Every score asked for is kept; nothing after it is.
                state.truncate(offset);
                return Ok(Vec::new());
            }
            add_into(&mut x, &l.cross_out.apply_hidden(&att));
            // Feed-forward.
            let h = l.mlp_ln.apply(&x);
            let mut f = l.fc1.apply_hidden(&h);
            kernels::gelu(&mut f);
            add_into(&mut x, &l.fc2.apply_hidden(&f));
        }
        state.len += n;
        Ok(self.ln.apply(&x))
    }

    /// One token for each of several states of the same length (a beam search's beams): every
    /// layer's products take the rows together, each row attending over its own cache. Each
    /// row's hidden state (n × d, layer-normed) is exactly what [`Decoder::forward`] gives for
    /// that state and token alone.
    pub(super) fn forward_each(
        &self,
        states: &mut [&mut DecoderState],
        tokens: &[u32],
    ) -> Result<Vec<f32>, ModelError> {
        let d = self.d;
        let n = tokens.len();
        let Some(offset) = states.first().map(|s| s.len) else {
            return Ok(Vec::new());
        };
        debug_assert!(states.len() == n && states.iter().all(|s| s.len == offset));
        if offset + 1 > self.n_ctx {
            return Err(ModelError::ContextFull {
                limit: self.n_ctx,
                asked: offset + 1,
            });
        }
        let mut x = vec![0f32; n * d];
        for (row, &tok) in x.chunks_exact_mut(d).zip(tokens) {
            self.embed_into(tok, offset, row)?;
        }
        let heads = self.heads;
        let hd = d / heads;
        for (li, l) in self.layers.iter().enumerate() {
            // Self-attention, each row over its own state's cache.
            let h = l.attn_ln.apply(&x);
            let mut q = l.q.apply_each(&h);
            let k = l.k.apply_each(&h);
            let v = l.v.apply_each(&h);
            for e in q.iter_mut() {
                *e *= self.scale;
            }
            let mut att = vec![0f32; n * d];
            let upto = offset + 1;
            states
                .par_iter_mut()
                .zip(att.par_chunks_mut(d))
                .enumerate()
                .for_each(|(i, (state, out))| {
                    let (k, v) = (&k[i * d..(i + 1) * d], &v[i * d..(i + 1) * d]);
                    self.keep(&mut state.cache[li], offset, k, v);
                    self.attend_cache(&state.cache[li], &q[i * d..(i + 1) * d], upto, out);
                });
            add_into(&mut x, &l.out.apply_each(&att));
            // Cross-attention over the audio, a (row, head) to a thread.
            let h = l.cross_ln.apply(&x);
            let mut q = l.cross_q.apply_each(&h);
            for e in q.iter_mut() {
                *e *= self.scale;
            }
            let t = states[0].n_audio;
            let mut att = vec![0f32; n * d];
            let first = &states[0].cross;
            if states
                .iter()
                .all(|s| std::sync::Arc::ptr_eq(&s.cross, first))
            {
                // Every row attends over the same audio: a head to a thread, its rows together,
                // so that the head's keys and values are read once for all of them.
                let padded = t.div_ceil(kernels::KEY_BLOCK) * kernels::KEY_BLOCK;
                let by_head: Vec<Vec<f32>> = (0..heads)
                    .into_par_iter()
                    .map(|hh| {
                        let rows: Vec<f32> = q
                            .chunks_exact(d)
                            .flat_map(|row| row[hh * hd..(hh + 1) * hd].iter().copied())
                            .collect();
                        let mut scores = vec![0f32; n * padded];
                        let mut wide = vec![0f32; hd * kernels::KEY_BLOCK];
                        let mut out = vec![0f32; n * hd];
                        let (keys, values) = Self::head_audio(&first[li], t, hh, hd);
                        kernels::attend_blocked_f16_many(
                            &rows,
                            hd,
                            keys,
                            values,
                            t,
                            (&mut scores, &mut wide),
                            &mut out,
                        );
                        out
                    })
                    .collect();
                for (hh, rows) in by_head.iter().enumerate() {
                    for (to, from) in att.chunks_exact_mut(d).zip(rows.chunks_exact(hd)) {
                        to[hh * hd..(hh + 1) * hd].copy_from_slice(from);
                    }
                }
            } else {
                let cross: Vec<&(Vec<f16>, Vec<f16>)> =
                    states.iter().map(|s| &s.cross[li]).collect();
                att.par_chunks_mut(hd).enumerate().for_each_init(
                    || vec![0f32; t.div_ceil(kernels::KEY_BLOCK) * kernels::KEY_BLOCK],
                    |scores, (at, out)| {
                        let (i, hh) = (at / heads, at % heads);
                        let q = &q[i * d + hh * hd..i * d + (hh + 1) * hd];
                        Self::attend_audio(cross[i], t, hh, q, scores, out);
                    },
                );
            }
            add_into(&mut x, &l.cross_out.apply_each(&att));
            // Feed-forward.
            let h = l.mlp_ln.apply(&x);
            let mut f = l.fc1.apply_each(&h);
            kernels::gelu(&mut f);
            add_into(&mut x, &l.fc2.apply_each(&f));
        }
        for s in states.iter_mut() {
            s.len += 1;
        }
        Ok(self.ln.apply(&x))
    }

    /// Vocabulary logits of every row of hidden states from [`Decoder::forward_each`]
    /// (n × vocabulary), each row exactly as [`Decoder::logits`] gives it.
    pub(super) fn logits_each(&self, hidden: &[f32]) -> Vec<f32> {
        self.embed.apply_each(hidden)
    }

    /// Token `tok`'s embedding at position `pos`, into `row`.
    fn embed_into(&self, tok: u32, pos: usize, row: &mut [f32]) -> Result<(), ModelError> {
        let tok = tok as usize;
        if tok >= self.n_vocab {
            return Err(ModelError::UnknownToken { token: tok });
        }
        let d = self.d;
        let (e, p) = (self.embed.row(tok), &self.positions[pos * d..(pos + 1) * d]);
        for j in 0..d {
            row[j] = e[j] + p[j];
        }
        Ok(())
    }

    /// Keep a token's self-attention key (scaled) and value at position `pos` of a layer's cache.
    fn keep(&self, cache: &mut (Vec<f16>, Vec<f16>), pos: usize, k: &[f32], v: &[f32]) {
        let row = pos * self.d..(pos + 1) * self.d;
        if cache.0.len() < row.end {
            cache.0.resize(row.end, f16::ZERO);
            cache.1.resize(row.end, f16::ZERO);
        }
        for (c, x) in cache.0[row.clone()].iter_mut().zip(k) {
            *c = f16::from_f32(x * self.scale);
        }
        for (c, x) in cache.1[row].iter_mut().zip(v) {
            *c = f16::from_f32(*x);
        }
    }

    /// One token's self-attention (query `q`, scaled, every head) over the first `upto`
    /// positions of a layer's cache, into `out`.
    fn attend_cache(&self, cache: &(Vec<f16>, Vec<f16>), q: &[f32], upto: usize, out: &mut [f32]) {
        let (d, hd) = (self.d, self.d / self.heads);
        let mut scores = vec![0f32; upto];
        for hh in 0..self.heads {
            kernels::attend_f16(
                &q[hh * hd..(hh + 1) * hd],
                &cache.0,
                &cache.1,
                hh * hd,
                d,
                upto,
                &mut scores,
                &mut out[hh * hd..(hh + 1) * hd],
            );
        }
    }

    /// One token's cross-attention of head `hh` (query `q`, scaled) over a layer's `t` audio
    /// positions, as the half-precision blocked layout keeps them, into `out`.
    fn attend_audio(
        cross: &(Vec<f16>, Vec<f16>),
        t: usize,
        hh: usize,
        q: &[f32],
        scores: &mut [f32],
        out: &mut [f32],
    ) {
        let (keys, values) = Self::head_audio(cross, t, hh, q.len());
        kernels::attend_blocked_f16(q, keys, values, t, scores, out);
    }

    /// Head `hh`'s keys (blocked) and values of a layer's `t` audio positions, `hd` wide.
    fn head_audio(
        cross: &(Vec<f16>, Vec<f16>),
        t: usize,
        hh: usize,
        hd: usize,
    ) -> (&[f16], &[f16]) {
        let per_head = t.div_ceil(kernels::KEY_BLOCK) * kernels::KEY_BLOCK * hd;
        (
            &cross.0[hh * per_head..(hh + 1) * per_head],
            &cross.1[hh * t * hd..(hh + 1) * t * hd],
        )
    }

    /// The hidden state's width.
    pub(super) fn width(&self) -> usize {
        self.d
    }

    /// Vocabulary logits for row `pos` of hidden states returned by [`Decoder::forward`].
    pub(super) fn logits(&self, hidden: &[f32], pos: usize) -> Vec<f32> {
        let d = self.d;
        self.embed.apply_hidden(&hidden[pos * d..(pos + 1) * d])
    }
}
