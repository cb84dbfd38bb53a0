//! Layer normalisation with its learned scale and shift, over every row of the activations.

use rayon::prelude::*;

use crate::asr::kernels;

pub(super) struct LayerNorm {
    pub(super) w: Vec<f32>,
    pub(super) b: Vec<f32>,
}

impl LayerNorm {
    /// Each row of `x` (as long as the weights) normalised, then scaled and shifted; many rows
    /// are split across threads.
    pub(super) fn apply(&self, x: &[f32]) -> Vec<f32> {
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
