//! Intel AMX: eight tile registers of 16 rows × 64 bytes, configured per thread, each
//! instruction a product of two tiles added into a third. Two uses: `tdpbssd` (16 × 16 sums of
//! 64 signed byte products each, into int32) for the 8-bit products of many rows (`int8`), and
//! `tdpbf16ps` (16 × 16 sums of 32 bfloat16 products each, into float32) for the encoder's
//! attention ([`encoder_attention`]).

use std::arch::asm;
use std::sync::OnceLock;

use rayon::prelude::*;

use super::cpu::{cap, Cap};
use super::int8::BLOCK;
use super::softmax::exp_neg;

/// Rows a group of tiles takes (two tiles of 16), and the 8-bit inputs a tile holds.
pub(super) const ROWS: usize = 32;
pub(super) const K: usize = 64;

/// bfloat16 numbers a tile's row holds.
const PAIRS: usize = 32;

/// Whether Linux lets this process use the tiles (it must ask once: their state is large).
fn permitted() -> bool {
    static OK: OnceLock<bool> = OnceLock::new();
    *OK.get_or_init(|| {
        const ARCH_REQ_XCOMP_PERM: libc::c_long = 0x1023;
        const XFEATURE_XTILEDATA: libc::c_long = 18;
        // SAFETY: a request for a permission, with no memory passed.
        let asked = unsafe {
            libc::syscall(
                libc::SYS_arch_prctl,
                ARCH_REQ_XCOMP_PERM,
                XFEATURE_XTILEDATA,
            )
        };
        asked == 0
    })
}

/// Whether this CPU has AMX tiles with the products CPUID (leaf 7, EDX) names by `bit`, and
/// Linux lets this process use them.
fn has(bit: u32) -> bool {
    let edx = std::arch::x86_64::__cpuid_count(7, 0).edx;
    edx & (1 << 24) != 0 && edx & (1 << bit) != 0 && permitted()
}

/// Whether AMX's 8-bit products run here.
pub(super) fn int8_ready() -> bool {
    static READY: OnceLock<bool> = OnceLock::new();
    *READY.get_or_init(|| has(25))
}

/// Whether AMX's bfloat16 products run here (and are not capped by `LIVECAP_KERNELS`).
pub fn bf16_ready() -> bool {
    static READY: OnceLock<bool> = OnceLock::new();
    *READY.get_or_init(|| {
        cap() == Cap::All
            && is_x86_feature_detected!("avx512f")
            && is_x86_feature_detected!("avx512bw")
            && is_x86_feature_detected!("avx512bf16")
            && has(22)
    })
}

/// The tile configuration: palette 1, tiles 0 to 7 each 16 rows of 64 bytes.
#[repr(C, align(64))]
struct Config([u8; 64]);

impl Config {
    fn new() -> Self {
        let mut c = [0u8; 64];
        c[0] = 1;
        for t in 0..8 {
            c[16 + 2 * t] = 64;
            c[48 + t] = 16;
        }
        Config(c)
    }
}

