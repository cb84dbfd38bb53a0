//! The encoder's matrix products (one 30-second window: 1500 frames) in float32, as the encoder
//! runs them now (candle's matmul over `gemm`), against candle-core's quantized matmul with 8-bit
//! weights (Q8_0: blocks of 32 weights with one scale; activations quantized the same way per
//! row) and against livecap's own int8 kernels (one scale per output channel and per input row,
//! on the fastest path this CPU runs), for tiny (d = 384) and base (d = 512): time per product
//! (median of 5) and the error against float32, and the same on the AVX2 path where the CPU has
//! more (rows in 7 bits there). Then the decoder's products for one token
//! (one row, taken as two int8 rows by `apply_fine`, as the decoder runs them; the median of 5
//! means over 50 calls) on both int8 paths.
//!
//! cargo run --release --example int8_matmul

use std::time::Instant;

use candle_core::quantized::{GgmlDType, QMatMul, QTensor};
use candle_core::{Device, Module, Tensor};
use livecap::asr::kernels::int8::{Int8Linear, Path};

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn time(f: &mut dyn FnMut()) -> f64 {
    f();
    median(
        (0..5)
            .map(|_| {
                let t = Instant::now();
                f();
                t.elapsed().as_secs_f64()
            })
            .collect(),
    )
}

fn cpu_name() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|n| n.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into())
}

fn main() -> candle_core::Result<()> {
    let dev = Device::Cpu;
    let t = 1500;
    let avx512 = if is_x86_feature_detected!("avx512f") {
        "AVX-512"
    } else {
        "AVX2"
    };
    println!(
        "{} ({avx512}), {} threads",
        cpu_name(),
        rayon::current_num_threads()
    );
    println!("int8 kernel: {:?}", Path::best());
    println!("| model | product (t × k · k × n) | f32 | Q8_0 | Q8_0 / f32 | Q8_0 error | int8 | int8 / f32 | int8 error | int8, AVX2 path | AVX2 path error |");
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    for (model, d) in [("tiny", 384usize), ("base", 512)] {
        for (name, k, n) in [
            ("q/k/v", d, 3 * d),
            ("out", d, d),
            ("fc1", d, 4 * d),
            ("fc2", 4 * d, d),
        ] {
            let x = Tensor::randn(0f32, 1.0, (1, t, k), &dev)?;
            let w = (Tensor::randn(0f32, 1.0, (n, k), &dev)? / (k as f64).sqrt())?;
            let wt = w.t()?;
            let linear = |x: &Tensor| x.broadcast_matmul(&wt);
            let q = QMatMul::from_qtensor(QTensor::quantize(&w, GgmlDType::Q8_0)?)?;
            let want = linear(&x)?;
            let got = q.forward(&x)?;
            let err = (&got - &want)?.abs()?.max_all()?.to_scalar::<f32>()?;
            let scale = want.abs()?.max_all()?.to_scalar::<f32>()?;
            let own = Int8Linear::from_f32(&w.flatten_all()?.to_vec1::<f32>()?, k, n, None);
            let xs = x.flatten_all()?.to_vec1::<f32>()?;
            let mine = Tensor::from_vec(own.apply(&xs), (1, t, n), &dev)?;
            let own_err = (&mine - &want)?.abs()?.max_all()?.to_scalar::<f32>()?;
            let f32_time = time(&mut || {
                let _ = linear(&x);
            });
            let q_time = time(&mut || {
                let _ = q.forward(&x);
            });
            let own_time = time(&mut || {
                let _ = own.apply(&xs);
            });
            let avx2 = if Path::Avx2.available() && Path::best() != Path::Avx2 {
                let secs = time(&mut || {
                    let _ = own.apply_with(Path::Avx2, &xs);
                });
                let got = Tensor::from_vec(own.apply_with(Path::Avx2, &xs), (1, t, n), &dev)?;
                let e = (&got - &want)?.abs()?.max_all()?.to_scalar::<f32>()?;
                format!("{:.1} ms | {:.4}", secs * 1e3, e / scale)
            } else {
                "(as int8) | (as int8)".into()
            };
            println!(
                "| {model} | {name} ({t} × {k} · {k} × {n}) | {:.1} ms | {:.1} ms | {:.2} | {:.4} | {:.1} ms | {:.2} | {:.4} | {avx2} |",
                f32_time * 1e3,
                q_time * 1e3,
                q_time / f32_time,
                err / scale,
                own_time * 1e3,
                own_time / f32_time,
                own_err / scale
            );
        }
    }
    println!();
    println!("| model | product, one token (rows × k · k × n) | int8 | int8, AVX2 path |");
    println!("|---|---|---|---|");
    for (model, d) in [("tiny", 384usize), ("base", 512)] {
        for (name, k, n) in [
            ("q/k/v/out", d, d),
            ("fc1", d, 4 * d),
            ("fc2", 4 * d, d),
            ("vocabulary", d, 51_864),
        ] {
            let w: Vec<f32> = Tensor::randn(0f32, 1.0, (n, k), &dev)?
                .flatten_all()?
                .to_vec1()?;
            let xs: Vec<f32> = Tensor::randn(0f32, 1.0, k, &dev)?.to_vec1()?;
            let own = Int8Linear::from_f32(&w, k, n, None);
            let calls = 50;
            let own_time = time(&mut || {
                for _ in 0..calls {
                    let _ = own.apply_fine(&xs);
                }
            }) / calls as f64;
            let avx2 = if Path::Avx2.available() && Path::best() != Path::Avx2 {
                let t = time(&mut || {
                    for _ in 0..calls {
                        let _ = own.apply_fine_with(Path::Avx2, &xs);
                    }
                }) / calls as f64;
                format!("{:.3} ms", t * 1e3)
            } else {
                "(as int8)".into()
            };
            println!(
                "| {model} | {name} (1 × {k} · {k} × {n}) | {:.3} ms | {avx2} |",
                own_time * 1e3
            );
        }
    }
    Ok(())
}
