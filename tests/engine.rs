//! The engine on real recordings with the real tiny.en model: accuracy by word error rate,
//! long-form transcription, timestamps, silence.

mod common;

use common::*;
use livecap::asr::{transcribe, DecodeOptions};
use livecap::audio::load_file;
use livecap_eval::wer::{longest_deletion, normalize, WerCount};

/// faster-whisper (CTranslate2, int8, greedy) on the same model and files, scored by this
/// project's scorer: see BENCHMARKS.md (the 27 files of the shared `dev/`, run of 2026-12-05).
/// The bar is that plus 1.5 points.
const REFERENCE_DEV_WER: f64 = 0.0822;
const REFERENCE_LONG_WER: f64 = 0.0523;

#[test]
fn dev_set_word_error_rate() {
    let model = model();
    let mut total = WerCount::default();
    for (wav, reference) in dev_set() {
        let audio = load_file(&wav).unwrap_or_else(|e| panic!("{e}"));
        let t = transcribe(
            model,
            &audio.samples,
            &DecodeOptions::default(),
            &mut |_| {},
        )
        .unwrap_or_else(|e| panic!("{}: {e}", wav.display()));
        let c = WerCount::of(&reference, &t.text());
        eprintln!(
            "{:>5.1}%  {}  | {}",
            100.0 * c.rate(),
            wav.display(),
            t.text()
        );
        total = total + c;
    }
    let wer = total.rate();
    eprintln!("dev WER {:.2}% over {} words", 100.0 * wer, total.words);
    assert!(total.words > 200);
    assert!(
        wer <= REFERENCE_DEV_WER + 0.015,
        "dev WER {:.2}%",
        100.0 * wer
    );
}

#[test]
fn long_recording_is_transcribed_whole() {
    let model = model();
    let audio = load_file(&long_wav()).unwrap_or_else(|e| panic!("{e}"));
    let duration = audio.duration();
    assert!(duration > 230.0);
    let mut seen = 0;
    let t = transcribe(
        model,
        &audio.samples,
        &DecodeOptions::default(),
        &mut |_| seen += 1,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        seen,
        t.segments.len(),
        "every segment is reported as it is final"
    );
    let reference = long_reference();
    let text = t.text();
    let c = WerCount::of(&reference, &text);
    eprintln!(
        "long WER {:.2}% ({} segments)",
        100.0 * c.rate(),
        t.segments.len()
    );
    assert!(
        c.rate() <= REFERENCE_LONG_WER + 0.015,
        "long WER {:.2}%: {text}",
        100.0 * c.rate()
    );
    // Nothing dropped at window boundaries: no run of missing reference words.
    let gap = longest_deletion(&reference, &text);
    assert!(gap < 4, "{gap} consecutive reference words missing");
    // The last sentence is there (the end of the audio is not lost).
    let tail = WerCount::of(
        "and used an exceedingly beautiful type, which is indeed to look at a transition between Gothic and Roman",
        &text.chars().skip(text.chars().count().saturating_sub(120)).collect::<String>(),
    );
    assert!(tail.errors <= 8, "end of recording missing: {text}");
    // Timestamps: ordered, non-empty, inside the audio, and covering it.
    let mut prev_start = 0.0;
    for s in &t.segments {
        assert!(
            s.start >= prev_start - 1e-9,
            "segments out of order at {}",
            s.start
        );
        assert!(
            s.end > s.start && s.end <= duration + 1e-9,
            "bad segment {:.2}..{:.2}",
            s.start,
            s.end
        );
        prev_start = s.start;
    }
    let last_end = t.segments.last().map_or(0.0, |s| s.end);
    assert!(
        last_end > duration - 5.0,
        "segments stop at {last_end:.1}s of {duration:.1}s"
    );
}

