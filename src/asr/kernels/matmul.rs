//! Strided matrix products through `gemm`: `Mat`, a view of a row-major matrix inside a slice,
//! and A·B or A·Bᵀ into a strided output, on every thread or on the calling one only.

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
        // B given as k x n (its transpose laid out row-major): A times B is the product above.
        let bt: Vec<f32> = (0..k * n).map(|i| b[(i % n) * k + i / n]).collect();
        let mut out2 = vec![0.0; m * n];
        matmul(Mat::new(&a, m, k), Mat::new(&bt, k, n), &mut out2, 0, n);
        assert!(out.iter().zip(&out2).all(|(x, y)| (x - y).abs() < 1e-3));
        let mut out3 = vec![0.0; m * n];
        matmul_serial(Mat::new(&a, m, k), Mat::new(&bt, k, n), &mut out3, 0, n);
        assert!(out.iter().zip(&out3).all(|(x, y)| (x - y).abs() < 1e-3));
    }
}
