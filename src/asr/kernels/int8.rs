//! Matrix products with 8-bit weights: `y = x Wᵀ + b` where `W` (out × in) is kept as int8 with
//! one scale per output channel, and each row of `x` is quantized to int8 on the fly with a scale
//! of its own (as CTranslate2's int8 does). Products are summed exactly in int32 and scaled back
//! once per output; `quantize_row` writes a row in 8 bits and `dequantize_row` scales a row of
//! sums back. The kernel is chosen at run time: AVX-512 VNNI (`vpdpbusd`, 64 products an
//! instruction), AVX2 (`vpmaddubsw`), or a portable loop; each can be forced for tests, and
//! `LIVECAP_KERNELS` runs the whole program as a narrower CPU would (`cpu::cap`).
//!
//! AVX2 has no 8-bit multiply-add that cannot saturate: `vpmaddubsw` adds two products of an
//! unsigned and a signed byte in 16 bits. Rows of encoded audio ([`Int8Linear::apply`], many
//! rows, bound by arithmetic) are therefore written unsigned in 7 bits there, from the row's
//! least value (0) to its greatest (127), so that a pair is at most 2 × 127 × 128 and 32
//! products take three instructions; the range being the row's own, a row that is mostly of one
//! sign (the MLP's after GELU) keeps about the resolution 8 symmetric bits give. The decoder's
//! hidden states ([`Int8Linear::apply_fine`], a few rows, bound by reading the weights) keep 8
//! bits through the sign trick, at four.

use half::f16;
use rayon::prelude::*;

#[cfg(target_arch = "x86_64")]
use super::amx;
use super::cpu::{cap, multiversion, Cap};

/// 1.5 × 2^23: adding it to a float of magnitude under 2^22 rounds it to an integer (ties to
/// even), which then sits in the low mantissa bits.
const MAGIC: f32 = 12_582_912.0;

multiversion! {
    /// `row` in int8 with one symmetric scale (`max |v| / 127`, never zero), returned; each value
    /// to the nearest integer (ties to even, by the float trick that needs no library call, so
    /// that it vectorises).
    fn quantize_row(row: &[f32], q: &mut [i8]) -> f32 {
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
        // Read the integer from the bits (integer lanes, no saturating float-to-int conversion).
        let magic = MAGIC.to_bits() as i32;
        for (d, &v) in q.iter_mut().zip(row) {
            *d = (((v * inv).clamp(-127.0, 127.0) + MAGIC).to_bits() as i32 - magic) as i8;
        }
        scale
    }
}

multiversion! {
    /// `row` in AVX2's unsigned 7-bit form: `v ≈ scale × q + least` with `q` in `0..=127`, the
    /// row's least value at 0 and its greatest at 127 (a row of one value: scale 1, every `q`
    /// 0). Returns `(scale, least)`.
    fn quantize_row_unsigned(row: &[f32], q: &mut [i8]) -> (f32, f32) {
        const LANES: usize = 16;
        let (mut lo, mut hi) = ([f32::INFINITY; LANES], [f32::NEG_INFINITY; LANES]);
        let chunks = row.chunks_exact(LANES);
        let tail = chunks.remainder();
        for c in chunks {
            for i in 0..LANES {
                lo[i] = lo[i].min(c[i]);
                hi[i] = hi[i].max(c[i]);
            }
        }
        let least = tail.iter().chain(&lo).fold(f32::INFINITY, |m, &x| m.min(x));
        let most = tail.iter().chain(&hi).fold(f32::NEG_INFINITY, |m, &x| m.max(x));
        let range = most - least;
        let (scale, least) = if range > 0.0 && range.is_finite() {
            (range / 127.0, least)
        } else if least.is_finite() {
            (1.0, least)
        } else {
            (1.0, 0.0)
        };
        let inv = 1.0 / scale;
        let magic = MAGIC.to_bits() as i32;
        for (d, &v) in q.iter_mut().zip(row) {
            *d = ((((v - least) * inv).clamp(0.0, 127.0) + MAGIC).to_bits() as i32 - magic) as i8;
        }
        (scale, least)
    }
}

multiversion! {
    /// The int8 product's epilogue for one row:
    /// `out = ((acc - offset × sum) + zero × sum) × (s × scale) + bias`, element-wise over the
    /// outputs (`zero` is what an unsigned row's 0 stands for, in steps of `s`).
    fn dequantize_row(
        acc: &[i32],
        offset: i32,
        zero: f32,
        sum: &[i32],
        s: f32,
        scale: &[f32],
        bias: &[f32],
        out: &mut [f32]
    ) {
        let n = out.len().min(acc.len()).min(sum.len()).min(scale.len()).min(bias.len());
        for i in 0..n {
            out[i] = ((acc[i] - offset * sum[i]) as f32 + zero * sum[i] as f32) * (s * scale[i])
                + bias[i];
        }
    }
}

multiversion! {
    /// [`dequantize_row`] of a row's value and of its residual (each with its scale and zero),
    /// joined: `out = a + r - bias`, the two rows' outputs taken in that order, with the bias once.
    fn dequantize_pair(
        acc: (&[i32], &[i32]),
        offset: i32,
        rows: (RowScale, RowScale),
        sum: &[i32],
        scale: &[f32],
        bias: &[f32],
        out: &mut [f32]
    ) {
        let (a, r) = acc;
        let ((sa, za), (sr, zr)) = rows;
        let n = out.len().min(a.len()).min(r.len()).min(sum.len()).min(scale.len()).min(bias.len());
        for i in 0..n {
            let va = ((a[i] - offset * sum[i]) as f32 + za * sum[i] as f32) * (sa * scale[i])
                + bias[i];
            let vr = ((r[i] - offset * sum[i]) as f32 + zr * sum[i] as f32) * (sr * scale[i])
                + bias[i];
            out[i] = va + vr - bias[i];
        }
    }
}

/// The code paths, fastest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Path {
    /// Intel AMX tiles (`tdpbssd`, 16 × 16 × 64 products an instruction) for whole groups of 32
    /// rows on layers whose inputs are a multiple of 64; VNNI for the rest.
    Amx,
    Vnni,
    Avx2,
    Portable,
}

