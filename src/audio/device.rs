//! Capture devices through cpal: finding a device by name or index, and a capture thread that
//! owns the (not `Send`) stream and feeds the shared [`AudioState`] at 16 kHz mono.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, RecvTimeoutError, SyncSender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use cpal::traits::{DeviceTrait, HostTrait, StreamTrait};
use cpal::{Device, SampleFormat, SizedSample};

use super::resample::Streaming;
use super::{AudioError, AudioState, SAMPLE_RATE};

fn device_error(device: &str, reason: impl std::fmt::Display) -> AudioError {
    AudioError::Device {
        device: device.to_string(),
        reason: reason.to_string(),
    }
}

/// What a device is called: its description, and the system's identifier for it (for ALSA, the
/// PCM name, such as `default` or `hw:1,0`) if that is different.
fn names_of(d: &Device) -> Vec<String> {
    let mut names = Vec::new();
    if let Ok(desc) = d.description() {
        names.push(desc.name().to_string());
    }
    if let Ok(id) = d.id() {
        let id = id.id().to_string();
        if !names.contains(&id) {
            names.push(id);
        }
    }
    if names.is_empty() {
        names.push("(unnamed)".into());
    }
    names
}

fn name_of(d: &Device) -> String {
    names_of(d).swap_remove(0)
}

/// Keep alsa-lib from printing its diagnostics to stderr on this thread (they would land over
/// the captions); failures still reach the user through cpal's errors.
fn quiet_alsa() {
    #[cfg(target_os = "linux")]
    {
        let _ = alsa::Output::local_error_handler();
    }
}

/// Input devices the system offers, in its order.
pub fn input_devices() -> Vec<Device> {
    quiet_alsa();
    cpal::default_host()
        .input_devices()
        .map(|it| it.collect())
        .unwrap_or_default()
}