/// int32 sums of `rows` (a multiple of [`ROWS`]) rows of `x` (`stride` bytes apart, `k4`
/// groups of 4 inputs, a multiple of 16) against `blocks` packed blocks of weights from
/// `w`, into `out` (rows `wide` apart). Tiles 0-3 hold the sums of 32 rows × 32 outputs,
/// 4-5 two tiles of rows, 6-7 two of weights: in a block, 16 groups of 4 inputs for 16
/// outputs are 16 rows of 64 bytes, `BLOCK × 4` bytes apart, which is the layout `tdpbssd`
/// takes its second operand in.
///
/// # Safety
/// The CPU must have AMX-INT8 with the permission granted ([`int8_ready`]), and every row,
/// block and output named must lie inside its buffer.
#[allow(clippy::too_many_arguments)]
pub(super) unsafe fn sums(
    x: *const i8,
    stride: usize,
    rows: usize,
    w: *const i8,
    k4: usize,
    blocks: usize,
    out: *mut i32,
    wide: usize,
) {
    let (panel, out_stride) = (BLOCK * 4, wide * 4);
    // SAFETY: the caller's promise.
    unsafe {
        configure();
        for r0 in (0..rows).step_by(ROWS) {
            for b in 0..blocks {
                let block = w.add(b * k4 * panel);
                for c0 in (0..BLOCK).step_by(32) {
                    zero_sums();
                    for g in (0..k4).step_by(K / 4) {
                        let a0 = x.add(r0 * stride + g * 4);
                        let b0 = block.add(g * panel + c0 * 4);
                        asm!(
                            "tileloadd tmm4, [{a0} + {sa}]",
                            "tileloadd tmm5, [{a1} + {sa}]",
                            "tileloadd tmm6, [{b0} + {sb}]",
                            "tileloadd tmm7, [{b1} + {sb}]",
                            "tdpbssd tmm0, tmm4, tmm6",
                            "tdpbssd tmm1, tmm4, tmm7",
                            "tdpbssd tmm2, tmm5, tmm6",
                            "tdpbssd tmm3, tmm5, tmm7",
                            a0 = in(reg) a0,
                            a1 = in(reg) a0.add(16 * stride),
                            b0 = in(reg) b0,
                            b1 = in(reg) b0.add(64),
                            sa = in(reg) stride,
                            sb = in(reg) panel,
                            options(nostack, readonly)
                        );
                    }
                    store_sums(out.add(r0 * wide + b * BLOCK + c0), wide, out_stride);
                }
            }
        }
        release();
    }
}

/// Encoder self-attention from fused projections (`t` rows of `[q | k | v]`, `d3` = 3 × d
/// wide, queries and keys already scaled) with the two products in bfloat16 on AMX tiles and
/// float32 sums; returns the (t, d) mix before the output projection. `None` where the CPU has
/// no AMX-BF16 (or it is capped) or a head's width is not a whole tile row (32).
///
/// Keys and values are written once per call in the layouts `tdpbf16ps` takes its second
/// operand in (pairs along the summed dimension side by side), padded with zero keys to a
/// multiple of 32; blocks of 32 queries go to the threads, each through every head: scores
/// in float32, their exponentials in bfloat16 (zero on the padding), the mix with the values,
/// then each row divided by its exponentials' sum.
pub fn encoder_attention(qkv: &[f32], d3: usize, heads: usize) -> Option<Vec<f32>> {
    let t = qkv.len() / d3.max(1);
    let d = d3 / 3;
    let hd = d / heads.max(1);
    if !bf16_ready() || t == 0 || hd == 0 || !hd.is_multiple_of(PAIRS) || hd * heads != d {
        return None;
    }
    let tp = t.next_multiple_of(PAIRS);
    // Everything in bfloat16 first, then only moved: pairs of numbers as one u32.
    let mut half = vec![0u16; qkv.len()];
    half.par_chunks_mut(1 << 14)
        .zip(qkv.par_chunks(1 << 14))
        // SAFETY: `bf16_ready` checked AVX-512F and AVX-512BW.
        .for_each(|(to, from)| unsafe { to_bf16_all(from, to) });
    let row = |j: usize, at: usize| &half[j * d3 + at..][..hd];
    // Keys, per head: row i of (hd / 2) × (tp × 2) holds dimensions 2i and 2i + 1 of every key.
    let mut keys = vec![0u16; heads * hd * tp];
    keys.par_chunks_mut(hd * tp)
        .enumerate()
        .for_each(|(h, head)| {
            for j in 0..t {
                for (i, pair) in row(j, d + h * hd).chunks_exact(2).enumerate() {
                    head[i * 2 * tp + 2 * j..][..2].copy_from_slice(pair);
                }
            }
        });
    // Values, per head: row j of (tp / 2) × (hd × 2) holds keys 2j and 2j + 1, dimension by
    // dimension (a missing last key stays zero).
    let mut values = vec![0u16; heads * tp * hd];
    values
        .par_chunks_mut(tp * hd)
        .enumerate()
        .for_each(|(h, head)| {
            for (j, pairs) in head
                .chunks_exact_mut(2 * hd)
                .take(t.div_ceil(2))
                .enumerate()
            {
                let first = row(2 * j, 2 * d + h * hd);
                for (o, &v) in pairs.iter_mut().step_by(2).zip(first) {
                    *o = v;
                }
                if 2 * j + 1 < t {
                    let second = row(2 * j + 1, 2 * d + h * hd);
                    for (o, &v) in pairs.iter_mut().skip(1).step_by(2).zip(second) {
                        *o = v;
                    }
                }
            }
        });
    let mut out = vec![0f32; t * d];
    out.par_chunks_mut(ROWS * d).enumerate().for_each_init(
        || Scratch::new(hd, tp),
        |scratch, (b, block)| {
            let (r0, rows) = (b * ROWS, block.len() / d);
            // Rows past `rows` (only the last block has them) hold what an earlier block left:
            // their sums are not kept. Each row's weights past `t` stay zero.
            let Scratch {
                queries,
                scores,
                weights,
                mixed,
            } = scratch;
            let mut sums = [0f32; ROWS];
            // SAFETY: the CPU has AMX-BF16 and the permission (`bf16_ready`).
            unsafe { configure() };
            for h in 0..heads {
                for (r, q) in queries.chunks_exact_mut(hd).take(rows).enumerate() {
                    q.copy_from_slice(row(r0 + r, h * hd));
                }
                let head_keys = &keys[h * hd * tp..][..hd * tp];
                // SAFETY: 32 rows of `hd` queries, `hd` / 2 rows of `2 tp` keys, 32 rows of `tp`
                // scores; `hd` and `tp` are multiples of 32, the tiles configured above.
                unsafe {
                    scores_tiles(
                        queries.as_ptr(),
                        hd,
                        head_keys.as_ptr(),
                        tp,
                        scores.as_mut_ptr(),
                    )
                };
                for (r, sum) in sums.iter_mut().enumerate().take(rows) {
                    // SAFETY: `bf16_ready` checked AVX-512F, AVX-512BW and BF16.
                    *sum = unsafe { exp_bf16(&scores[r * tp..][..t], &mut weights[r * tp..][..t]) };
                }
                let head_values = &values[h * tp * hd..][..tp * hd];
                // SAFETY: 32 rows of `tp` weights, `tp` / 2 rows of `2 hd` values, 32 rows of
                // `hd` sums; as above.
                unsafe {
                    mix_tiles(
                        weights.as_ptr(),
                        tp,
                        head_values.as_ptr(),
                        hd,
                        mixed.as_mut_ptr(),
                    )
                };
                for (r, &sum) in sums.iter().enumerate().take(rows) {
                    let inv = 1.0 / sum;
                    let to = &mut block[r * d + h * hd..][..hd];
                    for (o, &m) in to.iter_mut().zip(&mixed[r * hd..][..hd]) {
                        *o = m * inv;
                    }
                }
            }
            // SAFETY: as above.
            unsafe { release() };
        },
    );
    Some(out)
}

