//! The audio shared between whoever captures it and whoever transcribes it: samples addressed by
//! their absolute position since the stream began, of which only the part still needed is held.

use std::collections::VecDeque;
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// What a source tells whoever consumes the audio, besides samples.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Notice {
    pub kind: NoticeKind,
    /// The device (or source) it is about.
    pub device: String,
    /// One sentence for a person.
    pub message: String,
    /// Samples that had arrived when it happened.
    pub at: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NoticeKind {
    /// The device stopped giving audio; capture waits for it to come back.
    Lost,
    /// The lost device gives audio again; the time it was away is silence.
    Back,
    /// Capture moved to another device.
    Switched,
    /// A switch to another device failed; capture goes on as before.
    Refused,
    /// Audio was dropped because it was not taken from the device fast enough.
    Overrun,
}

/// Notices waiting to be taken; beyond this the oldest are dropped (they are reported as they
/// happen, so only a consumer that never looks would miss them).
const NOTICES_HELD: usize = 64;

#[derive(Debug, Default)]
struct Inner {
    /// Absolute position of `samples[0]`.
    offset: u64,
    samples: Vec<f32>,
    first_arrival: Option<Instant>,
    ended: bool,
    error: Option<String>,
    notices: VecDeque<Notice>,
    /// The consumer was asked to look (see [`AudioState::poke`]).
    poked: bool,
    /// Audio pushed now is dropped (see [`AudioState::set_paused`]).
    paused: bool,
    /// Since when, and how long earlier pauses lasted in all.
    paused_at: Option<Instant>,
    paused_before: Duration,
}

/// 16 kHz mono samples with absolute positions. The producer appends and finally calls
/// [`AudioState::finish`]; the consumer reads ranges and drops what it no longer needs.
#[derive(Debug, Default)]
pub struct AudioState {
    inner: Mutex<Inner>,
    changed: Condvar,
}

/// What has arrived so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Arrived {
    /// Samples that have arrived since the stream began.
    pub total: u64,
    /// No more will come.
    pub ended: bool,
    /// Notices are waiting to be taken, or the consumer was poked.
    pub notices: bool,
}

impl AudioState {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding this lock cannot leave the buffer half-updated in a way that
        // matters more than losing the stream, so keep going with whatever is there.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Append samples (after anything pushed before); while paused they are dropped.
    pub fn push(&self, samples: &[f32]) {
        let mut g = self.lock();
        if g.paused {
            return;
        }
        if g.first_arrival.is_none() && !samples.is_empty() {
            g.first_arrival = Some(Instant::now());
        }
        g.samples.extend_from_slice(samples);
        drop(g);
        self.changed.notify_all();
    }

    /// No more samples will come; `error` says why, if the source failed.
    pub fn finish(&self, error: Option<String>) {
        let mut g = self.lock();
        g.ended = true;
        if g.error.is_none() {
            g.error = error;
        }
        drop(g);
        self.changed.notify_all();
    }

    pub fn arrived(&self) -> Arrived {
        Self::arrived_in(&self.lock())
    }

    fn arrived_in(g: &Inner) -> Arrived {
        Arrived {
            total: g.offset + g.samples.len() as u64,
            ended: g.ended,
            notices: !g.notices.is_empty() || g.poked,
        }
    }

    /// Tell the consumer something (and wake it).
    pub fn notify(&self, notice: Notice) {
        let mut g = self.lock();
        if g.notices.len() == NOTICES_HELD {
            g.notices.pop_front();
        }
        g.notices.push_back(notice);
        drop(g);
        self.changed.notify_all();
    }

    /// Pause or resume: while paused, what a live source gives is not kept (the stream's time
    /// stands still), and a file being played waits.
    pub fn set_paused(&self, paused: bool) {
        let mut g = self.lock();
        match (paused, g.paused_at) {
            (true, None) => g.paused_at = Some(Instant::now()),
            (false, Some(at)) => {
                g.paused_before += at.elapsed();
                g.paused_at = None;
            }
            _ => {}
        }
        g.paused = paused;
    }

    /// How long the stream has been paused in all, the current pause included: the stream's
    /// clock does not count it.
    pub fn paused_for(&self) -> Duration {
        let g = self.lock();
        g.paused_before + g.paused_at.map_or(Duration::ZERO, |t| t.elapsed())
    }

    pub fn is_paused(&self) -> bool {
        self.lock().paused
    }

    /// Wake the consumer without news from the source (someone has a request for it).
    pub fn poke(&self) {
        self.lock().poked = true;
        self.changed.notify_all();
    }

    /// The notices not taken yet, oldest first (this also answers a poke).
    pub fn take_notices(&self) -> Vec<Notice> {
        let mut g = self.lock();
        g.poked = false;
        g.notices.drain(..).collect()
    }

    /// When the first sample arrived.
    pub fn first_arrival(&self) -> Option<Instant> {
        self.lock().first_arrival
    }

