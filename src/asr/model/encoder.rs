//! The audio encoder: two convolutions with GELU (the front), then self-attention and MLP
//! layers, all over plain slices: each convolution and projection a [`Linear`] (float32
//! through gemm, or 8-bit weights through the int8 kernels), the attention's queries in blocks
//! through gemm.

use candle_core::{DType, Device, Tensor};
use rayon::prelude::*;

use super::add_into;
use super::linear::{Conv3, Linear, Precision};
use super::norm::LayerNorm;
use super::weights::{Dims, Weights};
use crate::asr::kernels::{self, Mat};
use crate::asr::{ComputeType, ModelError};

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
    qkv: Linear,
    out: Linear,
    heads: usize,
    /// Whether the attention's two products may run in bfloat16 (on AMX tiles, where the CPU
    /// has them): at int8, not at the float types.
    half: bool,
}

impl SelfAttention {
    fn load(w: &mut Weights, name: &str, d: usize, heads: usize) -> Result<Self, ModelError> {
        let scale = ((d / heads) as f64).powf(-0.25);
        let out = w.linear(&format!("{name}.out_proj"), d, d, true, Precision::Single)?;
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
                qkv: Linear::int8(&rows, scales, d, Some(bias)),
                out,
                heads,
                half: false,
            });
        }
        // Otherwise (any part in floats) every part is read as floats, 8-bit ones scaled back.
        let q = w.get(&format!("{name}.q_proj.weight"), &[d, d])?;
        let qb = w.get(&format!("{name}.q_proj.bias"), &[d])?;
        let k = w.get(&format!("{name}.k_proj.weight"), &[d, d])?;
        let v = w.get(&format!("{name}.v_proj.weight"), &[d, d])?;
        let vb = w.get(&format!("{name}.v_proj.bias"), &[d])?;
        let fuse = || -> candle_core::Result<Linear> {
            let weight = Tensor::cat(&[&(q * scale)?, &(k * scale)?, &v], 0)?;
            let bias = Tensor::cat(
                &[
                    &(qb * scale)?,
                    &Tensor::zeros(d, DType::F32, &Device::Cpu)?,
                    &vb,
                ],
                0,
            )?;
            Ok(Linear::single(
                weight.flatten_all()?.to_vec1::<f32>()?,
                Some(bias.to_vec1::<f32>()?),
                d,
                3 * d,
            ))
        };
        let qkv = fuse().map_err(|e| w.err(e))?;
        Ok(Self {
            qkv,
            out,
            heads,
            half: false,
        })
    }

    fn apply(&self, x: &[f32]) -> Vec<f32> {
        let qkv = self.qkv.apply(x);
        let (d3, heads) = (self.qkv.outputs(), self.heads);
        let mixed = self
            .half
            .then(|| kernels::attention_tiles(&qkv, d3, heads))
            .flatten()
            .unwrap_or_else(|| encoder_attention(&qkv, d3, heads));
        self.out.apply(&mixed)
    }
}

/// The feed-forward block: `fc2(GELU(fc1(x)))`.
struct Mlp {
    fc1: Linear,
    fc2: Linear,
}

impl Mlp {
    fn load(w: &mut Weights, name: &str, d: usize) -> Result<Self, ModelError> {
        Ok(Self {
            fc1: w.linear(&format!("{name}.fc1"), d, 4 * d, true, Precision::Single)?,
            fc2: w.linear(&format!("{name}.fc2"), 4 * d, d, true, Precision::Single)?,
        })
    }
    fn apply(&self, x: &[f32]) -> Vec<f32> {
        let mut h = self.fc1.apply(x);
        h.par_chunks_mut(1 << 14).for_each(kernels::gelu);
        self.fc2.apply(&h)
    }
}

struct EncoderLayer {
    attn_ln: LayerNorm,
    attn: SelfAttention,
    mlp_ln: LayerNorm,
    mlp: Mlp,
}

/// The encoder: the convolution front, positions, layers and the final layer norm.
pub(super) struct Encoder {
    conv1: Conv3,
    conv2: Conv3,
    positions: Vec<f32>,
    layers: Vec<EncoderLayer>,
    ln: LayerNorm,
    /// Audio positions the encoder attends over at most.
    n_ctx: usize,
    d: usize,
}

