//! The cost of one 30-second encoder pass (what every window update and every short file pays):
//! the median and the fastest wall time of 15 passes over a clip's log-mel, per compute type.
//!
//! cargo run --release --example encoder_cost -- MODEL_DIR AUDIO_FILE [int8|float16|float32 ...]

use std::path::Path;
use std::time::Instant;

use clap::ValueEnum;
use livecap::asr::{ComputeType, Model};

fn fail(msg: String) -> ! {
    eprintln!("encoder_cost: {msg}");
    std::process::exit(1);
}

fn main() {
    livecap::reuse_freed_memory();
    let mut args = std::env::args().skip(1);
    let (Some(model), Some(audio)) = (args.next(), args.next()) else {
        eprintln!("usage: encoder_cost MODEL_DIR AUDIO_FILE [int8|float16|float32 ...]");
        std::process::exit(2);
    };
    let mut kinds: Vec<String> = args.collect();
    if kinds.is_empty() {
        kinds = vec!["int8".into(), "float16".into()];
    }
    let samples = livecap::audio::file::load_file(Path::new(&audio))
        .unwrap_or_else(|e| fail(e.to_string()))
        .samples;
    for kind in kinds {
        let Ok(compute) = ComputeType::from_str(&kind, true) else {
            fail(format!("{kind} is not a compute type"));
        };
        let m = Model::load_as(&model, compute).unwrap_or_else(|e| fail(e.to_string()));
        let mel = m.mel.compute(&samples);
        let window = mel
            .window(0, usize::MAX)
            .unwrap_or_else(|e| fail(e.to_string()));
        let mut walls = Vec::new();
        for _ in 0..16 {
            let t = Instant::now();
            if let Err(e) = m.net.encode(&window) {
                fail(e.to_string());
            }
            walls.push(t.elapsed().as_secs_f64());
        }
        // The first pass warms caches and the allocator: not counted.
        walls.remove(0);
        walls.sort_by(f64::total_cmp);
        println!(
            "{compute}\tmedian {:.3}\tfastest {:.3}",
            walls[walls.len() / 2],
            walls[0]
        );
    }
}
