//! Streaming captions with the real model on real speech, on the stepped clock (every update sees
//! one more step of audio, however long it takes, so the results do not depend on the machine):
//! the window policy against full-context transcription, full history, a mid-stream switch,
//! silence.

mod common;

use common::*;
use livecap::asr::{transcribe, DecodeOptions};
use livecap::audio::load_file;
use livecap::stream::report::{quantile, Report, Sentence};
use livecap::stream::{Event, Mode};
use livecap::wer::{longest_deletion, WerCount};

/// The first `n` sentences of the long recording and the audio up to just after them.
fn opening(n: usize) -> (Vec<f32>, Vec<Sentence>) {
    let audio = load_file(&long_wav()).unwrap_or_else(|e| panic!("{e}"));
    let sentences: Vec<Sentence> = long_sentences().into_iter().take(n).collect();
    let end = sentences.last().map_or(0.0, |s| s.end) + 0.2;
    let samples = audio.samples[..((end * 16_000.0) as usize).min(audio.samples.len())].to_vec();
    (samples, sentences)
}

/// Checks every stream must pass: times ordered, commits within the audio, the end event last.
fn check_events(events: &[Event], duration: f64) {
    let mut last_emit = 0.0;
    let mut last_commit_end = 0.0f64;
    let mut words = 0;
    for e in events {
        let at = match e {
            Event::Partial { emitted_at, .. }
            | Event::Update { emitted_at, .. }
            | Event::Lag { emitted_at, .. }
            | Event::Mode { emitted_at, .. }
            | Event::Device { emitted_at, .. }
            | Event::Break { emitted_at, .. }
            | Event::End { emitted_at, .. } => *emitted_at,
            Event::Commit {
                emitted_at,
                words: w,
                start,
                end,
                ..
            } => {
                assert!(start <= end && *end <= duration + 0.05, "{e:?}");
                assert!(
                    *start >= last_commit_end - 2.0,
                    "commit goes back in time: {e:?}"
                );
                last_commit_end = last_commit_end.max(*end);
                words += w.len();
                for word in w {
                    assert!(word.shown_at <= *emitted_at + 1e-6, "{word:?}");
                }
                *emitted_at
            }
        };
        assert!(at + 1e-6 >= last_emit, "emitted_at goes backwards at {e:?}");
        last_emit = at;
    }
    match events.last() {
        Some(Event::End {
            words: total,
            duration: d,
            ..
        }) => {
            assert_eq!(*total, words);
            assert!((d - duration).abs() < 0.01, "{d} vs {duration}");
        }
        other => panic!("the last event must be the end: {other:?}"),
    }
}

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
fn window_mode_on_the_long_recording() {
    let audio = load_file(&long_wav()).unwrap_or_else(|e| panic!("{e}"));
    let sentences = long_sentences();
    let events = stream_events(&audio.samples, Mode::Window, 1.0, &[]);
    check_events(&events, audio.duration());
    let r = Report::new(&events, &sentences);

    let full = transcribe(
        model(),
        &audio.samples,
        &DecodeOptions::default(),
        &mut |_| {},
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let reference = long_reference();
    let full_wer = WerCount::of(&reference, &full.text()).rate();
    let (c, d) = (r.commit_latencies(), r.display_latencies());
    eprintln!(
        "window WER {:.2}% (full context {:.2}%), commit latency median {:?} p90 {:?}, display median {:?}",
        100.0 * r.wer.rate(),
        100.0 * full_wer,
        quantile(&c, 0.5),
        quantile(&c, 0.9),
        quantile(&d, 0.5),
    );
    assert!(
        r.wer.rate() <= full_wer + 0.02,
        "window WER {:.2}% against full context {:.2}%",
        100.0 * r.wer.rate(),
        100.0 * full_wer
    );
    for (i, l) in r.latencies.iter().enumerate() {
        assert!(
            l.is_some(),
            "sentence {} never committed: {}",
            i + 1,
            sentences[i].text
        );
    }
    assert!(
        r.extra_repeats.is_empty(),
        "repeated: {:?}",
        r.extra_repeats
    );
    assert!(
        longest_deletion(&reference, &r.text) <= 3,
        "words lost: {}",
        r.text
    );
    // Captions follow the speech by seconds, not by the length of the session.
    let median = quantile(&c, 0.5).unwrap_or(f64::INFINITY);
    assert!(median < 6.0, "median commit latency {median:.2} s");
    // The window keeps a bounded amount of audio in memory.
    let most_held = most_held(&events);
    assert!(most_held <= 26.0, "held {most_held} s of audio");
}

#[test]
fn full_history_on_a_minute_of_speech() {
    let (samples, sentences) = opening(9);
    let duration = samples.len() as f64 / 16_000.0;
    assert!(duration > 55.0);
    let events = stream_events(&samples, Mode::Full, 2.0, &[]);
    check_events(&events, duration);
    let r = Report::new(&events, &sentences);
    eprintln!("full-history WER {:.2}%", 100.0 * r.wer.rate());
    assert!(
        r.wer.rate() <= 0.06,
        "WER {:.2}%: {}",
        100.0 * r.wer.rate(),
        r.text
    );
    assert!(r.latencies.iter().all(Option::is_some), "{:?}", r.latencies);
    assert!(
        r.extra_repeats.is_empty(),
        "repeated: {:?}",
        r.extra_repeats
    );
    // Every update starts at the beginning and takes in all the audio heard so far.
    let spans: Vec<(f64, f64)> = events
        .iter()
        .filter_map(|e| match e {
            Event::Update {
                audio_start,
                audio_end,
                mode: Mode::Full,
                ..
            } => Some((*audio_start, *audio_end)),
            _ => None,
        })
        .collect();
    assert!(spans.len() >= 25, "{} updates", spans.len());
    assert!(spans.iter().all(|s| s.0 == 0.0), "{spans:?}");
    assert!(
        spans.windows(2).all(|w| w[1].1 > w[0].1),
        "updates must grow: {spans:?}"
    );
    assert!(spans.last().is_some_and(|s| s.1 > duration - 1.0));
}

#[test]
fn switching_mode_mid_stream_loses_and_repeats_nothing() {
    let (samples, sentences) = opening(5);
    let duration = samples.len() as f64 / 16_000.0;
    let reference: String = sentences
        .iter()
        .map(|s| s.text.as_str())
        .collect::<Vec<_>>()
        .join(" ");
    for first in [Mode::Window, Mode::Full] {
        let events = stream_events(&samples, first, 1.0, &[15.0]);
        check_events(&events, duration);
        let modes: Vec<Mode> = events
            .iter()
            .filter_map(|e| match e {
                Event::Mode { mode, .. } => Some(*mode),
                _ => None,
            })
            .collect();
        assert_eq!(modes.len(), 1);
        assert_ne!(modes[0], first);
        let r = Report::new(&events, &sentences);
        eprintln!(
            "{first:?} then {:?}: WER {:.2}%",
            modes[0],
            100.0 * r.wer.rate()
        );
        assert!(
            r.wer.rate() <= 0.08,
            "WER {:.2}%: {}",
            100.0 * r.wer.rate(),
            r.text
        );
        assert!(
            r.extra_repeats.is_empty(),
            "repeated: {:?}",
            r.extra_repeats
        );
        assert!(r.latencies.iter().all(Option::is_some), "{:?}", r.latencies);
        assert!(
            longest_deletion(&reference, &r.text) <= 2,
            "lost words: {}",
            r.text
        );
    }
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
    let events = stream_events(&samples, Mode::Window, 0.5, &[]);
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
