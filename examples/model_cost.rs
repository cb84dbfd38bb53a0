//! What a window update costs, part by part, per compute type: the 30-second encoder pass, the
//! audio's keys and values for the decoder, the decoder over a prompt of 64 tokens (and of 224,
//! on keys and values of its own), and one decoded token with its vocabulary logits (medians).
//! `--shape small` (or `medium`) measures a model of that size that is not at hand: its layout and
//! tokenizer are taken from MODEL_DIR (a multilingual CTranslate2 model, such as base) and its
//! weights are random, which costs what the real ones cost (nothing here depends on the values).
//!
//! cargo run --release --example model_cost -- MODEL_DIR [--shape small|medium] [int8|float16 ...]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use candle_core::{DType, Device, Tensor};
use clap::ValueEnum;
use livecap::asr::ct2::Ct2Model;
use livecap::asr::model::DecoderState;
use livecap::asr::{ComputeType, Model};

fn fail(msg: String) -> ! {
    eprintln!("model_cost: {msg}");
    std::process::exit(1);
}

/// Width, layers (each side) and heads of the Whisper sizes this example can build.
fn shape(name: &str) -> (usize, usize, usize) {
    match name {
        "small" => (768, 12, 12),
        "medium" => (1024, 24, 16),
        _ => fail(format!("--shape {name}: small or medium")),
    }
}

