//! Models from each source: a Hugging Face layout directory, the hub cache (offline), the
//! hub itself when unreachable, and CTranslate2 weights de-quantised from int8.

mod common;

use std::collections::HashMap;
use std::path::Path;

use candle_core::Tensor;
use common::*;
use livecap::asr::ct2::Ct2Model;
use livecap::asr::{transcribe, ComputeType, DecodeOptions, Model, ModelFormat};
use livecap::audio::load_file;
use livecap_eval::wer::WerCount;

const CLIP: &str = "dev/ls-dev-clean_2412-153948-0000";

/// Write the test model in Hugging Face layout (f16 safetensors + config.json) into `dir`.
fn write_hf_layout(dir: &Path) {
    std::fs::create_dir_all(dir).ok();
    let bin = model_dir().join("model.bin");
    let ct2 = Ct2Model::load(&bin).unwrap_or_else(|e| panic!("{e}"));
    let map = ct2.into_hf(&bin).unwrap_or_else(|e| panic!("{e}"));
    let dims = |k: &str, i: usize| map.get(k).map(|t| t.dims()[i]).unwrap_or(0);
    let count = |side: &str| {
        (0..)
            .take_while(|i| map.contains_key(&format!("{side}.layers.{i}.fc1.weight")))
            .count()
    };
    let config = serde_json::json!({
        "num_mel_bins": dims("encoder.conv1.weight", 1),
        "d_model": dims("encoder.conv1.weight", 0),
        "encoder_layers": count("encoder"),
        "encoder_attention_heads": 6,
        "decoder_layers": count("decoder"),
        "decoder_attention_heads": 6,
        "max_source_positions": dims("encoder.embed_positions.weight", 0),
        "max_target_positions": dims("decoder.embed_positions.weight", 0),
        "vocab_size": dims("decoder.embed_tokens.weight", 0),
        "suppress_tokens": serde_json::from_str::<serde_json::Value>(
            &std::fs::read_to_string(model_dir().join("config.json")).unwrap_or_default()
        ).ok().and_then(|c| c.get("suppress_ids").cloned()).unwrap_or_default(),
        "begin_suppress_tokens": [220, 50256],
    });
    std::fs::write(dir.join("config.json"), config.to_string()).ok();
    let tensors: HashMap<String, Tensor> = map
        .into_iter()
        .map(|(k, v)| {
            (
                format!("model.{k}"),
                v.to_dtype(candle_core::DType::F16).unwrap_or(v),
            )
        })
        .collect();
    candle_core::safetensors::save(&tensors, dir.join("model.safetensors"))
        .unwrap_or_else(|e| panic!("{e}"));
    std::fs::copy(
        model_dir().join("tokenizer.json"),
        dir.join("tokenizer.json"),
    )
    .ok();
}

fn text_of(model: &Model) -> String {
    let audio =
        load_file(&fixtures().join(format!("{CLIP}.wav"))).unwrap_or_else(|e| panic!("{e}"));
    transcribe(
        model,
        &audio.samples,
        &DecodeOptions::default(),
        &mut |_| {},
    )
    .unwrap_or_else(|e| panic!("{e}"))
    .text()
}

fn reference() -> String {
    std::fs::read_to_string(fixtures().join(format!("{CLIP}.txt"))).unwrap_or_default()
}

