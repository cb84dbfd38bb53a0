//! The loop that runs a stream: wait for the next step of audio (or a request), carry out the
//! requests in the order they were sent, re-transcribe, and report every event as it happens.

use std::ops::ControlFlow;
use std::sync::atomic::{AtomicBool, Ordering};

use super::requests::{Inbox, Request};
use crate::asr::ModelError;
use crate::audio::source::Controls;
use crate::audio::state::NoticeKind;
use crate::audio::{AudioState, SAMPLE_RATE};
use crate::stream::{text_of, BreakReason, Clock, Event, Mode, Streamer, Word};

/// Where the loop's output goes: events in order, and every sample heard, in order, before the
/// updates that use it (and so before any break that follows it).
pub trait Output {
    /// `Break` ends the stream (its tail committed) at the next look.
    fn event(&mut self, e: &Event) -> ControlFlow<()>;
    fn audio(&mut self, samples: &[f32]);
}

/// How the loop runs.
#[derive(Debug, Clone, Default)]
pub struct Pace {
    /// Seconds between updates.
    pub step: f64,
    /// Switch to the other mode when the stream clock reaches each of these (seconds).
    pub switch_at: Vec<f64>,
}

/// Lag is reported at most this often (stream seconds), unless it grows.
const LAG_REPORT_EVERY: f64 = 5.0;

/// How often updates run: every `--step` seconds while the machine keeps up; when updates take
/// longer, a little more than they take on average (what the machine sustains, with room left
/// for capture and the screen), and back to `--step` as they get cheaper. One slow update moves
/// it only part of the way, so a spike does not hold the captions back. Only time that the clock
/// counts moves it (not on the stepped clock).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Cadence {
    base: f64,
    /// Seconds an update takes, on average over the recent ones.
    mean: Option<f64>,
}

/// Each update leaves this share of its own time free before the next one.
const HEADROOM: f64 = 1.15;
/// How much of the way to its latest cost the average moves with each update.
const EASE: f64 = 0.3;
/// The longest step (as `--step` allows).
const LONGEST_STEP: f64 = 30.0;

impl Cadence {
    pub fn new(step: f64) -> Self {
        Self {
            base: step,
            mean: None,
        }
    }

    /// Seconds of audio between this update and the next.
    pub fn step(&self) -> f64 {
        self.mean.map_or(self.base, |m| {
            (m * HEADROOM).clamp(self.base, LONGEST_STEP.max(self.base))
        })
    }

    /// An update (that ran the model) took `compute` seconds.
    pub fn after(&mut self, compute: f64) {
        self.mean = Some(match self.mean {
            None => compute,
            Some(m) => m + (compute - m) * EASE,
        });
    }
}

