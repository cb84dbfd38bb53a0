//! Log-mel spectrogram as Whisper expects it (25 ms Hann window, 10 ms hop, Slaney mel scale),
//! computed only over the frames that hold audio: the 30-second padding Whisper's reference adds
//! is never computed, since each window is padded afterwards anyway.

use std::sync::Arc;

use candle_core::{Device, Tensor};
use realfft::{RealFftPlanner, RealToComplex};

pub const SAMPLE_RATE: usize = 16_000;
pub const N_FFT: usize = 400;
pub const HOP: usize = 160;
/// Mel frames in one 30-second window.
pub const N_FRAMES: usize = 3000;

/// One mel filter: its first FFT bin and weights from there on.
struct Filter {
    start: usize,
    weights: Vec<f32>,
}

pub struct MelExtractor {
    n_mels: usize,
    filters: Vec<Filter>,
    window: Vec<f32>,
    fft: Arc<dyn RealToComplex<f32>>,
}

/// A log-mel spectrogram, `n_mels` rows of `n_frames` values (row-major), already normalised.
#[derive(Debug, Clone)]
pub struct Mel {
    pub n_mels: usize,
    pub n_frames: usize,
    pub data: Vec<f32>,
}

fn hz_to_mel(f: f64) -> f64 {
    let f_sp = 200.0 / 3.0;
    let min_log_hz = 1000.0;
    let min_log_mel = min_log_hz / f_sp;
    let logstep = (6.4f64).ln() / 27.0;
    if f >= min_log_hz {
        min_log_mel + (f / min_log_hz).ln() / logstep
    } else {
        f / f_sp
    }
}

fn mel_to_hz(m: f64) -> f64 {
    let f_sp = 200.0 / 3.0;
    let min_log_hz = 1000.0;
    let min_log_mel = min_log_hz / f_sp;
    let logstep = (6.4f64).ln() / 27.0;
    if m >= min_log_mel {
        min_log_hz * (logstep * (m - min_log_mel)).exp()
    } else {
        f_sp * m
    }
}

/// Slaney-normalised triangular mel filters, as `librosa.filters.mel(sr=16000, n_fft=400)`.
pub fn mel_filters(n_mels: usize) -> Vec<Vec<f32>> {
    let n_bins = N_FFT / 2 + 1;
    let fmax = SAMPLE_RATE as f64 / 2.0;
    let fft_freqs: Vec<f64> = (0..n_bins)
        .map(|i| i as f64 * fmax / (n_bins - 1) as f64)
        .collect();
    let (lo, hi) = (hz_to_mel(0.0), hz_to_mel(fmax));
    let mel_f: Vec<f64> = (0..n_mels + 2)
        .map(|i| mel_to_hz(lo + (hi - lo) * i as f64 / (n_mels + 1) as f64))
        .collect();
    (0..n_mels)
        .map(|m| {
            let enorm = 2.0 / (mel_f[m + 2] - mel_f[m]);
            let (fd0, fd1) = (mel_f[m + 1] - mel_f[m], mel_f[m + 2] - mel_f[m + 1]);
            fft_freqs
                .iter()
                .map(|&f| {
                    let lower = (f - mel_f[m]) / fd0;
                    let upper = (mel_f[m + 2] - f) / fd1;
                    (lower.min(upper).max(0.0) * enorm) as f32
                })
                .collect()
        })
        .collect()
}

impl MelExtractor {
    pub fn new(n_mels: usize) -> Self {
        let filters = mel_filters(n_mels)
            .into_iter()
            .map(|row| {
                let start = row.iter().position(|&w| w != 0.0).unwrap_or(0);
                let end = row.iter().rposition(|&w| w != 0.0).map_or(start, |e| e + 1);
                Filter {
                    start,
                    weights: row[start..end].to_vec(),
                }
            })
            .collect();
        // Periodic Hann window, as torch.hann_window(400).
        let window = (0..N_FFT)
            .map(|i| {
                (0.5 - 0.5 * (2.0 * std::f64::consts::PI * i as f64 / N_FFT as f64).cos()) as f32
            })
            .collect();
        let fft = RealFftPlanner::<f32>::new().plan_fft_forward(N_FFT);
        Self {
            n_mels,
            filters,
            window,
            fft,
        }
    }

    pub fn n_mels(&self) -> usize {
        self.n_mels
    }