/// The input device `spec` names: empty or `default` for the system default, a number for the
/// n-th device, else an exact name or a unique part of one (case does not matter).
pub fn find_device(spec: &str) -> Result<Device, AudioError> {
    let host = cpal::default_host();
    let devices = input_devices();
    let none = || {
        device_error(
            spec,
            "this machine has no audio input device; use --input FILE, or --input - for raw PCM on standard input",
        )
    };
    if spec.is_empty() || spec == "default" {
        return host.default_input_device().ok_or_else(none);
    }
    if devices.is_empty() {
        return Err(none());
    }
    let all: Vec<Vec<String>> = devices.iter().map(names_of).collect();
    let names: Vec<String> = all.iter().map(|n| n.join(" / ")).collect();
    if let Ok(i) = spec.parse::<usize>() {
        return devices.into_iter().nth(i).ok_or_else(|| {
            device_error(
                spec,
                format!(
                    "no input device has this index; the input devices, counted from 0, are: {}",
                    names.join(", ")
                ),
            )
        });
    }
    if let Some(i) = all.iter().position(|n| n.iter().any(|n| n == spec)) {
        return devices.into_iter().nth(i).ok_or_else(none);
    }
    let lower = spec.to_lowercase();
    let matching: Vec<usize> = (0..all.len())
        .filter(|&i| all[i].iter().any(|n| n.to_lowercase().contains(&lower)))
        .collect();
    match matching[..] {
        [i] => devices.into_iter().nth(i).ok_or_else(none),
        [] => Err(device_error(
            spec,
            format!(
                "no input device has that name; the input devices are: {}",
                names.join(", ")
            ),
        )),
        _ => Err(device_error(
            spec,
            format!(
                "several input devices match: {}",
                matching
                    .iter()
                    .map(|&i| names[i].as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )),
    }
}

/// 16 kHz mono 16-bit when the device offers it (no conversion at all), else 16 kHz in any
/// layout, else the device's default.
fn preferred_config(device: &Device) -> Result<cpal::SupportedStreamConfig, cpal::Error> {
    let rate = SAMPLE_RATE;
    if let Ok(ranges) = device.supported_input_configs() {
        let ranges: Vec<_> = ranges
            .filter(|r| r.min_sample_rate() <= rate && rate <= r.max_sample_rate())
            .collect();
        let rank = |r: &cpal::SupportedStreamConfigRange| {
            (
                r.channels() != 1,
                r.sample_format() != SampleFormat::I16,
                r.sample_format() != SampleFormat::F32,
            )
        };
        if let Some(best) = ranges.iter().min_by_key(|r| rank(r)) {
            return Ok(best.with_sample_rate(rate));
        }
    }
    device.default_input_config()
}

/// Chunks of mono samples in flight from the callback; when full, chunks are dropped and
/// counted rather than blocking the audio thread.
const IN_FLIGHT: usize = 64;

fn build<T: SizedSample + Send + 'static>(
    device: &Device,
    config: &cpal::StreamConfig,
    tx: SyncSender<Vec<f32>>,
    dropped: Arc<AtomicU64>,
    failed: Arc<Mutex<Option<String>>>,
) -> Result<cpal::Stream, cpal::Error>
where
    f32: cpal::FromSample<T>,
{
    let channels = config.channels.max(1) as usize;
    device.build_input_stream(
        *config,
        move |data: &[T], _| {
            let mono: Vec<f32> = data
                .chunks(channels)
                .map(|f| {
                    let m = f
                        .iter()
                        .map(|&s| <f32 as cpal::FromSample<T>>::from_sample_(s))
                        .sum::<f32>()
                        / channels as f32;
                    if m.is_finite() {
                        m
                    } else {
                        0.0
                    }
                })
                .collect();
            if tx.try_send(mono).is_err() {
                dropped.fetch_add(1, Ordering::Relaxed);
            }
        },
        move |e| {
            if let Ok(mut f) = failed.lock() {
                f.get_or_insert_with(|| e.to_string());
            }
        },
        None,
    )
}

/// Start capturing from `device` into `audio` until `stop` is set or the device fails.
pub fn feed_device(
    spec: &str,
    audio: Arc<AudioState>,
    stop: Arc<AtomicBool>,
) -> Result<JoinHandle<()>, AudioError> {
    let device = find_device(spec)?;
    let name = name_of(&device);
    let (label, described) = (spec.to_string(), name.clone());
    let cannot = move |e: &dyn std::fmt::Display| {
        device_error(
            &label,
            format!("cannot capture from {described} ({e}); use --input FILE, or --input - for raw PCM on standard input"),
        )
    };
    let supported = preferred_config(&device).map_err(|e| cannot(&e))?;
    let format = supported.sample_format();
    let config: cpal::StreamConfig = supported.into();
    let rate = config.sample_rate;
    let mut resampler = Streaming::new(rate, SAMPLE_RATE)?;
    let (ready_tx, ready_rx) = sync_channel::<Result<(), AudioError>>(1);
    let handle = std::thread::Builder::new()
        .name("livecap-capture".into())
        .spawn(move || {
            quiet_alsa();
            let (tx, rx) = sync_channel::<Vec<f32>>(IN_FLIGHT);
            let dropped = Arc::new(AtomicU64::new(0));
            let failed = Arc::new(Mutex::new(None::<String>));
            let (d, f) = (dropped.clone(), failed.clone());
            let stream = match format {
                SampleFormat::F32 => build::<f32>(&device, &config, tx, d, f),
                SampleFormat::I16 => build::<i16>(&device, &config, tx, d, f),
                SampleFormat::U16 => build::<u16>(&device, &config, tx, d, f),
                SampleFormat::I32 => build::<i32>(&device, &config, tx, d, f),
                SampleFormat::I8 => build::<i8>(&device, &config, tx, d, f),
                SampleFormat::U8 => build::<u8>(&device, &config, tx, d, f),
                SampleFormat::F64 => build::<f64>(&device, &config, tx, d, f),
                other => {
                    let e = cannot(&format!("sample format {other} is not supported"));
                    ready_tx.send(Err(e)).ok();
                    return;
                }
            };
            let stream = match stream.map_err(|e| cannot(&e)) {
                Ok(s) => s,
                Err(e) => {
                    ready_tx.send(Err(e)).ok();
                    return;
                }
            };
            if let Err(e) = stream.play() {
                ready_tx.send(Err(cannot(&e))).ok();
                return;
            }
            ready_tx.send(Ok(())).ok();
            let mut error = None;
            while !stop.load(Ordering::Relaxed) {
                match rx.recv_timeout(Duration::from_millis(100)) {
                    Ok(chunk) => match resampler.push(&chunk) {
                        Ok(out) => audio.push(&out),
                        Err(e) => {
                            error = Some(e.to_string());
                            break;
                        }
                    },
                    Err(RecvTimeoutError::Timeout) => {}
                    Err(RecvTimeoutError::Disconnected) => break,
                }
                if let Some(e) = failed.lock().ok().and_then(|f| f.clone()) {
                    error = Some(format!("input device {name} stopped: {e}"));
                    break;
                }
            }
            drop(stream);
            let lost = dropped.load(Ordering::Relaxed);
            if lost > 0 {
                eprintln!("livecap: {lost} blocks of audio from {name} were dropped because processing fell behind");
            }
            audio.finish(error);
        })
        .map_err(|e| device_error(spec, format!("cannot start the capture thread: {e}")))?;
    match ready_rx.recv() {
        Ok(Ok(())) => Ok(handle),
        Ok(Err(e)) => Err(e),
        Err(_) => Err(device_error(
            spec,
            "the capture thread ended before it started",
        )),
    }
}
