//! Matrix-vector products `y = W x + b` (one decoded token through a layer) over half- or
//! single-precision weights, the dot products they are made of, and half precision widened to
//! single.

use half::f16;
use rayon::prelude::*;

#[cfg(target_arch = "x86_64")]
use super::cpu::has_f16c;
use super::cpu::multiversion;

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

/// Dot product of half-precision weights with `x`, with AVX2/FMA/F16C.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma,f16c")]
pub(super) unsafe fn dot_f16_avx(w: &[f16], x: &[f32]) -> f32 {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn products_agree_with_naive() {
        let (n, k) = (7, 33);
        let x: Vec<f32> = (0..k).map(|i| ((i * 7) % 11) as f32 - 5.0).collect();
        let w: Vec<f32> = (0..n * k).map(|i| ((i * 3) % 13) as f32 - 6.0).collect();
        let bias: Vec<f32> = (0..n).map(|c| c as f32 - 3.0).collect();
        let naive = |c: usize| (0..k).map(|j| x[j] * w[c * k + j]).sum::<f32>();
        // The weights are small integers: exact in f16.
        let w16: Vec<f16> = w.iter().map(|&v| f16::from_f32(v)).collect();
        let (mut y16, mut y32) = (vec![0.0; n], vec![0.0; n]);
        gemv_f16(&w16, &x, None, &mut y16);
        gemv_f32(&w, &x, Some(&bias), &mut y32);
        for c in 0..n {
            assert!((y16[c] - naive(c)).abs() < 1e-3);
            assert!((y32[c] - naive(c) - bias[c]).abs() < 1e-3);
        }
    }
}