#[test]
fn hugging_face_directory_and_hub_cache() {
    let home = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let repo = home.path().join("hub/models--openai--whisper-tiny.en");
    let snapshot = repo.join("snapshots/0123456789abcdef");
    write_hf_layout(&snapshot);
    std::fs::create_dir_all(repo.join("refs")).ok();
    std::fs::write(repo.join("refs/main"), "0123456789abcdef").ok();

    // In-process: the HF layout gives the same words as the CTranslate2 one.
    let hf = Model::load_dir(&snapshot).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(hf.format, ModelFormat::HuggingFace);
    assert_eq!(model().format, ModelFormat::CTranslate2);
    let (a, b) = (text_of(&hf), text_of(model()));
    let diff = WerCount::of(&b, &a);
    assert!(
        diff.errors <= 1,
        "HF layout and CTranslate2 layout disagree:\n{a}\n{b}"
    );
    assert!(WerCount::of(&reference(), &a).rate() < 0.15, "{a}");

    // The binary, by short name, from the hub cache with the hub switched off.
    let wav = fixtures().join(format!("{CLIP}.wav")).display().to_string();
    let hf_home = home.path().display().to_string();
    let env = [("HF_HOME", hf_home.as_str()), ("HF_HUB_OFFLINE", "1")];
    let o = livecap_env(&["transcribe", "--model", "tiny.en", &wav], &env);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        WerCount::of(&reference(), &stdout(&o)).rate() < 0.15,
        "{}",
        stdout(&o)
    );
    // LIVECAP_MODEL picks the model too.
    let o = livecap_env(
        &["transcribe", &wav],
        &[
            ("HF_HOME", hf_home.as_str()),
            ("HF_HUB_OFFLINE", "1"),
            ("LIVECAP_MODEL", "openai/whisper-tiny.en"),
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
}

#[test]
fn hub_missing_or_unreachable_says_what_to_do() {
    let home = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let hf_home = home.path().display().to_string();
    let wav = fixtures().join(format!("{CLIP}.wav")).display().to_string();
    let o = livecap_env(
        &["transcribe", "--model", "base.en", &wav],
        &[("HF_HOME", hf_home.as_str()), ("HF_HUB_OFFLINE", "1")],
    );
    assert_clear_failure(&o, "openai/whisper-base.en");
    assert!(stderr(&o).contains("--model DIR"), "{}", stderr(&o));
    // Nothing listens on port 9 of this machine: the hub is unreachable.
    let o = livecap_env(
        &["transcribe", "--model", "tiny.en", &wav],
        &[
            ("HF_HOME", hf_home.as_str()),
            ("HF_ENDPOINT", "http://127.0.0.1:9"),
        ],
    );
    // What it tried, then one sentence on what failed and what to do instead.
    let err = stderr(&o);
    assert!(!o.status.success(), "{err}");
    let lines: Vec<&str> = err.trim().lines().collect();
    assert_eq!(lines.len(), 2, "{err}");
    assert!(lines[0].starts_with("livecap: downloading config.json of openai/whisper-tiny.en"));
    assert!(
        lines[1].contains("openai/whisper-tiny.en")
            && lines[1].contains("--model DIR")
            && lines[1].contains("CTranslate2")
            && !err.contains("panicked"),
        "{err}"
    );
}

/// Re-encode the test model's weights as CTranslate2 stores other precisions, then check each
/// loads and still transcribes at every compute type: int8 weights with per-row scales (as
/// `ct2-transformers-converter --quantization int8` writes them), and bfloat16.
#[test]
fn ctranslate2_int8_and_bf16_weights() {
    let src = std::fs::read(model_dir().join("model.bin")).unwrap_or_default();
    for precision in [Precision::Int8, Precision::Bf16] {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(dir.path().join("model.bin"), reencode_ct2(&src, precision)).ok();
        for f in ["config.json", "tokenizer.json"] {
            std::fs::copy(model_dir().join(f), dir.path().join(f)).ok();
        }
        // int8 weights run as stored at int8, and scaled back at the other precisions.
        for compute in [
            ComputeType::Int8,
            ComputeType::Float16,
            ComputeType::Float32,
        ] {
            let m = Model::load_as(&dir.path().to_string_lossy(), compute)
                .unwrap_or_else(|e| panic!("{precision:?} at {compute}: {e}"));
            let text = text_of(&m);
            assert!(
                WerCount::of(&reference(), &text).rate() < 0.2,
                "{precision:?} at {compute}: {text}"
            );
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Precision {
    Int8,
    Bf16,
}

/// A stored variable: name bytes, dimensions, data type id, data.
type Var = (Vec<u8>, Vec<u32>, u8, Vec<u8>);

/// A CTranslate2 model.bin (float16) re-encoded: int8 linear weights (with `weight_scale`
/// variables), or every float16 variable as bfloat16.
fn reencode_ct2(src: &[u8], precision: Precision) -> Vec<u8> {
    let mut pos = 0usize;
    let mut rd = |n: usize| {
        let s = &src[pos..pos + n];
        pos += n;
        s
    };
    let u32_at = |b: &[u8]| u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
    let mut out = Vec::new();
    let version = rd(4).to_vec();
    out.extend(&version);
    // Spec name and revision are copied as they are.
    let n = {
        let b = rd(2);
        u16::from_le_bytes([b[0], b[1]]) as usize
    };
    let name = rd(n).to_vec();
    out.extend((n as u16).to_le_bytes());
    out.extend(&name);
    out.extend(rd(4)); // revision
    let count = u32_at(rd(4));
    let mut vars: Vec<Var> = Vec::new();
    for _ in 0..count {
        let n = {
            let b = rd(2);
            u16::from_le_bytes([b[0], b[1]]) as usize
        };
        let name = rd(n).to_vec();
        let rank = rd(1)[0] as usize;
        let dims: Vec<u32> = (0..rank).map(|_| u32_at(rd(4))).collect();
        let dtype = rd(1)[0];
        let nb = u32_at(rd(4)) as usize;
        let data = rd(nb).to_vec();
        vars.push((name, dims, dtype, data));
    }
    let rest = src[pos..].to_vec();
    let mut new_vars = Vec::new();
    for (name, dims, dtype, data) in vars {
        let s = String::from_utf8_lossy(&name)
            .trim_end_matches('\0')
            .to_string();
        if precision == Precision::Bf16 && dtype == 4 {
            let bf: Vec<u8> = data
                .chunks_exact(2)
                .flat_map(|c| {
                    half::bf16::from_f32(half::f16::from_le_bytes([c[0], c[1]]).to_f32())
                        .to_le_bytes()
                })
                .collect();
            new_vars.push((name, dims, 5, bf));
            continue;
        }
        // What CTranslate2 quantizes: linear layers, embeddings and convolutions (per output
        // channel).
        let quantizable = s.ends_with("weight")
            && dtype == 4
            && ((s.contains("linear") && dims.len() == 2)
                || (s.contains("embeddings") && dims.len() == 2)
                || (s.contains("conv") && dims.len() == 3));
        if precision != Precision::Int8 || !quantizable {
            new_vars.push((name, dims, dtype, data));
            continue;
        }
        let rows = dims[0] as usize;
        let cols = dims[1..].iter().product::<u32>() as usize;
        let vals: Vec<f32> = data
            .chunks_exact(2)
            .map(|c| half::f16::from_le_bytes([c[0], c[1]]).to_f32())
            .collect();
        let mut q = Vec::with_capacity(rows * cols);
        let mut scales = Vec::with_capacity(rows * 4);
        for r in 0..rows {
            let row = &vals[r * cols..(r + 1) * cols];
            let amax = row.iter().fold(0f32, |m, v| m.max(v.abs())).max(1e-12);
            let scale = 127.0 / amax;
            q.extend(
                row.iter()
                    .map(|v| (v * scale).round().clamp(-127.0, 127.0) as i8 as u8),
            );
            scales.extend(scale.to_le_bytes());
        }
        new_vars.push((name, dims.clone(), 1, q));
        let mut sname = format!("{s}_scale").into_bytes();
        sname.push(0);
        new_vars.push((sname, vec![rows as u32], 0, scales));
    }
    out.extend((new_vars.len() as u32).to_le_bytes());
    for (name, dims, dtype, data) in new_vars {
        out.extend((name.len() as u16).to_le_bytes());
        out.extend(&name);
        out.push(dims.len() as u8);
        for d in &dims {
            out.extend(d.to_le_bytes());
        }
        out.push(dtype);
        out.extend((data.len() as u32).to_le_bytes());
        out.extend(&data);
    }
    out.extend(rest);
    out
}

/// A hub on 127.0.0.1 serving `dir`'s files as `/{repo}/resolve/main/{file}`, the way the
/// Hugging Face hub answers (an ETag, the commit, and byte ranges); counts the requests.
fn serve_hub(
    dir: std::path::PathBuf,
    repo: &'static str,
) -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use std::io::{BufRead, BufReader, Write};
    use std::sync::atomic::{AtomicUsize, Ordering};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("{e}"));
    let addr = listener.local_addr().unwrap_or_else(|e| panic!("{e}"));
    let served = std::sync::Arc::new(AtomicUsize::new(0));
    let count = served.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let dir = dir.clone();
            let count = count.clone();
            std::thread::spawn(move || {
                let mut reader = BufReader::new(&stream);
                let mut request = String::new();
                if reader.read_line(&mut request).is_err() {
                    return;
                }
                let mut range = None;
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line.trim().is_empty() {
                        break;
                    }
                    let lower = line.to_ascii_lowercase();
                    if let Some(r) = lower.strip_prefix("range: bytes=") {
                        let (a, b) = r.trim().split_once('-').unwrap_or(("0", ""));
                        range = Some((a.parse::<usize>().unwrap_or(0), b.parse::<usize>().ok()));
                    }
                }
                count.fetch_add(1, Ordering::SeqCst);
                let path = request.split_whitespace().nth(1).unwrap_or("");
                let prefix = format!("/{repo}/resolve/main/");
                let body = path
                    .strip_prefix(&prefix)
                    .filter(|f| !f.contains('/'))
                    .and_then(|f| std::fs::read(dir.join(f)).ok());
                let mut out = &stream;
                let Some(body) = body else {
                    out.write_all(
                        b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                    )
                    .ok();
                    return;
                };
                let (a, b) = range.unwrap_or((0, None));
                let b = b
                    .unwrap_or(body.len().saturating_sub(1))
                    .min(body.len().saturating_sub(1));
                let part = &body[a.min(body.len())..(b + 1).min(body.len())];
                let head = format!(
                    "HTTP/1.1 206 Partial Content\r\nContent-Length: {}\r\nContent-Range: bytes {a}-{b}/{}\r\n\
                     ETag: \"{}-{}\"\r\nX-Repo-Commit: 0123456789abcdef0123456789abcdef01234567\r\n\
                     Connection: close\r\n\r\n",
                    part.len(),
                    body.len(),
                    path.len(),
                    body.len()
                );
                out.write_all(head.as_bytes()).ok();
                out.write_all(part).ok();
            });
        }
    });
    (format!("http://{addr}"), served)
}

