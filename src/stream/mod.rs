//! Streaming captions: the re-transcription policies (full history, trailing window), the commit
//! logic that keeps text steady, the stream clock, and the loop that drives them and reports
//! events. Knows nothing of terminals; `livecap stream` and the app both drive it.

pub mod clock;
pub mod commit;
pub mod policy;
pub mod report;

use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

pub use clock::{Clock, ClockKind};
pub use commit::{Committer, Word};
pub use policy::{Mode, Streamer, Update};

use crate::asr::ModelError;
use crate::audio::state::NoticeKind;
use crate::audio::{AudioState, SAMPLE_RATE};

/// One thing that happened in a stream. Times are seconds: `start`/`end` of audio since the
/// stream began, `emitted_at` on the stream clock.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Event {
    /// The tentative tail, replacing the previous one (empty text clears it).
    Partial {
        text: String,
        start: f64,
        end: f64,
        emitted_at: f64,
    },
    /// Words that are final.
    Commit {
        text: String,
        start: f64,
        end: f64,
        emitted_at: f64,
        words: Vec<Word>,
    },
    /// One re-transcription: which audio, and what it cost.
    Update {
        mode: Mode,
        audio_start: f64,
        audio_end: f64,
        compute: f64,
        skipped: bool,
        /// Seconds of heard audio still held for later updates.
        held: f64,
        emitted_at: f64,
    },
    /// Inference is slower than the step: updates were merged and the captions trail the audio.
    Lag {
        /// Seconds between the end of the audio last transcribed and its result.
        behind: f64,
        compute: f64,
        /// Scheduled updates merged into this one since the last lag event.
        coalesced: u32,
        emitted_at: f64,
    },
    /// The policy changed.
    Mode { mode: Mode, emitted_at: f64 },
    /// A break asked for through [`Control`]: everything before it is committed.
    Break {
        reason: BreakReason,
        /// Seconds of audio heard when it happened.
        at: f64,
        emitted_at: f64,
    },
    /// News from the audio source: a device lost, back, switched; audio dropped.
    Device {
        kind: NoticeKind,
        device: String,
        message: String,
        /// Seconds of audio heard when it happened (a device that came back resumes after the
        /// silence standing for the time it was away).
        at: f64,
        emitted_at: f64,
    },
    /// The stream is over.
    End {
        /// Seconds of audio.
        duration: f64,
        updates: u32,
        /// Seconds of computation over all updates.
        compute: f64,
        words: usize,
        mode: Mode,
        emitted_at: f64,
    },
}

/// Whether `secs` is a usable window length; if not, what to give instead.
pub fn check_window(secs: f64) -> Result<(), &'static str> {
    if secs.is_finite() && (1.0..=25.0).contains(&secs) {
        Ok(())
    } else {
        Err("give seconds between 1 and 25")
    }
}

/// Whether `secs` is a usable time between updates; if not, what to give instead.
pub fn check_step(secs: f64) -> Result<(), &'static str> {
    if secs.is_finite() && (0.05..=30.0).contains(&secs) {
        Ok(())
    } else {
        Err("give seconds between 0.05 and 30")
    }
}

/// Whether a word ends a sentence (where captions and subtitles break).
pub fn ends_sentence(word: &str) -> bool {
    word.ends_with(['.', '?', '!'])
}

/// Why the stream was asked to commit everything so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BreakReason {
    /// Capture paused: what follows is not a continuation of what came before.
    Pause,
    /// A new session begins.
    NewSession,
}

/// Requests to a running stream from whoever watches it (the app), taken at its next look.
#[derive(Debug, Default)]
pub struct Control {
    /// 0: none; 1: window; 2: full history.
    mode: AtomicU8,
    /// 0: none; 1: pause; 2: new session.
    brk: AtomicU8,
}

impl Control {
    pub fn new() -> Self {
        Self::default()
    }

    /// Switch the policy at the stream's next look (`audio` is poked so it looks at once).
    pub fn request_mode(&self, mode: Mode, audio: &AudioState) {
        let v = match mode {
            Mode::Window => 1,
            Mode::Full => 2,
        };
        self.mode.store(v, Ordering::SeqCst);
        audio.poke();
    }