impl Encoder {
    pub(super) fn load(w: &mut Weights, dims: &Dims) -> Result<Self, ModelError> {
        let d = dims.d_model;
        let conv1 = w.conv("encoder.conv1", dims.n_mels, d, 1)?;
        let conv2 = w.conv("encoder.conv2", d, d, 2)?;
        let positions = w.vec("encoder.embed_positions.weight", &[dims.n_audio_ctx, d])?;
        let mut layers = Vec::new();
        for i in 0..dims.encoder_layers {
            let p = format!("encoder.layers.{i}");
            layers.push(EncoderLayer {
                attn_ln: w.norm(&format!("{p}.self_attn_layer_norm"), d)?,
                attn: SelfAttention::load(w, &format!("{p}.self_attn"), d, dims.encoder_heads)?,
                mlp_ln: w.norm(&format!("{p}.final_layer_norm"), d)?,
                mlp: Mlp::load(w, &p, d)?,
            });
        }
        Ok(Self {
            conv1,
            conv2,
            positions,
            layers,
            ln: w.norm("encoder.layer_norm", d)?,
            n_ctx: dims.n_audio_ctx,
            d,
        })
    }

    /// Keep the projections as `compute` asks: 8-bit for int8, float32 for float16 and float32
    /// (float16 keeps the decoder's weights in half precision; the encoder's stay in float32).
    /// At int8 the attention's products also run in bfloat16 where the CPU has AMX tiles.
    pub(super) fn convert(&mut self, compute: ComputeType) {
        let to = match compute {
            ComputeType::Int8 => Precision::Int8,
            ComputeType::Float16 | ComputeType::Float32 => Precision::Single,
        };
        // The convolutions stay in float32 (about 10 ms of a tiny.en pass). The second in int8
        // was 3 ms faster and as accurate on the 264 recordings of stream-dev and wide alone,
        // but in full history it lost a one-word sentence of wide that float32 keeps (the
        // window's no-speech probability crossed its threshold: 0.614 against 0.6).
        for l in &mut self.layers {
            l.attn.half = compute == ComputeType::Int8;
            for p in [
                &mut l.attn.qkv,
                &mut l.attn.out,
                &mut l.mlp.fc1,
                &mut l.mlp.fc2,
            ] {
                p.convert(to);
            }
        }
    }

    /// Encode a log-mel window of shape (n_mels, 2 * n_audio_ctx) into audio features (1, t, d).
    pub(super) fn forward(&self, mel: &Tensor) -> candle_core::Result<Tensor> {
        // The mel frames time-major: one row of n_mels a frame.
        let frames = mel.t()?.contiguous()?.flatten_all()?.to_vec1::<f32>()?;
        let gelu = |mut h: Vec<f32>| {
            h.par_chunks_mut(1 << 14).for_each(kernels::gelu);
            h
        };
        let h = gelu(self.conv1.apply(&frames));
        let mut x = gelu(self.conv2.apply(&h));
        let n = (x.len() / self.d.max(1)).min(self.n_ctx);
        x.truncate(n * self.d);
        add_into(&mut x, &self.positions[..n * self.d]);
        for l in &self.layers {
            let a = l.attn.apply(&l.attn_ln.apply(&x));
            add_into(&mut x, &a);
            let m = l.mlp.apply(&l.mlp_ln.apply(&x));
            add_into(&mut x, &m);
        }
        Tensor::from_vec(self.ln.apply(&x), (1, n, self.d), &Device::Cpu)
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

    /// On AMX-BF16 the tiles' attention stays within bfloat16's rounding of the plain one: the
    /// worst and the mean error, on heads one and two tiles wide and lengths that are no
    /// multiple of 32 (padded keys and a partial block of queries).
    #[test]
    fn attention_in_bfloat16_tiles_stays_near_the_plain_one() {
        if kernels::attention_tiles(&[0.0; 3 * 32], 3 * 32, 1).is_none() {
            eprintln!("no AMX-BF16 on this CPU (or not permitted)");
            return;
        }
        for (t, d, heads) in [(1, 64, 2), (45, 32, 1), (77, 128, 2), (161, 384, 6)] {
            let qkv: Vec<f32> = (0..t * 3 * d)
                .map(|i| (((i * 7919) % 1009) as f32 / 1009.0 - 0.5) * 1.5)
                .collect();
            let Some(got) = kernels::attention_tiles(&qkv, 3 * d, heads) else {
                panic!("t {t}, d {d}, {heads} heads: not taken by the tiles");
            };
            let want = plain_attention(&qkv, t, d, heads);
            let errors: Vec<f32> = got.iter().zip(&want).map(|(a, b)| (a - b).abs()).collect();
            let worst = errors.iter().copied().fold(0f32, f32::max);
            let mean = errors.iter().sum::<f32>() / errors.len() as f32;
            assert!(
                worst < 0.015 && mean < 0.002,
                "t {t}, d {d}, {heads} heads: worst {worst}, mean {mean}"
            );
        }
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
