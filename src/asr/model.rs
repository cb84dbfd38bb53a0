//! The Whisper network. The encoder's two convolutions run on candle; its layers, and the
//! decoder, are this crate's own code over the weights (linear layers at the compute type asked
//! for, on the kernels of `kernels`, 8-bit ones in `kernels::int8`). The decoder takes one token
//! or one prompt at a time, with a self-attention key/value cache and cross-attention
//! keys/values computed once per window.

use std::collections::HashMap;

use candle_core::{DType, Device, Module, Tensor};
use candle_nn::{Conv1d, Conv1dConfig};
use half::f16;
use rayon::prelude::*;

use super::kernels::int8::Int8Linear;
use super::kernels::{self, Mat};
use super::{ct2, ComputeType, ModelError};

/// An encoder projection: float32 weights through gemm, or 8-bit weights through this crate's
/// int8 kernels.
enum Proj {
    /// Row-major (out × in), with the bias.
    Float {
        w: Vec<f32>,
        b: Vec<f32>,
    },
    Int8(Int8Linear),
}

impl Proj {
    fn float(w: &Tensor, b: &Tensor) -> candle_core::Result<Proj> {
        Ok(Proj::Float {
            w: w.flatten_all()?.to_vec1::<f32>()?,
            b: b.to_vec1::<f32>()?,
        })
    }

    fn outputs(&self) -> usize {
        match self {
            Proj::Float { b, .. } => b.len(),
            Proj::Int8(q) => q.outputs(),
        }
    }

    /// `x Wᵀ + b` for rows of `x`.
    fn apply(&self, x: &[f32]) -> Vec<f32> {
        match self {
            Proj::Float { w, b } => {
                let o = b.len();
                let i = w.len() / o.max(1);
                let rows = x.len() / i.max(1);
                let mut y = vec![0f32; rows * o];
                kernels::matmul_bt(Mat::new(x, rows, i), Mat::new(w, o, i), &mut y, 0, o);
                y.par_chunks_mut(o).for_each(|r| add_into(r, b));
                y
            }
            Proj::Int8(q) => q.apply(x),
        }
    }

    /// The same layer with int8 weights (one scale per output channel).
    fn to_int8(&self) -> Proj {
        match self {
            Proj::Float { w, b } => {
                let o = b.len();
                Proj::Int8(Int8Linear::from_f32(
                    w,
                    w.len() / o.max(1),
                    o,
                    Some(b.clone()),
                ))
            }
            Proj::Int8(q) => Proj::Int8(q.clone()),
        }
    }

    /// The same layer with float32 weights (scaled back from 8 bits where they were stored so).
    fn to_float(&self) -> Proj {
        match self {
            Proj::Float { w, b } => Proj::Float {
                w: w.clone(),
                b: b.clone(),
            },
            Proj::Int8(q) => Proj::Float {
                w: q.to_f32(),
                b: q.bias().to_vec(),
            },
        }
    }
}

/// Dimensions of a Whisper model.
#[derive(Debug, Clone, PartialEq)]
pub struct Dims {
    pub n_mels: usize,
    pub d_model: usize,
    pub encoder_layers: usize,
    pub encoder_heads: usize,
    pub decoder_layers: usize,
    pub decoder_heads: usize,
    pub n_audio_ctx: usize,
    pub n_text_ctx: usize,
    pub n_vocab: usize,
}

/// Tensors by Hugging Face name (without the `model.` prefix), consumed while building.
pub(crate) struct Weights {
    map: HashMap<String, Tensor>,
    source: std::path::PathBuf,
}

