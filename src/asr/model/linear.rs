//! The network's one linear layer, `y = x Wᵀ + b`: weights in 8 bits, half or single precision,
//! each precision computed on its own kernels, and one conversion between them for every
//! compute type.

use half::f16;
use rayon::prelude::*;

use super::add_into;
use crate::asr::kernels::int8::Int8Linear;
use crate::asr::kernels::{self, Mat};

/// The precision a layer keeps its weights in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Precision {
    Int8,
    Half,
    Single,
}

/// The weights of a linear layer, row-major (out × in).
enum Matrix {
    /// 8-bit, one scale per output, packed for the int8 kernels with a copy of the bias inside.
    Int8(Int8Linear),
    /// Whisper's own precision: half the memory read per decoded token of float32.
    Half(Vec<f16>),
    Single(Vec<f32>),
}

/// A linear layer over plain slices: `y = x Wᵀ + b` for every row of `x`.
pub(super) struct Linear {
    w: Matrix,
    b: Option<Vec<f32>>,
    inputs: usize,
    outputs: usize,
}

impl Linear {
    /// A layer from single-precision weights (`outputs` rows of `inputs`).
    pub(super) fn single(w: Vec<f32>, b: Option<Vec<f32>>, inputs: usize, outputs: usize) -> Self {
        Self {
            w: Matrix::Single(w),
            b,
            inputs,
            outputs,
        }
    }

    /// A layer from half-precision weights (`outputs` rows of `inputs`).
    pub(super) fn half(w: Vec<f16>, b: Option<Vec<f32>>, inputs: usize, outputs: usize) -> Self {
        Self {
            w: Matrix::Half(w),
            b,
            inputs,
            outputs,
        }
    }

    /// A layer from weights already in 8 bits (`q[out][in]`) with their per-output scales.
    pub(super) fn int8(
        q: &[Vec<i8>],
        scales: Vec<f32>,
        inputs: usize,
        b: Option<Vec<f32>>,
    ) -> Self {
        let w = Int8Linear::from_int8(q, scales, inputs, b.clone());
        Self {
            outputs: w.outputs(),
            w: Matrix::Int8(w),
            b,
            inputs,
        }
    }

    pub(super) fn outputs(&self) -> usize {
        self.outputs
    }

    /// `x Wᵀ + b` for every row of `x` through the matrix product (gemm on float weights) or
    /// the int8 kernels with each row of `x` in 8 bits: the encoder's layers.
    pub(super) fn apply(&self, x: &[f32]) -> Vec<f32> {
        match &self.w {
            Matrix::Int8(q) => q.apply(x),
            Matrix::Half(w) => self.product(&kernels::widen(w), x),
            Matrix::Single(w) => self.product(w, x),
        }
    }

    /// [`Linear::apply_audio`] to the decoder's hidden states, except that on int8 weights every
    /// row is taken at about 14 bits (`Int8Linear::apply_fine`).
    pub(super) fn apply_hidden(&self, x: &[f32]) -> Vec<f32> {
        match &self.w {
            // Measured on 1 421 words of three sets: the decoder's hidden states in 8 bits cost
            // tiny.en 1.4 points of WER on the dev files, and the logits a point on base; the
            // residual's second pass gives it back.
            Matrix::Int8(q) => q.apply_fine(x),
            _ => self.apply_audio(x),
        }
    }

    /// [`Linear::apply_hidden`] to rows that are each a token of its own (a beam search's beams):
    /// every row gives exactly what it gives alone, and on 8-bit weights the rows share one
    /// pass over the weights.
    pub(super) fn apply_each(&self, x: &[f32]) -> Vec<f32> {
        match &self.w {
            Matrix::Int8(q) => q.apply_fine(x),
            _ => x
                .chunks_exact(self.inputs.max(1))
                .flat_map(|row| self.apply_audio(row))
                .collect(),
        }
    }

    /// [`Linear::apply`], except that a single row on float weights goes through a
    /// matrix-vector product: rows of encoded audio (the cross-attention's keys and values).
    pub(super) fn apply_audio(&self, x: &[f32]) -> Vec<f32> {
        self.gemv(x).unwrap_or_else(|| self.apply(x))
    }

    /// `W x + b` for a single row `x` on float weights; `None` for several rows or 8-bit weights.
    fn gemv(&self, x: &[f32]) -> Option<Vec<f32>> {
        if x.len() / self.inputs.max(1) != 1 {
            return None;
        }
        let mut y = vec![0f32; self.outputs];
        let bias = self.b.as_deref();
        match &self.w {
            Matrix::Int8(_) => return None,
            Matrix::Half(w) => kernels::gemv_f16(w, x, bias, &mut y),
            Matrix::Single(w) => kernels::gemv_f32(w, x, bias, &mut y),
        }
        Some(y)
    }

    /// `x Wᵀ + b` for the rows of `x` through the matrix product, on single-precision `w`.
    fn product(&self, w: &[f32], x: &[f32]) -> Vec<f32> {
        let (i, o) = (self.inputs, self.outputs);
        let rows = x.len() / i.max(1);
        let mut y = vec![0f32; rows * o];
        kernels::matmul_bt(Mat::new(x, rows, i), Mat::new(w, o, i), &mut y, 0, o);
        if let Some(b) = &self.b {
            y.par_chunks_mut(o).for_each(|r| add_into(r, b));
        }
        y
    }