impl Path {
    /// Whether this CPU can run `self`.
    pub fn available(self) -> bool {
        match self {
            #[cfg(target_arch = "x86_64")]
            Path::Amx => cap() == Cap::All && Path::Vnni.available() && amx::int8_ready(),
            #[cfg(target_arch = "x86_64")]
            Path::Vnni => {
                cap() >= Cap::Avx512
                    && is_x86_feature_detected!("avx512f")
                    && is_x86_feature_detected!("avx512bw")
                    && is_x86_feature_detected!("avx512vnni")
            }
            #[cfg(target_arch = "x86_64")]
            Path::Avx2 => cap() >= Cap::Avx2 && is_x86_feature_detected!("avx2"),
            #[cfg(not(target_arch = "x86_64"))]
            Path::Amx | Path::Vnni | Path::Avx2 => false,
            Path::Portable => true,
        }
    }

    /// The fastest path this CPU runs.
    pub fn best() -> Path {
        use std::sync::OnceLock;
        static BEST: OnceLock<Path> = OnceLock::new();
        *BEST.get_or_init(|| {
            [Path::Amx, Path::Vnni, Path::Avx2]
                .into_iter()
                .find(|p| p.available())
                .unwrap_or(Path::Portable)
        })
    }
}

/// A quantized row's scale and what its 0 stands for, in steps of the scale (0 but for AVX2's
/// unsigned rows).
type RowScale = (f32, f32);

/// What a product runs: a path, and on AVX2 the form its rows take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kernel {
    /// AMX on 8-bit rows, VNNI for what tiles leave (the tiles' signed sums are given VNNI's
    /// offset, so that every row is taken back alike).
    Amx,
    /// AVX-512 VNNI on 8-bit rows, made unsigned (x + 128) in the kernel.
    Vnni,
    /// AVX2 on 8-bit rows, by the sign trick.
    Avx2Signed,
    /// AVX2 on unsigned 7-bit rows (`quantize_row_unsigned`).
    Avx2Narrow,
    Portable,
}

impl Kernel {
    /// What every value of a signed row carries into the sums beyond itself in the kernel (VNNI
    /// multiplies x + 128; the `offset × Σw` is taken back out).
    fn offset(self) -> i32 {
        match self {
            Kernel::Vnni | Kernel::Amx => 128,
            Kernel::Avx2Narrow | Kernel::Avx2Signed | Kernel::Portable => 0,
        }
    }
}

/// Output channels per AVX-512 register of int32 sums.
const LANES: usize = 16;
/// Output channels per packed block: the widest tile (4 registers of 16).
pub(super) const BLOCK: usize = 4 * LANES;
/// Multiply-adds below which a product runs on the calling thread (handing work to the pool
/// costs more than it saves: measured on the decoder's 512 × 2048 layers).
const ALONE: usize = 1 << 22;

/// The most int32 sums a thread keeps between products (1 MiB): the vector kernels write every
/// sum of their tiles, so a product of a few rows reuses them instead of zeroing new ones.
const SCRATCH: usize = 1 << 18;

