//! CPU kernels for the hot paths over plain slices, one file a job: which vector instructions
//! the CPU has (`cpu`), attention of one query over half-precision keys and values
//! (`attention`), matrix-vector products (`gemv`), strided matrix products through `gemm`
//! (`matmul`), softmax (`softmax`), layer norm (`layer_norm`), GELU (`gelu`), and products with
//! 8-bit weights (`int8`). Each kernel has a portable body; on x86-64 with AVX2 and FMA (and
//! F16C for half precision) or AVX-512 a faster version is chosen at run time.

#[cfg(target_arch = "x86_64")]
mod amx;
mod attention;
pub mod cpu;
mod gelu;
mod gemv;
pub mod int8;
mod layer_norm;
mod matmul;
mod softmax;

pub use attention::{attend_blocked_f16, attend_blocked_f16_many, attend_f16, KEY_BLOCK};
pub use gelu::gelu;
pub use gemv::{gemv_f16, gemv_f32, widen};
pub use layer_norm::layer_norm;
pub use matmul::{matmul, matmul_bt, matmul_serial, Mat};
pub use softmax::{argmax, logsumexp, max, softmax, softmax_rows, top_k};

/// Encoder self-attention in bfloat16 on AMX tiles where this CPU has them (see
/// `amx::encoder_attention`); `None` elsewhere.
pub fn attention_tiles(qkv: &[f32], d3: usize, heads: usize) -> Option<Vec<f32>> {
    #[cfg(target_arch = "x86_64")]
    return amx::encoder_attention(qkv, d3, heads);
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = (qkv, d3, heads);
        None
    }
}
