//! Attention of one query over half-precision keys and values (the decoder, a token at a time):
//! over its own key/value cache, row-major, and over the audio's keys laid out in blocks of
//! positions.

use half::f16;

use super::cpu::f16_simd;
#[cfg(target_arch = "x86_64")]
use super::cpu::has_f16c;
use super::gemv::dot;
#[cfg(target_arch = "x86_64")]
use super::gemv::dot_f16_avx;
use super::softmax::softmax;

/// `out += a * x` for half-precision `x`, with AVX2/FMA/F16C.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn axpy_f16_avx(a: f32, x: &[f16], out: &mut [f32]) {
    use std::arch::x86_64::*;
    let n = x.len().min(out.len());
    let (xp, op) = (x.as_ptr() as *const u16, out.as_mut_ptr());
    let av = _mm256_set1_ps(a);
    let mut i = 0;
    // SAFETY: every access covers 8 elements below `n`, inside both slices.
    while i + 8 <= n {
        let xv = _mm256_cvtph_ps(_mm_loadu_si128(xp.add(i) as *const __m128i));
        _mm256_storeu_ps(
            op.add(i),
            _mm256_fmadd_ps(av, xv, _mm256_loadu_ps(op.add(i))),
        );
        i += 8;
    }
    for j in i..n {
        out[j] += a * x[j].to_f32();
    }
}

/// Scores of a query against `n` half-precision keys (row `j` at `keys[j * stride + offset..]`).
fn key_scores(q: &[f32], keys: &[f16], offset: usize, stride: usize, scores: &mut [f32]) {
    let hd = q.len();
    #[cfg(target_arch = "x86_64")]
    if has_f16c() {
        for (j, s) in scores.iter_mut().enumerate() {
            let at = j * stride + offset;
            // SAFETY: the CPU has AVX2, FMA and F16C (checked at run time).
            *s = unsafe { dot_f16_avx(&keys[at..at + hd], q) };
        }
        return;
    }
    let mut row = vec![0f32; hd];
    for (j, s) in scores.iter_mut().enumerate() {
        let at = j * stride + offset;
        for (r, k) in row.iter_mut().zip(&keys[at..at + hd]) {
            *r = k.to_f32();
        }
        *s = dot(q, &row);
    }
}

/// Softmax over `scores`, then `out = sum_j scores[j] * values[j]` (row `j` at
/// `values[j * stride + offset..][..out.len()]`), with the vector version where `simd`.
fn mix_values(
    scores: &mut [f32],
    values: &[f16],
    offset: usize,
    stride: usize,
    out: &mut [f32],
    simd: bool,
) {
    let hd = out.len();
    softmax(scores);
    if let Some(last) = scores.len().checked_sub(1) {
        // Every row read lies inside `values` (this panics otherwise).
        let _ = &values[last * stride + offset..last * stride + offset + hd];
    }
    #[cfg(target_arch = "x86_64")]
    if simd && matches!(hd, 32 | 64) {
        // SAFETY: the CPU has AVX2, FMA and F16C (`simd` is only set where it has); the rows
        // read are inside `values` (checked above) and `out` is `hd` long.
        unsafe {
            if hd == 64 {
                mix_f16_avx::<8>(scores, values, offset, stride, out)
            } else {
                mix_f16_avx::<4>(scores, values, offset, stride, out)
            }
        };
        return;
    }
    out.fill(0.0);
    for (j, &s) in scores.iter().enumerate() {
        let at = j * stride + offset;
        axpy_f16(s, &values[at..at + hd], out);
    }
}