impl Weights {
    pub(crate) fn new(map: HashMap<String, Tensor>, source: std::path::PathBuf) -> Self {
        Self { map, source }
    }
    /// The tensor `name`, checked against `shape`, in f32.
    fn get(&mut self, name: &str, shape: &[usize]) -> Result<Tensor, ModelError> {
        let t = self.take(name, shape)?;
        t.to_dtype(DType::F32).map_err(|e| self.err(e))
    }
    /// The tensor `name`, checked against `shape`, in the dtype it was stored in.
    fn take(&mut self, name: &str, shape: &[usize]) -> Result<Tensor, ModelError> {
        let t = self.map.remove(name).ok_or_else(|| ModelError::Malformed {
            path: self.source.clone(),
            reason: format!("it has no tensor {name}"),
        })?;
        // Stored in 8 bits: scaled back to floats for a layer that computes in them.
        let t = match (
            shape,
            ct2::quantized_rows(&t, shape.get(1).copied().unwrap_or(0)),
        ) {
            ([o, i], Some((q, scales))) if q.len() == *o => {
                let w: Vec<f32> = q
                    .iter()
                    .zip(&scales)
                    .flat_map(|(row, &s)| row.iter().map(move |&v| v as f32 * s))
                    .collect();
                Tensor::from_vec(w, (*o, *i), &Device::Cpu).map_err(|e| self.err(e))?
            }
            _ => t,
        };
        if t.dims() != shape {
            return Err(ModelError::Malformed {
                path: self.source.clone(),
                reason: format!("tensor {name} has shape {:?}, expected {shape:?}", t.dims()),
            });
        }
        Ok(t)
    }
    /// The weight `name` (`o × i`) in 8 bits with its per-row scales, where the file stored it
    /// so (a CTranslate2 int8 model); `None` leaves a float weight in place.
    fn quantized(&mut self, name: &str, i: usize, o: usize) -> Option<(Vec<Vec<i8>>, Vec<f32>)> {
        let q = ct2::quantized_rows(self.map.get(name)?, i).filter(|(q, _)| q.len() == o)?;
        self.map.remove(name);
        Some(q)
    }
    /// Whether the weight `name` (`i` inputs a row) is stored in 8 bits.
    fn is_quantized(&self, name: &str, i: usize) -> bool {
        self.map
            .get(name)
            .is_some_and(|t| t.dtype() == DType::U8 && t.dims().get(1) == Some(&(i + 4)))
    }
    /// An encoder projection: 8-bit where the file stored it so, else float32.
    fn proj(&mut self, name: &str, i: usize, o: usize) -> Result<Proj, ModelError> {
        match self.quantized(&format!("{name}.weight"), i, o) {
            Some((q, scales)) => {
                let b = self.vec(&format!("{name}.bias"), &[o])?;
                Ok(Proj::Int8(Int8Linear::from_int8(&q, scales, i, Some(b))))
            }
            None => {
                let w = self.get(&format!("{name}.weight"), &[o, i])?;
                let b = self.get(&format!("{name}.bias"), &[o])?;
                Proj::float(&w, &b).map_err(|e| self.err(e))
            }
        }
    }
    fn peek_dims(&self, name: &str) -> Option<Vec<usize>> {
        self.map.get(name).map(|t| t.dims().to_vec())
    }
    fn err(&self, e: candle_core::Error) -> ModelError {
        ModelError::Malformed {
            path: self.source.clone(),
            reason: e.to_string(),
        }
    }
    fn vec(&mut self, name: &str, shape: &[usize]) -> Result<Vec<f32>, ModelError> {
        let t = self.get(name, shape)?;
        t.flatten_all()
            .and_then(|t| t.to_vec1::<f32>())
            .map_err(|e| self.err(e))
    }
    fn half(&mut self, name: &str, shape: &[usize]) -> Result<Vec<f16>, ModelError> {
        let t = self.take(name, shape)?;
        t.to_dtype(DType::F16)
            .and_then(|t| t.flatten_all())
            .and_then(|t| t.to_vec1::<f16>())
            .map_err(|e| self.err(e))
    }
    fn dense(&mut self, name: &str, i: usize, o: usize, bias: bool) -> Result<Dense, ModelError> {
        if let Some((q, scales)) = self.quantized(&format!("{name}.weight"), i, o) {
            let b = if bias {
                Some(self.vec(&format!("{name}.bias"), &[o])?)
            } else {
                None
            };
            return Ok(Dense {
                w: DenseWeights::Int8(Int8Linear::from_int8(&q, scales, i, b)),
                b: None,
                inputs: i,
                out: o,
            });
        }
        Ok(Dense {
            w: DenseWeights::Half(self.half(&format!("{name}.weight"), &[o, i])?),
            b: if bias {
                Some(self.vec(&format!("{name}.bias"), &[o])?)
            } else {
                None
            },
            inputs: i,
            out: o,
        })
    }
    fn norm(&mut self, name: &str, d: usize) -> Result<Norm, ModelError> {
        Ok(Norm {
            w: self.vec(&format!("{name}.weight"), &[d])?,
            b: self.vec(&format!("{name}.bias"), &[d])?,
        })
    }
    /// Infer the layer counts and sizes from tensor shapes; head counts come from the caller.
    pub(crate) fn infer_dims(
        &self,
        encoder_heads: usize,
        decoder_heads: usize,
    ) -> Result<Dims, ModelError> {
        let need = |n: &str| {
            self.peek_dims(n).ok_or_else(|| ModelError::Malformed {
                path: self.source.clone(),
                reason: format!("it has no tensor {n}"),
            })
        };
        let conv1 = need("encoder.conv1.weight")?;
        let enc_pos = need("encoder.embed_positions.weight")?;
        let dec_pos = need("decoder.embed_positions.weight")?;
        let emb = need("decoder.embed_tokens.weight")?;
        let count = |side: &str| {
            (0..)
                .take_while(|i| {
                    self.map
                        .contains_key(&format!("{side}.layers.{i}.fc1.weight"))
                })
                .count()
        };
        Ok(Dims {
            n_mels: conv1.get(1).copied().unwrap_or(0),
            d_model: conv1[0],
            encoder_layers: count("encoder"),
            encoder_heads,
            decoder_layers: count("decoder"),
            decoder_heads,
            n_audio_ctx: enc_pos[0],
            n_text_ctx: dec_pos[0],
            n_vocab: emb[0],
        })
    }
}