/// A model of `shape` with random weights, in Hugging Face layout under a temporary directory,
/// with the tensors of `like` (a CTranslate2 Whisper directory) widened and its layers repeated.
fn random_model(like: &Path, name: &str) -> PathBuf {
    let (d, layers, heads) = shape(name);
    let bin = like.join("model.bin");
    let map = Ct2Model::load(&bin)
        .and_then(|m| m.into_hf(&bin))
        .unwrap_or_else(|e| fail(e.to_string()));
    let d0 = map
        .get("encoder.conv1.weight")
        .map(|t| t.dims()[0])
        .unwrap_or_else(|| fail(format!("{} is not a Whisper model", like.display())));
    let mut out: HashMap<String, Tensor> = HashMap::new();
    for (k, t) in &map {
        let dims: Vec<usize> = t
            .dims()
            .iter()
            .map(|&n| match n {
                n if n == d0 => d,
                n if n == 4 * d0 => 4 * d,
                n => n,
            })
            .collect();
        let names: Vec<String> = match k.split_once(".layers.0.") {
            Some((side, rest)) => (0..layers)
                .map(|i| format!("{side}.layers.{i}.{rest}"))
                .collect(),
            None if k.contains(".layers.") => continue,
            None => vec![k.clone()],
        };
        for n in names {
            let t = Tensor::randn(0f32, 0.02, dims.as_slice(), &Device::Cpu)
                .and_then(|t| t.to_dtype(DType::F16))
                .unwrap_or_else(|e| fail(e.to_string()));
            out.insert(format!("model.{n}"), t);
        }
    }
    let dir = std::env::temp_dir().join(format!("livecap-model-cost-{name}"));
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| fail(e.to_string()));
    let n_text = map
        .get("decoder.embed_positions.weight")
        .map_or(448, |t| t.dims()[0]);
    let vocab = map
        .get("decoder.embed_tokens.weight")
        .map_or(51865, |t| t.dims()[0]);
    let config = serde_json::json!({
        "num_mel_bins": map.get("encoder.conv1.weight").map_or(80, |t| t.dims()[1]),
        "d_model": d,
        "encoder_layers": layers,
        "encoder_attention_heads": heads,
        "decoder_layers": layers,
        "decoder_attention_heads": heads,
        "max_source_positions": 1500,
        "max_target_positions": n_text,
        "vocab_size": vocab,
    });
    let written = std::fs::write(dir.join("config.json"), config.to_string())
        .and_then(|_| std::fs::copy(like.join("tokenizer.json"), dir.join("tokenizer.json")))
        .map_err(|e| e.to_string())
        .and_then(|_| {
            candle_core::safetensors::save(&out, dir.join("model.safetensors"))
                .map_err(|e| e.to_string())
        });
    if let Err(e) = written {
        fail(format!("cannot write {}: {e}", dir.display()));
    }
    dir
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    livecap::reuse_freed_memory();
    let mut args = std::env::args().skip(1);
    let Some(model) = args.next() else {
        eprintln!("usage: model_cost MODEL_DIR [--shape small|medium] [int8|float16|float32 ...]");
        std::process::exit(2);
    };
    let mut dir = PathBuf::from(&model);
    let mut label = dir
        .file_name()
        .map_or(model.clone(), |n| n.to_string_lossy().into_owned());
    let mut kinds = Vec::new();
    while let Some(a) = args.next() {
        if a == "--shape" {
            let name = args.next().unwrap_or_default();
            dir = random_model(&dir, &name);
            label = format!("{name} (random weights)");
        } else {
            kinds.push(a);
        }
    }
    if kinds.is_empty() {
        kinds = vec!["int8".into(), "float16".into()];
    }
    // Speech is not needed: the encoder's cost does not depend on what it hears.
    let samples: Vec<f32> = (0..16_000 * 30)
        .map(|i| 0.1 * (i as f32 * 0.05).sin())
        .collect();
    let dir = dir.to_string_lossy().into_owned();
    println!("model\tcompute\tencoder pass\taudio keys\tprompt of 64\tprompt of 224\tone token");
    for kind in kinds {
        let Ok(compute) = ComputeType::from_str(&kind, true) else {
            fail(format!("{kind} is not a compute type"));
        };
        let m = Model::load_as(&dir, compute).unwrap_or_else(|e| fail(e.to_string()));
        let window = m
            .mel
            .compute(&samples)
            .window(0, usize::MAX)
            .unwrap_or_else(|e| fail(e.to_string()));
        let (mut enc, mut start, mut prompt, mut long, mut token) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
        // Seconds to decode a prompt of `n` tokens after those in `state`, with its last logits.
        let prompt_of = |state: &mut DecoderState, n: u32| {
            let t = Instant::now();
            let words: Vec<u32> = (0..n).map(|i| 1000 + 37 * i).collect();
            let hidden = m
                .net
                .decode(state, &words)
                .unwrap_or_else(|e| fail(e.to_string()));
            let _ = m.net.logits(&hidden, words.len() - 1);
            t.elapsed().as_secs_f64()
        };
        // The first round warms caches and the allocator: not counted.
        for round in 0..8 {
            let t = Instant::now();
            let audio = m
                .net
                .encode(&window)
                .unwrap_or_else(|e| fail(e.to_string()));
            let e = t.elapsed().as_secs_f64();
            let t = Instant::now();
            let mut state = m.net.start(&audio).unwrap_or_else(|e| fail(e.to_string()));
            let s = t.elapsed().as_secs_f64();
            let p = prompt_of(&mut state, 64);
            let mut per = Vec::new();
            for i in 0..48u32 {
                let t = Instant::now();
                let hidden = m
                    .net
                    .decode(&mut state, &[2000 + 11 * i])
                    .unwrap_or_else(|e| fail(e.to_string()));
                let _ = m.net.logits(&hidden, 0);
                per.push(t.elapsed().as_secs_f64());
            }
            // The longest prompt (half the text context), on keys and values of its own.
            let mut state = m.net.start(&audio).unwrap_or_else(|e| fail(e.to_string()));
            let l = prompt_of(&mut state, 224);
            if round > 0 {
                enc.push(e);
                start.push(s);
                prompt.push(p);
                long.push(l);
                token.push(median(per));
            }
        }
        println!(
            "{label}\t{compute}\t{:.3} s\t{:.4} s\t{:.3} s\t{:.3} s\t{:.2} ms",
            median(enc),
            median(start),
            median(prompt),
            median(long),
            1000.0 * median(token)
        );
    }
}
