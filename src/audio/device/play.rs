//! Playing audio through the default output: a session's kept audio, heard again. The device is
//! opened where playback is asked for (so a missing one is an error at once), then a thread of
//! its own writes the audio in short blocks, looking between them whether to stop, and waits at
//! the end until the device has played the last of it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use super::device_error;
use crate::audio::AudioError;

/// What the messages call the output.
const OUTPUT: &str = "default output";

/// Audio being played. Dropping it stops the sound.
pub struct Playback {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
    /// The device, as messages name it.
    pub device: String,
}

#[derive(Default)]
struct Shared {
    stop: AtomicBool,
    done: AtomicBool,
    failed: Mutex<Option<String>>,
}

impl Playback {
    /// Play `samples` (16 kHz mono) through the default output device.
    pub fn start(samples: &[f32]) -> Result<Playback, AudioError> {
        let (device, rate, channels, name) = imp::open()?;
        let audio = if rate == crate::audio::SAMPLE_RATE {
            samples.to_vec()
        } else {
            crate::audio::resample::resample(samples, crate::audio::SAMPLE_RATE, rate)?
        };
        let shared = Arc::new(Shared::default());
        let s = shared.clone();
        let thread = std::thread::Builder::new()
            .name("livecap-playback".into())
            .spawn(move || {
                if let Err(e) = imp::play(device, &audio, channels, rate, &s) {
                    if let Ok(mut f) = s.failed.lock() {
                        *f = Some(e);
                    }
                }
                s.done.store(true, Ordering::Release);
            })
            .map_err(|e| device_error(OUTPUT, format!("cannot start playing ({e})")))?;
        Ok(Playback {
            shared,
            thread: Some(thread),
            device: name,
        })
    }

    /// Whether the audio has been played to its end (or playing failed).
    pub fn done(&self) -> bool {
        self.shared.done.load(Ordering::Acquire)
    }

    /// Why the device stopped playing, if it did.
    pub fn failure(&self) -> Option<String> {
        self.shared.failed.lock().ok().and_then(|f| f.clone())
    }

    /// Stop the sound now.
    pub fn stop(mut self) {
        self.halt();
    }

    fn halt(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            t.join().ok();
        }
    }
}

impl Drop for Playback {
    fn drop(&mut self) {
        self.halt();
    }
}

#[cfg(target_os = "linux")]
mod imp {
    use std::sync::atomic::Ordering;

    use alsa::pcm::{Access, Format, HwParams, PCM};
    use alsa::{Direction, ValueOr};

    use super::{Shared, OUTPUT};
    use crate::audio::device::{device_error, quiet};
    use crate::audio::{AudioError, SAMPLE_RATE};

    /// The system's default output, through ALSA (which reaches a sound server through its
    /// plugin): 16 kHz mono when it takes that, else its nearest rate and two channels.
    pub fn open() -> Result<(PCM, u32, usize, String), AudioError> {
        let _quiet = quiet();
        let cannot = |e: alsa::Error| device_error(OUTPUT, format!("cannot play through it ({e})"));
        let pcm = PCM::new("default", Direction::Playback, false).map_err(cannot)?;
        let (rate, channels) = {
            let hw = HwParams::any(&pcm).map_err(cannot)?;
            hw.set_access(Access::RWInterleaved).map_err(cannot)?;
            hw.set_format(Format::s16()).map_err(cannot)?;
            let channels = if hw.set_channels(1).is_ok() {
                1
            } else {
                hw.set_channels(2).map_err(cannot)?;
                2
            };
            let rate = hw
                .set_rate_near(SAMPLE_RATE, ValueOr::Nearest)
                .map_err(cannot)?;
            // Half a second queued: a busy machine does not starve the device mid-sentence.
            hw.set_buffer_time_near(BUFFER_US, ValueOr::Nearest).ok();
            pcm.hw_params(&hw).map_err(cannot)?;
            (rate, channels)
        };
        Ok((pcm, rate, channels, "default".into()))
    }

    /// The device's buffer, in microseconds.
    const BUFFER_US: u32 = 500_000;

    /// Blocks of this many milliseconds are written at a time (so a stop is heard at once).
    const BLOCK_MS: usize = 100;

    pub fn play(
        pcm: PCM,
        audio: &[f32],
        channels: usize,
        rate: u32,
        shared: &Shared,
    ) -> Result<(), String> {
        crate::audio::device::quiet_alsa();
        let io = pcm.io_i16().map_err(|e| e.to_string())?;
        let block = rate as usize * BLOCK_MS / 1000;
        let mut frames: Vec<i16> = Vec::with_capacity(block * channels);
        for chunk in audio.chunks(block.max(1)) {
            if shared.stop.load(Ordering::Relaxed) {
                pcm.drop().ok();
                return Ok(());
            }
            frames.clear();
            for &x in chunk {
                // As the kept audio was read (a 16-bit sample over 32 768), so it plays back exact.
                let s = (x * 32_768.0).round().clamp(-32_768.0, 32_767.0) as i16;
                frames.extend(std::iter::repeat_n(s, channels));
            }
            let mut at = 0;
            while at < chunk.len() {
                match io.writei(&frames[at * channels..]) {
                    Ok(n) => at += n,
                    // An underrun (the machine was busy): start the device again.
                    Err(e) => pcm
                        .try_recover(e, true)
                        .map_err(|e| format!("the device stopped ({e})"))?,
                }
            }
        }
        // Wait until the device has played the last of it.
        pcm.drain().map_err(|e| e.to_string())
    }
}

#[cfg(not(target_os = "linux"))]
mod imp {
    use super::{Shared, OUTPUT};
    use crate::audio::device::device_error;
    use crate::audio::AudioError;

    pub fn open() -> Result<((), u32, usize, String), AudioError> {
        Err(device_error(
            OUTPUT,
            "playing audio is only supported on Linux for now",
        ))
    }

    pub fn play(_: (), _: &[f32], _: usize, _: u32, _: &Shared) -> Result<(), String> {
        Ok(())
    }
}
