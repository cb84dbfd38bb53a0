//! The audio shared between whoever captures it and whoever transcribes it: samples addressed by
//! their absolute position since the stream began, of which only the part still needed is held,
//! the end of the input, and the source's notices. New audio rings a [`Wake`], which whoever
//! else has news for the consumer (its requests) rings too, so that it waits on one thing.

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::AudioError;

/// One wake-up for a consumer that waits on several producers: each rings it after a change,
/// and a waiter returns once it has rung since the waiter last looked.
#[derive(Debug, Default)]
pub struct Wake {
    rings: Mutex<u64>,
    rung: Condvar,
}

impl Wake {
    fn count(&self) -> MutexGuard<'_, u64> {
        // A counter cannot be left half-updated.
        self.rings.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Wake whoever waits.
    pub fn ring(&self) {
        *self.count() += 1;
        self.rung.notify_all();
    }

    /// How often it has rung: take this before looking for news, then wait past it.
    pub fn rings(&self) -> u64 {
        *self.count()
    }

    /// Wait until it has rung more than `seen` times, at most `timeout`.
    pub fn wait_past(&self, seen: u64, timeout: Duration) {
        let g = self.count();
        let _unused = self
            .rung
            .wait_timeout_while(g, timeout, |n| *n <= seen)
            .unwrap_or_else(|e| e.into_inner());
    }
}

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

#[derive(Debug, Default)]
struct Inner {
    /// Absolute position of `samples[0]`.
    offset: u64,
    samples: Vec<f32>,
    first_arrival: Option<Instant>,
    ended: bool,
    error: Option<Arc<AudioError>>,
    notices: VecDeque<Notice>,
}

/// 16 kHz mono samples with absolute positions. The producer appends and finally calls
/// [`AudioState::finish`]; the consumer reads ranges and drops what it no longer needs.
#[derive(Debug, Default)]
pub struct AudioState {
    inner: Mutex<Inner>,
    wake: Arc<Wake>,
}

/// What has arrived so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Arrived {
    /// Samples that have arrived since the stream began.
    pub total: u64,
    /// No more will come.
    pub ended: bool,
    /// Notices are waiting to be taken.
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

    /// The wake-up that new audio, its end and notices ring; give it to whoever else has news
    /// for the consumer.
    pub fn wake(&self) -> Arc<Wake> {
        self.wake.clone()
    }

    /// Append samples (after anything pushed before).
    pub fn push(&self, samples: &[f32]) {
        let mut g = self.lock();
        if g.first_arrival.is_none() && !samples.is_empty() {
            g.first_arrival = Some(Instant::now());
        }
        g.samples.extend_from_slice(samples);
        drop(g);
        self.wake.ring();
    }

    /// No more samples will come; `error` says why, if the source failed.
    pub fn finish(&self, error: Option<AudioError>) {
        let mut g = self.lock();
        g.ended = true;
        if g.error.is_none() {
            g.error = error.map(Arc::new);
        }
        drop(g);
        self.wake.ring();
    }

    pub fn arrived(&self) -> Arrived {
        Self::arrived_in(&self.lock())
    }

    fn arrived_in(g: &Inner) -> Arrived {
        Arrived {
            total: g.offset + g.samples.len() as u64,
            ended: g.ended,
            notices: !g.notices.is_empty(),
        }
    }

    /// Tell the consumer something (and wake it).
    pub fn notify(&self, notice: Notice) {
        // None is dropped: the consumer takes them all at every look, and a source tells few
        // (a lost device is retried, overruns are told at most every few seconds).
        let mut g = self.lock();
        g.notices.push_back(notice);
        drop(g);
        self.wake.ring();
    }

    /// The notices not taken yet, oldest first.
    pub fn take_notices(&self) -> Vec<Notice> {
        self.lock().notices.drain(..).collect()
    }

    /// When the first sample arrived.
    pub fn first_arrival(&self) -> Option<Instant> {
        self.lock().first_arrival
    }

    /// The source's error, once it has ended with one.
    pub fn error(&self) -> Option<Arc<AudioError>> {
        self.lock().error.clone()
    }

    /// Wait until `pos` samples have arrived, the stream has ended or a notice is waiting, at
    /// most `timeout`.
    pub fn wait_for(&self, pos: u64, timeout: Duration) -> Arrived {
        self.wait_until(pos, timeout, &|| false)
    }

    /// [`AudioState::wait_for`], also ending when `also` holds: it is asked whenever the
    /// wake-up rings (whoever rang it, for whatever news).
    pub fn wait_until(&self, pos: u64, timeout: Duration, also: &dyn Fn() -> bool) -> Arrived {
        let deadline = Instant::now() + timeout;
        loop {
            let seen = self.wake.rings();
            let a = self.arrived();
            if a.total >= pos || a.ended || a.notices || also() {
                return a;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return a;
            }
            self.wake.wait_past(seen, left);
        }
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
    fn anyone_ringing_the_wake_up_ends_a_wait_for_their_news() {
        use std::sync::atomic::{AtomicBool, Ordering};
        let s = std::sync::Arc::new(AudioState::new());
        let news = std::sync::Arc::new(AtomicBool::new(false));
        let (wake, told) = (s.wake(), news.clone());
        let t = std::thread::spawn(move || {
            told.store(true, Ordering::SeqCst);
            wake.ring();
        });
        let started = Instant::now();
        let a = s.wait_until(1_000, Duration::from_secs(30), &|| {
            news.load(Ordering::SeqCst)
        });
        t.join().ok();
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the ring was missed"
        );
        assert_eq!(a.total, 0);
        assert!(!a.ended && !a.notices);
    }

    #[test]
    fn waiting_returns_at_end_of_stream() {
        let s = std::sync::Arc::new(AudioState::new());
        let p = s.clone();
        let t = std::thread::spawn(move || {
            p.push(&[0.0; 10]);
            p.finish(Some(AudioError::Stream {
                what: "a test source".into(),
                reason: "gone".into(),
            }));
        });
        let a = s.wait_for(1_000, Duration::from_secs(10));
        t.join().ok();
        assert!(a.ended);
        assert_eq!(a.total, 10);
        assert!(s.error().is_some_and(|e| e.to_string().ends_with("gone")));
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
        // Every notice is kept for a consumer that looks late, in order.
        let held = s.take_notices();
        assert_eq!(held.len(), 100);
        assert!(held
            .iter()
            .enumerate()
            .all(|(i, n)| n.message == i.to_string()));
    }
}