    /// The source's error, once it has ended with one.
    pub fn error(&self) -> Option<String> {
        self.lock().error.clone()
    }

    /// Wait until `pos` samples have arrived, the stream has ended or a notice is waiting, at
    /// most `timeout`.
    pub fn wait_for(&self, pos: u64, timeout: Duration) -> Arrived {
        let g = self.lock();
        let (g, _) = self
            .changed
            .wait_timeout_while(g, timeout, |g| {
                !g.ended
                    && !g.poked
                    && g.notices.is_empty()
                    && g.offset + (g.samples.len() as u64) < pos
            })
            .unwrap_or_else(|e| e.into_inner());
        Self::arrived_in(&g)
    }

    /// A copy of the samples in `[from, to)` that are still held.
    pub fn read(&self, from: u64, to: u64) -> Vec<f32> {
        let g = self.lock();
        let end = g.offset + g.samples.len() as u64;
        let a = from.clamp(g.offset, end);
        let b = to.clamp(a, end);
        g.samples[(a - g.offset) as usize..(b - g.offset) as usize].to_vec()
    }

    /// The first position still held.
    pub fn held_from(&self) -> u64 {
        self.lock().offset
    }

    /// Forget everything before `pos`.
    pub fn trim_before(&self, pos: u64) {
        let mut g = self.lock();
        let end = g.offset + g.samples.len() as u64;
        let pos = pos.min(end);
        if pos > g.offset {
            let n = (pos - g.offset) as usize;
            g.samples.drain(..n);
            g.offset = pos;
        }
    }

    /// Samples held in memory.
    pub fn held(&self) -> usize {
        self.lock().samples.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_survive_trimming() {
        let s = AudioState::new();
        s.push(&(0..100).map(|x| x as f32).collect::<Vec<_>>());
        s.trim_before(40);
        assert_eq!(s.held(), 60);
        assert_eq!(s.held_from(), 40);
        assert_eq!(s.read(50, 53), vec![50.0, 51.0, 52.0]);
        // Ranges outside what is held are clamped, not a panic.
        assert_eq!(s.read(0, 42), vec![40.0, 41.0]);
        assert_eq!(s.read(95, 500).len(), 5);
        s.push(&[100.0]);
        assert_eq!(s.arrived().total, 101);
        s.trim_before(1000);
        assert_eq!(s.held(), 0);
        assert_eq!(s.arrived().total, 101);
    }

    #[test]
    fn paused_audio_is_not_kept() {
        let s = AudioState::new();
        s.push(&[1.0; 10]);
        s.set_paused(true);
        s.push(&[2.0; 10]);
        assert!(s.is_paused());
        s.set_paused(false);
        s.push(&[3.0; 5]);
        assert_eq!(s.arrived().total, 15);
        assert_eq!(s.read(8, 12), vec![1.0, 1.0, 3.0, 3.0]);
        let paused = s.paused_for();
        assert!(paused > Duration::ZERO);
        std::thread::sleep(Duration::from_millis(5));
        assert_eq!(s.paused_for(), paused, "not paused now");
    }

    #[test]
    fn a_poke_wakes_the_consumer_once() {
        let s = AudioState::new();
        s.poke();
        assert!(s.wait_for(1_000, Duration::from_secs(10)).notices);
        assert!(s.take_notices().is_empty());
        assert!(!s.arrived().notices);
    }

    #[test]
    fn waiting_returns_at_end_of_stream() {
        let s = std::sync::Arc::new(AudioState::new());
        let p = s.clone();
        let t = std::thread::spawn(move || {
            p.push(&[0.0; 10]);
            p.finish(Some("gone".into()));
        });
        let a = s.wait_for(1_000, Duration::from_secs(10));
        t.join().ok();
        assert!(a.ended);
        assert_eq!(a.total, 10);
        assert_eq!(s.error().as_deref(), Some("gone"));
    }

    #[test]
    fn a_notice_wakes_the_consumer() {
        let s = std::sync::Arc::new(AudioState::new());
        let p = s.clone();
        let notice = Notice {
            kind: NoticeKind::Lost,
            device: "mic".into(),
            message: "mic stopped".into(),
            at: 0,
        };
        let n = notice.clone();
        let t = std::thread::spawn(move || p.notify(n));
        let a = s.wait_for(1_000, Duration::from_secs(10));
        t.join().ok();
        assert!(a.notices && !a.ended);
        assert_eq!(s.take_notices(), vec![notice]);
        assert!(!s.arrived().notices);
        for i in 0..100 {
            s.notify(Notice {
                kind: NoticeKind::Overrun,
                device: "mic".into(),
                message: i.to_string(),
                at: i,
            });
        }
        let held = s.take_notices();
        assert_eq!(held.len(), NOTICES_HELD);
        assert_eq!(held.last().map(|n| n.message.as_str()), Some("99"));
    }
}