    /// Log-mel of 16 kHz mono samples: `samples.len() / 160` frames, identical to Whisper's
    /// reference (which pads 30 s of zeros, computes, then slices) over those frames.
    pub fn compute(&self, samples: &[f32]) -> Mel {
        let n = samples.len();
        let n_frames = n / HOP;
        // Frames whose window still touches audio; later ones are silent (log10(1e-10)).
        let n_touching = (n + N_FFT / 2).div_ceil(HOP).max(n_frames);
        let pad = N_FFT / 2;
        // Reflect-pad on the left (as torch.stft center=True); zeros on the right stand for the
        // reference's 30-second zero padding.
        let at = |k: isize| -> f32 {
            let i = k - pad as isize;
            if i < 0 {
                samples.get((-i) as usize).copied().unwrap_or(0.0)
            } else {
                samples.get(i as usize).copied().unwrap_or(0.0)
            }
        };
        let mut input = self.fft.make_input_vec();
        let mut spectrum = self.fft.make_output_vec();
        let mut scratch = self.fft.make_scratch_vec();
        let mut power = vec![0f32; N_FFT / 2 + 1];
        let mut logs = vec![0f32; self.n_mels * n_frames];
        let mut max = -10f32;
        for f in 0..n_touching {
            let base = (f * HOP) as isize;
            for (j, x) in input.iter_mut().enumerate() {
                *x = at(base + j as isize) * self.window[j];
            }
            if self
                .fft
                .process_with_scratch(&mut input, &mut spectrum, &mut scratch)
                .is_err()
            {
                continue;
            }
            for (p, c) in power.iter_mut().zip(&spectrum) {
                *p = c.norm_sqr();
            }
            for (m, filt) in self.filters.iter().enumerate() {
                let e: f32 = filt
                    .weights
                    .iter()
                    .zip(&power[filt.start..])
                    .map(|(w, p)| w * p)
                    .sum();
                let l = e.max(1e-10).log10();
                max = max.max(l);
                if f < n_frames {
                    logs[m * n_frames + f] = l;
                }
            }
        }
        let floor = max - 8.0;
        for v in logs.iter_mut() {
            *v = (v.max(floor) + 4.0) / 4.0;
        }
        Mel {
            n_mels: self.n_mels,
            n_frames,
            data: logs,
        }
    }
}

impl Mel {
    /// Frames `start..start+len` (clipped to the spectrogram), zero-padded to `N_FRAMES`.
    pub fn window(&self, start: usize, len: usize) -> candle_core::Result<Tensor> {
        let end = (start + len).min(self.n_frames);
        let take = end.saturating_sub(start).min(N_FRAMES);
        let mut out = vec![0f32; self.n_mels * N_FRAMES];
        for m in 0..self.n_mels {
            let row = &self.data[m * self.n_frames..(m + 1) * self.n_frames];
            out[m * N_FRAMES..m * N_FRAMES + take].copy_from_slice(&row[start..start + take]);
        }
        Tensor::from_vec(out, (self.n_mels, N_FRAMES), &Device::Cpu)
    }

    /// Seconds of audio the spectrogram covers.
    pub fn seconds(&self) -> f64 {
        (self.n_frames * HOP) as f64 / SAMPLE_RATE as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_match_librosa_shape_and_area() {
        let f = mel_filters(80);
        assert_eq!(f.len(), 80);
        assert!(f.iter().all(|r| r.len() == 201));
        // Slaney normalisation: each triangle's area in Hz is ~1 (height 2/width, width ~ base).
        let first_nonzero = f[0].iter().position(|&w| w > 0.0);
        assert_eq!(first_nonzero, Some(1));
        // librosa: filters[0][1] = 0.02486259
        assert!((f[0][1] - 0.024_862_59).abs() < 1e-6, "{}", f[0][1]);
    }

    #[test]
    fn frames_and_silence() {
        let ex = MelExtractor::new(80);
        let mel = ex.compute(&vec![0.0; 16_000]);
        assert_eq!(mel.n_frames, 100);
        // All-zero audio: every value is the floor, log10(1e-10) normalised.
        assert!(mel
            .data
            .iter()
            .all(|&v| (v - (-10.0 + 4.0) / 4.0).abs() < 1e-6));
        assert_eq!(ex.compute(&[]).n_frames, 0);
    }

    #[test]
    fn tone_peaks_at_its_mel_band() {
        let ex = MelExtractor::new(80);
        let tone: Vec<f32> = (0..16_000)
            .map(|i| (2.0 * std::f32::consts::PI * 1000.0 * i as f32 / 16_000.0).sin() * 0.5)
            .collect();
        let mel = ex.compute(&tone);
        let frame = 50;
        let col: Vec<f32> = (0..80)
            .map(|m| mel.data[m * mel.n_frames + frame])
            .collect();
        let best = col
            .iter()
            .enumerate()
            .max_by(|a, b| a.1.total_cmp(b.1))
            .map(|(i, _)| i);
        // 1 kHz is mel 15 on the Slaney scale; with 80 bands over 0..8 kHz that is band ~26.
        let band = best.unwrap_or(0);
        assert!((24..=28).contains(&band), "peak band {band}");
        let w = mel.window(0, 3000).map(|t| t.dims().to_vec());
        assert_eq!(w.ok(), Some(vec![80, 3000]));
    }
}