/// A reading cut into chunks at its pauses: a chunk that fits one window is heard in one
/// encoder pass, the decoder asked to go on where it stopped at a segment it left for the next
/// window, so few chunks' ends are heard again in a window of their own (on this reading, 4 of
/// 10 before), and nothing of it is lost.
#[test]
fn a_chunk_that_fits_a_window_is_encoded_once() {
    // A model of its own: its count of encoder passes is this test's alone.
    let model = livecap::asr::Model::load_dir(&model_dir()).unwrap_or_else(|e| panic!("{e}"));
    let audio = load_file(&long_wav()).unwrap_or_else(|e| panic!("{e}"));
    let mut vad = livecap::audio::vad::Vad::remembering_all();
    vad.feed(&audio.samples);
    let chunks = livecap::asr::chunks::chunks_of(&vad, audio.samples.len() as u64);
    let t = transcribe(
        &model,
        &audio.samples,
        &DecodeOptions::default(),
        &mut |_| {},
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let passes = model.net.work().encoder_passes;
    eprintln!("{} chunks, {passes} encoder passes", chunks.len());
    assert!(chunks.len() >= 8 && chunks.iter().all(|c| c.end - c.start <= 30 * 16_000));
    assert!(
        4 * passes as usize <= 5 * chunks.len(),
        "{passes} encoder passes for {} chunks: more than a quarter heard twice",
        chunks.len()
    );
    let c = WerCount::of(&long_reference(), &t.text());
    assert!(
        c.rate() <= REFERENCE_LONG_WER + 0.015,
        "WER {:.2}%",
        100.0 * c.rate()
    );
    assert!(longest_deletion(&long_reference(), &t.text()) < 4);
}

#[test]
fn segment_times_follow_the_speech() {
    // Each segment's words must come from the sentences spoken during its time span.
    let model = model();
    let audio = load_file(&long_wav()).unwrap_or_else(|e| panic!("{e}"));
    let clip = &audio.samples[..(60.0 * 16_000.0) as usize];
    let t = transcribe(model, clip, &DecodeOptions::default(), &mut |_| {})
        .unwrap_or_else(|e| panic!("{e}"));
    let tsv = std::fs::read_to_string(fixtures().join(format!("{LONG}.segments.tsv")))
        .unwrap_or_default();
    let sentences: Vec<(f64, f64, String)> = tsv
        .lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            Some((
                f.get(1)?.parse().ok()?,
                f.get(2)?.parse().ok()?,
                f.get(3)?.to_string(),
            ))
        })
        .collect();
    assert!(sentences.len() > 20 && t.segments.len() >= 4);
    for seg in &t.segments {
        let spoken: Vec<String> = sentences
            .iter()
            .filter(|(a, b, _)| *b > seg.start - 1.0 && *a < seg.end + 1.0)
            .flat_map(|(_, _, text)| normalize(text))
            .collect();
        let words = normalize(&seg.text);
        let found = words.iter().filter(|w| spoken.contains(w)).count();
        assert!(
            found * 10 >= words.len() * 8,
            "segment {:.2}-{:.2}s {:?} does not match the speech at that time",
            seg.start,
            seg.end,
            seg.text
        );
    }
}

#[test]
fn silence_and_empty_audio_give_no_text() {
    let model = model();
    for samples in [vec![], vec![0.0f32; 16_000 * 8], vec![0.0f32; 100]] {
        let t = transcribe(model, &samples, &DecodeOptions::default(), &mut |_| {})
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(
            t.segments.is_empty(),
            "invented text from {} silent samples: {:?}",
            samples.len(),
            t.text()
        );
    }
    // Low noise is not speech either.
    let mut x = 1u32;
    let noise: Vec<f32> = (0..16_000 * 5)
        .map(|_| {
            x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            ((x >> 8) as f32 / (1u32 << 24) as f32 - 0.5) * 0.002
        })
        .collect();
    let t = transcribe(model, &noise, &DecodeOptions::default(), &mut |_| {})
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        t.text().split_whitespace().count() <= 2,
        "invented text from noise: {:?}",
        t.text()
    );
}

/// Beams decoded together give, row for row, exactly what each gives decoded alone, on 8-bit,
/// half and single-precision weights, over several steps (each row's own cache).
#[test]
fn beams_decoded_together_are_exactly_each_decoded_alone() {
    use livecap::asr::{ComputeType, Model};
    let (wav, _) = dev_set()
        .into_iter()
        .next()
        .unwrap_or_else(|| panic!("no dev recording"));
    let audio = load_file(&wav).unwrap_or_else(|e| panic!("{e}"));
    for compute in [
        ComputeType::Int8,
        ComputeType::Float16,
        ComputeType::Float32,
    ] {
        let model = Model::load_as(&model_dir().to_string_lossy(), compute)
            .unwrap_or_else(|e| panic!("{e}"));
        let mel = model.mel.compute(&audio.samples);
        let window = mel
            .window(0, mel.n_frames.min(3000))
            .unwrap_or_else(|e| panic!("{e}"));
        let features = model.net.encode(&window).unwrap_or_else(|e| panic!("{e}"));
        let mut start = model.net.start(&features).unwrap_or_else(|e| panic!("{e}"));
        let t = &model.tokens;
        let prompt = [t.sot, t.no_timestamps];
        let hidden = model
            .net
            .decode(&mut start, &prompt)
            .unwrap_or_else(|e| panic!("{e}"));
        let logits = model.net.logits(&hidden, prompt.len() - 1);
        // Three beams: the three likeliest first tokens.
        let mut ranked: Vec<u32> = (0..logits.len() as u32).collect();
        ranked.sort_by(|a, b| logits[*b as usize].total_cmp(&logits[*a as usize]));
        let mut tokens: Vec<u32> = ranked[..3].to_vec();
        let (mut alone, mut together) = (vec![start.clone(); 3], vec![start.clone(); 3]);
        for step in 0..4 {
            let mut want = Vec::new();
            for (state, &tok) in alone.iter_mut().zip(&tokens) {
                let h = model
                    .net
                    .decode(state, &[tok])
                    .unwrap_or_else(|e| panic!("{e}"));
                want.push(model.net.logits(&h, 0));
            }
            let mut states: Vec<&mut _> = together.iter_mut().collect();
            let h = model
                .net
                .decode_each(&mut states, &tokens)
                .unwrap_or_else(|e| panic!("{e}"));
            let got = model.net.logits_each(&h);
            assert_eq!(got, want, "{compute:?}, step {step}");
            // Each beam goes on with its own likeliest token.
            tokens = want
                .iter()
                .map(|l| {
                    (0..l.len())
                        .max_by(|a, b| l[*a].total_cmp(&l[*b]))
                        .unwrap_or(0) as u32
                })
                .collect();
        }
    }
}
