//! Raw PCM from a byte stream (a pipe, stdin): little-endian 16-bit integer or 32-bit float
//! samples, any rate, any channel count, delivered as 16 kHz mono while it arrives.

use std::io::{ErrorKind, Read};

use super::resample::Streaming;
use super::{AudioError, SAMPLE_RATE};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Encoding {
    /// 16-bit signed integers, little-endian.
    S16le,
    /// 32-bit floats, little-endian.
    F32le,
}

impl Encoding {
    fn bytes(self) -> usize {
        match self {
            Encoding::S16le => 2,
            Encoding::F32le => 4,
        }
    }

    fn sample(self, b: &[u8]) -> f32 {
        match self {
            Encoding::S16le => i16::from_le_bytes([b[0], b[1]]) as f32 / 32768.0,
            Encoding::F32le => f32::from_le_bytes([b[0], b[1], b[2], b[3]]),
        }
    }
}

/// How the bytes are laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PcmFormat {
    pub encoding: Encoding,
    pub rate: u32,
    pub channels: u16,
}

impl Default for PcmFormat {
    fn default() -> Self {
        Self {
            encoding: Encoding::S16le,
            rate: SAMPLE_RATE,
            channels: 1,
        }
    }
}

/// What a PCM stream held when it ended.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PcmEnd {
    /// Bytes at the end that did not make a whole frame, ignored.
    pub leftover_bytes: usize,
}

/// Read `reader` to its end, handing 16 kHz mono samples to `sink` about every 50 ms of audio.
/// `what` names the stream in errors.
pub fn read_pcm(
    mut reader: impl Read,
    format: PcmFormat,
    what: &str,
    sink: &mut dyn FnMut(&[f32]),
) -> Result<PcmEnd, AudioError> {
    if format.channels == 0 || format.rate == 0 {
        return Err(AudioError::Stream {
            what: what.to_string(),
            reason: "the rate and channel count must be above zero".into(),
        });
    }
    let frame = format.encoding.bytes() * format.channels as usize;
    let per_read = frame * (format.rate as usize / 20).max(1);
    let mut resampler = Streaming::new(format.rate, SAMPLE_RATE)?;
    let mut bytes = vec![0u8; per_read];
    let mut filled = 0usize;
    let mut mono = Vec::with_capacity(per_read / frame);
    loop {
        let n = match reader.read(&mut bytes[filled..]) {
            Ok(n) => n,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => {
                return Err(AudioError::Stream {
                    what: what.to_string(),
                    reason: e.to_string(),
                })
            }
        };
        filled += n;
        let whole = filled / frame * frame;
        if whole > 0 && (n == 0 || filled == bytes.len() || whole >= per_read / 2) {
            mono.clear();
            for f in bytes[..whole].chunks_exact(frame) {
                let sum: f32 = f
                    .chunks_exact(format.encoding.bytes())
                    .map(|b| format.encoding.sample(b))
                    .sum();
                mono.push(sum / format.channels as f32);
            }
            bytes.copy_within(whole..filled, 0);
            filled -= whole;
            let out = resampler.push(&mono)?;
            if !out.is_empty() {
                sink(&out);
            }
        }
        if n == 0 {
            let tail = resampler.finish()?;
            if !tail.is_empty() {
                sink(&tail);
            }
            return Ok(PcmEnd {
                leftover_bytes: filled,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(bytes: &[u8], format: PcmFormat) -> (Vec<f32>, PcmEnd) {
        let mut got = Vec::new();
        let end = read_pcm(bytes, format, "test", &mut |s| got.extend_from_slice(s));
        match end {
            Ok(e) => (got, e),
            Err(e) => panic!("{e}"),
        }
    }

    #[test]
    fn s16_mono_passes_through() {
        let samples: Vec<i16> = (0..5000).map(|i| (i * 7 % 20000 - 10000) as i16).collect();
        let bytes: Vec<u8> = samples.iter().flat_map(|s| s.to_le_bytes()).collect();
        let (got, end) = collect(&bytes, PcmFormat::default());
        assert_eq!(end.leftover_bytes, 0);
        assert_eq!(got.len(), samples.len());
        for (g, s) in got.iter().zip(&samples) {
            assert_eq!(*g, *s as f32 / 32768.0);
        }
    }

    #[test]
    fn f32_stereo_is_downmixed_and_odd_bytes_reported() {
        let mut bytes = Vec::new();
        for i in 0..1000 {
            let l = i as f32 / 1000.0;
            bytes.extend(l.to_le_bytes());
            bytes.extend((-l / 2.0).to_le_bytes());
        }
        bytes.extend([1, 2, 3]);
        let fmt = PcmFormat {
            encoding: Encoding::F32le,
            rate: 16_000,
            channels: 2,
        };
        let (got, end) = collect(&bytes, fmt);
        assert_eq!(end.leftover_bytes, 3);
        assert_eq!(got.len(), 1000);
        assert!((got[500] - 0.125).abs() < 1e-6);
    }

    #[test]
    fn other_rates_are_resampled() {
        let bytes: Vec<u8> = (0..48_000)
            .map(|i| ((i as f32 * 0.05).sin() * 8000.0) as i16)
            .flat_map(|s| s.to_le_bytes())
            .collect();
        let fmt = PcmFormat {
            rate: 48_000,
            ..PcmFormat::default()
        };
        let (got, _) = collect(&bytes, fmt);
        assert_eq!(got.len(), 16_000);
    }

    #[test]
    fn zero_channels_is_refused() {
        let fmt = PcmFormat {
            channels: 0,
            ..PcmFormat::default()
        };
        let err = read_pcm(&[0u8; 10][..], fmt, "standard input", &mut |_| {});
        assert!(err.is_err());
    }
}
