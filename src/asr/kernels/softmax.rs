//! Softmax over rows of scores (one row, or every row across threads) and log-sum-exp, on an
//! exponential for non-positive inputs that vectorises.

use rayon::prelude::*;

use super::cpu::multiversion;

/// exp(x) for x <= 0 (softmax inputs after subtracting the maximum), relative error ~2e-7.
/// Branch-free so that it vectorises: rounding and 2^n come from the float's bit pattern.
#[inline(always)]
pub(super) fn exp_neg(x: f32) -> f32 {
    const MAGIC: f32 = 12_582_912.0; // 1.5 * 2^23: adding it rounds to an integer in the low bits
    let x = if x < -87.0 { -87.0 } else { x };
    let y = x.mul_add(std::f32::consts::LOG2_E, MAGIC);
    let n = y - MAGIC;
    let r = n.mul_add(-0.693_145_75, x);
    let r = n.mul_add(-1.428_606_8e-6, r);
    let mut p = 1.0 / 720.0;
    p = p * r + 1.0 / 120.0;
    p = p * r + 1.0 / 24.0;
    p = p * r + 1.0 / 6.0;
    p = p * r + 0.5;
    p = p * r + 1.0;
    p = p * r + 1.0;
    let ni = y.to_bits().wrapping_sub(MAGIC.to_bits());
    let scale = f32::from_bits(ni.wrapping_add(127) << 23);
    p * scale
}

multiversion! {
    /// In-place softmax of one row.
    fn softmax(row: &mut [f32]) { softmax_body(row) }
}

#[inline(always)]
fn softmax_body(row: &mut [f32]) {
    {
        const W: usize = 16;
        let split = row.len() / W * W;
        let mut m = [f32::NEG_INFINITY; W];
        for c in row[..split].chunks_exact(W) {
            for i in 0..W {
                m[i] = if c[i] > m[i] { c[i] } else { m[i] };
            }
        }
        let mut max = f32::NEG_INFINITY;
        for v in m.iter().chain(&row[split..]) {
            max = if *v > max { *v } else { max };
        }
        if max == f32::NEG_INFINITY {
            return;
        }
        let mut acc = [0f32; W];
        for c in row[..split].chunks_exact_mut(W) {
            for i in 0..W {
                c[i] = exp_neg(c[i] - max);
                acc[i] += c[i];
            }
        }
        let mut sum: f32 = acc.iter().sum();
        for v in row[split..].iter_mut() {
            *v = exp_neg(*v - max);
            sum += *v;
        }
        let inv = 1.0 / sum;
        for v in row.iter_mut() {
            *v *= inv;
        }
    }
}

multiversion! {
    /// `ln(sum(exp(x)))`; `-inf` for an empty or all `-inf` slice.
    fn logsumexp(x: &[f32]) -> f32 {
        let mut max = f32::NEG_INFINITY;
        for &v in x {
            max = if v > max { v } else { max };
        }
        if max == f32::NEG_INFINITY {
            return max;
        }
        let mut acc = [0f32; 16];
        let split = x.len() / 16 * 16;
        for c in x[..split].chunks_exact(16) {
            for i in 0..16 {
                acc[i] += exp_neg(c[i] - max);
            }
        }
        let mut sum: f32 = acc.iter().sum();
        for &v in &x[split..] {
            sum += exp_neg(v - max);
        }
        max + sum.ln()
    }
}

/// In-place softmax of every row (of length `cols`), rows split across threads.
pub fn softmax_rows(data: &mut [f32], cols: usize) {
    data.par_chunks_mut(cols * 64).for_each(|block| {
        for row in block.chunks_exact_mut(cols) {
            softmax(row);
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_is_accurate() {
        for i in 0..2000 {
            let x = -(i as f32) * 0.05;
            let (a, b) = (exp_neg(x), x.exp());
            assert!(
                (a - b).abs() <= 2e-7 * b.max(1e-30) + 1e-38,
                "{x}: {a} vs {b}"
            );
        }
        let tiny = exp_neg(-1000.0);
        assert!((0.0..1e-37).contains(&tiny), "{tiny}");
    }

    #[test]
    fn softmax_and_logsumexp() {
        let mut r = vec![1.0, 2.0, 3.0, f32::NEG_INFINITY];
        softmax(&mut r);
        let e: Vec<f32> = [1.0f32, 2.0, 3.0].iter().map(|v| v.exp()).collect();
        let s: f32 = e.iter().sum();
        for i in 0..3 {
            assert!((r[i] - e[i] / s).abs() < 1e-6);
        }
        assert!(r[3] < 1e-30);
        let xs: Vec<f32> = (0..100).map(|i| i as f32 * 0.1 - 3.0).collect();
        let naive = xs.iter().map(|v| v.exp()).sum::<f32>().ln();
        assert!((logsumexp(&xs) - naive).abs() < 1e-5);
        assert_eq!(logsumexp(&[f32::NEG_INFINITY; 3]), f32::NEG_INFINITY);
    }
}
