//! A WAV file written as the audio arrives: 16-bit mono PCM whose header is brought up to date
//! after every append, so the file plays whenever the process stops, even killed.

use std::fs::File;
use std::io::{self, Write};
use std::path::Path;

/// Bytes before the samples.
const HEADER: u64 = 44;

pub struct WavWriter {
    file: File,
    bytes: u64,
}

impl WavWriter {
    /// Create `path` (readable by the owner only) for mono audio at `rate` Hz.
    pub fn create(path: &Path, rate: u32) -> io::Result<WavWriter> {
        let mut file = crate::private::private_file().create_new(true).open(path)?;
        let mut h = Vec::with_capacity(HEADER as usize);
        h.extend_from_slice(b"RIFF");
        h.extend_from_slice(&36u32.to_le_bytes());
        h.extend_from_slice(b"WAVEfmt ");
        h.extend_from_slice(&16u32.to_le_bytes());
        h.extend_from_slice(&1u16.to_le_bytes()); // PCM
        h.extend_from_slice(&1u16.to_le_bytes()); // mono
        h.extend_from_slice(&rate.to_le_bytes());
        h.extend_from_slice(&(rate * 2).to_le_bytes());
        h.extend_from_slice(&2u16.to_le_bytes());
        h.extend_from_slice(&16u16.to_le_bytes());
        h.extend_from_slice(b"data");
        h.extend_from_slice(&0u32.to_le_bytes());
        file.write_all(&h)?;
        Ok(WavWriter { file, bytes: 0 })
    }

    /// Append samples (clipped to [-1, 1]) and update the header's sizes.
    pub fn append(&mut self, samples: &[f32]) -> io::Result<()> {
        if samples.is_empty() {
            return Ok(());
        }
        let mut pcm = Vec::with_capacity(samples.len() * 2);
        for s in samples {
            let v = (s.clamp(-1.0, 1.0) * 32767.0).round() as i16;
            pcm.extend_from_slice(&v.to_le_bytes());
        }
        write_at(&self.file, &pcm, HEADER + self.bytes)?;
        self.bytes += pcm.len() as u64;
        // Sizes past 4 GiB cannot be said; the samples are still there.
        let data = u32::try_from(self.bytes).unwrap_or(u32::MAX);
        write_at(&self.file, &data.saturating_add(36).to_le_bytes(), 4)?;
        write_at(&self.file, &data.to_le_bytes(), 40)
    }

    /// Seconds written at `rate`.
    pub fn seconds(&self, rate: u32) -> f64 {
        self.bytes as f64 / 2.0 / rate as f64
    }
}

#[cfg(unix)]
fn write_at(f: &File, buf: &[u8], at: u64) -> io::Result<()> {
    use std::os::unix::fs::FileExt;
    f.write_all_at(buf, at)
}

#[cfg(not(unix))]
fn write_at(mut f: &File, buf: &[u8], at: u64) -> io::Result<()> {
    use std::io::{Seek, SeekFrom};
    f.seek(SeekFrom::Start(at))?;
    f.write_all(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_file_is_a_valid_wav_after_every_append() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("a.wav");
        let mut w = WavWriter::create(&path, 16_000).expect("create");
        let tone: Vec<f32> = (0..16_000).map(|i| (i as f32 / 20.0).sin() * 0.5).collect();
        w.append(&tone[..8_000]).expect("append");
        let d = crate::audio::load_file(&path).expect("readable after one append");
        assert_eq!(d.samples.len(), 8_000);
        w.append(&tone[8_000..]).expect("append");
        let d = crate::audio::load_file(&path).expect("readable");
        assert_eq!(d.samples.len(), 16_000);
        assert!((w.seconds(16_000) - 1.0).abs() < 1e-9);
        for (a, b) in d.samples.iter().zip(&tone) {
            assert!((a - b).abs() < 1e-4);
        }
        assert!(
            WavWriter::create(&path, 16_000).is_err(),
            "never overwrites"
        );
    }
}