/// Query rows attended together in the encoder, by the CPU's vector width. With AVX-512, at
/// most 48 (8 × gemm's 6-column tile) and with the keys given transposed and padded to a
/// multiple of 16, gemm multiplies the operands where they lie instead of copying them into
/// panels at every call, and the block's scores (48 × 1500 floats) stay in the core's cache
/// between the two products and the softmax. With AVX2 only, gemm's narrower tiles run far from
/// their peak on so few rows: blocks of 384 make base's encoder pass 15–20 % faster there
/// (BENCHMARKS.md).
fn query_block() -> usize {
    #[cfg(target_arch = "x86_64")]
    if is_x86_feature_detected!("avx512f") {
        return 48;
    }
    384
}

/// Encoder self-attention from fused projections (1, t, 3d) = [q | k | v], q and k already
/// scaled; returns (1, t, d) before the output projection. Blocks of query rows go to the
/// threads, each block through every head.
fn encoder_attention(qkv: &[f32], d3: usize, heads: usize) -> Vec<f32> {
    let t = qkv.len() / d3.max(1);
    let d = d3 / 3;
    let hd = d / heads;
    // Keys transposed per head: row i of head h holds dimension i of every key, padded with
    // zero keys (left out of the softmax) to `tp` columns.
    let tp = t.next_multiple_of(16);
    let mut keys_t = vec![0f32; d * tp];
    keys_t
        .par_chunks_mut(hd * tp)
        .enumerate()
        .for_each(|(h, head)| {
            for (j, key) in qkv.chunks_exact(d3).enumerate() {
                for (i, &v) in key[d + h * hd..d + (h + 1) * hd].iter().enumerate() {
                    head[i * tp + j] = v;
                }
            }
        });
    let mut out = vec![0f32; t * d];
    let block_rows = query_block();
    out.par_chunks_mut(block_rows * d)
        .enumerate()
        .for_each(|(b, block)| {
            let (r0, rows) = (b * block_rows, block.len() / d);
            let mut scores = vec![0f32; rows * tp];
            for h in 0..heads {
                let queries = Mat {
                    data: qkv,
                    offset: r0 * d3 + h * hd,
                    rows,
                    cols: hd,
                    row_stride: d3,
                };
                let keys = Mat {
                    data: &keys_t,
                    offset: h * hd * tp,
                    rows: hd,
                    cols: tp,
                    row_stride: tp,
                };
                kernels::matmul_serial(queries, keys, &mut scores, 0, tp);
                for row in scores.chunks_exact_mut(tp) {
                    kernels::softmax(&mut row[..t]);
                }
                let weights = Mat {
                    data: &scores,
                    offset: 0,
                    rows,
                    cols: t,
                    row_stride: tp,
                };
                let values = Mat {
                    data: qkv,
                    offset: 2 * d + h * hd,
                    rows: t,
                    cols: hd,
                    row_stride: d3,
                };
                kernels::matmul_serial(weights, values, block, h * hd, d);
            }
        });
    out
}

/// Encoder self-attention with one fused projection for queries, keys and values; the
/// 1/sqrt(sqrt(head dim)) scale of queries and keys is folded into their weights.
struct SelfAttention {
    qkv: Proj,
    out: Proj,
    heads: usize,
}

impl SelfAttention {
    fn load(w: &mut Weights, name: &str, d: usize, heads: usize) -> Result<Self, ModelError> {
        let scale = ((d / heads) as f64).powf(-0.25);
        let out = w.proj(&format!("{name}.out_proj"), d, d)?;
        let stored_int8 = ["q", "k", "v"]
            .iter()
            .all(|p| w.is_quantized(&format!("{name}.{p}_proj.weight"), d));
        let quantized = ["q", "k", "v"].map(|p| {
            stored_int8
                .then(|| w.quantized(&format!("{name}.{p}_proj.weight"), d, d))
                .flatten()
        });
        if let [Some(q), Some(k), Some(v)] = quantized {
            // Stored in 8 bits: the scale folds into each row's own.
            let qb = w.vec(&format!("{name}.q_proj.bias"), &[d])?;
            let vb = w.vec(&format!("{name}.v_proj.bias"), &[d])?;
            let s = scale as f32;
            let rows: Vec<Vec<i8>> = [&q.0, &k.0, &v.0].into_iter().flatten().cloned().collect();
            let scales = (q.1.iter().chain(&k.1).map(|x| x * s))
                .chain(v.1.iter().copied())
                .collect();
            let bias = (qb.iter().map(|x| x * s))
                .chain(std::iter::repeat_n(0.0, d))
                .chain(vb)
                .collect();
            return Ok(Self {
                qkv: Proj::Int8(Int8Linear::from_int8(&rows, scales, d, Some(bias))),
                out,
                heads,
            });
        }
        // Otherwise (any part in floats) every part is read as floats, 8-bit ones scaled back.
        let q = w.get(&format!("{name}.q_proj.weight"), &[d, d])?;
        let qb = w.get(&format!("{name}.q_proj.bias"), &[d])?;
        let k = w.get(&format!("{name}.k_proj.weight"), &[d, d])?;
        let v = w.get(&format!("{name}.v_proj.weight"), &[d, d])?;
        let vb = w.get(&format!("{name}.v_proj.bias"), &[d])?;
        let fuse = || -> candle_core::Result<(Tensor, Tensor)> {
            let weight = Tensor::cat(&[&(q * scale)?, &(k * scale)?, &v], 0)?;
            let bias = Tensor::cat(
                &[
                    &(qb * scale)?,
                    &Tensor::zeros(d, DType::F32, &Device::Cpu)?,
                    &vb,
                ],
                0,
            )?;
            Ok((weight, bias))
        };
        let qkv = fuse()
            .and_then(|(weight, bias)| Proj::float(&weight, &bias))
            .map_err(|e| w.err(e))?;
        Ok(Self { qkv, out, heads })
    }

