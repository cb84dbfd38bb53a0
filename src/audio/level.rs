//! The input level: RMS and peak of every ~50 ms block in dBFS and a clip count, measured where
//! audio enters and published through atomics, so a meter can read it at its own frame rate
//! without taking a lock.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

/// The floor of every level: digital silence reads this, never minus infinity.
pub const SILENT_DB: f32 = -100.0;

/// A sample at or above this magnitude (about -0.01 dBFS) counts as clipped.
pub const CLIP: f32 = 0.999;

/// Level in dBFS of a block of samples (RMS against a full-scale sine's peak of 1.0).
pub fn dbfs(samples: &[f32]) -> f32 {
    if samples.is_empty() {
        return SILENT_DB;
    }
    let ms = samples.iter().map(|&x| x as f64 * x as f64).sum::<f64>() / samples.len() as f64;
    to_db(ms.sqrt())
}

/// An amplitude (1.0 = full scale) in dBFS.
pub fn to_db(amplitude: f64) -> f32 {
    if amplitude <= 0.0 {
        SILENT_DB
    } else {
        (20.0 * amplitude.log10()).max(SILENT_DB as f64) as f32
    }
}

/// One reading of the meter.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Level {
    /// RMS of the latest block, dBFS.
    pub rms_db: f32,
    /// Largest magnitude in the latest block, dBFS.
    pub peak_db: f32,
    /// The latest block had a clipped sample.
    pub clipped: bool,
    /// Blocks with a clipped sample since capture began.
    pub clipped_blocks: u64,
    /// Blocks measured since capture began (0: no audio yet).
    pub blocks: u64,
}

impl Default for Level {
    /// No audio yet: silence.
    fn default() -> Self {
        Self {
            rms_db: SILENT_DB,
            peak_db: SILENT_DB,
            clipped: false,
            clipped_blocks: 0,
            blocks: 0,
        }
    }
}

/// The published level. Written by one source, read by anyone.
#[derive(Debug)]
pub struct Meter {
    rms: AtomicU32,
    peak: AtomicU32,
    clipped: AtomicU64,
    /// The block count of the latest clipped block, plus one (0: never).
    last_clip: AtomicU64,
    blocks: AtomicU64,
}

impl Default for Meter {
    fn default() -> Self {
        Self {
            rms: AtomicU32::new(SILENT_DB.to_bits()),
            peak: AtomicU32::new(SILENT_DB.to_bits()),
            clipped: AtomicU64::new(0),
            last_clip: AtomicU64::new(0),
            blocks: AtomicU64::new(0),
        }
    }
}

impl Meter {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn read(&self) -> Level {
        let blocks = self.blocks.load(Ordering::Acquire);
        Level {
            rms_db: f32::from_bits(self.rms.load(Ordering::Relaxed)),
            peak_db: f32::from_bits(self.peak.load(Ordering::Relaxed)),
            clipped: blocks > 0 && self.last_clip.load(Ordering::Relaxed) == blocks,
            clipped_blocks: self.clipped.load(Ordering::Relaxed),
            blocks,
        }
    }

    fn publish(&self, rms_db: f32, peak_db: f32, clipped: bool) {
        self.rms.store(rms_db.to_bits(), Ordering::Relaxed);
        self.peak.store(peak_db.to_bits(), Ordering::Relaxed);
        let n = self.blocks.load(Ordering::Relaxed) + 1;
        if clipped {
            self.clipped.fetch_add(1, Ordering::Relaxed);
            self.last_clip.store(n, Ordering::Relaxed);
        }
        self.blocks.store(n, Ordering::Release);
    }
}

/// Measures blocks of ~50 ms of mono audio at `rate` and publishes each to a [`Meter`].
#[derive(Debug)]
pub struct BlockMeter {
    block: usize,
    n: usize,
    sum_sq: f64,
    peak: f32,
}

/// How long a block of the meter is.
pub const BLOCK_SECONDS: f64 = 0.05;

impl BlockMeter {
    pub fn new(rate: u32) -> Self {
        Self {
            block: ((rate as f64 * BLOCK_SECONDS).round() as usize).max(1),
            n: 0,
            sum_sq: 0.0,
            peak: 0.0,
        }
    }

    pub fn feed(&mut self, samples: &[f32], meter: &Meter) {
        for &s in samples {
            self.sum_sq += s as f64 * s as f64;
            self.peak = self.peak.max(s.abs());
            self.n += 1;
            if self.n == self.block {
                let rms = (self.sum_sq / self.n as f64).sqrt();
                meter.publish(to_db(rms), to_db(self.peak as f64), self.peak >= CLIP);
                self.n = 0;
                self.sum_sq = 0.0;
                self.peak = 0.0;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dbfs_of_known_levels() {
        assert_eq!(dbfs(&[]), SILENT_DB);
        assert_eq!(dbfs(&[0.0; 100]), SILENT_DB);
        assert!((dbfs(&[0.5; 100]) - (-6.0206)).abs() < 1e-3);
        assert!((to_db(1.0)).abs() < 1e-6);
    }

    #[test]
    fn meter_reads_rms_peak_and_clips_per_block() {
        let meter = Meter::new();
        assert_eq!(meter.read().blocks, 0);
        assert_eq!(meter.read().rms_db, SILENT_DB);
        let mut m = BlockMeter::new(16_000);
        // A full-scale square wave: RMS 0 dB, peak 0 dB, clipped.
        let square: Vec<f32> = (0..800)
            .map(|i| if i % 2 == 0 { 1.0 } else { -1.0 })
            .collect();
        m.feed(&square[..500], &meter);
        assert_eq!(meter.read().blocks, 0, "half a block publishes nothing");
        m.feed(&square[500..], &meter);
        let l = meter.read();
        assert_eq!(l.blocks, 1);
        assert!(l.rms_db.abs() < 1e-3 && l.peak_db.abs() < 1e-3 && l.clipped);
        // A sine at half scale: RMS -9.03 dB, peak -6.02 dB, not clipped.
        let sine: Vec<f32> = (0..800)
            .map(|i| 0.5 * (i as f32 * std::f32::consts::TAU * 400.0 / 16_000.0).sin())
            .collect();
        m.feed(&sine, &meter);
        let l = meter.read();
        assert_eq!(l.blocks, 2);
        assert!((l.rms_db + 9.03).abs() < 0.01, "{l:?}");
        assert!((l.peak_db + 6.02).abs() < 0.01, "{l:?}");
        assert!(!l.clipped);
        assert_eq!(l.clipped_blocks, 1);
    }
}