/// A thread's buffers for blocks of 32 queries: the queries of one head, their scores, weights
/// and mixed values.
struct Scratch {
    queries: Vec<u16>,
    scores: Vec<f32>,
    weights: Vec<u16>,
    mixed: Vec<f32>,
}

impl Scratch {
    fn new(hd: usize, tp: usize) -> Self {
        Self {
            queries: vec![0; ROWS * hd],
            scores: vec![0.0; ROWS * tp],
            weights: vec![0; ROWS * tp],
            mixed: vec![0.0; ROWS * hd],
        }
    }
}

/// float32 to bfloat16 (its upper 16 bits), rounded to the nearest, ties to even.
#[inline(always)]
fn to_bf16(x: f32) -> u16 {
    let b = x.to_bits();
    (b.wrapping_add(0x7fff + ((b >> 16) & 1)) >> 16) as u16
}

/// `from` in bfloat16 into `to` (as long).
///
/// # Safety
/// The CPU must have AVX-512F and AVX-512BW.
#[target_feature(enable = "avx512f,avx512bw,avx2,fma")]
unsafe fn to_bf16_all(from: &[f32], to: &mut [u16]) {
    for (o, &v) in to.iter_mut().zip(from) {
        *o = to_bf16(v);
    }
}

/// The exponentials of `row` less its largest value, in bfloat16 into `out` (as long as
/// `row`), and their sum as rounded: a softmax not yet divided by the sum (at least 1 for a
/// row with a finite value). The exponential is accurate to about 1e-5, well inside
/// bfloat16's rounding (4e-3): 2^n × a polynomial of degree 5 in the remainder.
///
/// # Safety
/// The CPU must have AVX-512F, AVX-512BW and AVX-512 BF16.
#[target_feature(enable = "avx512f,avx512bw,avx512bf16,avx2,fma")]
unsafe fn exp_bf16(row: &[f32], out: &mut [u16]) -> f32 {
    use std::arch::x86_64::*;
    const W: usize = 16;
    let split = row.len() / W * W;
    let (body, tail) = row.split_at(split);
    let mut m = _mm512_set1_ps(f32::NEG_INFINITY);
    for c in body.chunks_exact(W) {
        // SAFETY: 16 floats.
        m = _mm512_max_ps(m, unsafe { _mm512_loadu_ps(c.as_ptr()) });
    }
    let max = tail
        .iter()
        .fold(_mm512_reduce_max_ps(m), |a, &b| if b > a { b } else { a });
    let shift = _mm512_set1_ps(max);
    let mut acc = _mm512_setzero_ps();
    for (c, o) in body.chunks_exact(W).zip(out.chunks_exact_mut(W)) {
        // SAFETY: 16 floats in, 16 halves out.
        unsafe {
            let x = _mm512_max_ps(
                _mm512_sub_ps(_mm512_loadu_ps(c.as_ptr()), shift),
                _mm512_set1_ps(-87.0),
            );
            let n = _mm512_roundscale_ps::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(
                _mm512_mul_ps(x, _mm512_set1_ps(std::f32::consts::LOG2_E)),
            );
            let r = _mm512_fmadd_ps(n, _mm512_set1_ps(-0.693_145_75), x);
            let r = _mm512_fmadd_ps(n, _mm512_set1_ps(-1.428_606_8e-6), r);
            let mut p = _mm512_set1_ps(1.0 / 120.0);
            for k in [1.0 / 24.0, 1.0 / 6.0, 0.5, 1.0, 1.0] {
                p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(k));
            }
            let e = _mm512_cvtneps_pbh(_mm512_scalef_ps(p, n));
            _mm256_storeu_si256(
                o.as_mut_ptr().cast(),
                std::mem::transmute::<__m256bh, __m256i>(e),
            );
            let back = _mm512_slli_epi32::<16>(_mm512_cvtepu16_epi32(std::mem::transmute::<
                __m256bh,
                __m256i,
            >(e)));
            acc = _mm512_add_ps(acc, _mm512_castsi512_ps(back));
        }
    }
    let mut sum = _mm512_reduce_add_ps(acc);
    for (&x, o) in tail.iter().zip(&mut out[split..]) {
        let e = to_bf16(exp_neg(x - max));
        *o = e;
        sum += f32::from_bits(u32::from(e) << 16);
    }
    sum
}