    fn apply(&self, x: &[f32]) -> Vec<f32> {
        let qkv = self.qkv.apply(x);
        self.out
            .apply(&encoder_attention(&qkv, self.qkv.outputs(), self.heads))
    }
}

struct Mlp {
    fc1: Proj,
    fc2: Proj,
}

impl Mlp {
    fn load(w: &mut Weights, name: &str, d: usize) -> Result<Self, ModelError> {
        Ok(Self {
            fc1: w.proj(&format!("{name}.fc1"), d, 4 * d)?,
            fc2: w.proj(&format!("{name}.fc2"), 4 * d, d)?,
        })
    }
    fn apply(&self, x: &[f32]) -> Vec<f32> {
        let mut h = self.fc1.apply(x);
        h.par_chunks_mut(1 << 14).for_each(kernels::gelu);
        self.fc2.apply(&h)
    }
}

struct EncoderLayer {
    attn_ln: Norm,
    attn: SelfAttention,
    mlp_ln: Norm,
    mlp: Mlp,
}

/// The weights of a dense layer, row-major (out × in).
enum DenseWeights {
    /// Whisper's own precision: half the memory read per decoded token of float32.
    Half(Vec<f16>),
    Single(Vec<f32>),
    /// 8-bit, with the layer's bias inside.
    Int8(Int8Linear),
}

/// A dense layer over plain slices: `y = x W^T + b`.
struct Dense {
    w: DenseWeights,
    b: Option<Vec<f32>>,
    inputs: usize,
    out: usize,
}

impl Dense {
    /// Apply to `n` rows of `x` (the decoder's hidden states).
    fn apply(&self, x: &[f32], n: usize) -> Vec<f32> {
        let mut y = vec![0f32; n * self.out];
        let bias = self.b.as_deref();
        match &self.w {
            // Measured on 1 421 words of three sets: the decoder's hidden states in 8 bits cost
            // tiny.en 1.4 points of WER on the dev files, and the logits a point on base; the
            // residual's second pass gives it back.
            DenseWeights::Int8(q) => return q.apply_fine(x),
            DenseWeights::Half(w) if n == 1 => kernels::gemv_f16(w, x, bias, &mut y),
            DenseWeights::Single(w) if n == 1 => kernels::gemv_f32(w, x, bias, &mut y),
            DenseWeights::Half(w) => self.product(&kernels::widen(w), x, n, &mut y),
            DenseWeights::Single(w) => self.product(w, x, n, &mut y),
        }
        y
    }

    /// [`Dense::apply`] to rows of encoded audio: 8-bit inputs in one pass, as in the encoder.
    fn apply_to_audio(&self, x: &[f32], n: usize) -> Vec<f32> {
        match &self.w {
            DenseWeights::Int8(q) => q.apply(x),
            _ => self.apply(x, n),
        }
    }

    /// `y = x W^T + b` for `n` rows through the matrix product.
    fn product(&self, w: &[f32], x: &[f32], n: usize, y: &mut [f32]) {
        kernels::matmul_bt(
            Mat::new(x, n, self.inputs),
            Mat::new(w, self.out, self.inputs),
            y,
            0,
            self.out,
        );
        if let Some(b) = &self.b {
            for row in y.chunks_exact_mut(self.out) {
                for (v, bi) in row.iter_mut().zip(b) {
                    *v += bi;
                }
            }
        }
    }

    /// The bias kept inside 8-bit weights, if any is not zero.
    fn int8_bias(&self) -> Option<Vec<f32>> {
        match &self.w {
            DenseWeights::Int8(q) if q.bias().iter().any(|&b| b != 0.0) => Some(q.bias().to_vec()),
            _ => None,
        }
    }

    /// Row `n` of the weights (a token's embedding).
    fn row(&self, n: usize) -> Vec<f32> {
        let range = n * self.inputs..(n + 1) * self.inputs;
        match &self.w {
            DenseWeights::Half(w) => kernels::widen(&w[range]),
            DenseWeights::Single(w) => w[range].to_vec(),
            DenseWeights::Int8(q) => q.row(n),
        }
    }

