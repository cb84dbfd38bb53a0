use std::time::Instant;
use livecap::asr::{Model, mel::N_FRAMES};
fn main() {
    let dir = std::env::args().nth(1).unwrap_or_default();
    let m = Model::load_dir(std::path::Path::new(&dir)).expect("load");
    let a = livecap::audio::load_file(std::path::Path::new("tests/fixtures/dev/ls-dev-clean_2412-153948-0000.wav")).expect("a");
    let mel = m.mel.compute(&a.samples);
    let w = mel.window(0, N_FRAMES).expect("w");
    let f = m.net.encode(&w).expect("enc");
    for _ in 0..3 {
        let mut st = m.net.start(&f).expect("s");
        let h = m.net.decode(&mut st, &[50257]).expect("d");
        let t = Instant::now();
        let mut hs = Vec::new();
        for i in 0..50 { hs.push(m.net.decode(&mut st, &[50363 + i]).expect("d")); }
        let dt = t.elapsed();
        let t = Instant::now();
        for h in &hs { let _ = m.net.logits(h, 0); }
        println!("decode {:?}/tok  logits {:?}/tok", dt / 50, t.elapsed() / 50);
        let _ = h;
    }
}