/// `32 × tp` float32 scores (rows `tp` apart) of 32 bfloat16 queries (rows `hd` apart) against
/// `tp` keys laid out as [`encoder_attention`] writes them. Tiles 0-3 hold 32 rows × 32 keys,
/// 4-5 two tiles of queries, 6-7 two of keys.
///
/// # Safety
/// The tiles must be configured as [`Config::new`] does, on a CPU with AMX-BF16; `hd` and `tp`
/// multiples of 32 and every buffer as long as named.
unsafe fn scores_tiles(q: *const u16, hd: usize, keys: *const u16, tp: usize, scores: *mut f32) {
    let (q_stride, key_stride, out_stride) = (hd * 2, tp * 4, tp * 4);
    // SAFETY: the caller's promise.
    unsafe {
        for j in (0..tp).step_by(PAIRS) {
            zero_sums();
            for i in (0..hd).step_by(PAIRS) {
                let a0 = q.add(i);
                let b0 = keys.add(i * tp + 2 * j);
                products(a0, a0.add(16 * hd), q_stride, b0, b0.add(PAIRS), key_stride);
            }
            store_sums(scores.add(j), tp, out_stride);
        }
    }
}

/// `32 × hd` float32 sums (rows `hd` apart) of 32 rows of bfloat16 weights over `tp` keys (rows
/// `tp` apart) times the values laid out as [`encoder_attention`] writes them. Tiles as in
/// [`scores_tiles`].
///
/// # Safety
/// As [`scores_tiles`].
unsafe fn mix_tiles(w: *const u16, tp: usize, values: *const u16, hd: usize, mixed: *mut f32) {
    let (w_stride, value_stride, out_stride) = (tp * 2, hd * 4, hd * 4);
    // SAFETY: the caller's promise.
    unsafe {
        for n in (0..hd).step_by(PAIRS) {
            zero_sums();
            for j in (0..tp).step_by(PAIRS) {
                let a0 = w.add(j);
                let b0 = values.add(j * hd + 2 * n);
                products(
                    a0,
                    a0.add(16 * tp),
                    w_stride,
                    b0,
                    b0.add(PAIRS),
                    value_stride,
                );
            }
            store_sums(mixed.add(n), hd, out_stride);
        }
    }
}