    /// Keep the weights as `compute` asks: 8-bit for int8, single precision for float32, as
    /// loaded for float16.
    fn convert(&mut self, compute: ComputeType) {
        let single = |w: &DenseWeights| match w {
            DenseWeights::Half(w) => kernels::widen(w),
            DenseWeights::Single(w) => w.clone(),
            DenseWeights::Int8(q) => (0..q.outputs()).flat_map(|n| q.row(n)).collect(),
        };
        match (compute, &self.w) {
            (ComputeType::Int8, DenseWeights::Half(w)) => {
                let q = Int8Linear::from_f16(w, self.inputs, self.out, self.b.take());
                self.w = DenseWeights::Int8(q);
            }
            (ComputeType::Int8, DenseWeights::Single(w)) => {
                let q = Int8Linear::from_f32(w, self.inputs, self.out, self.b.take());
                self.w = DenseWeights::Int8(q);
            }
            (ComputeType::Float32, DenseWeights::Half(_) | DenseWeights::Int8(_)) => {
                self.b = self.int8_bias().or(self.b.take());
                self.w = DenseWeights::Single(single(&self.w));
            }
            (ComputeType::Float16, DenseWeights::Int8(_)) => {
                self.b = self.int8_bias().or(self.b.take());
                self.w =
                    DenseWeights::Half(single(&self.w).iter().map(|&v| f16::from_f32(v)).collect());
            }
            _ => {}
        }
    }
}

struct Norm {
    w: Vec<f32>,
    b: Vec<f32>,
}

impl Norm {
    fn apply(&self, x: &[f32]) -> Vec<f32> {
        let d = self.w.len();
        let mut out = vec![0f32; x.len()];
        let norm = |(o, r): (&mut [f32], &[f32])| kernels::layer_norm(r, &self.w, &self.b, o);
        if x.len() < 64 * d {
            out.chunks_exact_mut(d)
                .zip(x.chunks_exact(d))
                .for_each(norm);
        } else {
            out.par_chunks_exact_mut(d)
                .zip(x.par_chunks_exact(d))
                .for_each(norm);
        }
        out
    }
}

struct DecoderLayer {
    attn_ln: Norm,
    q: Dense,
    k: Dense,
    v: Dense,
    out: Dense,
    cross_ln: Norm,
    cross_q: Dense,
    cross_k: Dense,
    cross_v: Dense,
    cross_out: Dense,
    mlp_ln: Norm,
    fc1: Dense,
    fc2: Dense,
}

/// A loaded Whisper model, on the CPU: linear layers at the compute type asked for (int8, float16
/// or float32) and the token embedding with them; norms, positions and convolutions in f32.
pub struct Whisper {
    pub dims: Dims,
    conv1: Conv1d,
    conv2: Conv1d,
    enc_pos: Tensor,
    enc_layers: Vec<EncoderLayer>,
    enc_ln: Norm,
    /// Token embeddings, also the vocabulary projection.
    embed: Dense,
    dec_pos: Vec<f32>,
    dec_layers: Vec<DecoderLayer>,
    dec_ln: Norm,
    /// 1/sqrt(sqrt(head dim)), applied to both queries and keys.
    dec_scale: f32,
    work: Work,
}

/// What a model has computed so far, counted rather than timed (the same on any machine):
/// encoder passes over a window, and tokens run through the decoder (prompts, sampled tokens
/// and alignment passes alike).
#[derive(Debug, Default)]
struct Work {
    encoded: std::sync::atomic::AtomicU64,
    decoded: std::sync::atomic::AtomicU64,
}

/// A count of [`Whisper`]'s work: encoder passes and decoded tokens.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WorkDone {
    pub encoder_passes: u64,
    pub decoder_tokens: u64,
}

impl std::ops::Sub for WorkDone {
    type Output = Self;
    fn sub(self, o: Self) -> Self {
        Self {
            encoder_passes: self.encoder_passes.saturating_sub(o.encoder_passes),
            decoder_tokens: self.decoder_tokens.saturating_sub(o.decoder_tokens),
        }
    }
}

/// Heads (layer, head) whose cross-attention scores to keep, and where to keep them.
type Capture<'a> = (&'a [(usize, usize)], &'a mut Vec<Vec<f32>>);

/// Per-window decoder state: cross-attention keys/values of the encoded audio, and the
/// self-attention cache of the tokens decoded so far. All matrices are token-major (t × d).
/// A clone shares the audio's keys and values and copies the cache (a beam that branches).
#[derive(Clone)]
pub struct DecoderState {
    /// Cross-attention keys (scaled) and values in half precision, per head: the keys in blocks
    /// of [`kernels::KEY_BLOCK`] positions, each hd × block (heads × blocks × hd × block), the
    /// values t × hd (heads × t × hd). They are read in full for every decoded token, front to
    /// back.
    cross: std::sync::Arc<Vec<(Vec<f16>, Vec<f16>)>>,
    /// The same in f32, for decoding several tokens at once.
    cross32: std::sync::Arc<Vec<(Vec<f32>, Vec<f32>)>>,
    n_audio: usize,
    /// Self-attention keys (scaled) and values of the tokens so far, n_text_ctx × d, f16.
    cache: Vec<(Vec<f16>, Vec<f16>)>,
    len: usize,
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
    }
}