/// `out = Σ_j scores[j] · values[j * stride + offset..][..8 H]` with the `H` registers of sums
/// held throughout (AVX2/FMA/F16C). The caller checks that every row lies inside `values` and
/// that `out` is `8 H` long.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn mix_f16_avx<const H: usize>(
    scores: &[f32],
    values: &[f16],
    offset: usize,
    stride: usize,
    out: &mut [f32],
) {
    use std::arch::x86_64::*;
    let vp = values.as_ptr() as *const u16;
    let mut acc = [_mm256_setzero_ps(); H];
    for (j, &s) in scores.iter().enumerate() {
        let sv = _mm256_set1_ps(s);
        let row = vp.add(j * stride + offset);
        for (a, v) in acc.iter_mut().enumerate() {
            let x = _mm256_cvtph_ps(_mm_loadu_si128(row.add(8 * a) as *const __m128i));
            *v = _mm256_fmadd_ps(sv, x, *v);
        }
    }
    for (a, v) in acc.iter().enumerate() {
        _mm256_storeu_ps(out.as_mut_ptr().add(8 * a), *v);
    }
}

/// Positions per block of keys in [`attend_blocked_f16`]'s layout.
pub const KEY_BLOCK: usize = 64;

/// Scores of `q` against keys in blocks of [`KEY_BLOCK`] positions (each block `q.len()` ×
/// [`KEY_BLOCK`], dimension-major), a block's 64 sums held in registers while its 8 KiB (for 64
/// dimensions) are read front to back (AVX2/FMA/F16C). The caller checks the slices' lengths:
/// `keys` holds `blocks` blocks and `scores` `blocks` × [`KEY_BLOCK`].
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn scores_blocked_f16_avx(q: &[f32], keys: &[f16], blocks: usize, scores: &mut [f32]) {
    use std::arch::x86_64::*;
    let kp = keys.as_ptr() as *const u16;
    let sp = scores.as_mut_ptr();
    for b in 0..blocks {
        let block = kp.add(b * q.len() * KEY_BLOCK);
        let mut acc = [_mm256_setzero_ps(); KEY_BLOCK / 8];
        for (i, &qi) in q.iter().enumerate() {
            let qv = _mm256_set1_ps(qi);
            let row = block.add(i * KEY_BLOCK);
            for (a, v) in acc.iter_mut().enumerate() {
                let k = _mm256_cvtph_ps(_mm_loadu_si128(row.add(8 * a) as *const __m128i));
                *v = _mm256_fmadd_ps(qv, k, *v);
            }
        }
        for (a, v) in acc.iter().enumerate() {
            _mm256_storeu_ps(sp.add(b * KEY_BLOCK + 8 * a), *v);
        }
    }
}

/// `out += a * x` for half-precision `x`.
fn axpy_f16(a: f32, x: &[f16], out: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if has_f16c() {
        // SAFETY: the CPU has AVX2, FMA and F16C (checked at run time).
        unsafe { axpy_f16_avx(a, x, out) };
        return;
    }
    for (o, v) in out.iter_mut().zip(x) {
        *o += a * v.to_f32();
    }
}

/// One query of one head attending over `n` half-precision keys and values: the keys in blocks
/// of [`KEY_BLOCK`] positions, each block `q.len()` × [`KEY_BLOCK`] (dimension-major, positions
/// past `n` zero), the values `n` × `q.len()`, so that both are read front to back. `scores` is
/// scratch of at least `n` rounded up to [`KEY_BLOCK`].
pub fn attend_blocked_f16(
    q: &[f32],
    keys: &[f16],
    values: &[f16],
    n: usize,
    scores: &mut [f32],
    out: &mut [f32],
) {
    attend_blocked(q, keys, values, n, scores, out, f16_simd());
}

