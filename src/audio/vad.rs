//! Telling speech from silence and steady noise: frame levels in dBFS against a noise floor that
//! follows the quietest recent frames, and the spectral flatness of each frame (noise spreads its
//! power evenly over the spectrum, speech does not). Used to skip silent windows (no invented
//! text, no compute), to commit at pauses, and to drop words placed where nobody spoke.

use std::collections::VecDeque;
use std::sync::Arc;

use realfft::{RealFftPlanner, RealToComplex};

use crate::audio::level::dbfs;

/// 20 ms frames at 16 kHz.
pub const FRAME: usize = 320;
/// A frame is speech when it is this far above the noise floor...
const ABOVE_FLOOR_DB: f32 = 12.0;
/// ...and above this absolute level. Real recordings go this quiet: FLEURS clips speak at
/// -55 to -65 dBFS (measured on `stream-dev`), and Whisper transcribes them well.
const MIN_SPEECH_DB: f32 = -80.0;
/// How fast the floor may rise, per frame (1 dB per second).
const FLOOR_RISE_DB: f32 = 0.02;
/// FFT length for the flatness of a frame (the frame zero-padded).
const N_FFT: usize = 512;
/// Frames flatter than this are noise. Measured on `stream-dev` (59 recordings: children,
/// non-native, whispered, spontaneous speech with a cold): 99 % of speech frames are below 0.45
/// (whispered speech 0.32, the cold 0.44); white noise lies between 0.50 and 0.63.
const MAX_SPEECH_FLATNESS: f32 = 0.45;
/// Lowest FFT bin counted (125 Hz): mains hum and DC say nothing of speech.
const FIRST_BIN: usize = 4;

/// Follows a stream frame by frame and remembers where speech was last heard.
#[derive(Clone)]
pub struct Vad {
    floor: f32,
    /// Absolute sample position up to which frames have been judged.
    pos: u64,
    /// Samples of an unfinished frame.
    partial: Vec<f32>,
    /// End of the last speech frame, if any.
    last_speech_end: Option<u64>,
    /// Whether each recent frame was speech; the first is frame number `first_frame`.
    frames: VecDeque<bool>,
    first_frame: u64,
    /// How many frames `frames` holds at most.
    keep: usize,
    fft: Arc<dyn RealToComplex<f32>>,
    window: Vec<f32>,
}

impl std::fmt::Debug for Vad {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Vad")
            .field("floor", &self.floor)
            .field("pos", &self.pos)
            .field("last_speech_end", &self.last_speech_end)
            .finish()
    }
}

/// Frames remembered for [`Vad::speech_between`]: a minute.
const KEEP_FRAMES: usize = 3000;

impl Default for Vad {
    fn default() -> Self {
        Self {
            floor: -70.0,
            pos: 0,
            partial: Vec::with_capacity(FRAME),
            last_speech_end: None,
            frames: VecDeque::new(),
            first_frame: 0,
            keep: KEEP_FRAMES,
            fft: RealFftPlanner::<f32>::new().plan_fft_forward(N_FFT),
            window: (0..FRAME)
                .map(|i| 0.5 - 0.5 * (2.0 * std::f32::consts::PI * i as f32 / FRAME as f32).cos())
                .collect(),
        }
    }
}

impl Vad {
    pub fn new() -> Self {
        Self::default()
    }

    /// One that remembers every frame, for a whole recording.
    pub fn remembering_all() -> Self {
        Self {
            keep: usize::MAX,
            ..Self::default()
        }
    }

    /// Position up to which samples have been fed.
    pub fn fed(&self) -> u64 {
        self.pos + self.partial.len() as u64
    }

    /// Feed the next samples of the stream.
    pub fn feed(&mut self, samples: &[f32]) {
        for &x in samples {
            self.partial.push(x);
            if self.partial.len() == FRAME {
                let db = dbfs(&self.partial);
                self.floor = (self.floor + FLOOR_RISE_DB).min(db);
                self.pos += FRAME as u64;
                let speech = db > self.floor + ABOVE_FLOOR_DB
                    && db > MIN_SPEECH_DB
                    && self.flatness() < MAX_SPEECH_FLATNESS;
                if speech {
                    self.last_speech_end = Some(self.pos);
                }
                self.frames.push_back(speech);
                if self.frames.len() > self.keep {
                    self.frames.pop_front();
                    self.first_frame += 1;
                }
                self.partial.clear();
            }
        }
    }

    /// Whether frame `f` (the `f`-th run of [`FRAME`] samples since the stream began) was speech;
    /// `None` if it has not been judged yet or is no longer remembered.
    pub fn frame_is_speech(&self, f: u64) -> Option<bool> {
        f.checked_sub(self.first_frame)
            .and_then(|i| self.frames.get(i as usize).copied())
    }

    /// Whether any speech was heard at or after `from`.
    pub fn speech_since(&self, from: u64) -> bool {
        self.last_speech_end.is_some_and(|e| e > from)
    }