/// Loads the tile configuration ([`Config::new`]) on this thread.
///
/// # Safety
/// The CPU must have AMX, with the permission granted.
#[inline(always)]
unsafe fn configure() {
    let config = Config::new();
    // SAFETY: the caller's promise; the configuration is 64 bytes, aligned.
    unsafe { asm!("ldtilecfg [{}]", in(reg) config.0.as_ptr(), options(nostack, readonly)) };
}

/// Releases this thread's tiles.
///
/// # Safety
/// The CPU must have AMX.
#[inline(always)]
unsafe fn release() {
    // SAFETY: the caller's promise.
    unsafe { asm!("tilerelease", options(nostack, nomem)) };
}

/// Tiles 0-3 to zero.
///
/// # Safety
/// Tiles configured, on a CPU with AMX.
#[inline(always)]
unsafe fn zero_sums() {
    // SAFETY: the caller's promise.
    unsafe {
        asm!(
            "tilezero tmm0",
            "tilezero tmm1",
            "tilezero tmm2",
            "tilezero tmm3",
            options(nostack, nomem)
        )
    };
}

/// Adds to tiles 0-3 the bfloat16 products of two tiles of rows (`a0`, `a1`, rows `sa` bytes
/// apart) and two of pairs (`b0`, `b1`, rows `sb` bytes apart): tile 0 = a0 b0, 1 = a0 b1, 2 = a1
/// b0, 3 = a1 b1.
///
/// # Safety
/// Tiles configured, on a CPU with AMX-BF16; 16 rows of 64 bytes readable at each.
#[inline(always)]
unsafe fn products(
    a0: *const u16,
    a1: *const u16,
    sa: usize,
    b0: *const u16,
    b1: *const u16,
    sb: usize,
) {
    // SAFETY: the caller's promise.
    unsafe {
        asm!(
            "tileloadd tmm4, [{a0} + {sa}]",
            "tileloadd tmm5, [{a1} + {sa}]",
            "tileloadd tmm6, [{b0} + {sb}]",
            "tileloadd tmm7, [{b1} + {sb}]",
            "tdpbf16ps tmm0, tmm4, tmm6",
            "tdpbf16ps tmm1, tmm4, tmm7",
            "tdpbf16ps tmm2, tmm5, tmm6",
            "tdpbf16ps tmm3, tmm5, tmm7",
            a0 = in(reg) a0,
            a1 = in(reg) a1,
            b0 = in(reg) b0,
            b1 = in(reg) b1,
            sa = in(reg) sa,
            sb = in(reg) sb,
            options(nostack, readonly)
        )
    };
}

/// Stores tiles 0-3 (32 rows × 32 sums of 4 bytes, float32 or int32) at `o`, rows `wide` sums
/// (`stride` bytes) apart.
///
/// # Safety
/// Tiles configured, on a CPU with AMX; 32 rows of 32 sums writable at `o`.
#[inline(always)]
unsafe fn store_sums<T>(o: *mut T, wide: usize, stride: usize) {
    // SAFETY: the caller's promise.
    unsafe {
        asm!(
            "tilestored [{o0} + {s}], tmm0",
            "tilestored [{o1} + {s}], tmm1",
            "tilestored [{o2} + {s}], tmm2",
            "tilestored [{o3} + {s}], tmm3",
            o0 = in(reg) o,
            o1 = in(reg) o.add(16),
            o2 = in(reg) o.add(16 * wide),
            o3 = in(reg) o.add(16 * wide + 16),
            s = in(reg) stride,
            options(nostack)
        )
    };
}