impl Whisper {
    pub(crate) fn load(mut w: Weights, dims: Dims) -> Result<Self, ModelError> {
        let d = dims.d_model;
        if dims.encoder_layers == 0
            || dims.decoder_layers == 0
            || dims.encoder_heads == 0
            || dims.decoder_heads == 0
            || !d.is_multiple_of(dims.encoder_heads)
            || !d.is_multiple_of(dims.decoder_heads)
        {
            return Err(ModelError::Malformed {
                path: w.source.clone(),
                reason: format!("its dimensions do not describe a Whisper model: {dims:?}"),
            });
        }
        let conv = |w: &mut Weights,
                    name: &str,
                    cin: usize,
                    stride: usize|
         -> Result<Conv1d, ModelError> {
            let weight = w.get(&format!("encoder.{name}.weight"), &[d, cin, 3])?;
            let bias = w.get(&format!("encoder.{name}.bias"), &[d])?;
            Ok(Conv1d::new(
                weight,
                Some(bias),
                Conv1dConfig {
                    padding: 1,
                    stride,
                    dilation: 1,
                    groups: 1,
                    cudnn_fwd_algo: None,
                },
            ))
        };
        let conv1 = conv(&mut w, "conv1", dims.n_mels, 1)?;
        let conv2 = conv(&mut w, "conv2", d, 2)?;
        let enc_pos = w.get("encoder.embed_positions.weight", &[dims.n_audio_ctx, d])?;
        let mut enc_layers = Vec::new();
        for i in 0..dims.encoder_layers {
            let p = format!("encoder.layers.{i}");
            enc_layers.push(EncoderLayer {
                attn_ln: w.norm(&format!("{p}.self_attn_layer_norm"), d)?,
                attn: SelfAttention::load(
                    &mut w,
                    &format!("{p}.self_attn"),
                    d,
                    dims.encoder_heads,
                )?,
                mlp_ln: w.norm(&format!("{p}.final_layer_norm"), d)?,
                mlp: Mlp::load(&mut w, &p, d)?,
            });
        }
        let enc_ln = w.norm("encoder.layer_norm", d)?;
        let embed = w.dense("decoder.embed_tokens", d, dims.n_vocab, false)?;
        let dec_pos = w.vec("decoder.embed_positions.weight", &[dims.n_text_ctx, d])?;
        let mut dec_layers = Vec::new();
        for i in 0..dims.decoder_layers {
            let p = format!("decoder.layers.{i}");
            dec_layers.push(DecoderLayer {
                attn_ln: w.norm(&format!("{p}.self_attn_layer_norm"), d)?,
                q: w.dense(&format!("{p}.self_attn.q_proj"), d, d, true)?,
                k: w.dense(&format!("{p}.self_attn.k_proj"), d, d, false)?,
                v: w.dense(&format!("{p}.self_attn.v_proj"), d, d, true)?,
                out: w.dense(&format!("{p}.self_attn.out_proj"), d, d, true)?,
                cross_ln: w.norm(&format!("{p}.encoder_attn_layer_norm"), d)?,
                cross_q: w.dense(&format!("{p}.encoder_attn.q_proj"), d, d, true)?,
                cross_k: w.dense(&format!("{p}.encoder_attn.k_proj"), d, d, false)?,
                cross_v: w.dense(&format!("{p}.encoder_attn.v_proj"), d, d, true)?,
                cross_out: w.dense(&format!("{p}.encoder_attn.out_proj"), d, d, true)?,
                mlp_ln: w.norm(&format!("{p}.final_layer_norm"), d)?,
                fc1: w.dense(&format!("{p}.fc1"), d, 4 * d, true)?,
                fc2: w.dense(&format!("{p}.fc2"), 4 * d, d, true)?,
            });
        }
        let dec_ln = w.norm("decoder.layer_norm", d)?;
        let dec_scale = ((d / dims.decoder_heads) as f32).powf(-0.25);
        Ok(Self {
            dims,
            conv1,
            conv2,
            enc_pos,
            enc_layers,
            enc_ln,
            embed,
            dec_pos,
            dec_layers,
            dec_ln,
            dec_scale,
            work: Work::default(),
        })
    }

    /// The work done so far (from every thread that used this model).
    pub fn work(&self) -> WorkDone {
        use std::sync::atomic::Ordering::Relaxed;
        WorkDone {
            encoder_passes: self.work.encoded.load(Relaxed),
            decoder_tokens: self.work.decoded.load(Relaxed),
        }
    }

    /// Compute in `compute` from now on: int8 runs the encoder's projections (attention and
    /// MLP, where nearly all its arithmetic is), the decoder's layers and the vocabulary
    /// projection on 8-bit weights (as stored, where the file holds them so); float16 and
    /// float32 scale 8-bit weights back, and float32 widens the decoder's half-precision ones.
    pub fn set_compute(&mut self, compute: ComputeType) -> candle_core::Result<()> {
        for l in &mut self.enc_layers {
            for p in [
                &mut l.attn.qkv,
                &mut l.attn.out,
                &mut l.mlp.fc1,
                &mut l.mlp.fc2,
            ] {
                *p = match compute {
                    ComputeType::Int8 => p.to_int8(),
                    _ => p.to_float(),
                };
            }
        }
        for l in &mut self.dec_layers {
            for dense in [
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
                dense.convert(compute);
            }
        }
        self.embed.convert(compute);
        Ok(())
    }