    /// Spectral flatness of the frame in `partial`: the geometric mean of its power spectrum
    /// over the arithmetic mean (1 for white noise, near 0 for a tone).
    fn flatness(&self) -> f32 {
        let mut input = vec![0f32; N_FFT];
        for ((o, x), w) in input.iter_mut().zip(&self.partial).zip(&self.window) {
            *o = x * w;
        }
        let mut spectrum = self.fft.make_output_vec();
        if self.fft.process(&mut input, &mut spectrum).is_err() {
            return 0.0;
        }
        let power: Vec<f64> = spectrum[FIRST_BIN..]
            .iter()
            .map(|c| c.norm_sqr() as f64 + 1e-12)
            .collect();
        let n = power.len() as f64;
        let log_mean = power.iter().map(|p| p.ln()).sum::<f64>() / n;
        let mean = power.iter().sum::<f64>() / n;
        (log_mean.exp() / mean) as f32
    }

    /// Whether any frame overlapping samples `from..to` was speech (frames no longer remembered
    /// count as speech).
    pub fn speech_between(&self, from: u64, to: u64) -> bool {
        let (a, b) = (from / FRAME as u64, to.div_ceil(FRAME as u64));
        if a < self.first_frame {
            return true;
        }
        (a..b).any(|f| {
            self.frames
                .get((f - self.first_frame) as usize)
                .copied()
                .unwrap_or(false)
        })
    }

    /// Where speech resumes, within `from..to`, after a pause of at least `pause` samples that
    /// begins in the first half of that span; `None` if there is none.
    pub fn after_pause(&self, from: u64, to: u64, pause: u64) -> Option<u64> {
        let frame = FRAME as u64;
        let (a, b) = (from.div_ceil(frame).max(self.first_frame), to / frame);
        let half = (from + to) / 2;
        let mut silent_from = None;
        for f in a..b {
            let speech = self
                .frames
                .get((f - self.first_frame) as usize)
                .copied()
                .unwrap_or(false);
            match (speech, silent_from) {
                (false, None) if f * frame < half => silent_from = Some(f),
                (true, Some(s)) if (f - s) * frame >= pause => return Some(f * frame),
                (true, Some(_)) => silent_from = None,
                _ => {}
            }
        }
        None
    }

    /// Samples of silence at the end of what was fed (all of it, if no speech yet).
    pub fn trailing_silence(&self) -> u64 {
        self.pos - self.last_speech_end.unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone(n: usize, amp: f32) -> Vec<f32> {
        (0..n)
            .map(|i| amp * (i as f32 * 0.3).sin() * if i % 7 == 0 { 1.0 } else { 0.9 })
            .collect()
    }

    fn noise(n: usize, amp: f32, seed: u32) -> Vec<f32> {
        let mut s = seed;
        (0..n)
            .map(|_| {
                s = s.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                amp * ((s >> 8) as f32 / (1u32 << 24) as f32 * 2.0 - 1.0)
            })
            .collect()
    }

    #[test]
    fn speech_over_noise_and_trailing_silence() {
        let mut v = Vad::new();
        v.feed(&noise(16_000, 0.003, 1));
        assert!(!v.speech_since(0), "noise alone is not speech");
        v.feed(&tone(8_000, 0.3));
        assert!(v.speech_since(16_000));
        v.feed(&noise(9_600, 0.003, 2));
        let silence = v.trailing_silence();
        assert!((9_280..=9_600).contains(&silence), "{silence}");
        assert!(!v.speech_since(24_400));
        assert!(v.speech_between(20_000, 22_000));
        assert!(!v.speech_between(0, 15_000));
        assert!(!v.speech_between(25_000, 33_000));
        assert_eq!(v.fed(), 33_600);
    }

    #[test]
    fn white_noise_is_not_speech_at_any_level() {
        let mut v = Vad::new();
        v.feed(&[0.0; 16_000]);
        v.feed(&noise(32_000, 0.05, 3));
        assert!(
            !v.speech_since(0),
            "loud noise after silence taken for speech"
        );
        v.feed(&tone(3_200, 0.3));
        assert!(v.speech_since(48_000));
    }

    #[test]
    fn speech_resumes_after_a_pause_in_a_span() {
        let mut v = Vad::remembering_all();
        // 0.5 s of sound, 0.3 s pause, 0.5 s of sound.
        v.feed(&tone(8_000, 0.3));
        v.feed(&noise(4_800, 0.001, 4));
        v.feed(&tone(8_000, 0.3));
        let at = v.after_pause(6_400, 20_800, 3_200);
        assert!(at.is_some_and(|p| (12_800..=13_120).contains(&p)), "{at:?}");
        // A pause shorter than asked for, or one in the second half of the span, is not one.
        assert_eq!(v.after_pause(6_400, 20_800, 6_400), None);
        assert_eq!(v.after_pause(0, 14_000, 3_200), None);
        // Past a minute, the pause is still remembered as one.
        v.feed(&tone(16_000 * 70, 0.3));
        assert!(!v.speech_between(8_640, 12_480));
    }

    #[test]
    fn quiet_speech_after_digital_silence_counts() {
        let mut v = Vad::new();
        v.feed(&[0.0; 8_000]);
        v.feed(&tone(3_200, 0.01));
        assert!(v.speech_since(8_000));
    }
}
