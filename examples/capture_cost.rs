//! What capture alone costs: capture from a device for a while, with no transcription, and
//! print one JSON object with the process's CPU time once audio flows (start-up, device probing
//! included, is reported apart), the audio that arrived, the level meter's blocks, and the
//! audio callback's counters (how many, the longest one, frames dropped).
//!
//!   cargo run --release --example capture_cost -- DEVICE SECONDS

use std::sync::Arc;
use std::time::{Duration, Instant};

use livecap::audio::pcm::{Encoding, PcmFormat};
use livecap::audio::source::{Capture, Input, SourceOptions};
use livecap::audio::AudioState;

/// User plus system CPU seconds this process has used.
fn cpu_seconds() -> f64 {
    // SAFETY: getrusage fills the struct it is given.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) } != 0 {
        return f64::NAN;
    }
    let t = |v: libc::timeval| v.tv_sec as f64 + v.tv_usec as f64 / 1e6;
    t(u.ru_utime) + t(u.ru_stime)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let (Some(device), Some(secs)) = (args.next(), args.next()) else {
        return Err("usage: capture_cost DEVICE SECONDS".into());
    };
    let secs: f64 = secs.parse()?;
    let audio = Arc::new(AudioState::new());
    let opts = SourceOptions {
        paced: true,
        pcm: PcmFormat {
            encoding: Encoding::S16le,
            rate: 16_000,
            channels: 1,
        },
        wait_for_default: false,
    };
    let started = Instant::now();
    let capture = Capture::start(&Input::Device(device.clone()), &opts, audio.clone())?;
    while audio.arrived().total == 0 && started.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(5));
    }
    let startup = started.elapsed().as_secs_f64();
    let startup_cpu = cpu_seconds();
    let (cpu0, t0, audio0) = (cpu_seconds(), Instant::now(), audio.arrived().total);
    // Keep only the last second, as a consumer would, so memory does not grow.
    while t0.elapsed().as_secs_f64() < secs {
        std::thread::sleep(Duration::from_millis(100));
        let total = audio.arrived().total;
        audio.trim_before(total.saturating_sub(16_000));
    }
    let level = capture.level();
    let (callbacks, frames, overruns, worst_ns) = match capture.stats() {
        Some(s) => {
            use std::sync::atomic::Ordering::Relaxed;
            (
                s.callbacks.load(Relaxed),
                s.frames.load(Relaxed),
                s.overrun_frames.load(Relaxed),
                s.worst_callback_ns.load(Relaxed),
            )
        }
        None => (0, 0, 0, 0),
    };
    capture.join();
    let wall = t0.elapsed().as_secs_f64();
    let cpu = cpu_seconds() - cpu0;
    println!(
        "{{\"device\":{device:?},\"startup_s\":{startup:.2},\"startup_cpu_s\":{startup_cpu:.3},\"wall_s\":{wall:.2},\"cpu_s\":{cpu:.3},\"cpu_percent\":{:.3},\"audio_s\":{:.2},\"meter_blocks\":{},\"callbacks\":{callbacks},\"frames\":{frames},\"overrun_frames\":{overruns},\"worst_callback_us\":{:.1}}}",
        100.0 * cpu / wall,
        (audio.arrived().total - audio0) as f64 / 16_000.0,
        level.blocks,
        worst_ns as f64 / 1000.0
    );
    Ok(())
}