    /// Encode a log-mel window of shape (n_mels, 2 * n_audio_ctx) into audio features (1, t, d).
    pub fn encode(&self, mel: &Tensor) -> candle_core::Result<Tensor> {
        self.work
            .encoded
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let x = mel.unsqueeze(0)?;
        let x = self.conv1.forward(&x)?.apply_op1_no_bwd(&kernels::GeluOp)?;
        let x = self.conv2.forward(&x)?.apply_op1_no_bwd(&kernels::GeluOp)?;
        let x = x.transpose(1, 2)?;
        let n = x.dim(1)?.min(self.dims.n_audio_ctx);
        let mut x = x
            .narrow(1, 0, n)?
            .broadcast_add(&self.enc_pos.narrow(0, 0, n)?)?
            .flatten_all()?
            .to_vec1::<f32>()?;
        for l in &self.enc_layers {
            let a = l.attn.apply(&l.attn_ln.apply(&x));
            add_into(&mut x, &a);
            let m = l.mlp.apply(&l.mlp_ln.apply(&x));
            add_into(&mut x, &m);
        }
        Tensor::from_vec(
            self.enc_ln.apply(&x),
            (1, n, self.dims.d_model),
            &Device::Cpu,
        )
    }

    /// Prepare decoding against encoded audio (1, t, d).
    pub fn start(&self, audio: &Tensor) -> candle_core::Result<DecoderState> {
        let (_, t, d) = audio.dims3()?;
        let feats = audio.flatten_all()?.to_vec1::<f32>()?;
        let cross32: Vec<(Vec<f32>, Vec<f32>)> = self
            .dec_layers
            .iter()
            .map(|l| {
                let mut k = l.cross_k.apply_to_audio(&feats, t);
                for v in k.iter_mut() {
                    *v *= self.dec_scale;
                }
                (k, l.cross_v.apply_to_audio(&feats, t))
            })
            .collect();
        // Per head, the keys in blocks of positions (each dimension-major) and the values
        // position-major, as `attend_blocked_f16` reads them; filled a block of positions at a
        // time (the strided reads stay in the cache).
        let heads = self.dims.decoder_heads;
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
        let ctx = self.dims.n_text_ctx * d;
        Ok(DecoderState {
            cross: std::sync::Arc::new(cross),
            cross32: std::sync::Arc::new(cross32),
            n_audio: t,
            cache: self
                .dec_layers
                .iter()
                .map(|_| (vec![f16::ZERO; ctx], vec![f16::ZERO; ctx]))
                .collect(),
            len: 0,
        })
    }

    /// Run `tokens` through the decoder after the cached ones; returns the final hidden state of
    /// each new token (n × d, layer-normed), ready for [`Whisper::logits`].
    pub fn decode(&self, state: &mut DecoderState, tokens: &[u32]) -> Result<Vec<f32>, ModelError> {
        self.decode_inner(state, tokens, None)
    }

    /// [`Whisper::decode`], also returning the cross-attention scores (before the softmax; n × t
    /// for each of `heads`, given as (layer, head)) that word alignment reads.
    pub fn decode_attending(
        &self,
        state: &mut DecoderState,
        tokens: &[u32],
        heads: &[(usize, usize)],
    ) -> Result<(Vec<f32>, Vec<Vec<f32>>), ModelError> {
        let mut scores = vec![Vec::new(); heads.len()];
        let hidden = self.decode_inner(state, tokens, Some((heads, &mut scores)))?;
        Ok((hidden, scores))
    }

    /// Audio positions the decoder attends over in this state.
    pub fn audio_positions(state: &DecoderState) -> usize {
        state.n_audio
    }

