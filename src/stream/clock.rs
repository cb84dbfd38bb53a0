//! The stream clock: seconds since the first sample. Real time for live sources; simulated for
//! files, where audio arrives as fast as it is needed and the clock advances by the compute each
//! update really took, so a simulated run shows the latency this machine gives live; stepped,
//! where computing costs no time, so every update sees exactly one more step of audio and a run
//! gives the same captions on any machine.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::audio::{AudioState, SAMPLE_RATE};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ClockKind {
    /// Wall-clock time; a file is played at its real speed.
    Realtime,
    /// No waiting: audio is there when the clock says it has been spoken, and the clock moves
    /// on by what each update really took.
    Simulated,
    /// Like simulated, but an update takes no time: each one sees exactly one more step of
    /// audio, so the captions are the same on any machine.
    Stepped,
}

#[derive(Debug, Clone)]
pub enum Clock {
    Realtime,
    Simulated { now: f64 },
    Stepped { now: f64 },
}

/// What the transcriber may look at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Visible {
    /// Samples that have arrived by now.
    pub samples: u64,
    /// Every sample the source will ever give is among them.
    pub complete: bool,
}

impl Clock {
    pub fn new(kind: ClockKind) -> Self {
        match kind {
            ClockKind::Realtime => Clock::Realtime,
            ClockKind::Simulated => Clock::Simulated { now: 0.0 },
            ClockKind::Stepped => Clock::Stepped { now: 0.0 },
        }
    }

    /// Seconds since the first sample arrived (on the real clock, not counting pauses).
    pub fn now(&self, audio: &AudioState) -> f64 {
        match self {
            Clock::Realtime => audio
                .first_arrival()
                .map(|t| t.elapsed().saturating_sub(audio.paused_for()).as_secs_f64())
                .unwrap_or(0.0),
            Clock::Simulated { now } | Clock::Stepped { now } => *now,
        }
    }

    /// Whether the time updates take shows on this clock (it does not on the stepped one).
    pub fn counts_compute(&self) -> bool {
        !matches!(self, Clock::Stepped { .. })
    }

    /// Account for `secs` of computation.
    pub fn advance(&mut self, secs: f64) {
        if let Clock::Simulated { now } = self {
            *now += secs;
        }
    }

    /// Wait until `pos` samples are visible, the source has ended, or `stop` is set.
    pub fn wait(&mut self, audio: &AudioState, pos: u64, stop: &AtomicBool) -> Visible {
        let arrived = loop {
            let a = audio.wait_for(pos, Duration::from_millis(50));
            if a.total >= pos || a.ended || a.notices || stop.load(Ordering::Relaxed) {
                break a;
            }
        };
        let samples = match self {
            Clock::Realtime => arrived.total,
            Clock::Simulated { now } | Clock::Stepped { now } => {
                let reached = pos.min(arrived.total) as f64 / SAMPLE_RATE as f64;
                *now = now.max(reached);
                arrived
                    .total
                    .min((*now * SAMPLE_RATE as f64).round() as u64)
            }
        };
        Visible {
            samples,
            complete: arrived.ended && samples == arrived.total,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn simulated_clock_shows_what_has_been_spoken() {
        let audio = AudioState::new();
        audio.push(&vec![0.0; 160_000]);
        audio.finish(None);
        let stop = AtomicBool::new(false);
        let mut c = Clock::new(ClockKind::Simulated);
        let v = c.wait(&audio, 8_000, &stop);
        assert_eq!(v.samples, 8_000);
        assert!(!v.complete);
        assert_eq!(c.now(&audio), 0.5);
        // A slow update: the next one sees everything that arrived meanwhile.
        c.advance(2.0);
        let v = c.wait(&audio, 16_000, &stop);
        assert_eq!(v.samples, 40_000);
        assert_eq!(c.now(&audio), 2.5);
        let v = c.wait(&audio, 1_000_000, &stop);
        assert_eq!(v.samples, 160_000);
        assert!(v.complete);
        assert_eq!(c.now(&audio), 10.0);
    }

    #[test]
    fn stepped_clock_ignores_compute() {
        let audio = AudioState::new();
        audio.push(&vec![0.0; 48_000]);
        audio.finish(None);
        let stop = AtomicBool::new(false);
        let mut c = Clock::new(ClockKind::Stepped);
        assert!(!c.counts_compute());
        assert_eq!(c.wait(&audio, 8_000, &stop).samples, 8_000);
        c.advance(2.0);
        assert_eq!(c.now(&audio), 0.5);
        let v = c.wait(&audio, 16_000, &stop);
        assert_eq!(v.samples, 16_000);
        assert_eq!(c.now(&audio), 1.0);
        let v = c.wait(&audio, 1_000_000, &stop);
        assert_eq!(v.samples, 48_000);
        assert!(v.complete);
    }
}