/// [`attend_blocked_f16`] with the vector kernels where `simd` (which needs AVX2/FMA/F16C).
fn attend_blocked(
    q: &[f32],
    keys: &[f16],
    values: &[f16],
    n: usize,
    scores: &mut [f32],
    out: &mut [f32],
    simd: bool,
) {
    let hd = q.len();
    let blocks = n.div_ceil(KEY_BLOCK);
    let keys = &keys[..blocks * hd * KEY_BLOCK];
    let all = &mut scores[..blocks * KEY_BLOCK];
    #[cfg(target_arch = "x86_64")]
    if simd {
        // SAFETY: the CPU has AVX2, FMA and F16C (`simd` is only set where it has); `keys` and
        // `all` were cut to `blocks` blocks above.
        unsafe { scores_blocked_f16_avx(q, keys, blocks, all) };
        mix_values(&mut all[..n], values, 0, hd, out, true);
        return;
    }
    all.fill(0.0);
    for (b, block) in keys.chunks_exact(hd * KEY_BLOCK).enumerate() {
        let sums = &mut all[b * KEY_BLOCK..(b + 1) * KEY_BLOCK];
        for (&qi, row) in q.iter().zip(block.chunks_exact(KEY_BLOCK)) {
            for (s, k) in sums.iter_mut().zip(row) {
                *s += qi * k.to_f32();
            }
        }
    }
    mix_values(&mut all[..n], values, 0, hd, out, false);
}

/// [`attend_blocked_f16`] for several queries (`queries`, rows of `hd`) of one head over the
/// same keys and values (a beam search's beams): each block of keys and of values is widened
/// to f32 once, in `wide`, and read by every query from there, instead of once per query from
/// memory. Each query's row of `out` is exactly what [`attend_blocked_f16`] gives it alone
/// (the same products in the same order). `scores` is scratch of at least as many rows as
/// queries, each `n` rounded up to [`KEY_BLOCK`] long; `wide` of `hd` × [`KEY_BLOCK`].
pub fn attend_blocked_f16_many(
    queries: &[f32],
    hd: usize,
    keys: &[f16],
    values: &[f16],
    n: usize,
    scratch: (&mut [f32], &mut [f32]),
    out: &mut [f32],
) {
    let (scores, wide) = scratch;
    let blocks = n.div_ceil(KEY_BLOCK);
    let padded = blocks * KEY_BLOCK;
    #[cfg(target_arch = "x86_64")]
    if f16_simd() && matches!(hd, 32 | 64) {
        let wide = &mut wide[..hd * KEY_BLOCK];
        let rows = queries.len() / hd;
        let scores = &mut scores[..rows * padded];
        for (b, block) in keys[..blocks * hd * KEY_BLOCK]
            .chunks_exact(hd * KEY_BLOCK)
            .enumerate()
        {
            // SAFETY: the CPU has F16C (`f16_simd`).
            unsafe { widen_f16_avx(block, wide) };
            for (q, s) in queries
                .chunks_exact(hd)
                .zip(scores.chunks_exact_mut(padded))
            {
                // SAFETY: the CPU has AVX2, FMA and F16C (`f16_simd`); `wide` holds one block
                // of `hd` × KEY_BLOCK, and the scores' block is KEY_BLOCK long.
                unsafe { scores_block_f32_avx(q, wide, &mut s[b * KEY_BLOCK..][..KEY_BLOCK]) };
            }
        }
        for s in scores.chunks_exact_mut(padded) {
            softmax(&mut s[..n]);
        }
        out.fill(0.0);
        for from in (0..n).step_by(KEY_BLOCK) {
            let len = KEY_BLOCK.min(n - from);
            let wide = &mut wide[..len * hd];
            // SAFETY: as above.
            unsafe { widen_f16_avx(&values[from * hd..(from + len) * hd], wide) };
            for (s, o) in scores.chunks_exact(padded).zip(out.chunks_exact_mut(hd)) {
                let s = &s[from..from + len];
                // SAFETY: as above; `wide` holds `len` rows of `hd` and `o` is `hd` long.
                unsafe {
                    if hd == 64 {
                        mix_f32_avx::<8>(s, wide, o)
                    } else {
                        mix_f32_avx::<4>(s, wide, o)
                    }
                };
            }
        }
        return;
    }
    for ((q, s), o) in queries
        .chunks_exact(hd)
        .zip(scores.chunks_exact_mut(padded))
        .zip(out.chunks_exact_mut(hd))
    {
        let _ = &wide;
        attend_blocked_f16(q, keys, values, n, s, o);
    }
}

