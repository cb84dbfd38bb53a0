//! Layer normalisation of one row of activations.

use super::cpu::multiversion;

multiversion! {
    /// `out = LayerNorm(x) * w + b` with epsilon 1e-5.
    fn layer_norm(x: &[f32], w: &[f32], b: &[f32], out: &mut [f32]) {
        let n = x.len() as f32;
        let mean = x.iter().sum::<f32>() / n;
        let var = x.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / n;
        let inv = 1.0 / (var + 1e-5).sqrt();
        for i in 0..x.len() {
            out[i] = (x[i] - mean) * inv * w[i] + b[i];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_row_is_centred_then_scaled_and_shifted() {
        let mut out = vec![0.0; 4];
        layer_norm(&[1.0, 2.0, 3.0, 4.0], &[1.0; 4], &[0.5; 4], &mut out);
        assert!((out.iter().sum::<f32>() - 2.0).abs() < 1e-5);
    }
}
