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

/// The greatest of `x` (`-inf` if empty), kept lane by lane so that it vectorises. NaN is
/// never greater; of equal values (zeros of both signs) the one kept may differ from a
/// left-to-right scan's, which no caller tells apart.
#[inline(always)]
fn max_body(x: &[f32]) -> f32 {
    const W: usize = 16;
    let split = x.len() / W * W;
    let mut m = [f32::NEG_INFINITY; W];
    for c in x[..split].chunks_exact(W) {
        for i in 0..W {
            m[i] = if c[i] > m[i] { c[i] } else { m[i] };
        }
    }
    let mut max = f32::NEG_INFINITY;
    for v in m.iter().chain(&x[split..]) {
        max = if *v > max { *v } else { max };
    }
    max
}

multiversion! {
    /// The greatest of `x`; `-inf` for an empty slice (NaN is never the greatest).
    fn max(x: &[f32]) -> f32 { max_body(x) }
}

multiversion! {
    /// The index of the greatest of `x` in the order of `f32::total_cmp`, the last of equal
    /// ones: what `iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1))` finds, for slices
    /// without NaN. `None` for an empty slice.
    fn argmax(x: &[f32]) -> Option<usize> {
        const W: usize = 16;
        let split = x.len() / W * W;
        let mut m = [f32::NEG_INFINITY; W];
        let mut at = [u32::MAX; W];
        // A slice this long cannot be indexed in 32 bits: the plain scan below takes it.
        if x.len() < u32::MAX as usize {
            for (b, c) in x[..split].chunks_exact(W).enumerate() {
                for i in 0..W {
                    let take = c[i] >= m[i];
                    m[i] = if take { c[i] } else { m[i] };
                    at[i] = if take { (b * W + i) as u32 } else { at[i] };
                }
            }
        }
        let mut best: Option<(usize, f32)> = None;
        for i in 0..W {
            if at[i] != u32::MAX && best.is_none_or(|(j, v)| m[i] > v || (m[i] == v && at[i] as usize > j)) {
                best = Some((at[i] as usize, m[i]));
            }
        }
        for (j, &v) in x.iter().enumerate().skip(split) {
            if best.is_none_or(|(_, b)| v >= b) {
                best = Some((j, v));
            }
        }
        match best {
            // Zeros of both signs tie for `>=` but not for `total_cmp`; a slice of nothing
            // above -inf or 0 (or of NaN) is scanned as `total_cmp` scans it.
            Some((j, v)) if v != 0.0 && v > f32::NEG_INFINITY && x.len() < u32::MAX as usize => Some(j),
            _ => x
                .iter()
                .enumerate()
                .max_by(|a, b| a.1.total_cmp(b.1))
                .map(|(j, _)| j),
        }
    }
}

multiversion! {
    /// The `k` greatest finite values of `x` with their indices, greatest first, the earlier of
    /// equal values first: what inserting each finite value in turn into a list kept sorted
    /// and `k` long gives. The values are compared 16 at a time against the least kept, and
    /// only a group holding a greater one is looked at value by value.
    fn top_k(x: &[f32], k: usize) -> Vec<(usize, f32)> {
        const W: usize = 16;
        let mut top: Vec<(usize, f32)> = Vec::with_capacity(k + 1);
        if k == 0 {
            return top;
        }
        let consider = |top: &mut Vec<(usize, f32)>, i: usize, l: f32| {
            if !l.is_finite() || (top.len() == k && l <= top[k - 1].1) {
                return;
            }
            let at = top.partition_point(|&(_, t)| t >= l);
            top.insert(at, (i, l));
            top.truncate(k);
        };
        let split = x.len() / W * W;
        for (b, c) in x[..split].chunks_exact(W).enumerate() {
            let floor = if top.len() == k { top[k - 1].1 } else { f32::NEG_INFINITY };
            let mut hit = false;
            for &v in c {
                hit |= v > floor;
            }
            if hit {
                for (i, &v) in c.iter().enumerate() {
                    consider(&mut top, b * W + i, v);
                }
            }
        }
        for (i, &v) in x.iter().enumerate().skip(split) {
            consider(&mut top, i, v);
        }
        top
    }
}

#[inline(always)]
fn softmax_body(row: &mut [f32]) {
    {
        const W: usize = 16;
        let split = row.len() / W * W;
        let max = max_body(row);
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
        let max = max_body(x);
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

    /// Slices of many lengths whose values repeat (so that the greatest ties), with -inf
    /// among them, and slices of nothing but -inf or zeros of both signs.
    fn slices() -> Vec<Vec<f32>> {
        let mut seed = 11u32;
        let mut next = || {
            seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            seed >> 8
        };
        let mut all = vec![
            Vec::new(),
            vec![f32::NEG_INFINITY; 40],
            vec![0.0, -0.0, -1.0, 0.0, -0.0],
            (0..33)
                .map(|i| if i % 2 == 0 { 0.0 } else { -0.0 })
                .collect(),
        ];
        for n in [1usize, 15, 16, 17, 100, 1501, 51_864] {
            for levels in [3u32, 50, 1 << 20] {
                all.push(
                    (0..n)
                        .map(|_| match next() % levels {
                            0 => f32::NEG_INFINITY,
                            v => v as f32 * 0.25 - 7.0,
                        })
                        .collect(),
                );
            }
        }
        all
    }

    #[test]
    fn the_greatest_is_found_as_a_scan_finds_it() {
        for x in slices() {
            let scan = x
                .iter()
                .enumerate()
                .max_by(|a, b| a.1.total_cmp(b.1))
                .map(|(i, _)| i);
            assert_eq!(argmax(&x), scan, "{} values", x.len());
            let greatest = x.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            assert_eq!(max(&x), greatest);
        }
    }

    #[test]
    fn the_k_greatest_are_what_sorted_insertion_keeps() {
        for x in slices() {
            for k in [0usize, 1, 6, 40] {
                let mut want: Vec<(usize, f32)> = Vec::new();
                for (i, &l) in x.iter().enumerate() {
                    if !l.is_finite() {
                        continue;
                    }
                    let at = want.partition_point(|&(_, t)| t >= l);
                    want.insert(at, (i, l));
                    want.truncate(k);
                }
                assert_eq!(top_k(&x, k), want, "{} values, k {k}", x.len());
            }
        }
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
