//! Streaming captions with the real model, on the stepped clock (every update sees one more
//! step of audio, however long it takes, so the results do not depend on the machine): nothing
//! is committed, nor computed, on silence and noise, before speech or after it. (The modes on
//! long streams of real speech: `every_word.rs`.)

mod common;

use common::*;
use livecap::audio::load_file;
use livecap::live::STEP;
use livecap::stream::{Event, Mode};
use livecap_eval::wer::WerCount;

/// The most heard audio any update left held in memory, in seconds.
fn most_held(events: &[Event]) -> f64 {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Update { held, .. } => Some(*held),
            _ => None,
        })
        .fold(0.0, f64::max)
}

#[test]
fn silence_commits_nothing_and_costs_nothing() {
    // Ten seconds of digital silence, then ten of faint noise.
    let mut samples = vec![0.0f32; 160_000];
    let mut s = 1u32;
    samples.extend((0..160_000).map(|_| {
        s = s.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        0.002 * ((s >> 8) as f32 / (1u32 << 24) as f32 * 2.0 - 1.0)
    }));
    let events = stream_events(&samples, Mode::Window, STEP, &[]);
    check_events(&events, 20.0);
    let commits = events
        .iter()
        .filter(|e| matches!(e, Event::Commit { .. }))
        .count();
    assert_eq!(commits, 0, "{events:?}");
    let ran = events
        .iter()
        .filter(|e| matches!(e, Event::Update { skipped: false, .. }))
        .count();
    assert_eq!(ran, 0, "the model ran on silence");
    let most_held = most_held(&events);
    assert!(most_held <= 6.0, "silence kept {most_held} s of audio");
}

/// Speech, then ten seconds of digital silence and ten of noise at the given level.
fn speech_then_silence_and_noise(noise: f32) -> (Vec<f32>, f64, String) {
    let dev = fixtures().join("dev");
    let mut samples = Vec::new();
    let mut reference = String::new();
    for name in ["ls-dev-clean_251-137823-0003", "cmu-arctic_aew_a0001"] {
        let a = load_file(&dev.join(format!("{name}.wav"))).unwrap_or_else(|e| panic!("{e}"));
        samples.extend(&a.samples);
        samples.extend(std::iter::repeat_n(0.0, 8_000));
        let txt = std::fs::read_to_string(dev.join(format!("{name}.txt"))).unwrap_or_default();
        reference.push_str(&txt);
        reference.push(' ');
    }
    let speech_end = samples.len() as f64 / 16_000.0 - 0.5;
    samples.extend(std::iter::repeat_n(0.0, 160_000));
    let mut s = 7u32;
    samples.extend((0..160_000).map(|_| {
        // Roughly Gaussian: the sum of four uniforms.
        let mut x = 0.0;
        for _ in 0..4 {
            s = s.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            x += (s >> 8) as f32 / (1u32 << 24) as f32 - 0.5;
        }
        noise * x * 1.7
    }));
    (samples, speech_end, reference)
}

#[test]
fn nothing_is_committed_after_speech_ends() {
    for level in [0.01f32, 0.05] {
        let (samples, speech_end, reference) = speech_then_silence_and_noise(level);
        let events = stream_events(&samples, Mode::Window, STEP, &[]);
        check_events(&events, samples.len() as f64 / 16_000.0);
        let mut text = Vec::new();
        for e in &events {
            if let Event::Commit { words, .. } = e {
                for w in words {
                    assert!(
                        w.start < speech_end + 0.3,
                        "noise {level}: {:?} committed after the speech ended at {speech_end:.2} s",
                        w
                    );
                    text.push(w.text.clone());
                }
            }
        }
        let text = text.join(" ");
        let wer = WerCount::of(&reference, &text).rate();
        eprintln!("noise {level}: WER {:.2}%: {text}", 100.0 * wer);
        assert!(
            wer <= 0.15,
            "noise {level}: WER {:.2}%: {text}",
            100.0 * wer
        );
    }
}