thread_local! {
    /// Each thread's int32 sums, reused by [`Int8Linear::sums_into`].
    static ACC: std::cell::RefCell<Vec<i32>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// A kernel's tiles: outputs a register, and the most rows and registers of outputs a tile has.
#[cfg(target_arch = "x86_64")]
struct TileShape {
    width: usize,
    rows: usize,
    cols: usize,
}

/// VNNI: 4 × 4 tiles, 16 registers of sums of the 32 AVX-512 has.
#[cfg(target_arch = "x86_64")]
const VNNI_TILE: TileShape = TileShape {
    width: LANES,
    rows: 4,
    cols: 4,
};
/// AVX2, whose 16 registers would spill at 4 × 4: 2 × 4 (8 sums, 4 weights) took 5-15 % off
/// the encoder's products on an AVX2 EPYC (BENCHMARKS.md).
#[cfg(target_arch = "x86_64")]
const AVX2_TILE: TileShape = TileShape {
    width: 8,
    rows: 2,
    cols: 4,
};

/// Call `$tile.$kernel::<R, C>()` for the tile's rows (4, 2 or 1) and registers of outputs (1–4).
#[cfg(target_arch = "x86_64")]
macro_rules! tiles {
    ($t:expr, $kernel:ident, $rows:expr, $cols:expr) => {
        match ($rows, $cols) {
            (4, 4) => $t.$kernel::<4, 4>(),
            (4, 3) => $t.$kernel::<4, 3>(),
            (4, 2) => $t.$kernel::<4, 2>(),
            (4, _) => $t.$kernel::<4, 1>(),
            (2, 4) => $t.$kernel::<2, 4>(),
            (2, 3) => $t.$kernel::<2, 3>(),
            (2, 2) => $t.$kernel::<2, 2>(),
            (2, _) => $t.$kernel::<2, 1>(),
            (_, 4) => $t.$kernel::<1, 4>(),
            (_, 3) => $t.$kernel::<1, 3>(),
            (_, 2) => $t.$kernel::<1, 2>(),
            _ => $t.$kernel::<1, 1>(),
        }
    };
}

/// A linear layer with int8 weights, packed for the kernels in blocks of [`BLOCK`] outputs: in a
/// block, for every 4 inputs, the 4 weights of each output side by side
/// (`[out / BLOCK][in / 4][BLOCK][4]`), so one 32-bit broadcast of 4 inputs meets 16 (or 8)
/// outputs' weights in one register, and a block's weights are read in one sweep.
#[derive(Debug, Clone)]
pub struct Int8Linear {
    inputs: usize,
    outputs: usize,
    /// Inputs padded to a multiple of 4, outputs to a multiple of [`BLOCK`].
    k4: usize,
    n_pad: usize,
    packed: Vec<i8>,
    /// Per output: the weights' scale, and their sum (for the unsigned form VNNI multiplies).
    scale: Vec<f32>,
    sum: Vec<i32>,
    /// Zero where the layer has none.
    bias: Vec<f32>,
}

impl Int8Linear {
    /// Quantize `w` (`outputs` rows of `inputs`, row-major) per output channel.
    pub fn from_f32(w: &[f32], inputs: usize, outputs: usize, bias: Option<Vec<f32>>) -> Self {
        Self::from_rows(w, inputs, outputs, bias, |row, out| {
            out.copy_from_slice(row)
        })
    }

    /// [`Int8Linear::from_f32`] from half-precision weights, widened a row at a time (a whole
    /// single-precision copy of the vocabulary would double the memory a model takes to load).
    pub fn from_f16(w: &[f16], inputs: usize, outputs: usize, bias: Option<Vec<f32>>) -> Self {
        use half::slice::HalfFloatSliceExt;
        Self::from_rows(w, inputs, outputs, bias, |row, out| {
            row.convert_to_f32_slice(out)
        })
    }

    /// Quantize each row of `w`, brought to single precision by `widen`, per output channel.
    fn from_rows<T: Sync>(
        w: &[T],
        inputs: usize,
        outputs: usize,
        bias: Option<Vec<f32>>,
        widen: impl Fn(&[T], &mut [f32]) + Sync,
    ) -> Self {
        let k = inputs.max(1);
        let outputs = outputs.min(w.len() / k);
        Self::packed(inputs, outputs, bias, |n, q, wide| {
            widen(&w[n * k..(n + 1) * k], wide);
            quantize_row(wide, q)
        })
    }

    /// From weights already in int8 (`q[out][in]`) with their per-output scales.
    pub fn from_int8(
        q: &[Vec<i8>],
        scale: Vec<f32>,
        inputs: usize,
        bias: Option<Vec<f32>>,
    ) -> Self {
        Self::packed(inputs, q.len().min(scale.len()), bias, |n, row, _| {
            row.fill(0);
            for (d, &v) in row.iter_mut().zip(&q[n]) {
                *d = v;
            }
            scale[n]
        })
    }

    /// A layer of `outputs` rows, each written in 8 bits by `fill(n, row, scratch)`, which
    /// returns the row's scale: packed a block at a time, with no other copy of the weights.
    fn packed(
        inputs: usize,
        outputs: usize,
        bias: Option<Vec<f32>>,
        fill: impl Fn(usize, &mut [i8], &mut [f32]) -> f32 + Sync,
    ) -> Self {
        let k = inputs.max(1);
        let k4 = inputs.div_ceil(4);
        let n_pad = outputs.div_ceil(BLOCK) * BLOCK;
        let mut packed = vec![0i8; k4 * n_pad * 4];
        let per_block: Vec<Vec<(f32, i32)>> = packed
            .par_chunks_mut(k4 * BLOCK * 4)
            .enumerate()
            .map(|(b, block)| {
                let (mut q, mut scratch) = (vec![0i8; k], vec![0f32; k]);
                (b * BLOCK..((b + 1) * BLOCK).min(outputs))
                    .map(|n| {
                        let scale = fill(n, &mut q, &mut scratch);
                        for (i, &v) in q.iter().enumerate().take(inputs) {
                            block[Self::at(k4, n % BLOCK, i)] = v;
                        }
                        (scale, q.iter().map(|&v| v as i32).sum())
                    })
                    .collect()
            })
            .collect();
        let (scale, sum) = per_block.into_iter().flatten().unzip();
        Self {
            inputs,
            outputs,
            k4,
            n_pad,
            packed,
            scale,
            sum,
            bias: bias.unwrap_or_else(|| vec![0.0; outputs]),
        }
    }

    /// Where weight (`n`, `k`) is kept in the packed blocks of a layer with `k4` groups of inputs.
    fn at(k4: usize, n: usize, k: usize) -> usize {
        (((n / BLOCK) * k4 + k / 4) * BLOCK + n % BLOCK) * 4 + k % 4
    }

    /// Row `n` of the weights, scaled back to floats (an embedding looked up in its table).
    pub fn row(&self, n: usize) -> Vec<f32> {
        let s = self.scale[n];
        (0..self.inputs)
            .map(|k| self.packed[Self::at(self.k4, n, k)] as f32 * s)
            .collect()
    }

    /// The weights scaled back to floats, row-major (out × in).
    pub fn to_f32(&self) -> Vec<f32> {
        (0..self.outputs).flat_map(|n| self.row(n)).collect()
    }

    pub fn inputs(&self) -> usize {
        self.inputs
    }

    pub fn outputs(&self) -> usize {
        self.outputs
    }

    /// `y = x Wᵀ + b` for the rows of `x` (each `inputs` long), on the fastest path.
    pub fn apply(&self, x: &[f32]) -> Vec<f32> {
        self.apply_with(Path::best(), x)
    }

    /// [`Int8Linear::apply`] with each row of `x` taken as two int8 rows: its quantized value and
    /// what that leaves out, quantized again (about 14 bits of the input instead of 8), at twice
    /// the arithmetic. For products whose small differences decide (the vocabulary's logits).
    pub fn apply_fine(&self, x: &[f32]) -> Vec<f32> {
        self.apply_fine_with(Path::best(), x)
    }

    /// [`Int8Linear::apply_fine`] on `path` (the portable one where this CPU cannot run it), every
    /// row in 8 bits.
    pub fn apply_fine_with(&self, path: Path, x: &[f32]) -> Vec<f32> {
        let k = self.inputs.max(1);
        let rows = x.len() / k;
        let mut both = Vec::with_capacity(2 * rows * k);
        let mut q = vec![0i8; k];
        for row in x.chunks_exact(k) {
            let s = quantize_row(row, &mut q);
            both.extend_from_slice(row);
            both.extend(row.iter().zip(&q).map(|(&v, &q)| v - q as f32 * s));
        }
        let kernel = match Self::runnable(path) {
            Path::Amx => Kernel::Amx,
            Path::Vnni => Kernel::Vnni,
            Path::Avx2 => Kernel::Avx2Signed,
            Path::Portable => Kernel::Portable,
        };
        self.product(kernel, &both, true)
    }

    /// [`Int8Linear::apply`] on `path` (the portable one where this CPU cannot run it): rows in 8
    /// bits, in 7 on AVX2.
    pub fn apply_with(&self, path: Path, x: &[f32]) -> Vec<f32> {
        let kernel = match Self::runnable(path) {
            Path::Amx => Kernel::Amx,
            Path::Vnni => Kernel::Vnni,
            Path::Avx2 => Kernel::Avx2Narrow,
            Path::Portable => Kernel::Portable,
        };
        self.product(kernel, x, false)
    }

    /// `path`, or the portable one where this CPU cannot run it.
    fn runnable(path: Path) -> Path {
        if path.available() {
            path
        } else {
            Path::Portable
        }
    }

    /// `y = x Wᵀ + b` by `kernel`, each row of `x` quantized in the form it takes. With `pairs`,
    /// the rows of `x` come two by two (a row and what its 8 bits leave out) and each pair gives
    /// one row of `y`, the sum of the two (`dequantize_pair`).
    fn product(&self, kernel: Kernel, x: &[f32], pairs: bool) -> Vec<f32> {
        let rows = x.len() / self.inputs.max(1);
        if rows == 0 || self.outputs == 0 {
            return Vec::new();
        }
        let alone = rows * self.inputs * self.outputs < ALONE;
        // Rows of `x` in int8, padded to whole groups of 4 (with zeros, whatever a zero stands
        // for: the padding's weights are zero), each with its scale and, unsigned, its zero.
        let stride = self.k4 * 4;
        let mut qx = vec![0i8; rows * stride];
        let mut sx: Vec<RowScale> = vec![(0.0, 0.0); rows];
        let unsigned = kernel == Kernel::Avx2Narrow;
        let quantize = |((q, s), row): ((&mut [i8], &mut RowScale), &[f32])| {
            *s = if unsigned {
                let (scale, least) = quantize_row_unsigned(row, q);
                (scale, least / scale)
            } else {
                (quantize_row(row, q), 0.0)
            };
        };
        if alone {
            qx.chunks_mut(stride)
                .zip(sx.iter_mut())
                .zip(x.chunks(self.inputs))
                .for_each(quantize);
        } else {
            qx.par_chunks_mut(stride)
                .zip(sx.par_iter_mut())
                .zip(x.par_chunks(self.inputs))
                .for_each(quantize);
        }
        let blocks = self.n_pad / BLOCK;
        let (n, all) = (self.outputs, 0..blocks);
        // A few rows (a decoded token) split the outputs between threads, each part laid into
        // place row by row; many rows split the rows, every output each.
        const ROWS: usize = 128;
        let out_rows = if pairs { rows / 2 } else { rows };
        if alone {
            let mut y = vec![0f32; out_rows * n];
            self.sums_into(kernel, &qx, &sx, 0..rows, all, pairs, &mut y);
            y
        } else if rows < 2 * ROWS {
            let per = blocks.div_ceil(4 * rayon::current_num_threads()).max(1);
            let parts: Vec<Vec<f32>> = (0..blocks.div_ceil(per))
                .into_par_iter()
                .map(|p| {
                    let range = p * per..((p + 1) * per).min(blocks);
                    let mut part = vec![0f32; out_rows * self.block_outputs(&range)];
                    self.sums_into(kernel, &qx, &sx, 0..rows, range, pairs, &mut part);
                    part
                })
                .collect();
            let mut y = Vec::with_capacity(out_rows * n);
            for r in 0..out_rows {
                for part in &parts {
                    let width = part.len() / out_rows;
                    y.extend_from_slice(&part[r * width..(r + 1) * width]);
                }
            }
            y
        } else {
            // ROWS is even: each block of rows holds whole pairs.
            let out_per = if pairs { ROWS / 2 } else { ROWS };
            let mut y = vec![0f32; out_rows * n];
            y.par_chunks_mut(out_per * n)
                .enumerate()
                .for_each(|(b, out)| {
                    let r0 = b * ROWS;
                    let r1 = (r0 + ROWS).min(rows);
                    self.sums_into(kernel, &qx, &sx, r0..r1, all.clone(), pairs, out);
                });
            y
        }
    }

    /// How many real outputs the packed blocks `range` hold.
    fn block_outputs(&self, range: &std::ops::Range<usize>) -> usize {
        (range.end * BLOCK).min(self.outputs) - range.start * BLOCK
    }

    /// Outputs of the blocks `range` for the quantized rows `rows` (scales and zeros `sx`),
    /// written to `out` (a row each, as wide as the blocks' real outputs; with `pairs`, a row
    /// each pair: a row's value and its residual's, both with the bias, `a + r - b`).
    #[allow(clippy::too_many_arguments)]
    fn sums_into(
        &self,
        kernel: Kernel,
        qx: &[i8],
        sx: &[RowScale],
        rows: std::ops::Range<usize>,
        range: std::ops::Range<usize>,
        pairs: bool,
        out: &mut [f32],
    ) {
        let stride = self.k4 * 4;
        let wide = (range.end - range.start) * BLOCK;
        let qx = &qx[rows.start * stride..rows.end * stride];
        let sx = &sx[rows.clone()];
        let len = rows.len() * wide;
        if len > SCRATCH {
            self.sums_scaled(kernel, qx, sx, range, &mut vec![0; len], pairs, out);
            return;
        }
        ACC.with_borrow_mut(|acc| {
            if acc.len() < len {
                acc.resize(len, 0);
            }
            self.sums_scaled(kernel, qx, sx, range, &mut acc[..len], pairs, out);
        });
    }

    /// [`Int8Linear::sums_into`] with the sums in `acc`, whatever it held: the rows `qx` (scales
    /// and zeros `sx`) against the blocks `range`, scaled into `out`.
    #[allow(clippy::too_many_arguments)]
    fn sums_scaled(
        &self,
        kernel: Kernel,
        qx: &[i8],
        sx: &[RowScale],
        range: std::ops::Range<usize>,
        acc: &mut [i32],
        pairs: bool,
        out: &mut [f32],
    ) {
        let n = sx.len();
        let width = self.block_outputs(&range);
        let wide = (range.end - range.start) * BLOCK;
        match kernel {
            #[cfg(target_arch = "x86_64")]
            // SAFETY: the kernel's path is only taken where the CPU has its features (checked by
            // the caller).
            Kernel::Vnni => unsafe { self.sums_vnni(qx, n, range.clone(), acc) },
            #[cfg(target_arch = "x86_64")]
            // SAFETY: as above, for AMX (whose permission `amx::int8_ready` obtained) and VNNI.
            Kernel::Amx => unsafe { self.sums_amx(qx, n, range.clone(), acc) },
            #[cfg(target_arch = "x86_64")]
            // SAFETY: as above, for AVX2.
            Kernel::Avx2Signed => unsafe { self.sums_avx2(true, qx, n, range.clone(), acc) },
            #[cfg(target_arch = "x86_64")]
            // SAFETY: as above, for AVX2; the rows are in the unsigned 7-bit form.
            Kernel::Avx2Narrow => unsafe { self.sums_avx2(false, qx, n, range.clone(), acc) },
            _ => {
                acc.fill(0);
                self.sums_portable(qx, n, range.clone(), acc)
            }
        }
        // VNNI multiplied (x + 128): take the 128 × Σw back out; an unsigned row's zero stands
        // for its least value.
        let offset = kernel.offset();
        let first = range.start * BLOCK;
        let (sum, scale, bias) = (
            &self.sum[first..],
            &self.scale[first..],
            &self.bias[first..],
        );
        if pairs {
            for (i, (yr, ar)) in out
                .chunks_exact_mut(width)
                .zip(acc.chunks_exact(2 * wide))
                .enumerate()
            {
                let (a, r) = ar.split_at(wide);
                dequantize_pair(
                    (a, r),
                    offset,
                    (sx[2 * i], sx[2 * i + 1]),
                    sum,
                    scale,
                    bias,
                    yr,
                );
            }
            return;
        }
        for (i, (yr, ar)) in out
            .chunks_exact_mut(width)
            .zip(acc.chunks_exact(wide))
            .enumerate()
        {
            let (s, zero) = sx[i];
            dequantize_row(ar, offset, zero, sum, s, scale, bias, yr);
        }
    }

    /// int32 sums of `n` quantized rows against the outputs of blocks `range`, by plain loops.
    fn sums_portable(&self, qx: &[i8], n: usize, range: std::ops::Range<usize>, acc: &mut [i32]) {
        let stride = self.k4 * 4;
        let wide = (range.end - range.start) * BLOCK;
        for r in 0..n {
            let xr = &qx[r * stride..(r + 1) * stride];
            let ar = &mut acc[r * wide..(r + 1) * wide];
            for (bi, b) in range.clone().enumerate() {
                let ab = &mut ar[bi * BLOCK..(bi + 1) * BLOCK];
                for k4 in 0..self.k4 {
                    let xs = &xr[k4 * 4..k4 * 4 + 4];
                    let p = (b * self.k4 + k4) * BLOCK * 4;
                    let panel = &self.packed[p..p + BLOCK * 4];
                    for (a, w) in ab.iter_mut().zip(panel.chunks_exact(4)) {
                        *a += xs[0] as i32 * w[0] as i32
                            + xs[1] as i32 * w[1] as i32
                            + xs[2] as i32 * w[2] as i32
                            + xs[3] as i32 * w[3] as i32;
                    }
                }
            }
        }
    }

    /// Visit the tiles of `n` rows × the outputs of blocks `range` in `shape`: each tile of up
    /// to `shape.cols` registers of outputs is taken by every row in turn (its weights stay in
    /// cache), `shape.rows` rows at a time, then 2 and 1 for the rest.
    #[cfg(target_arch = "x86_64")]
    fn each_tile(
        &self,
        qx: &[i8],
        n: usize,
        range: std::ops::Range<usize>,
        acc: &mut [i32],
        shape: TileShape,
        mut tile: impl FnMut(&Tile, usize, usize),
    ) {
        let wide = (range.end - range.start) * BLOCK;
        let stride = self.k4 * 4;
        let TileShape {
            width,
            rows: max_rows,
            cols: max_cols,
        } = shape;
        let cols = (BLOCK / width).min(max_cols);
        debug_assert_eq!(
            BLOCK % (cols * width),
            0,
            "tiles must cover a block exactly"
        );
        for (bi, b) in range.enumerate() {
            let block = self.packed.as_ptr().wrapping_add(b * self.k4 * BLOCK * 4);
            let mut col = 0;
            while col < BLOCK {
                let mut r = 0;
                while r < n {
                    let rows = match n - r {
                        left if left >= max_rows => max_rows,
                        left if left >= 2 => 2,
                        _ => 1,
                    };
                    let t = Tile {
                        x: qx.as_ptr().wrapping_add(r * stride),
                        stride,
                        w: block.wrapping_add(col * 4),
                        k4: self.k4,
                        out: acc.as_mut_ptr().wrapping_add(r * wide + bi * BLOCK + col),
                        out_stride: wide,
                    };
                    tile(&t, rows, cols);
                    r += rows;
                }
                col += cols * width;
            }
        }
    }

    /// The same with AVX-512 VNNI: inputs offset to unsigned (x + 128), 16 outputs a register.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
    unsafe fn sums_vnni(
        &self,
        qx: &[i8],
        n: usize,
        range: std::ops::Range<usize>,
        acc: &mut [i32],
    ) {
        // SAFETY: every tile lies inside `qx`, the packed weights and `acc`; the CPU has the
        // features (this function's own).
        self.each_tile(qx, n, range, acc, VNNI_TILE, |t, rows, cols| unsafe {
            tiles!(t, vnni, rows, cols)
        });
    }

    /// The same with AMX: whole groups of 32 rows in tiles where the inputs come in whole
    /// tiles of 64, the other rows on VNNI. The tiles multiply signed rows by signed weights;
    /// their sums are given the 128 × Σw VNNI's hold, so that all are exactly VNNI's.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
    unsafe fn sums_amx(&self, qx: &[i8], n: usize, range: std::ops::Range<usize>, acc: &mut [i32]) {
        let stride = self.k4 * 4;
        let wide = (range.end - range.start) * BLOCK;
        let tiled = if self.inputs.is_multiple_of(amx::K) {
            n / amx::ROWS * amx::ROWS
        } else {
            0
        };
        if tiled > 0 {
            // SAFETY: rows `0..tiled` of `qx` (each `stride` long, a whole number of `amx::K`),
            // the blocks `range` of the packed weights and `tiled` rows of `acc` (`wide` apart)
            // are what the tiles read and write; the CPU has AMX and the permission to use it.
            unsafe {
                amx::sums(
                    qx.as_ptr(),
                    stride,
                    tiled,
                    self.packed.as_ptr().add(range.start * self.k4 * BLOCK * 4),
                    self.k4,
                    range.end - range.start,
                    acc.as_mut_ptr(),
                    wide,
                )
            };
            let sum = &self.sum[(range.start * BLOCK).min(self.outputs)..];
            for row in acc[..tiled * wide].chunks_exact_mut(wide) {
                for (a, s) in row.iter_mut().zip(sum) {
                    *a += 128 * s;
                }
            }
        }
        if tiled < n {
            // SAFETY: as for `sums_vnni`.
            unsafe {
                self.sums_vnni(
                    &qx[tiled * stride..],
                    n - tiled,
                    range,
                    &mut acc[tiled * wide..],
                )
            };
        }
    }

    /// The same with AVX2, 8 outputs a register: on `signed` 8-bit rows by the sign trick,
    /// otherwise on unsigned 7-bit rows (0..=127) as they are (`Tile::avx2_sums`).
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    unsafe fn sums_avx2(
        &self,
        signed: bool,
        qx: &[i8],
        n: usize,
        range: std::ops::Range<usize>,
        acc: &mut [i32],
    ) {
        // SAFETY: as for `sums_vnni`, with AVX2.
        self.each_tile(qx, n, range, acc, AVX2_TILE, |t, rows, cols| unsafe {
            if signed {
                tiles!(t, avx2, rows, cols)
            } else {
                tiles!(t, avx2_narrow, rows, cols)
            }
        });
    }
}

/// One tile of sums: `R` rows of quantized inputs from `x` (rows `stride` apart) against the
/// packed weights of `C` registers' worth of outputs from `w` (in a block, whose panels of 4
/// inputs are [`BLOCK`] outputs wide), into `out` (rows `out_stride` apart).
#[cfg(target_arch = "x86_64")]
struct Tile {
    x: *const i8,
    stride: usize,
    w: *const i8,
    k4: usize,
    out: *mut i32,
    out_stride: usize,
}

#[cfg(target_arch = "x86_64")]
impl Tile {
    #[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
    unsafe fn vnni<const R: usize, const C: usize>(&self) {
        use std::arch::x86_64::*;
        let flip = _mm512_set1_epi32(0x8080_8080u32 as i32);
        let mut s = [[_mm512_setzero_si512(); C]; R];
        for k4 in 0..self.k4 {
            let panel = self.w.add(k4 * BLOCK * 4);
            let mut wv = [_mm512_setzero_si512(); C];
            for (c, v) in wv.iter_mut().enumerate() {
                *v = _mm512_loadu_si512(panel.add(c * LANES * 4) as *const _);
            }
            for (i, si) in s.iter_mut().enumerate() {
                let p = self.x.add(i * self.stride + k4 * 4) as *const i32;
                let xv = _mm512_xor_si512(_mm512_set1_epi32(p.read_unaligned()), flip);
                for (sc, wc) in si.iter_mut().zip(&wv) {
                    *sc = _mm512_dpbusd_epi32(*sc, xv, *wc);
                }
            }
        }
        for (i, si) in s.iter().enumerate() {
            for (c, v) in si.iter().enumerate() {
                _mm512_storeu_si512(self.out.add(i * self.out_stride + c * LANES) as *mut _, *v);
            }
        }
    }

    /// AVX2 on signed 8-bit rows.
    #[target_feature(enable = "avx2")]
    unsafe fn avx2<const R: usize, const C: usize>(&self) {
        self.avx2_sums::<R, C, true>();
    }

    /// AVX2 on unsigned 7-bit rows.
    #[target_feature(enable = "avx2")]
    unsafe fn avx2_narrow<const R: usize, const C: usize>(&self) {
        self.avx2_sums::<R, C, false>();
    }

    /// The AVX2 tile: on `SIGNED` rows, |x| times w with x's sign (so that `vpmaddubsw`, which
    /// takes its first operand unsigned, sees no negative input and cannot saturate: at most
    /// 2 × 127 × 127); otherwise the rows are unsigned already and go in as they are.
    #[target_feature(enable = "avx2")]
    unsafe fn avx2_sums<const R: usize, const C: usize, const SIGNED: bool>(&self) {
        use std::arch::x86_64::*;
        let ones = _mm256_set1_epi16(1);
        let mut s = [[_mm256_setzero_si256(); C]; R];
        for k4 in 0..self.k4 {
            let panel = self.w.add(k4 * BLOCK * 4);
            let mut wv = [_mm256_setzero_si256(); C];
            for (c, v) in wv.iter_mut().enumerate() {
                *v = _mm256_loadu_si256(panel.add(c * 8 * 4) as *const _);
            }
            for (i, si) in s.iter_mut().enumerate() {
                let p = self.x.add(i * self.stride + k4 * 4) as *const i32;
                let xv = _mm256_set1_epi32(p.read_unaligned());
                let ax = if SIGNED { _mm256_sign_epi8(xv, xv) } else { xv };
                for (sc, wc) in si.iter_mut().zip(&wv) {
                    let w = if SIGNED {
                        _mm256_sign_epi8(*wc, xv)
                    } else {
                        *wc
                    };
                    let pairs = _mm256_maddubs_epi16(ax, w);
                    *sc = _mm256_add_epi32(*sc, _mm256_madd_epi16(pairs, ones));
                }
            }
        }
        for (i, si) in s.iter().enumerate() {
            for (c, v) in si.iter().enumerate() {
                _mm256_storeu_si256(self.out.add(i * self.out_stride + c * 8) as *mut _, *v);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The plain reference: the symmetric int8 scale of `v` (never zero).
    fn scale_of(v: &[f32]) -> f32 {
        let m = v.iter().fold(0f32, |m, x| m.max(x.abs()));
        if m > 0.0 && m.is_finite() {
            m / 127.0
        } else {
            1.0
        }
    }

    /// `v / scale` to the nearest integer in -127..=127, ties to even.
    fn quantize(v: f32, inv: f32) -> i8 {
        (v * inv).clamp(-127.0, 127.0).round_ties_even() as i8
    }

    /// The plain reference of AVX2's unsigned 7-bit rows: `(scale, least, q)`.
    fn unsigned_of(row: &[f32]) -> (f32, f32, Vec<i8>) {
        let least = row.iter().fold(f32::INFINITY, |m, &x| m.min(x));
        let most = row.iter().fold(f32::NEG_INFINITY, |m, &x| m.max(x));
        let scale = if most > least {
            (most - least) / 127.0
        } else {
            1.0
        };
        let inv = 1.0 / scale;
        let q = row
            .iter()
            .map(|&v| ((v - least) * inv).clamp(0.0, 127.0).round_ties_even() as i8)
            .collect();
        (scale, least, q)
    }

    #[test]
    fn rows_quantize_as_the_plain_reference() {
        let mut g = Lcg(7);
        for n in [1, 3, 17, 64, 385] {
            let row = g.vec(n);
            let s = scale_of(&row);
            let mut q = vec![0i8; n];
            assert_eq!(quantize_row(&row, &mut q), s);
            let plain: Vec<i8> = row.iter().map(|&v| quantize(v, 1.0 / s)).collect();
            assert_eq!(q, plain, "{n} values");
        }
        let mut q = [5i8; 4];
        assert_eq!(quantize_row(&[0.0; 4], &mut q), 1.0, "zeros keep scale 1");
        assert_eq!(q, [0; 4]);
        // AVX2's unsigned 7-bit form.
        for n in [1, 17, 385] {
            let row: Vec<f32> = g.vec(n).iter().map(|v| v + 0.3).collect();
            let (scale, least, plain) = unsigned_of(&row);
            let mut q = vec![0i8; n];
            assert_eq!(quantize_row_unsigned(&row, &mut q), (scale, least));
            assert_eq!(q, plain, "{n} values in 7 bits");
            assert!(q.iter().all(|&v| (0..=127).contains(&v)));
            if n > 1 {
                assert!(
                    q.contains(&0) && q.contains(&127),
                    "the row's range is used"
                );
            }
            for (&v, &q) in row.iter().zip(&q) {
                assert!((scale * q as f32 + least - v).abs() <= 0.5001 * scale);
            }
        }
        let mut q = [5i8; 3];
        assert_eq!(quantize_row_unsigned(&[-2.0; 3], &mut q), (1.0, -2.0));
        assert_eq!(q, [0; 3], "a row of one value is its least");
    }

    /// A small deterministic generator (no dependency for random numbers).
    struct Lcg(u64);
    impl Lcg {
        fn next(&mut self) -> f32 {
            self.0 = self
                .0
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            ((self.0 >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        }
        fn vec(&mut self, n: usize) -> Vec<f32> {
            (0..n).map(|_| self.next()).collect()
        }
    }

    /// The plain product in f64, on the same quantized values the kernels see (rows of `x` in
    /// 8 signed bits, or in AVX2's 7 unsigned ones).
    fn reference(l: &Int8Linear, w: &[f32], x: &[f32], unsigned: bool) -> Vec<f32> {
        let (k, n) = (l.inputs, l.outputs);
        let mut y = Vec::new();
        for row in x.chunks_exact(k) {
            let (sx, least, qx) = if unsigned {
                unsigned_of(row)
            } else {
                let sx = scale_of(row);
                (
                    sx,
                    0.0,
                    row.iter().map(|&v| quantize(v, 1.0 / sx)).collect(),
                )
            };
            for o in 0..n {
                let wr = &w[o * k..(o + 1) * k];
                let sw = scale_of(wr);
                let qw: Vec<i64> = wr.iter().map(|&b| quantize(b, 1.0 / sw) as i64).collect();
                let dot: i64 = qx.iter().zip(&qw).map(|(&a, &b)| a as i64 * b).sum();
                let wsum: i64 = qw.iter().sum();
                let b = l.bias[o] as f64;
                let sums = dot as f64 * sx as f64 + wsum as f64 * least as f64;
                y.push((sums * sw as f64 + b) as f32);
            }
        }
        y
    }

    #[test]
    fn every_path_the_cpu_runs_agrees_with_the_plain_product() {
        let mut g = Lcg(7);
        // Odd shapes: inputs not a multiple of 4, outputs not of 16, rows not of 4 or 32.
        for &(m, k, n) in &[
            (1, 1, 1),
            (3, 5, 7),
            (33, 67, 45),
            (70, 384, 100),
            (5, 130, 257),
            // Products big enough to be shared between threads: by outputs (a decoded token
            // against a vocabulary) and by rows.
            (2, 515, 9001),
            (300, 67, 257),
            // Inputs in whole tiles of 64 (AMX takes groups of 32 rows), with rows left over.
            (300, 128, 257),
            (33, 512, 64),
        ] {
            let w = g.vec(n * k);
            let x: Vec<f32> = g.vec(m * k).iter().map(|v| v * 3.0).collect();
            let bias = Some(g.vec(n));
            let l = Int8Linear::from_f32(&w, k, n, bias);
            let want = reference(&l, &w, &x, false);
            let fine = l.apply_fine_with(Path::Portable, &x);
            let mut ran = 0;
            for path in [Path::Amx, Path::Vnni, Path::Avx2, Path::Portable] {
                if !path.available() {
                    eprintln!("{path:?} not on this CPU");
                    continue;
                }
                ran += 1;
                // Rows in 8 bits, or in AVX2's 7.
                let want = if path == Path::Avx2 {
                    &reference(&l, &w, &x, true)
                } else {
                    &want
                };
                let got = l.apply_with(path, &x);
                assert_eq!(got.len(), want.len());
                for (i, (a, b)) in got.iter().zip(want).enumerate() {
                    assert!(
                        (a - b).abs() <= 1e-4 * (1.0 + b.abs()),
                        "{path:?} {m}x{k}x{n} at {i}: {a} against {b}"
                    );
                }
                // Fine rows are 8 bits on every path.
                let got = l.apply_fine_with(path, &x);
                for (i, (a, b)) in got.iter().zip(&fine).enumerate() {
                    assert!(
                        (a - b).abs() <= 1e-4 * (1.0 + b.abs()),
                        "{path:?} fine {m}x{k}x{n} at {i}: {a} against {b}"
                    );
                }
            }
            assert!(ran >= 1);
        }
    }

    /// The largest pairs AVX2's 7-bit rows can make (inputs at the top of their row's range,
    /// 127 once stored, against weights of -128 and 127) sum exactly: stored as VNNI's are
    /// (x + 128, up to 255) they would saturate `vpmaddubsw`'s 16 bits.
    #[test]
    fn seven_bit_rows_at_their_largest_sum_exactly() {
        let k = 68;
        let alternate = (0..k).map(|i| if i % 2 == 0 { -128 } else { 127 });
        let weights: Vec<Vec<i8>> = vec![vec![-128; k], vec![127; k], alternate.collect()];
        let l = Int8Linear::from_int8(&weights, vec![1.0; 3], k, None);
        // Each row's greatest value everywhere but at one input, its least.
        let mut rows = [vec![1f32; k], vec![0f32; k]];
        rows[0][k - 1] = 0.0;
        rows[1][0] = -1.0;
        for x in rows {
            let (_, _, q) = unsigned_of(&x);
            assert_eq!(q.iter().filter(|&&v| v == 127).count(), k - 1);
            let want: Vec<f32> = weights
                .iter()
                .map(|w| w.iter().zip(&x).map(|(&w, &v)| w as f32 * v).sum())
                .collect();
            if !Path::Avx2.available() {
                eprintln!("AVX2 not on this CPU");
                return;
            }
            let got = l.apply_with(Path::Avx2, &x);
            for (a, b) in got.iter().zip(&want) {
                assert!(
                    (a - b).abs() <= 1e-4 * (1.0 + b.abs()),
                    "{x:?}: {a} against {b}"
                );
            }
        }
    }

    /// AMX's tiles give VNNI's sums bit for bit (both exact in int32), on the encoder's shapes
    /// and with rows left over for VNNI.
    #[test]
    fn amx_tiles_sum_as_vnni_does() {
        if !Path::Amx.available() {
            eprintln!("AMX not on this CPU (or not permitted)");
            return;
        }
        let mut g = Lcg(17);
        for &(m, k, n) in &[
            (32, 64, 64),
            (100, 384, 1152),
            (1500, 384, 384),
            (45, 1536, 130),
        ] {
            let l = Int8Linear::from_f32(&g.vec(n * k), k, n, Some(g.vec(n)));
            let x: Vec<f32> = g.vec(m * k).iter().map(|v| v * 4.0).collect();
            assert_eq!(
                l.apply_with(Path::Amx, &x),
                l.apply_with(Path::Vnni, &x),
                "{m}x{k}x{n}"
            );
            assert_eq!(
                l.apply_fine_with(Path::Amx, &x),
                l.apply_fine_with(Path::Vnni, &x),
                "fine {m}x{k}x{n}"
            );
        }
    }

    #[test]
    fn half_weights_quantize_as_their_single_precision_copy() {
        let mut g = Lcg(9);
        let (k, n) = (37, 131);
        let half: Vec<f16> = g.vec(n * k).iter().map(|&v| f16::from_f32(v)).collect();
        let wide: Vec<f32> = half.iter().map(|v| v.to_f32()).collect();
        let a = Int8Linear::from_f16(&half, k, n, None);
        let b = Int8Linear::from_f32(&wide, k, n, None);
        assert_eq!((a.outputs(), a.inputs()), (n, k));
        assert_eq!(a.to_f32(), b.to_f32());
        for o in [0, 63, 64, 130] {
            let ints: i32 = (0..k)
                .map(|i| a.packed[Int8Linear::at(a.k4, o, i)] as i32)
                .sum();
            assert_eq!(a.sum[o], ints, "row {o}");
        }
        let x = g.vec(3 * k);
        assert_eq!(a.apply(&x), b.apply(&x));
    }

    #[test]
    fn a_row_looked_up_is_the_row_quantized() {
        let mut g = Lcg(5);
        let (k, n) = (37, 70);
        let w = g.vec(n * k);
        let l = Int8Linear::from_f32(&w, k, n, None);
        for o in [0, 17, 63, 64, 69] {
            let row = &w[o * k..(o + 1) * k];
            let s = scale_of(row);
            let want: Vec<f32> = row
                .iter()
                .map(|&v| quantize(v, 1.0 / s) as f32 * s)
                .collect();
            assert_eq!(l.row(o), want, "row {o}");
        }
    }

    #[test]
    fn fine_inputs_come_close_to_the_unquantized_input() {
        let mut g = Lcg(13);
        // A product the calling thread runs alone, one whose outputs are shared between
        // threads (five beams' tokens against a vocabulary), each part's pairs joined apart,
        // and one whose rows are (a prompt: blocks of 128 rows, the last one short).
        for (m, k, n) in [(3, 515, 300), (5, 384, 9001), (130, 96, 400)] {
            let w = g.vec(n * k);
            // Inputs with an outlier, as layer-normed hidden states have.
            let mut x = g.vec(m * k);
            x[7] = 25.0;
            let l = Int8Linear::from_f32(&w, k, n, Some(g.vec(n)));
            let (coarse, fine) = (l.apply(&x), l.apply_fine(&x));
            assert_eq!(fine.len(), m * n);
            let (mut worst_coarse, mut worst_fine) = (0f32, 0f32);
            for (r, row) in x.chunks_exact(k).enumerate() {
                for o in 0..n {
                    // The 8-bit weights against the input as it is.
                    let q = l.row(o);
                    let exact: f32 =
                        row.iter().zip(&q).map(|(a, b)| a * b).sum::<f32>() + l.bias[o];
                    worst_coarse = worst_coarse.max((coarse[r * n + o] - exact).abs());
                    worst_fine = worst_fine.max((fine[r * n + o] - exact).abs());
                }
            }
            assert!(
                worst_fine <= 0.05 * worst_coarse,
                "{m}x{k}x{n}: fine {worst_fine} against coarse {worst_coarse}"
            );
        }
    }

    #[test]
    fn quantized_products_stay_close_to_float() {
        let mut g = Lcg(11);
        let (m, k, n) = (40, 384, 96);
        let w = g.vec(n * k);
        let x = g.vec(m * k);
        let l = Int8Linear::from_f32(&w, k, n, None);
        let got = l.apply(&x);
        let mut worst = 0f32;
        let mut largest = 0f32;
        for (r, row) in x.chunks_exact(k).enumerate() {
            for o in 0..n {
                let exact: f32 = row
                    .iter()
                    .zip(&w[o * k..(o + 1) * k])
                    .map(|(a, b)| a * b)
                    .sum();
                worst = worst.max((got[r * n + o] - exact).abs());
                largest = largest.max(exact.abs());
            }
        }
        assert!(worst <= 0.02 * largest, "error {worst} of {largest}");
    }
}
