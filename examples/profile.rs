use std::time::Instant;
use livecap::asr::{Model, mel::N_FRAMES};
fn main() {
    let dir = std::env::args().nth(1).unwrap_or_default();
    let t = Instant::now();
    let m = Model::load_dir(std::path::Path::new(&dir)).expect("load");
    println!("load {:?}", t.elapsed());
    let a = livecap::audio::load_file(std::path::Path::new("tests/fixtures/dev/ls-dev-clean_2412-153948-0000.wav")).expect("a");
    let t = Instant::now();
    let mel = m.mel.compute(&a.samples);
    println!("mel {:?}", t.elapsed());
    let w = mel.window(0, N_FRAMES).expect("w");
    for _ in 0..3 {
        let t = Instant::now();
        let f = m.net.encode(&w).expect("enc");
        println!("encode {:?}", t.elapsed());
        let t = Instant::now();
        let mut st = m.net.start(&f).expect("s");
        println!("cross kv {:?}", t.elapsed());
        let t = Instant::now();
        let h = m.net.decode(&mut st, &[50257]).expect("d");
        let _ = m.net.logits(&h, 0);
        for i in 0..50 { let h = m.net.decode(&mut st, &[50363 + i]).expect("d"); let _ = m.net.logits(&h, 0); }
        println!("51 tokens {:?}", t.elapsed());
    }
}