    /// Row `n` of the weights (a token's embedding), in single precision.
    pub(super) fn row(&self, n: usize) -> Vec<f32> {
        let range = n * self.inputs..(n + 1) * self.inputs;
        match &self.w {
            Matrix::Int8(q) => q.row(n),
            Matrix::Half(w) => kernels::widen(&w[range]),
            Matrix::Single(w) => w[range].to_vec(),
        }
    }

    /// Keep the weights in `to`: float ones quantized per output channel for int8, 8-bit ones
    /// scaled back for half or single precision, half ones widened for single. Single-precision
    /// weights asked for half stay as they are.
    pub(super) fn convert(&mut self, to: Precision) {
        let (i, o) = (self.inputs, self.outputs);
        self.w = match (to, &self.w) {
            (Precision::Int8, Matrix::Half(w)) => {
                Matrix::Int8(Int8Linear::from_f16(w, i, o, self.b.clone()))
            }
            (Precision::Int8, Matrix::Single(w)) => {
                Matrix::Int8(Int8Linear::from_f32(w, i, o, self.b.clone()))
            }
            (Precision::Half, Matrix::Int8(q)) => {
                Matrix::Half(q.to_f32().into_iter().map(f16::from_f32).collect())
            }
            (Precision::Single, Matrix::Int8(q)) => Matrix::Single(q.to_f32()),
            (Precision::Single, Matrix::Half(w)) => Matrix::Single(kernels::widen(w)),
            _ => return,
        };
    }
}

/// A convolution of width 3 with one frame of zero padding on each side, over time-major rows
/// (one frame of `cin` values a row): each output position's three input frames side by side
/// make a row of the linear layer `lin` (whose weights are in that order), so the product runs
/// on the layers' kernels.
pub(super) struct Conv3 {
    pub(super) lin: Linear,
    pub(super) cin: usize,
    pub(super) stride: usize,
}

impl Conv3 {
    /// The output frames (`lin.outputs()` values each) of the frames `x`.
    pub(super) fn apply(&self, x: &[f32]) -> Vec<f32> {
        let c = self.cin.max(1);
        let t = x.len() / c;
        if t == 0 {
            return Vec::new();
        }
        let mut padded = vec![0f32; (t + 2) * c];
        padded[c..(t + 1) * c].copy_from_slice(&x[..t * c]);
        let positions = (t - 1) / self.stride.max(1) + 1;
        let mut rows = Vec::with_capacity(positions * 3 * c);
        for p in 0..positions {
            let from = p * self.stride * c;
            rows.extend_from_slice(&padded[from..from + 3 * c]);
        }
        self.lin.apply(&rows)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use candle_core::{Device, Tensor};

    use super::super::weights::Weights;

    /// A convolution of width 3 as written: `y[o][p] = b[o] + Σ_c Σ_k w[o][c][k] x[c][p s + k - 1]`,
    /// `x` channel-major (`cin` rows of `t`), zero outside; `y` time-major.
    fn plain_conv(w: &[f32], b: &[f32], x: &[f32], cin: usize, t: usize, s: usize) -> Vec<f32> {
        let d = b.len();
        let positions = if t == 0 { 0 } else { (t - 1) / s + 1 };
        let mut y = Vec::new();
        for p in 0..positions {
            for o in 0..d {
                let mut sum = b[o] as f64;
                for c in 0..cin {
                    for k in 0..3 {
                        let at = (p * s + k) as isize - 1;
                        if (0..t as isize).contains(&at) {
                            sum += w[(o * cin + c) * 3 + k] as f64 * x[c * t + at as usize] as f64;
                        }
                    }
                }
                y.push(sum as f32);
            }
        }
        y
    }

    #[test]
    fn a_convolution_is_the_sum_over_its_three_frames() {
        let (cin, d) = (5, 4);
        let value = |i: usize| ((i * 37 % 23) as f32 - 11.0) / 7.0;
        let w: Vec<f32> = (0..d * cin * 3).map(value).collect();
        let b: Vec<f32> = (0..d).map(|i| value(i + 100)).collect();
        for (t, stride) in [(9, 1), (9, 2), (10, 2), (1, 1), (2, 2), (0, 1)] {
            let x: Vec<f32> = (0..cin * t).map(|i| value(i + 7)).collect();
            let mut map = HashMap::new();
            let put = |v: &[f32], shape: &[usize]| {
                Tensor::from_vec(v.to_vec(), shape, &Device::Cpu).expect("tensor")
            };
            map.insert("c.weight".to_string(), put(&w, &[d, cin, 3]));
            map.insert("c.bias".to_string(), put(&b, &[d]));
            let conv = Weights::new(map, "test".into())
                .conv("c", cin, d, stride)
                .expect("conv");
            let frames: Vec<f32> = (0..t)
                .flat_map(|j| (0..cin).map(move |c| (c, j)))
                .map(|(c, j)| x[c * t + j])
                .collect();
            let got = conv.apply(&frames);
            let want = plain_conv(&w, &b, &x, cin, t, stride);
            assert_eq!(got.len(), want.len(), "{t} frames, stride {stride}");
            for (g, e) in got.iter().zip(&want) {
                assert!(
                    (g - e).abs() < 1e-4,
                    "{t} frames, stride {stride}: {g} against {e}"
                );
            }
        }
    }
}
