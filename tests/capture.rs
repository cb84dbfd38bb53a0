//! Capture from real ALSA devices: test microphones on a private PulseAudio server that play a
//! recording like a person speaking into them. Listing, exact samples, the level meter, a stream's
//! words, a device unplugged and plugged back mid-session, and a switch to another device.

mod common;

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use common::sound::{model_turn, raw_clip, Mic, Running, SoundServer};
use common::*;
use livecap::audio::device::{find_device, list_devices};
use livecap::audio::level::{dbfs, to_db};
use livecap::audio::pcm::{Encoding, PcmFormat};
use livecap::audio::source::{Capture, Input, SourceOptions};
use livecap::audio::state::NoticeKind;
use livecap::audio::AudioState;
use livecap::live::engine::{Feed, Pace};
use livecap::live::requests::channel;
use livecap::live::Request;
use livecap::stream::{ClockKind, Event, Mode};
use livecap_eval::wer::{longest_deletion, WerCount};

/// Where the second microphone takes over in the switch test: in the pause after the first
/// sentence of the recording.
const SWITCH_AT: f64 = 9.7;

struct Setup {
    server: SoundServer,
    _dir: tempfile::TempDir,
    /// What `fakemic` plays: the first two sentences.
    clip: Vec<f32>,
    clip_reference: String,
    first_sentence: String,
}

/// One server for the whole file: `fakemic` plays the clip, `nextmic` the clip from
/// [`SWITCH_AT`] on, `quietmic` nothing. Every process here and every `livecap` started by a test
/// sees these devices.
fn setup() -> &'static Setup {
    static SETUP: OnceLock<Setup> = OnceLock::new();
    SETUP.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let (clip_raw, rest_raw) = (dir.path().join("clip.raw"), dir.path().join("rest.raw"));
        let clip = raw_clip(&long_wav(), 0.0, 12.1, &clip_raw);
        raw_clip(&long_wav(), SWITCH_AT, 12.1 - SWITCH_AT, &rest_raw);
        // The clip, then ten seconds of silence and ten of steady noise.
        let noisy_raw = dir.path().join("noisy.raw");
        let mut noisy: Vec<u8> = clip
            .iter()
            .map(|&x| (x * 32_768.0) as i16)
            .chain(std::iter::repeat_n(0i16, 160_000))
            .flat_map(i16::to_le_bytes)
            .collect();
        let mut state = 11u32;
        for _ in 0..160_000 {
            let mut x = 0.0f32;
            for _ in 0..4 {
                state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                x += (state >> 8) as f32 / (1u32 << 24) as f32 - 0.5;
            }
            noisy.extend(((x * 1.7 * 0.02 * 32_768.0) as i16).to_le_bytes());
        }
        std::fs::write(&noisy_raw, noisy).unwrap_or_else(|e| panic!("{e}"));
        let server = SoundServer::start(&[
            Mic {
                name: "fakemic",
                plays: Some(&clip_raw),
            },
            Mic {
                name: "nextmic",
                plays: Some(&rest_raw),
            },
            Mic {
                name: "quietmic",
                plays: None,
            },
            Mic {
                name: "noisymic",
                plays: Some(&noisy_raw),
            },
        ]);
        // Set once, before anything in this process opens ALSA.
        std::env::set_var("ALSA_CONFIG_PATH", server.alsa_path());
        let sentences = long_sentences();
        Setup {
            server,
            _dir: dir,
            clip,
            clip_reference: format!("{} {}", sentences[0].text, sentences[1].text),
            first_sentence: sentences[0].text.clone(),
        }
    })
}

/// Start capturing from the test microphone `device` into a fresh audio state.
fn capture_from(device: &str) -> (Arc<AudioState>, Capture) {
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
    let capture = Capture::start(&Input::Device(device.into()), &opts, audio.clone())
        .unwrap_or_else(|e| panic!("{e}"));
    (audio, capture)
}

