//! CPU kernels for the hot paths that candle's general ops make slow for Whisper: matrix-vector
//! products and single-query attention over half-precision weights (one decoder token at a time),
//! row-wise softmax with a vectorised exponential, layer norm and GELU over plain slices, and
//! strided matrix products through `gemm`. Each kernel has a portable body; on x86-64 with AVX2
//! and FMA (and F16C for half precision) a second version is chosen at run time.

use half::f16;
use rayon::prelude::*;

#[cfg(target_arch = "x86_64")]
fn has_avx2() -> bool {
    use std::sync::OnceLock;
    static HAS: OnceLock<bool> = OnceLock::new();
    *HAS.get_or_init(|| is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma"))
}

#[cfg(target_arch = "x86_64")]
fn has_avx512() -> bool {
    use std::sync::OnceLock;
    static HAS: OnceLock<bool> = OnceLock::new();
    *HAS.get_or_init(|| has_avx2() && is_x86_feature_detected!("avx512f"))
}

/// Define `$name` as a function whose body is compiled three times: portable, with AVX2+FMA, and
/// with AVX-512 (16 lanes: measured 6 % off `transcribe` of the dev files with base on an AVX-512
/// Xeon).
macro_rules! multiversion {
    ($(#[$m:meta])* fn $name:ident($($arg:ident: $ty:ty),*) $(-> $ret:ty)? $body:block) => {
        $(#[$m])*
        #[inline]
        #[allow(clippy::too_many_arguments)]
        pub fn $name($($arg: $ty),*) $(-> $ret)? {
            #[inline(always)]
            #[allow(clippy::too_many_arguments)]
            fn imp($($arg: $ty),*) $(-> $ret)? $body
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx2,fma")]
                #[allow(clippy::too_many_arguments)]
                unsafe fn avx($($arg: $ty),*) $(-> $ret)? { imp($($arg),*) }
                #[target_feature(enable = "avx512f,avx2,fma")]
                #[allow(clippy::too_many_arguments)]
                unsafe fn avx512($($arg: $ty),*) $(-> $ret)? { imp($($arg),*) }
                if has_avx512() {
                    // SAFETY: the CPU supports AVX-512F, AVX2 and FMA (checked at run time).
                    return unsafe { avx512($($arg),*) };
                }
                if has_avx2() {
                    // SAFETY: the CPU supports AVX2 and FMA (checked at run time).
                    return unsafe { avx($($arg),*) };
                }
            }
            imp($($arg),*)
        }
    };
}

#[inline(always)]
fn dot_body(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [0f32; 16];
    let chunks = n / 16 * 16;
    for (ca, cb) in a[..chunks]
        .chunks_exact(16)
        .zip(b[..chunks].chunks_exact(16))
    {
        for i in 0..16 {
            acc[i] = ca[i].mul_add(cb[i], acc[i]);
        }
    }
    let mut s = 0f32;
    for v in acc {
        s += v;
    }
    for i in chunks..n {
        s += a[i] * b[i];
    }
    s
}

multiversion! {
    /// Dot product.
    fn dot(a: &[f32], b: &[f32]) -> f32 { dot_body(a, b) }
}

#[cfg(target_arch = "x86_64")]
fn has_f16c() -> bool {
    use std::sync::OnceLock;
    static HAS: OnceLock<bool> = OnceLock::new();
    *HAS.get_or_init(|| has_avx2() && is_x86_feature_detected!("f16c"))
}

/// Dot product of half-precision weights with `x`, with AVX2/FMA/F16C.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn dot_f16_avx(w: &[f16], x: &[f32]) -> f32 {
    use std::arch::x86_64::*;
    let n = w.len().min(x.len());
    let (wp, xp) = (w.as_ptr() as *const u16, x.as_ptr());
    let mut acc0 = _mm256_setzero_ps();
    let mut acc1 = _mm256_setzero_ps();
    let mut i = 0;
    // SAFETY: every load reads 8 or 16 elements below `n`, inside both slices.
    while i + 16 <= n {
        let w0 = _mm256_cvtph_ps(_mm_loadu_si128(wp.add(i) as *const __m128i));
        let w1 = _mm256_cvtph_ps(_mm_loadu_si128(wp.add(i + 8) as *const __m128i));
        acc0 = _mm256_fmadd_ps(w0, _mm256_loadu_ps(xp.add(i)), acc0);
        acc1 = _mm256_fmadd_ps(w1, _mm256_loadu_ps(xp.add(i + 8)), acc1);
        i += 16;
    }
    let mut lanes = [0f32; 8];
    _mm256_storeu_ps(lanes.as_mut_ptr(), _mm256_add_ps(acc0, acc1));
    let mut s: f32 = lanes.iter().sum();
    for j in i..n {
        s += w[j].to_f32() * x[j];
    }
    s
}

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

/// Whether the half-precision kernels' AVX2/FMA/F16C versions run here.
fn f16_simd() -> bool {
    #[cfg(target_arch = "x86_64")]
    return has_f16c();
    #[cfg(not(target_arch = "x86_64"))]
    false
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
pub fn axpy_f16(a: f32, x: &[f16], out: &mut [f32]) {
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

fn gemv_f16_rows(w: &[f16], x: &[f32], bias: Option<&[f32]>, y: &mut [f32]) {
    let k = x.len();
    #[cfg(target_arch = "x86_64")]
    if has_f16c() {
        for (i, (o, row)) in y.iter_mut().zip(w.chunks_exact(k)).enumerate() {
            // SAFETY: the CPU has AVX2, FMA and F16C (checked at run time).
            *o = unsafe { dot_f16_avx(row, x) } + bias.map_or(0.0, |b| b[i]);
        }
        return;
    }
    let mut row32 = vec![0f32; k];
    for (i, (o, row)) in y.iter_mut().zip(w.chunks_exact(k)).enumerate() {
        for (d, s) in row32.iter_mut().zip(row) {
            *d = s.to_f32();
        }
        *o = dot(&row32, x) + bias.map_or(0.0, |b| b[i]);
    }
}

/// Matrix-vector product `y = W x + b` with half-precision weights, `W` row-major
/// (`y.len()` × `x.len()`); large products are split across threads.
pub fn gemv_f16(w: &[f16], x: &[f32], bias: Option<&[f32]>, y: &mut [f32]) {
    gemv_split(w, x, bias, y, gemv_f16_rows);
}

fn gemv_f32_rows(w: &[f32], x: &[f32], bias: Option<&[f32]>, y: &mut [f32]) {
    for (i, (o, row)) in y.iter_mut().zip(w.chunks_exact(x.len())).enumerate() {
        *o = dot(row, x) + bias.map_or(0.0, |b| b[i]);
    }
}

/// [`gemv_f16`] with single-precision weights.
pub fn gemv_f32(w: &[f32], x: &[f32], bias: Option<&[f32]>, y: &mut [f32]) {
    gemv_split(w, x, bias, y, gemv_f32_rows);
}

/// A matrix-vector product over some rows of `W`: `(w, x, bias, y)`.
type GemvRows<T> = fn(&[T], &[f32], Option<&[f32]>, &mut [f32]);

/// `rows(w, x, bias, y)` over the whole product, or over row blocks on every thread when the
/// product is large.
fn gemv_split<T: Sync>(
    w: &[T],
    x: &[f32],
    bias: Option<&[f32]>,
    y: &mut [f32],
    rows_of: GemvRows<T>,
) {
    let k = x.len();
    // Measured: the decoder's layers (up to 1536 x 384) run faster on one thread than split;
    // only the vocabulary projection (51 864 x 384) gains from both cores.
    if y.len() * k < 1 << 20 {
        rows_of(w, x, bias, y);
        return;
    }
    let rows = y.len().div_ceil(4 * rayon::current_num_threads()).max(16);
    y.par_chunks_mut(rows)
        .zip(w.par_chunks(rows * k))
        .enumerate()
        .for_each(|(c, (yc, wc))| rows_of(wc, x, bias.map(|b| &b[c * rows..]), yc));
}

/// Half-precision values widened to `f32`.
pub fn widen(w: &[f16]) -> Vec<f32> {
    use half::slice::HalfFloatSliceExt;
    let mut out = vec![0f32; w.len()];
    w.convert_to_f32_slice(&mut out);
    out
}

/// exp(x) for x <= 0 (softmax inputs after subtracting the maximum), relative error ~2e-7.
/// Branch-free so that it vectorises: rounding and 2^n come from the float's bit pattern.
#[inline(always)]
fn exp_neg(x: f32) -> f32 {
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

multiversion! {
    /// `row` in int8 with one symmetric scale (`max |v| / 127`, never zero), returned; each value
    /// to the nearest integer (ties to even, by the float trick that needs no library call, so
    /// that it vectorises).
    fn quantize_row(row: &[f32], q: &mut [i8]) -> f32 {
        const MAGIC: f32 = 12_582_912.0; // 1.5 × 2^23: adding it rounds to an integer.
        const LANES: usize = 16;
        // The largest magnitude, in lanes (a float fold does not vectorise).
        let mut lanes = [0f32; LANES];
        let chunks = row.chunks_exact(LANES);
        let tail = chunks.remainder();
        for c in chunks {
            for i in 0..LANES {
                lanes[i] = lanes[i].max(c[i].abs());
            }
        }
        let m = tail.iter().chain(&lanes).fold(0f32, |m, x| m.max(x.abs()));
        let scale = if m > 0.0 && m.is_finite() { m / 127.0 } else { 1.0 };
        let inv = 1.0 / scale;
        // After adding MAGIC the integer sits in the low mantissa bits: read it from the bits
        // (integer lanes, no saturating float-to-int conversion).
        let magic = MAGIC.to_bits() as i32;
        for (d, &v) in q.iter_mut().zip(row) {
            *d = (((v * inv).clamp(-127.0, 127.0) + MAGIC).to_bits() as i32 - magic) as i8;
        }
        scale
    }
}

multiversion! {
    /// The int8 product's epilogue for one row: `out = (acc - offset × sum) × (s × scale) + bias`,
    /// element-wise over the outputs.
    fn dequantize_row(
        acc: &[i32],
        offset: i32,
        sum: &[i32],
        s: f32,
        scale: &[f32],
        bias: &[f32],
        out: &mut [f32]
    ) {
        let n = out.len().min(acc.len()).min(sum.len()).min(scale.len()).min(bias.len());
        for i in 0..n {
            out[i] = (acc[i] - offset * sum[i]) as f32 * (s * scale[i]) + bias[i];
        }
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

/// erf with absolute error below 1.5e-7 (Abramowitz and Stegun 7.1.26), branch-free.
#[inline(always)]
fn erf(x: f32) -> f32 {
    let a = x.abs();
    let t = 1.0 / 0.327_591_1f32.mul_add(a, 1.0);
    let p = ((((1.061_405_4f32 * t - 1.453_152_1) * t + 1.421_413_7) * t - 0.284_496_74) * t
        + 0.254_829_6)
        * t;
    let y = 1.0 - p * exp_neg(-a * a);
    y.copysign(x)
}

multiversion! {
    /// Exact (erf) GELU in place.
    fn gelu(x: &mut [f32]) {
        for v in x.iter_mut() {
            *v = 0.5 * *v * (1.0 + erf(*v * std::f32::consts::FRAC_1_SQRT_2));
        }
    }
}

/// [`gelu`] as a candle operation (for the encoder's tensors).
pub struct GeluOp;

impl candle_core::CustomOp1 for GeluOp {
    fn name(&self) -> &'static str {
        "livecap-gelu-erf"
    }

    fn cpu_fwd(
        &self,
        storage: &candle_core::CpuStorage,
        layout: &candle_core::Layout,
    ) -> candle_core::Result<(candle_core::CpuStorage, candle_core::Shape)> {
        let data = storage.as_slice::<f32>()?;
        let Some((a, b)) = layout.contiguous_offsets() else {
            candle_core::bail!("gelu: input is not contiguous");
        };
        let mut out = data[a..b].to_vec();
        out.par_chunks_mut(1 << 14).for_each(gelu);
        Ok((candle_core::CpuStorage::F32(out), layout.shape().clone()))
    }
}

/// A strided view of a row-major matrix inside a slice.
#[derive(Clone, Copy)]
pub struct Mat<'a> {
    pub data: &'a [f32],
    pub offset: usize,
    pub rows: usize,
    pub cols: usize,
    pub row_stride: usize,
}

impl<'a> Mat<'a> {
    pub fn new(data: &'a [f32], rows: usize, cols: usize) -> Self {
        Self {
            data,
            offset: 0,
            rows,
            cols,
            row_stride: cols,
        }
    }
    fn fits(&self) -> bool {
        self.rows == 0
            || self.cols == 0
            || self.offset + (self.rows - 1) * self.row_stride + self.cols <= self.data.len()
    }
}

/// `out[r][c] = sum_k a[r][k] * b[c][k]` (A times B transposed) into `out` at `out_offset` with
/// `out_stride` between rows.
pub fn matmul_bt(a: Mat, b: Mat, out: &mut [f32], out_offset: usize, out_stride: usize) {
    product(a, b, true, out, out_offset, out_stride, true)
}

/// `out[r][c] = sum_k a[r][k] * b[k][c]` (A times B), strided like [`matmul_bt`].
pub fn matmul(a: Mat, b: Mat, out: &mut [f32], out_offset: usize, out_stride: usize) {
    product(a, b, false, out, out_offset, out_stride, true)
}

/// [`matmul`] on the calling thread only (for callers that split the work themselves).
pub fn matmul_serial(a: Mat, b: Mat, out: &mut [f32], out_offset: usize, out_stride: usize) {
    product(a, b, false, out, out_offset, out_stride, false)
}

fn product(
    a: Mat,
    b: Mat,
    b_transposed: bool,
    out: &mut [f32],
    out_offset: usize,
    out_stride: usize,
    parallel: bool,
) {
    let (m, k) = (a.rows, a.cols);
    let (n, b_k) = if b_transposed {
        (b.rows, b.cols)
    } else {
        (b.cols, b.rows)
    };
    assert!(a.fits() && b.fits() && k == b_k, "matrix product: shapes");
    assert!(
        m == 0 || n == 0 || out_offset + (m - 1) * out_stride + n <= out.len(),
        "matrix product: output"
    );
    if m == 0 || n == 0 {
        return;
    }
    // Column and row strides of B seen as a k x n matrix.
    let (b_cs, b_rs) = if b_transposed {
        (b.row_stride, 1)
    } else {
        (1, b.row_stride)
    };
    // SAFETY: every pointer and stride stays inside the slices (checked above).
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            out.as_mut_ptr().add(out_offset),
            1,
            out_stride as isize,
            false,
            a.data.as_ptr().add(a.offset),
            1,
            a.row_stride as isize,
            b.data.as_ptr().add(b.offset),
            b_cs as isize,
            b_rs as isize,
            0.0,
            1.0,
            false,
            false,
            false,
            if parallel {
                gemm::Parallelism::Rayon(0)
            } else {
                gemm::Parallelism::None
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn softmax_and_norms() {
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
        let mut out = vec![0.0; 4];
        layer_norm(&[1.0, 2.0, 3.0, 4.0], &[1.0; 4], &[0.5; 4], &mut out);
        assert!((out.iter().sum::<f32>() - 2.0).abs() < 1e-5);
        let mut g = vec![-3.0, 0.0, 1.0];
        gelu(&mut g);
        assert!(
            (g[2] - 0.841_344_7).abs() < 1e-5 && g[1] == 0.0 && (g[0] + 0.004_049_7).abs() < 1e-5
        );
    }

    #[test]
    fn products_agree_with_naive() {
        let (m, n, k) = (5, 7, 33);
        let a: Vec<f32> = (0..m * k).map(|i| ((i * 7) % 11) as f32 - 5.0).collect();
        let b: Vec<f32> = (0..n * k).map(|i| ((i * 3) % 13) as f32 - 6.0).collect();
        let naive = |r: usize, c: usize| (0..k).map(|j| a[r * k + j] * b[c * k + j]).sum::<f32>();
        let mut out = vec![0.0; m * n];
        matmul_bt(Mat::new(&a, m, k), Mat::new(&b, n, k), &mut out, 0, n);
        for r in 0..m {
            for c in 0..n {
                assert!((out[r * n + c] - naive(r, c)).abs() < 1e-3);
            }
        }
        let b16: Vec<f16> = b.iter().map(|&v| f16::from_f32(v)).collect();
        let mut y16 = vec![0.0; n];
        gemv_f16(&b16, &a[..k], None, &mut y16);
        // The weights are small integers: exact in f16.
        for (c, y) in y16.iter().enumerate() {
            assert!((y - naive(0, c)).abs() < 1e-3);
        }
        // A (m x k) times B^T^T: use b as k x n by viewing a's transpose product.
        let bt: Vec<f32> = (0..k * n).map(|i| b[(i % n) * k + i / n]).collect();
        let mut out2 = vec![0.0; m * n];
        matmul(Mat::new(&a, m, k), Mat::new(&bt, k, n), &mut out2, 0, n);
        assert!(out.iter().zip(&out2).all(|(x, y)| (x - y).abs() < 1e-3));
        let mut out3 = vec![0.0; m * n];
        matmul_serial(Mat::new(&a, m, k), Mat::new(&bt, k, n), &mut out3, 0, n);
        assert!(out.iter().zip(&out3).all(|(x, y)| (x - y).abs() < 1e-3));
    }
}