/// `to = from` widened to f32 (as long as `from`, whose length is a multiple of 8).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,f16c")]
unsafe fn widen_f16_avx(from: &[f16], to: &mut [f32]) {
    use std::arch::x86_64::*;
    for (f, t) in from.chunks_exact(8).zip(to.chunks_exact_mut(8)) {
        // SAFETY: 8 halves in, 8 floats out.
        unsafe {
            let x = _mm256_cvtph_ps(_mm_loadu_si128(f.as_ptr().cast()));
            _mm256_storeu_ps(t.as_mut_ptr(), x);
        }
    }
}

/// `scores = q · block` for one block of keys widened to f32 (`q.len()` × [`KEY_BLOCK`],
/// dimension-major), with the operations, in order, of [`scores_blocked_f16_avx`].
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn scores_block_f32_avx(q: &[f32], block: &[f32], scores: &mut [f32]) {
    use std::arch::x86_64::*;
    let bp = block.as_ptr();
    let mut acc = [_mm256_setzero_ps(); KEY_BLOCK / 8];
    for (i, &qi) in q.iter().enumerate() {
        let qv = _mm256_set1_ps(qi);
        let row = bp.add(i * KEY_BLOCK);
        for (a, v) in acc.iter_mut().enumerate() {
            *v = _mm256_fmadd_ps(qv, _mm256_loadu_ps(row.add(8 * a)), *v);
        }
    }
    for (a, v) in acc.iter().enumerate() {
        _mm256_storeu_ps(scores.as_mut_ptr().add(8 * a), *v);
    }
}

/// `out += Σ_j scores[j] · rows[j]` over rows of `8 H` floats, the sums held in `H` registers
/// between `out`'s load and store: with `out` zero at the first block, the operations, in
/// order, of [`mix_f16_avx`].
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn mix_f32_avx<const H: usize>(scores: &[f32], rows: &[f32], out: &mut [f32]) {
    use std::arch::x86_64::*;
    let (rp, op) = (rows.as_ptr(), out.as_mut_ptr());
    let mut acc = [_mm256_setzero_ps(); H];
    for (a, v) in acc.iter_mut().enumerate() {
        *v = _mm256_loadu_ps(op.add(8 * a));
    }
    for (j, &s) in scores.iter().enumerate() {
        let sv = _mm256_set1_ps(s);
        let row = rp.add(j * 8 * H);
        for (a, v) in acc.iter_mut().enumerate() {
            *v = _mm256_fmadd_ps(sv, _mm256_loadu_ps(row.add(8 * a)), *v);
        }
    }
    for (a, v) in acc.iter().enumerate() {
        _mm256_storeu_ps(op.add(8 * a), *v);
    }
}

