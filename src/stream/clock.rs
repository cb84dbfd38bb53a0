//! The stream clock: seconds since the first sample. Real time for live sources; simulated for
//! files, where audio arrives as fast as it is needed and the clock advances by the compute each
//! update really took, so a simulated run shows the latency this machine gives live; stepped,
//! where computing costs no time, so every update sees exactly one more step of audio and a run
//! gives the same captions on any machine. Time spent paused is the clock's own business: it
//! does not count on the real clock.

use std::time::{Duration, Instant};

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
    Realtime { paused: Paused },
    Simulated { now: f64 },
    Stepped { now: f64 },
}

/// Time spent paused on the real clock.
#[derive(Debug, Clone, Default)]
pub struct Paused {
    /// Since when, if paused now.
    since: Option<Instant>,
    /// Earlier pauses, in all.
    before: Duration,
}

impl Paused {
    fn total(&self) -> Duration {
        self.before + self.since.map_or(Duration::ZERO, |t| t.elapsed())
    }
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
            ClockKind::Realtime => Clock::Realtime {
                paused: Paused::default(),
            },
            ClockKind::Simulated => Clock::Simulated { now: 0.0 },
            ClockKind::Stepped => Clock::Stepped { now: 0.0 },
        }
    }

    /// Seconds since the first sample arrived (on the real clock, not counting pauses).
    pub fn now(&self, audio: &AudioState) -> f64 {
        match self {
            Clock::Realtime { paused } => audio
                .first_arrival()
                .map(|t| t.elapsed().saturating_sub(paused.total()).as_secs_f64())
                .unwrap_or(0.0),
            Clock::Simulated { now } | Clock::Stepped { now } => *now,
        }
    }

    /// Whether the time updates take shows on this clock (it does not on the stepped one).
    pub fn counts_compute(&self) -> bool {
        !matches!(self, Clock::Stepped { .. })
    }

    /// Capture paused at `at`: from then on, time does not count until [`Clock::resume_at`].
    pub fn pause_since(&mut self, at: Instant) {
        if let Clock::Realtime { paused } = self {
            paused.since.get_or_insert(at);
        }
    }

    /// Capture resumed at `at`: time counts again from then.
    pub fn resume_at(&mut self, at: Instant) {
        if let Clock::Realtime { paused } = self {
            if let Some(since) = paused.since.take() {
                paused.before += at.saturating_duration_since(since);
            }
        }
    }

    /// What [`Clock::now`] will say once `secs` of computation that ends now are accounted for.
    pub fn after(&self, secs: f64, audio: &AudioState) -> f64 {
        match self {
            Clock::Simulated { now } => now + secs,
            _ => self.now(audio),
        }
    }

    /// Account for `secs` of computation.
    pub fn advance(&mut self, secs: f64) {
        if let Clock::Simulated { now } = self {
            *now += secs;
        }
    }

    /// Wait until `pos` samples are visible, the source has ended or told something, or
    /// `interrupted` says there is something else to do (it is asked whenever the audio's
    /// wake-up rings, and at least every 50 ms).
    pub fn wait(
        &mut self,
        audio: &AudioState,
        pos: u64,
        interrupted: &dyn Fn() -> bool,
    ) -> Visible {
        let arrived = loop {
            let a = audio.wait_until(pos, Duration::from_millis(50), interrupted);
            if a.total >= pos || a.ended || a.notices || interrupted() {
                break a;
            }
        };
        let samples = match self {
            Clock::Realtime { .. } => arrived.total,
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
        let stop = || false;
        let mut c = Clock::new(ClockKind::Simulated);
        let v = c.wait(&audio, 8_000, &stop);
        assert_eq!(v.samples, 8_000);
        assert!(!v.complete);
        assert_eq!(c.now(&audio), 0.5);
        // A slow update: its result shows when it is done, the clock moves when told.
        assert_eq!(c.after(2.0, &audio), 2.5);
        assert_eq!(c.now(&audio), 0.5);
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
        let stop = || false;
        let mut c = Clock::new(ClockKind::Stepped);
        assert!(!c.counts_compute());
        assert_eq!(c.wait(&audio, 8_000, &stop).samples, 8_000);
        assert_eq!(c.after(2.0, &audio), 0.5);
        c.advance(2.0);
        assert_eq!(c.now(&audio), 0.5);
        let v = c.wait(&audio, 16_000, &stop);
        assert_eq!(v.samples, 16_000);
        assert_eq!(c.now(&audio), 1.0);
        let v = c.wait(&audio, 1_000_000, &stop);
        assert_eq!(v.samples, 48_000);
        assert!(v.complete);
    }

    #[test]
    fn paused_time_does_not_count_on_the_real_clock() {
        let audio = AudioState::new();
        audio.push(&[0.0; 160]);
        let mut c = Clock::new(ClockKind::Realtime);
        c.pause_since(Instant::now());
        std::thread::sleep(Duration::from_millis(300));
        let during = c.now(&audio);
        c.resume_at(Instant::now());
        let after = c.now(&audio);
        // However slow the machine, the 300 ms asleep while paused are not on the clock.
        let total = audio
            .first_arrival()
            .map_or(0.0, |t| t.elapsed().as_secs_f64());
        assert!(after <= total - 0.3 + 1e-3, "{after} of {total}");
        assert!(during <= after + 1e-3);
    }
}
