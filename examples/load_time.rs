//! Model load time: wall time of `Model::load_as` (read, convert, quantize where asked), the
//! median of 3 loads per compute type.
//!
//! cargo run --release --example load_time -- MODEL_DIR [int8|float16|float32 ...]

use std::time::Instant;

use clap::ValueEnum;
use livecap::asr::{ComputeType, Model};

fn main() {
    let mut args = std::env::args().skip(1);
    let Some(model) = args.next() else {
        eprintln!("usage: load_time MODEL_DIR [int8|float16|float32 ...]");
        std::process::exit(2);
    };
    let mut kinds: Vec<String> = args.collect();
    if kinds.is_empty() {
        kinds = vec!["int8".into(), "float16".into()];
    }
    for kind in kinds {
        let Ok(compute) = ComputeType::from_str(&kind, true) else {
            eprintln!("load_time: {kind} is not a compute type");
            std::process::exit(2);
        };
        let mut walls = Vec::new();
        for _ in 0..3 {
            let t = Instant::now();
            if let Err(e) = Model::load_as(&model, compute) {
                eprintln!("load_time: {e}");
                std::process::exit(1);
            }
            walls.push(t.elapsed().as_secs_f64());
        }
        walls.sort_by(f64::total_cmp);
        println!("{compute}\t{:.3}", walls[1]);
    }
}