/// Wait until `audio` holds `seconds` of audio (at most `limit` seconds).
fn wait_for_audio(audio: &AudioState, seconds: f64, limit: f64) {
    let deadline = Instant::now() + Duration::from_secs_f64(limit);
    let pos = (seconds * 16_000.0) as u64;
    while audio.arrived().total < pos {
        assert!(
            Instant::now() < deadline,
            "only {} samples arrived in {limit} s",
            audio.arrived().total
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn the_test_microphones_are_listed_and_found() {
    let s = setup();
    let out = livecap_env(&["devices"], &[("ALSA_CONFIG_PATH", &s.server.alsa_path())]);
    assert!(out.status.success(), "{}", stderr(&out));
    let listing = stdout(&out);
    let line = listing
        .lines()
        .find(|l| l.split_whitespace().nth(1) == Some("fakemic"))
        .unwrap_or_else(|| panic!("fakemic not listed:\n{listing}"));
    assert!(line.contains("16000") || line.contains("-"), "{line}");
    assert!(line.contains("Test microphone"), "{line}");
    // The index it shows selects it.
    let index: usize = line
        .split_whitespace()
        .next()
        .and_then(|i| i.parse().ok())
        .unwrap_or_else(|| panic!("no index in {line}"));
    let listed = list_devices(false);
    assert_eq!(listed[index].name, "fakemic");
    let by_index = find_device(&index.to_string()).unwrap_or_else(|e| panic!("{e}"));
    let by_part = find_device("fakem").unwrap_or_else(|e| panic!("{e}"));
    use cpal::traits::DeviceTrait;
    assert_eq!(
        by_index.id().map(|i| i.to_string()).ok(),
        by_part.id().map(|i| i.to_string()).ok()
    );
    // A misspelt name: one sentence that offers the close match.
    let out = livecap_env(
        &[
            "stream",
            "--model",
            &model_dir().to_string_lossy(),
            "--input",
            "device:fakemik",
        ],
        &[("ALSA_CONFIG_PATH", &s.server.alsa_path())],
    );
    let err = stderr(&out);
    assert!(!out.status.success());
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(
        err.contains("device:fakemik")
            && err.contains("closest are: fakemic (Test microphone fakemic)"),
        "{err}"
    );
}

#[test]
fn captured_samples_equal_what_the_microphone_played() {
    let s = setup();
    let (audio, capture) = capture_from("fakemic");
    wait_for_audio(&audio, 3.0, 30.0);
    capture.join();
    let got = audio.read(0, u64::MAX);
    assert!(got.len() >= 48_000);
    let n = got.len().min(s.clip.len());
    let first_bad = (0..n).find(|&i| (got[i] - s.clip[i]).abs() > 1e-6);
    assert_eq!(first_bad, None, "captured audio differs from the recording");
    assert!(audio.arrived().ended && audio.error().is_none());
}

#[test]
fn the_level_meter_reads_the_real_level() {
    let s = setup();
    let (audio, capture) = capture_from("fakemic");
    // Read the meter as a UI would, at its own pace.
    let mut readings = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while audio.arrived().total < 4 * 16_000 && Instant::now() < deadline {
        let l = capture.level();
        if l.blocks > 0
            && readings
                .last()
                .is_none_or(|r: &livecap::audio::level::Level| r.blocks != l.blocks)
        {
            readings.push(l);
        }
        std::thread::sleep(Duration::from_millis(7));
    }
    capture.join();
    assert!(readings.len() >= 20, "{} readings", readings.len());
    let mut loud = 0;
    for l in &readings {
        // Block k of the meter is samples [800k, 800k + 800) of what was played.
        let k = l.blocks as usize - 1;
        let block = &s.clip[k * 800..(k + 1) * 800];
        let rms = dbfs(block);
        let peak = to_db(block.iter().fold(0.0f32, |m, x| m.max(x.abs())) as f64);
        assert!(
            (l.rms_db - rms).abs() < 0.01,
            "block {k}: {l:?}, played {rms} dB"
        );
        assert!(
            (l.peak_db - peak).abs() < 0.01,
            "block {k}: {l:?}, peak {peak} dB"
        );
        assert!(!l.clipped);
        loud += usize::from(l.rms_db > -40.0);
    }
    assert!(loud > 0, "the meter never saw speech: {readings:?}");
}

#[test]
fn a_stream_from_the_microphone_commits_the_played_words() {
    let s = setup();
    let _turn = model_turn();
    let mut r = Running::start("device:fakemic", &s.server);
    // The recording lasts 12.1 s from when the device gives its first audio, which can take
    // two seconds on a server that has just started.
    r.sleep_until(16.0);
    let (status, err, events) = r.stop();
    assert!(status.success(), "{status:?}: {err}");
    let text = commits(events.iter().map(|(_, e)| e));
    let wer = WerCount::of(&s.clip_reference, &text).rate();
    eprintln!("from the device: {text}\nWER {:.1}%", 100.0 * wer);
    assert!(wer <= 0.15, "WER {:.1}%: {text}", 100.0 * wer);
    assert!(matches!(events.last(), Some((_, Event::End { .. }))));
}

#[test]
fn silence_and_noise_after_speech_add_no_word() {
    let s = setup();
    let _turn = model_turn();
    let mut r = Running::start("device:noisymic", &s.server);
    // 12.1 s of speech (the second sentence ends at 11.9 s), 10 s of silence, 10 s of noise,
    // and up to two seconds before the device gives its first audio.
    r.sleep_until(35.0);
    let (status, err, events) = r.stop();
    assert!(status.success(), "{status:?}: {err}");
    let mut late = Vec::new();
    for (_, e) in &events {
        if let Event::Commit { words, .. } = e {
            late.extend(words.iter().filter(|w| w.start > 12.4).cloned());
        }
    }
    let text = commits(events.iter().map(|(_, e)| e));
    eprintln!("speech, silence, noise: {text}");
    assert!(late.is_empty(), "words after the speech ended: {late:?}");
    let wer = WerCount::of(&s.clip_reference, &text).rate();
    assert!(wer <= 0.15, "WER {:.1}%: {text}", 100.0 * wer);
}

#[test]
fn unplugging_the_microphone_mid_sentence_loses_nothing_and_the_session_goes_on() {
    let s = setup();
    // A server of its own: when its only sink goes, the recording stream has nowhere to move
    // to, as with an ALSA device that is unplugged.
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let raw = dir.path().join("clip.raw");
    raw_clip(&long_wav(), 0.0, 12.1, &raw);
    let server = SoundServer::start(&[Mic {
        name: "lostmic",
        plays: Some(&raw),
    }]);
    let _turn = model_turn();
    let mut r = Running::start("device:lostmic", &server);
    // Pulled out in the middle of the first sentence, plugged back two seconds later: it plays
    // the recording again from the start, which is over well before the end.
    r.sleep_until(7.0);
    server.unplug("lostmic");
    r.sleep_until(9.0);
    server.plug("lostmic");
    r.sleep_until(26.0);
    let (status, err, events) = r.stop();
    assert!(status.success(), "{status:?}: {err}");

    let device_event = |want: NoticeKind| {
        events.iter().position(|(_, e)| {
            matches!(e, Event::Device { kind, device, .. } if *kind == want && device.contains("lostmic"))
        })
    };
    let lost =
        device_event(NoticeKind::Lost).unwrap_or_else(|| panic!("no lost event: {events:?}"));
    let back =
        device_event(NoticeKind::Back).unwrap_or_else(|| panic!("no back event: {events:?}"));
    assert!(lost < back);
    // What was said before the plug was pulled is committed, as said.
    let before = commits(events[..lost].iter().map(|(_, e)| e));
    let n = before.split_whitespace().count();
    assert!(n >= 8, "only {n} words before the loss: {before}");
    let said: String = s
        .first_sentence
        .split_whitespace()
        .take(n)
        .collect::<Vec<_>>()
        .join(" ");
    let wer = WerCount::of(&said, &before).rate();
    assert!(
        wer <= 0.2,
        "before the loss, WER {:.1}%: {before}",
        100.0 * wer
    );
    // From the loss on: once the device is back, the whole recording again.
    let after = commits(events[lost..].iter().map(|(_, e)| e));
    let wer = WerCount::of(&s.clip_reference, &after).rate();
    eprintln!("before: {before}\nafter: {after}");

    assert!(
        wer <= 0.15,
        "after the device came back, WER {:.1}%: {after}",
        100.0 * wer
    );
    // The time it was away is silence on the timeline, so times stay those of the clock.
    let at = |i: usize| match &events[i].1 {
        Event::Device { at, .. } => *at,
        _ => f64::NAN,
    };
    let away = at(back) - at(lost);
    assert!(
        (1.5..4.5).contains(&away),
        "unplugged for 2 s, but {away:.2} s of audio between loss and return"
    );
    assert!(matches!(events.last(), Some((_, Event::End { .. }))));
}

#[test]
fn switching_microphones_mid_session_leaves_no_gap_in_the_text() {
    let s = setup();
    let _turn = model_turn();
    let (audio, capture) = capture_from("fakemic");
    let controls = capture.controls();
    let (requests, inbox) = channel(audio.wake(), Some(controls.clone()));
    let a = audio.clone();
    let streaming = std::thread::spawn(move || {
        let pace = Pace {
            step: 0.5,
            switch_at: Vec::new(),
        };
        let source = Feed {
            audio: &a,
            controls: Some(&controls),
            name: "device:fakemic",
        };
        run_engine(source, Mode::Window, ClockKind::Realtime, &pace, &inbox)
    });
    // At the pause after the first sentence, move to the microphone that goes on from there:
    // asked of the engine, as the app asks it.
    wait_for_audio(&audio, SWITCH_AT, 30.0);
    requests
        .send(Request::SwitchDevice("nextmic".into()))
        .unwrap_or_else(|e| panic!("{e}"));
    wait_for_audio(&audio, 13.0, 30.0);
    requests
        .send(Request::Stop)
        .unwrap_or_else(|e| panic!("{e}"));
    let events = streaming
        .join()
        .unwrap_or_else(|_| panic!("the stream panicked"));
    capture.join();
    let switched = events.iter().filter(|e| {
        matches!(e, Event::Device { kind: NoticeKind::Switched, device, .. } if device.contains("nextmic"))
    });
    assert_eq!(switched.count(), 1, "{events:?}");
    let text = commits(&events);
    let wer = WerCount::of(&s.clip_reference, &text).rate();
    eprintln!("across the switch: {text}\nWER {:.1}%", 100.0 * wer);
    assert!(wer <= 0.15, "WER {:.1}%: {text}", 100.0 * wer);
    assert!(
        longest_deletion(&s.clip_reference, &text) <= 1,
        "words lost at the switch: {text}"
    );
}

#[test]
fn a_device_faster_than_real_time_is_refused_in_one_sentence() {
    // The ALSA file plugin over the null device "records" a file as fast as it can be read.
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let raw = dir.path().join("clip.raw");
    raw_clip(&long_wav(), 0.0, 3.0, &raw);
    let conf = dir.path().join("asoundrc");
    std::fs::write(
        &conf,
        format!(
            "pcm.racingmic {{\n    type file\n    slave.pcm \"null\"\n    file \"/dev/null\"\n    infile \"{}\"\n    format \"raw\"\n}}\n",
            raw.display()
        ),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let out = livecap_env(
        &[
            "stream",
            "--model",
            &model_dir().to_string_lossy(),
            "--input",
            "device:racingmic",
        ],
        &[(
            "ALSA_CONFIG_PATH",
            &format!("/usr/share/alsa/alsa.conf:{}", conf.display()),
        )],
    );
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    let last = err.trim().lines().last().unwrap_or_default();
    assert!(
        last.contains("device racingmic") && last.contains("faster than real time"),
        "{err}"
    );
}