#[test]
fn hub_download_from_a_local_server_then_offline() {
    let served_dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    write_hf_layout(served_dir.path());
    let (endpoint, requests) = serve_hub(served_dir.path().to_path_buf(), "openai/whisper-tiny.en");
    let home = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let hf_home = home.path().display().to_string();
    let wav = fixtures().join(format!("{CLIP}.wav")).display().to_string();

    // First run: downloaded, said so, transcribed.
    let o = livecap_env(
        &["transcribe", "--model", "tiny.en", &wav],
        &[
            ("HF_HOME", hf_home.as_str()),
            ("HF_ENDPOINT", endpoint.as_str()),
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    for file in ["config.json", "tokenizer.json", "model.safetensors"] {
        assert!(
            stderr(&o).contains(&format!("downloading {file} of openai/whisper-tiny.en")),
            "{}",
            stderr(&o)
        );
        // In the standard cache layout, a snapshot per commit.
        let cached = home.path().join(format!(
            "hub/models--openai--whisper-tiny.en/snapshots/0123456789abcdef0123456789abcdef01234567/{file}"
        ));
        let original = std::fs::read(served_dir.path().join(file)).unwrap_or_default();
        assert_eq!(
            std::fs::read(&cached).ok(),
            Some(original),
            "{}",
            cached.display()
        );
    }
    assert!(
        WerCount::of(&reference(), &stdout(&o)).rate() < 0.15,
        "{}",
        stdout(&o)
    );
    let after_first = requests.load(std::sync::atomic::Ordering::SeqCst);
    assert!(after_first >= 3);

    // Second run, offline: the cache is used and the server is not asked again.
    let o = livecap_env(
        &["transcribe", "--model", "tiny.en", &wav],
        &[
            ("HF_HOME", hf_home.as_str()),
            ("HF_ENDPOINT", endpoint.as_str()),
            ("HF_HUB_OFFLINE", "1"),
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(!stderr(&o).contains("downloading"), "{}", stderr(&o));
    assert_eq!(
        requests.load(std::sync::atomic::Ordering::SeqCst),
        after_first
    );
    assert!(
        WerCount::of(&reference(), &stdout(&o)).rate() < 0.15,
        "{}",
        stdout(&o)
    );
}