    /// Commit everything heard so far, then report a [`Event::Break`].
    pub fn request_break(&self, reason: BreakReason, audio: &AudioState) {
        let v = match reason {
            BreakReason::Pause => 1,
            BreakReason::NewSession => 2,
        };
        self.brk.store(v, Ordering::SeqCst);
        audio.poke();
    }

    fn take_mode(&self) -> Option<Mode> {
        match self.mode.swap(0, Ordering::SeqCst) {
            1 => Some(Mode::Window),
            2 => Some(Mode::Full),
            _ => None,
        }
    }

    fn take_break(&self) -> Option<BreakReason> {
        match self.brk.swap(0, Ordering::SeqCst) {
            1 => Some(BreakReason::Pause),
            2 => Some(BreakReason::NewSession),
            _ => None,
        }
    }
}

/// How the loop runs.
#[derive(Debug, Clone)]
pub struct RunConfig {
    /// Seconds between updates.
    pub step: f64,
    /// Switch to the other mode when the stream clock reaches each of these (seconds).
    pub switch_at: Vec<f64>,
    /// Requests taken while running.
    pub control: Option<Arc<Control>>,
}

/// Lag is reported at most this often (stream seconds), unless it grows.
const LAG_REPORT_EVERY: f64 = 5.0;

pub(crate) fn text_of(words: &[Word]) -> String {
    words
        .iter()
        .map(|w| w.text.as_str())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Round to milliseconds, for tidy output.
fn ms(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

fn commit_event(words: &[Word], at: f64) -> Option<Event> {
    let (first, last) = (words.first()?, words.last()?);
    Some(Event::Commit {
        text: text_of(words),
        start: ms(first.start),
        end: ms(last.end),
        emitted_at: ms(at),
        words: words
            .iter()
            .map(|w| Word::new(&w.text, ms(w.start), ms(w.end), ms(w.shown_at)))
            .collect(),
    })
}

/// After a failure inside the loop (a panic), commit whatever was tentative: the words the
/// user saw are kept where possible.
pub fn salvage(streamer: &mut Streamer, at: f64) -> Option<Event> {
    commit_event(&streamer.finish(), at)
}

/// The event that clears the tentative tail.
fn cleared(streamer: &Streamer, at: f64) -> Event {
    let end = ms(streamer.committer().end());
    Event::Partial {
        text: String::new(),
        start: end,
        end,
        emitted_at: ms(at),
    }
}

/// Run a stream until its source ends or `stop` is set, handing every event to `emit` as it
/// happens. The tentative tail is committed at the end, also when the model fails.
pub fn run(
    streamer: &mut Streamer,
    audio: &AudioState,
    clock: &mut Clock,
    cfg: &RunConfig,
    stop: &AtomicBool,
    emit: &mut dyn FnMut(&Event),
) -> Result<(), ModelError> {
    run_keeping(streamer, audio, clock, cfg, stop, emit, &mut |_| {})
}

/// [`run`], also handing every sample heard to `keep`, in order, before the updates that use
/// it (and so before any break that follows it).
pub fn run_keeping(
    streamer: &mut Streamer,
    audio: &AudioState,
    clock: &mut Clock,
    cfg: &RunConfig,
    stop: &AtomicBool,
    emit: &mut dyn FnMut(&Event),
    keep: &mut dyn FnMut(&[f32]),
) -> Result<(), ModelError> {
    let mut kept = audio.held_from();
    let step = ((cfg.step.max(0.05)) * SAMPLE_RATE as f64).round() as u64;
    let mut next = step;
    let mut seen = 0u64;
    let mut updates = 0u32;
    let mut compute = 0.0;
    let mut switch_at: Vec<f64> = cfg.switch_at.clone();
    switch_at.sort_by(|a, b| b.total_cmp(a));
    let mut partial = String::new();
    let mut lag_reported: Option<(f64, f64)> = None;
    let mut coalesced = 0u32;
    let mut result = Ok(());
    loop {
        let v = clock.wait(audio, next, stop);
        let stopping = stop.load(Ordering::Relaxed);
        if v.samples > kept {
            keep(&audio.read(kept, v.samples));
            kept = v.samples;
        }
        // A lost device cut off whatever was being said: once what arrived before it is
        // transcribed, the tentative tail is committed, and then the news is told.
        let notices = audio.take_notices();
        let cut_off = notices.iter().any(|n| n.kind == NoticeKind::Lost);
        let mut wanted = cfg.control.as_ref().and_then(|c| c.take_mode());
        while switch_at.last().is_some_and(|&at| clock.now(audio) >= at) {
            switch_at.pop();
            let current = wanted.unwrap_or(streamer.mode());
            wanted = Some(match current {
                Mode::Window => Mode::Full,
                Mode::Full => Mode::Window,
            });
        }
        if let Some(mode) = wanted.filter(|m| *m != streamer.mode()) {
            streamer.set_mode(mode, audio);
            emit(&Event::Mode {
                mode,
                emitted_at: ms(clock.now(audio)),
            });
        }
        if v.samples > seen {
            let u = match streamer.update(audio, v.samples, clock) {
                Ok(u) => u,
                Err(e) => {
                    result = Err(e);
                    break;
                }
            };
            seen = v.samples;
            updates += 1;
            compute += u.compute;
            if let Some(e) = commit_event(&u.committed, u.emitted_at) {
                emit(&e);
            }
            let tentative = streamer.committer().tentative();
            let text = text_of(tentative);
            if text != partial {
                let end = streamer.committer().end();
                emit(&Event::Partial {
                    text: text.clone(),
                    start: ms(tentative.first().map_or(end, |w| w.start)),
                    end: ms(tentative.last().map_or(end, |w| w.end)),
                    emitted_at: ms(u.emitted_at),
                });
                partial = text;
            }
            emit(&Event::Update {
                mode: u.mode,
                audio_start: ms(u.audio_start),
                audio_end: ms(u.audio_end),
                compute: ms(u.compute),
                skipped: u.skipped,
                held: ms(u.held),
                emitted_at: ms(u.emitted_at),
            });
            if u.compute > cfg.step && clock.counts_compute() {
                coalesced += (u.compute / cfg.step) as u32;
                let behind = u.emitted_at - u.audio_end;
                let due = match lag_reported {
                    None => true,
                    Some((at, worst)) => {
                        u.emitted_at - at >= LAG_REPORT_EVERY || behind > worst + 1.0
                    }
                };
                if due {
                    emit(&Event::Lag {
                        behind: ms(behind),
                        compute: ms(u.compute),
                        coalesced,
                        emitted_at: ms(u.emitted_at),
                    });
                    lag_reported = Some((u.emitted_at, behind));
                    coalesced = 0;
                }
            }
        }
        let brk = cfg.control.as_ref().and_then(|c| c.take_break());
        if cut_off || brk.is_some() {
            if let Some(e) = commit_event(&streamer.break_at(seen), clock.now(audio)) {
                emit(&e);
            }
            if !partial.is_empty() {
                emit(&cleared(streamer, clock.now(audio)));
                partial.clear();
            }
        }
        if let Some(reason) = brk {
            emit(&Event::Break {
                reason,
                at: ms(seen as f64 / SAMPLE_RATE as f64),
                emitted_at: ms(clock.now(audio)),
            });
        }
        for n in notices {
            emit(&Event::Device {
                kind: n.kind,
                device: n.device,
                message: n.message,
                at: ms(n.at as f64 / SAMPLE_RATE as f64),
                emitted_at: ms(clock.now(audio)),
            });
        }
        if v.complete || stopping {
            break;
        }
        next = v.samples + step;
    }
    let at = clock.now(audio);
    if let Some(e) = commit_event(&streamer.finish(), at) {
        emit(&e);
    }
    if !partial.is_empty() {
        emit(&cleared(streamer, at));
    }
    emit(&Event::End {
        duration: ms(seen as f64 / SAMPLE_RATE as f64),
        updates,
        compute: ms(compute),
        words: streamer.committer().total(),
        mode: streamer.mode(),
        emitted_at: ms(at),
    });
    result
}