/// One query attending over `n` half-precision keys and values: row `j` of head `offset` is
/// `keys[j * stride + offset..][..q.len()]`. `scores` is scratch of at least `n`.
#[allow(clippy::too_many_arguments)]
pub fn attend_f16(
    q: &[f32],
    keys: &[f16],
    values: &[f16],
    offset: usize,
    stride: usize,
    n: usize,
    scores: &mut [f32],
    out: &mut [f32],
) {
    let scores = &mut scores[..n];
    key_scores(q, keys, offset, stride, scores);
    mix_values(scores, values, offset, stride, out, f16_simd());
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Several queries over the same keys and values give, each, exactly what it gives alone:
    /// on the widths the vector code takes and one it does not, and positions not a multiple
    /// of the block.
    #[test]
    fn queries_together_attend_exactly_as_each_alone() {
        let mut seed = 5u32;
        let mut next = || {
            seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (seed >> 8) as f32 / (1u32 << 24) as f32 - 0.5
        };
        for (n, hd, m) in [
            (1usize, 64usize, 5usize),
            (65, 64, 5),
            (1500, 64, 3),
            (100, 32, 4),
            (77, 40, 2),
        ] {
            let blocks = n.div_ceil(KEY_BLOCK);
            let keys: Vec<f16> = (0..blocks * hd * KEY_BLOCK)
                .map(|i| {
                    f16::from_f32(if i % KEY_BLOCK < n - (i / (hd * KEY_BLOCK)) * KEY_BLOCK {
                        next()
                    } else {
                        0.0
                    })
                })
                .collect();
            let values: Vec<f16> = (0..n * hd).map(|_| f16::from_f32(next())).collect();
            let queries: Vec<f32> = (0..m * hd).map(|_| next() * 4.0).collect();
            let mut scores = vec![f32::NAN; m * blocks * KEY_BLOCK];
            let mut wide = vec![f32::NAN; hd * KEY_BLOCK];
            let mut together = vec![f32::NAN; m * hd];
            attend_blocked_f16_many(
                &queries,
                hd,
                &keys,
                &values,
                n,
                (&mut scores, &mut wide),
                &mut together,
            );
            for (q, got) in queries.chunks_exact(hd).zip(together.chunks_exact(hd)) {
                let mut scores = vec![f32::NAN; blocks * KEY_BLOCK];
                let mut alone = vec![f32::NAN; hd];
                attend_blocked_f16(q, &keys, &values, n, &mut scores, &mut alone);
                assert_eq!(got, &alone[..], "{n} positions × {hd}, {m} queries");
            }
        }
    }

    #[test]
    fn blocked_attention_agrees_with_the_plain_one() {
        let mut seed = 11u32;
        let mut next = || {
            seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (seed >> 8) as f32 / (1u32 << 24) as f32 - 0.5
        };
        // Positions not a multiple of the block, a single one, and the heads' widths the vector
        // code takes (64, 32) and one it leaves to the plain loop (40).
        for (n, hd) in [
            (1usize, 64usize),
            (63, 64),
            (64, 32),
            (65, 64),
            (1500, 64),
            (77, 40),
        ] {
            let q: Vec<f32> = (0..hd).map(|_| next() * 4.0).collect();
            let keys: Vec<f16> = (0..n * hd).map(|_| f16::from_f32(next())).collect();
            let values: Vec<f16> = (0..n * hd).map(|_| f16::from_f32(next())).collect();
            let blocks = n.div_ceil(KEY_BLOCK);
            let mut blocked = vec![f16::ZERO; blocks * hd * KEY_BLOCK];
            for j in 0..n {
                for i in 0..hd {
                    let (b, p) = (j / KEY_BLOCK, j % KEY_BLOCK);
                    blocked[(b * hd + i) * KEY_BLOCK + p] = keys[j * hd + i];
                }
            }
            let s: Vec<f64> = (0..n)
                .map(|j| {
                    (0..hd)
                        .map(|i| q[i] as f64 * keys[j * hd + i].to_f64())
                        .sum()
                })
                .collect();
            let m = s.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let e: Vec<f64> = s.iter().map(|v| (v - m).exp()).collect();
            let z: f64 = e.iter().sum();
            let want: Vec<f64> = (0..hd)
                .map(|i| (0..n).map(|j| e[j] / z * values[j * hd + i].to_f64()).sum())
                .collect();
            let mut paths = vec![false];
            if f16_simd() {
                paths.push(true);
            }
            for simd in paths {
                let mut scores = vec![f32::NAN; blocks * KEY_BLOCK];
                let mut out = vec![f32::NAN; hd];
                attend_blocked(&q, &blocked, &values, n, &mut scores, &mut out, simd);
                for (i, (a, b)) in out.iter().zip(&want).enumerate() {
                    assert!(
                        (*a as f64 - b).abs() < 1e-4,
                        "simd {simd}, {n} positions × {hd}: {a} against {b} at {i}"
                    );
                }
            }
        }
    }
}
