//! Requests to a running session: typed, queued in order, and carried out by the engine at its
//! next look, every one of them (none overwrites another, none is dropped). Sending never waits,
//! so the app's one UI thread cannot be held up by a busy engine: requests come from a person's
//! keys, few enough to hold them all however long the engine takes to look. Sending rings the
//! same wake-up as new audio, so a waiting engine looks at once.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use crate::audio::source::Controls;
use crate::audio::state::Wake;
use crate::stream::Mode;

/// What whoever watches a session (the app) can ask of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// Stop capturing: what is heard from now on is not captioned (a file waits), and what was
    /// heard before is committed.
    Pause,
    /// Capture again.
    Resume,
    /// Re-transcribe with this policy from now on.
    SetMode(Mode),
    /// Commit everything, close this session and begin the next.
    NewSession,
    /// Move capture to another device (`device:` name or index).
    SwitchDevice(String),
    /// End the session, with the tentative tail committed.
    Stop,
}

#[derive(Debug, Default)]
struct Queue {
    waiting: VecDeque<(Request, Instant)>,
    /// The engine is gone: requests are refused.
    closed: bool,
}

#[derive(Debug)]
struct Shared {
    queue: Mutex<Queue>,
    wake: Arc<Wake>,
    source: Option<Controls>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Queue> {
        // A queue of plain values stays usable after a panic elsewhere.
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The sending side: cheap to clone, usable from any thread. With two inputs captioned apart,
/// it reaches both engines (a device switch only the first's).
#[derive(Debug, Clone)]
pub struct Handle(Arc<Shared>, Option<Arc<Shared>>);

/// The engine's side.
#[derive(Debug)]
pub struct Inbox(Arc<Shared>);

/// A channel whose sends ring `wake`. With `source`, a pause or resume takes effect on the
/// source the moment it is sent (so nothing said after the key press is kept, however busy the
/// engine is), and the engine does the rest in order.
pub fn channel(wake: Arc<Wake>, source: Option<Controls>) -> (Handle, Inbox) {
    let shared = Arc::new(Shared {
        queue: Mutex::new(Queue::default()),
        wake,
        source,
    });
    (Handle(shared.clone(), None), Inbox(shared))
}

/// The session has ended; the request was not carried out.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the session has ended")]
pub struct Gone(pub Request);

impl Handle {
    /// One handle for this engine and `other`'s (the second input's).
    pub fn with(self, other: Handle) -> Handle {
        Handle(self.0, Some(other.0))
    }

    /// Queue `request` after those sent before it, without waiting.
    pub fn send(&self, request: Request) -> Result<(), Gone> {
        if let Some(second) = &self.1 {
            if !matches!(request, Request::SwitchDevice(_)) {
                // Refused only when both engines are gone.
                let first = deliver(&self.0, request.clone());
                return deliver(second, request).or(first);
            }
        }
        deliver(&self.0, request)
    }
}

fn deliver(to: &Shared, request: Request) -> Result<(), Gone> {
    let mut q = to.lock();
    if q.closed {
        return Err(Gone(request));
    }
    if let Some(source) = &to.source {
        match request {
            Request::Pause => source.set_paused(true),
            Request::Resume => source.set_paused(false),
            _ => {}
        }
    }
    q.waiting.push_back((request, Instant::now()));
    drop(q);
    to.wake.ring();
    Ok(())
}

impl Inbox {
    /// Whether requests are waiting.
    pub fn pending(&self) -> bool {
        !self.0.lock().waiting.is_empty()
    }

    /// Every request waiting, oldest first, with when it was sent.
    pub fn take(&self) -> Vec<(Request, Instant)> {
        self.0.lock().waiting.drain(..).collect()
    }
}

impl Drop for Inbox {
    fn drop(&mut self) {
        self.0.lock().closed = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audio::AudioState;
    use std::time::Duration;

    #[test]
    fn requests_arrive_in_order_and_none_overwrites_another() {
        let audio = AudioState::new();
        let (handle, inbox) = channel(audio.wake(), None);
        for r in [
            Request::Pause,
            Request::NewSession,
            Request::SetMode(Mode::Full),
            Request::Resume,
            Request::SetMode(Mode::Window),
        ] {
            handle.send(r).expect("open");
        }
        assert!(inbox.pending());
        let got: Vec<Request> = inbox.take().into_iter().map(|(r, _)| r).collect();
        assert_eq!(
            got,
            [
                Request::Pause,
                Request::NewSession,
                Request::SetMode(Mode::Full),
                Request::Resume,
                Request::SetMode(Mode::Window),
            ]
        );
        assert!(!inbox.pending());
    }

    #[test]
    fn a_request_wakes_an_engine_waiting_for_audio() {
        let audio = Arc::new(AudioState::new());
        let (handle, inbox) = channel(audio.wake(), None);
        let t = std::thread::spawn(move || handle.send(Request::Stop));
        // Waits for audio that never comes: only the request can end the wait early.
        let arrived = audio.wait_until(1_000_000, Duration::from_secs(30), &|| inbox.pending());
        t.join().ok();
        assert_eq!(arrived.total, 0);
        assert!(inbox.pending());
    }

    #[test]
    fn a_busy_engine_makes_no_sender_wait_and_a_gone_one_refuses() {
        let audio = AudioState::new();
        let (handle, inbox) = channel(audio.wake(), None);
        // Far more than a person could press while the engine is busy: none waits, none is lost.
        for i in 0..10_000 {
            let r = if i % 2 == 0 {
                Request::Pause
            } else {
                Request::Resume
            };
            handle.send(r).expect("open");
        }
        handle.send(Request::Stop).expect("open");
        let got: Vec<Request> = inbox.take().into_iter().map(|(r, _)| r).collect();
        assert_eq!(got.len(), 10_001);
        assert_eq!(got.last(), Some(&Request::Stop));
        assert!(got[..10_000].iter().enumerate().all(|(i, r)| {
            *r == if i % 2 == 0 {
                Request::Pause
            } else {
                Request::Resume
            }
        }));
        drop(inbox);
        assert_eq!(handle.send(Request::Pause), Err(Gone(Request::Pause)));
    }
}