/// Round to milliseconds, for tidy output.
fn ms(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

pub(crate) fn commit_event(words: &[Word], at: f64) -> Option<Event> {
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

/// The audio being captioned, and how the loop steers its source.
pub struct Feed<'a> {
    pub audio: &'a AudioState,
    /// Its controls, for a device switch (a pause reaches it as it is sent).
    pub controls: Option<&'a Controls>,
    /// How it is named when a request cannot be carried out on it.
    pub name: &'a str,
}

struct Loop<'a, 'm> {
    streamer: &'a mut Streamer<'m>,
    feed: Feed<'a>,
    clock: &'a mut Clock,
    out: &'a mut dyn Output,
    /// Samples handed to [`Output::audio`].
    kept: u64,
    /// Samples transcribed.
    seen: u64,
    updates: u32,
    compute: f64,
    partial: String,
    lag_reported: Option<(f64, f64)>,
    coalesced: u32,
    step: f64,
    cadence: Cadence,
    /// Asked to end (by a request or the output).
    ending: bool,
}

impl Loop<'_, '_> {
    fn emit(&mut self, e: &Event) {
        if self.out.event(e).is_break() {
            self.ending = true;
        }
    }

    fn now(&self) -> f64 {
        ms(self.clock.now(self.feed.audio))
    }

    /// Hand over the audio up to `upto`, then transcribe it if there is any not yet seen.
    fn advance(&mut self, upto: u64) -> Result<(), ModelError> {
        if upto > self.kept {
            let samples = self.feed.audio.read(self.kept, upto);
            self.out.audio(&samples);
            self.kept = upto;
        }
        if upto <= self.seen {
            return Ok(());
        }
        let u = self.streamer.update(self.feed.audio, upto, self.clock)?;
        // The loop alone moves the clock and drops the audio no update will read again.
        self.clock.advance(u.compute);
        self.feed.audio.trim_before(u.keep_from);
        let held = upto.saturating_sub(self.feed.audio.held_from());
        self.seen = upto;
        self.updates += 1;
        self.compute += u.compute;
        if let Some(e) = commit_event(&u.committed, u.emitted_at) {
            self.emit(&e);
            crate::faults::panic_if_asked(crate::faults::Place::Engine);
        }
        let tentative = self.streamer.committer().tentative();
        let text = text_of(tentative);
        if text != self.partial {
            let end = self.streamer.committer().end();
            let e = Event::Partial {
                text: text.clone(),
                start: ms(tentative.first().map_or(end, |w| w.start)),
                end: ms(tentative.last().map_or(end, |w| w.end)),
                emitted_at: ms(u.emitted_at),
            };
            self.emit(&e);
            self.partial = text;
        }
        if !u.skipped && self.clock.counts_compute() {
            self.cadence.after(u.compute);
        }
        self.emit(&Event::Update {
            mode: u.mode,
            audio_start: ms(u.audio_start),
            audio_end: ms(u.audio_end),
            compute: ms(u.compute),
            skipped: u.skipped,
            held: ms(held as f64 / SAMPLE_RATE as f64),
            step: ms(self.cadence.step()),
            encoder_passes: u.work.encoder_passes,
            decoder_tokens: u.work.decoder_tokens,
            emitted_at: ms(u.emitted_at),
        });
        if u.compute > self.step && self.clock.counts_compute() {
            self.coalesced += (u.compute / self.step) as u32;
            let behind = u.emitted_at - u.audio_end;
            let due = match self.lag_reported {
                None => true,
                Some((at, worst)) => u.emitted_at - at >= LAG_REPORT_EVERY || behind > worst + 1.0,
            };
            if due {
                let e = Event::Lag {
                    behind: ms(behind),
                    compute: ms(u.compute),
                    coalesced: self.coalesced,
                    emitted_at: ms(u.emitted_at),
                };
                self.emit(&e);
                self.lag_reported = Some((u.emitted_at, behind));
                self.coalesced = 0;
            }
        }
        Ok(())
    }

    /// Commit everything transcribed so far and clear the tentative tail.
    fn commit_all(&mut self) {
        let words = self.streamer.break_at(self.seen);
        if let Some(e) = commit_event(&words, self.now()) {
            self.emit(&e);
        }
        self.clear_partial();
    }

    fn clear_partial(&mut self) {
        if !self.partial.is_empty() {
            let end = ms(self.streamer.committer().end());
            let e = Event::Partial {
                text: String::new(),
                start: end,
                end,
                emitted_at: self.now(),
            };
            self.emit(&e);
            self.partial.clear();
        }
    }

    fn set_mode(&mut self, mode: Mode) {
        if mode != self.streamer.mode() {
            self.streamer.set_mode(mode, self.feed.audio);
            let e = Event::Mode {
                mode,
                emitted_at: self.now(),
            };
            self.emit(&e);
        }
    }

    /// Everything heard up to now transcribed and committed, then the break reported.
    fn break_here(&mut self, reason: BreakReason, visible: u64) -> Result<(), ModelError> {
        self.advance(visible)?;
        self.commit_all();
        let e = Event::Break {
            reason,
            at: ms(self.seen as f64 / SAMPLE_RATE as f64),
            emitted_at: self.now(),
        };
        self.emit(&e);
        Ok(())
    }

    /// Carry out one request; `visible` is the audio the clock shows now.
    fn carry_out(
        &mut self,
        request: Request,
        sent: std::time::Instant,
        visible: u64,
    ) -> Result<(), ModelError> {
        match request {
            Request::Pause => {
                self.break_here(BreakReason::Pause, visible)?;
                self.clock.pause_since(sent);
            }
            Request::Resume => self.clock.resume_at(sent),
            Request::SetMode(mode) => self.set_mode(mode),
            Request::NewSession => self.break_here(BreakReason::NewSession, visible)?,
            Request::SwitchDevice(spec) => {
                if !self.feed.controls.is_some_and(|c| c.switch_device(&spec)) {
                    let e = Event::Device {
                        kind: NoticeKind::Refused,
                        message: format!(
                            "this session reads {}; start livecap with --input device:{spec} to caption that device",
                            self.feed.name
                        ),
                        device: spec,
                        at: ms(self.seen as f64 / SAMPLE_RATE as f64),
                        emitted_at: self.now(),
                    };
                    self.emit(&e);
                }
            }
            Request::Stop => self.ending = true,
        }
        Ok(())
    }
}

/// Run a stream until its source ends, `stop` is set, a [`Request::Stop`] arrives or the output
/// says so, handing every event to `out` as it happens and carrying out every request in
/// order. The tentative tail is committed at the end, also when the model fails.
pub fn run(
    streamer: &mut Streamer,
    feed: Feed,
    clock: &mut Clock,
    pace: &Pace,
    inbox: &Inbox,
    stop: &AtomicBool,
    out: &mut dyn Output,
) -> Result<(), ModelError> {
    let audio = feed.audio;
    let samples = |secs: f64| (secs.max(0.05) * SAMPLE_RATE as f64).round() as u64;
    let mut switch_at: Vec<f64> = pace.switch_at.clone();
    switch_at.sort_by(|a, b| b.total_cmp(a));
    let mut l = Loop {
        kept: audio.held_from(),
        streamer,
        feed,
        clock,
        out,
        seen: 0,
        updates: 0,
        compute: 0.0,
        partial: String::new(),
        lag_reported: None,
        coalesced: 0,
        step: pace.step,
        cadence: Cadence::new(pace.step),
        ending: false,
    };
    let mut next = samples(pace.step);
    let result = loop {
        let v = l.clock.wait(audio, next, &|| {
            stop.load(Ordering::Relaxed) || inbox.pending()
        });
        if stop.load(Ordering::Relaxed) {
            l.ending = true;
        }
        // A lost device cut off whatever was being said: once what arrived before it is
        // transcribed, the tentative tail is committed, and then the news is told.
        let notices = audio.take_notices();
        let cut_off = notices.iter().any(|n| n.kind == NoticeKind::Lost);
        let mut switches = 0;
        while switch_at.last().is_some_and(|&at| l.clock.now(audio) >= at) {
            switch_at.pop();
            switches += 1;
        }
        if switches % 2 == 1 {
            let other = match l.streamer.mode() {
                Mode::Window => Mode::Full,
                Mode::Full => Mode::Window,
            };
            l.set_mode(other);
        }
        let mut step_result = Ok(());
        for (request, sent) in inbox.take() {
            step_result = l.carry_out(request, sent, v.samples);
            if step_result.is_err() {
                break;
            }
        }
        let step_result = step_result.and_then(|()| l.advance(v.samples));
        if let Err(e) = step_result {
            break Err(e);
        }
        if cut_off {
            l.commit_all();
        }
        for n in notices {
            let e = Event::Device {
                kind: n.kind,
                device: n.device,
                message: n.message,
                at: ms(n.at as f64 / SAMPLE_RATE as f64),
                emitted_at: l.now(),
            };
            l.emit(&e);
        }
        if v.complete || l.ending {
            break Ok(());
        }
        next = v.samples + samples(l.cadence.step());
    };
    let at = l.clock.now(audio);
    if let Some(e) = commit_event(&l.streamer.finish(), at) {
        l.emit(&e);
    }
    l.clear_partial();
    let e = Event::End {
        duration: ms(l.seen as f64 / SAMPLE_RATE as f64),
        updates: l.updates,
        compute: ms(l.compute),
        words: l.streamer.committer().total(),
        mode: l.streamer.mode(),
        emitted_at: ms(at),
    };
    l.emit(&e);
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_step_follows_what_updates_take_and_comes_back() {
        let mut c = Cadence::new(0.5);
        c.after(0.2);
        assert_eq!(c.step(), 0.5, "a machine that keeps up keeps --step");
        // Updates that take 1 s: the step grows to 1.15 s, a part of the way each time.
        let mut last = c.step();
        for _ in 0..30 {
            c.after(1.0);
            assert!(c.step() >= last);
            last = c.step();
        }
        assert!((c.step() - 1.15).abs() < 0.01, "{}", c.step());
        // One spike moves it only part of the way.
        c.after(5.0);
        assert!(c.step() < 3.0, "{}", c.step());
        for _ in 0..40 {
            c.after(0.1);
            assert!(c.step() <= last.max(3.0) && c.step() >= 0.5);
            last = c.step();
        }
        assert_eq!(c.step(), 0.5, "back to --step once updates are cheap");
        for _ in 0..100 {
            c.after(1e6);
        }
        assert_eq!(c.step(), LONGEST_STEP);
    }
}