    fn decode_inner(
        &self,
        state: &mut DecoderState,
        tokens: &[u32],
        mut capture: Option<Capture<'_>>,
    ) -> Result<Vec<f32>, ModelError> {
        let d = self.dims.d_model;
        let n = tokens.len();
        self.work
            .decoded
            .fetch_add(n as u64, std::sync::atomic::Ordering::Relaxed);
        let offset = state.len;
        if offset + n > self.dims.n_text_ctx {
            return Err(ModelError::ContextFull {
                limit: self.dims.n_text_ctx,
                asked: offset + n,
            });
        }
        let mut x = vec![0f32; n * d];
        for (i, &tok) in tokens.iter().enumerate() {
            let tok = tok as usize;
            if tok >= self.dims.n_vocab {
                return Err(ModelError::UnknownToken { token: tok });
            }
            let row = &mut x[i * d..(i + 1) * d];
            let (e, p) = (
                self.embed.row(tok),
                &self.dec_pos[(offset + i) * d..(offset + i + 1) * d],
            );
            for j in 0..d {
                row[j] = e[j] + p[j];
            }
        }
        let heads = self.dims.decoder_heads;
        let hd = d / heads;
        for (li, l) in self.dec_layers.iter().enumerate() {
            // Self-attention, causal over the cache.
            let h = l.attn_ln.apply(&x);
            let mut q = l.q.apply(&h, n);
            let k = l.k.apply(&h, n);
            let v = l.v.apply(&h, n);
            let (ck, cv) = &mut state.cache[li];
            for i in 0..n {
                let row = (offset + i) * d..(offset + i + 1) * d;
                for (c, x) in ck[row.clone()].iter_mut().zip(&k[i * d..(i + 1) * d]) {
                    *c = f16::from_f32(x * self.dec_scale);
                }
                for (c, x) in cv[row].iter_mut().zip(&v[i * d..(i + 1) * d]) {
                    *c = f16::from_f32(*x);
                }
            }
            for e in q.iter_mut() {
                *e *= self.dec_scale;
            }
            let (ck, cv) = (&state.cache[li].0, &state.cache[li].1);
            let mut att = vec![0f32; n * d];
            let attend_row = |(i, out): (usize, &mut [f32])| {
                let upto = offset + i + 1;
                let mut scores = vec![0f32; upto];
                for hh in 0..heads {
                    let qh = &q[i * d + hh * hd..i * d + (hh + 1) * hd];
                    kernels::attend_f16(
                        qh,
                        ck,
                        cv,
                        hh * hd,
                        d,
                        upto,
                        &mut scores,
                        &mut out[hh * hd..(hh + 1) * hd],
                    );
                }
            };
            if n == 1 {
                attend_row((0, &mut att));
            } else {
                att.par_chunks_mut(d).enumerate().for_each(attend_row);
            }
            add_into(&mut x, &l.out.apply(&att, n));
            // Cross-attention over the audio.
            let h = l.cross_ln.apply(&x);
            let mut q = l.cross_q.apply(&h, n);
            for e in q.iter_mut() {
                *e *= self.dec_scale;
            }
            let (xk, xv) = &state.cross32[li];
            let (hk, hv) = &state.cross[li];
            let t = state.n_audio;
            let mut att = vec![0f32; n * d];
            if n == 1 && capture.is_none() {
                // One token: the heads go to the threads.
                let per_head = t.div_ceil(kernels::KEY_BLOCK) * kernels::KEY_BLOCK * hd;
                att.par_chunks_mut(hd).enumerate().for_each_init(
                    || vec![0f32; per_head / hd],
                    |scores, (hh, out)| {
                        kernels::attend_blocked_f16(
                            &q[hh * hd..(hh + 1) * hd],
                            &hk[hh * per_head..(hh + 1) * per_head],
                            &hv[hh * t * hd..(hh + 1) * t * hd],
                            t,
                            scores,
                            out,
                        );
                    },
                );
            } else {
                let mut scores = vec![0f32; n * t];
                for hh in 0..heads {
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
                    kernels::softmax_rows(&mut scores, t);
                    kernels::matmul(Mat::new(&scores, n, t), vm, &mut att, hh * hd, d);
                }
            }
            add_into(&mut x, &l.cross_out.apply(&att, n));
            // Feed-forward.
            let h = l.mlp_ln.apply(&x);
            let mut f = l.fc1.apply(&h, n);
            kernels::gelu(&mut f);
            add_into(&mut x, &l.fc2.apply(&f, n));
        }
        state.len += n;
        Ok(self.dec_ln.apply(&x))
    }

    /// Vocabulary logits for row `pos` of hidden states returned by [`Whisper::decode`].
    pub fn logits(&self, hidden: &[f32], pos: usize) -> Vec<f32> {
        let d = self.dims.d_model;
        self.embed.apply(&hidden[pos * d..(pos + 1) * d], 1)
    }
}

fn add_into(x: &mut [f32], y: &[f32]) {
    for (a, b) in x.iter_mut().zip(y) {
        *a += b;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Attention as written: per head, softmax(q kᵀ) v, in f64.
    fn plain_attention(qkv: &[f32], t: usize, d: usize, heads: usize) -> Vec<f32> {
        let hd = d / heads;
        let at = |j: usize, which: usize, h: usize, i: usize| {
            qkv[j * 3 * d + which * d + h * hd + i] as f64
        };
        let mut out = vec![0f32; t * d];
        for h in 0..heads {
            for r in 0..t {
                let s: Vec<f64> = (0..t)
                    .map(|j| (0..hd).map(|i| at(r, 0, h, i) * at(j, 1, h, i)).sum())
                    .collect();
                let m = s.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                let e: Vec<f64> = s.iter().map(|v| (v - m).exp()).collect();
                let z: f64 = e.iter().sum();
                for i in 0..hd {
                    let v: f64 = (0..t).map(|j| e[j] / z * at(j, 2, h, i)).sum();
                    out[r * d + h * hd + i] = v as f32;
                }
            }
        }
        out
    }

    #[test]
    fn encoder_attention_agrees_with_the_plain_one() {
        // Odd lengths: a partial last block of queries and keys padded to a multiple of 16.
        for (t, d, heads) in [
            (1, 8, 2),
            (37, 24, 3),
            (query_block() + 5, 16, 2),
            (131, 64, 1),
        ] {
            let qkv: Vec<f32> = (0..t * 3 * d)
                .map(|i| (((i * 7919) % 1009) as f32 / 1009.0 - 0.5) * 2.0)
                .collect();
            let got = encoder_attention(&qkv, 3 * d, heads);
            let want = plain_attention(&qkv, t, d, heads);
            let worst = got
                .iter()
                .zip(&want)
                .map(|(a, b)| (a - b).abs())
                .fold(0f32, f32::max);
            assert!(worst < 1e-4, "t {t}, d {d}, {heads} heads: off by {worst}");
        }
    }
}
