//! Where full-context transcription cuts speech: into chunks that each begin a little before
//! their speech and end a little after it once a pause follows, never longer than the model
//! hears at once (a longer stretch is cut at its longest pause). What lies between two chunks
//! holds no speech. The cut is causal: a chunk is known to be closed as soon as the pause after
//! it has been heard, so a live stream closes the very chunks that the transcription of the
//! finished recording does.

use crate::audio::vad::{Vad, FRAME};
use crate::audio::SAMPLE_RATE;

/// A pause this long after speech closes a chunk.
pub const PAUSE_SECS: f64 = 0.5;
/// The longest chunk: what the model hears at once.
pub const MAX_SECS: f64 = 30.0;
/// Audio kept on either side of a chunk's speech (at most half the pause, so that chunks never
/// overlap): the detector can miss a soft first or last sound.
const PAD_SECS: f64 = 0.25;

fn samples(secs: f64) -> u64 {
    (secs * SAMPLE_RATE as f64).round() as u64
}

/// A stretch of audio transcribed whole, in samples since the stream began.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Chunk {
    pub start: u64,
    pub end: u64,
    /// Seconds from the end of the previous chunk's speech to the start of this one's
    /// (infinite for the first chunk).
    pub gap: f64,
}

/// The chunk being heard: where it starts, its speech, and the pauses inside it.
#[derive(Debug, Clone)]
struct Open {
    start: u64,
    /// Start of its first speech frame and end of its last one.
    speech_start: u64,
    speech_end: u64,
    /// The non-speech frames since the last speech frame began here (a frame index).
    silent_since: Option<u64>,
    /// The longest finished pause inside it, as (first frame, frames): where a chunk that grows
    /// too long is cut. Pauses in its second half are preferred.
    longest: Option<(u64, u64)>,
    longest_late: Option<(u64, u64)>,
}

/// Seconds from the end of earlier speech to `speech_start` (infinite with none before).
fn gap(speech_end: Option<u64>, speech_start: u64) -> f64 {
    speech_end.map_or(f64::INFINITY, |e| {
        speech_start.saturating_sub(e) as f64 / SAMPLE_RATE as f64
    })
}

/// Finds the chunks of a stream as the voice activity detector judges its frames.
#[derive(Debug, Clone)]
pub struct Chunker {
    /// The next chunk begins no earlier than this.
    floor: u64,
    /// The next frame to look at.
    next_frame: u64,
    open: Option<Open>,
    /// End of the last closed chunk's speech.
    last_speech_end: Option<u64>,
}

impl Chunker {
    /// Chunks from sample `from` on.
    pub fn new(from: u64) -> Self {
        Self {
            floor: from,
            next_frame: from.div_ceil(FRAME as u64),
            open: None,
            last_speech_end: None,
        }
    }

    /// The same, for a stream whose speech before `from` last ended at `speech_end` (gaps are
    /// measured from there).
    pub fn after_speech(self, speech_end: Option<u64>) -> Self {
        Self {
            last_speech_end: speech_end,
            ..self
        }
    }

    /// Where the open chunk begins, or where the next one can; everything before it is in
    /// closed chunks or silence.
    pub fn start(&self) -> u64 {
        self.open.as_ref().map_or(self.floor, |o| o.start)
    }

    fn gap(&self, speech_start: u64) -> f64 {
        gap(self.last_speech_end, speech_start)
    }

    /// The chunks closed by the frames judged since the last call, in order.
    pub fn closed(&mut self, vad: &Vad) -> Vec<Chunk> {
        let frame = FRAME as u64;
        let pause = samples(PAUSE_SECS);
        let pad = samples(PAD_SECS);
        let max = samples(MAX_SECS);
        let mut out = Vec::new();
        while let Some(speech) = vad.frame_is_speech(self.next_frame) {
            let f = self.next_frame;
            self.next_frame += 1;
            let (at, to) = (f * frame, (f + 1) * frame);
            let Some(o) = self.open.as_mut() else {
                if speech {
                    let start = at.saturating_sub(pad).max(self.floor);
                    self.open = Some(Open {
                        start,
                        speech_start: at,
                        speech_end: to,
                        silent_since: None,
                        longest: None,
                        longest_late: None,
                    });
                }
                continue;
            };
            if speech {
                if let Some(s) = o.silent_since.take() {
                    let run = (s, f - s);
                    let better = |best: Option<(u64, u64)>| best.is_none_or(|b| run.1 >= b.1);
                    if better(o.longest) {
                        o.longest = Some(run);
                    }
                    if s * frame >= o.start + max / 2 && better(o.longest_late) {
                        o.longest_late = Some(run);
                    }
                }
                o.speech_end = to;
            } else {
                o.silent_since.get_or_insert(f);
                if to - o.speech_end >= pause {
                    let end = (o.speech_end + pad).min(to);
                    let chunk = Chunk {
                        start: o.start,
                        end,
                        gap: gap(self.last_speech_end, o.speech_start),
                    };
                    self.last_speech_end = Some(o.speech_end);
                    self.floor = end;
                    self.open = None;
                    out.push(chunk);
                    continue;
                }
            }
            if to + frame - o.start > max {
                // Too long without a pause: cut in the middle of its longest pause (or the one
                // going on now), or, with none at all, here.
                let now = o.silent_since.map(|s| (s, f + 1 - s));
                let run = o
                    .longest_late
                    .or(now.filter(|r| r.0 * frame >= o.start + max / 2))
                    .or(o.longest)
                    .or(now);
                let cut = run
                    .map_or(to, |(s, n)| (s + n / 2) * frame)
                    .max(o.start + frame);
                let chunk = Chunk {
                    start: o.start,
                    end: cut,
                    gap: gap(self.last_speech_end, o.speech_start),
                };
                self.last_speech_end = Some(o.speech_end.min(cut));
                self.floor = cut;
                self.open = None;
                // What follows the cut is heard again as the start of the next chunk.
                self.next_frame = cut / frame;
                out.push(chunk);
            }
        }
        out
    }

    /// The open chunk as far as `heard` samples, if it holds speech: it ends a little after its
    /// last speech, as it would if a pause closed it now.
    pub fn open(&self, heard: u64) -> Option<Chunk> {
        self.open.as_ref().map(|o| Chunk {
            start: o.start,
            end: (o.speech_end + samples(PAD_SECS)).min(heard).max(o.start),
            gap: self.gap(o.speech_start),
        })
    }

    /// The end of the input at `total` samples: the open chunk, closed.
    pub fn finish(&mut self, vad: &Vad, total: u64) -> Vec<Chunk> {
        let mut out = self.closed(vad);
        if let Some(c) = self.open(total) {
            if let Some(o) = self.open.take() {
                self.last_speech_end = Some(o.speech_end);
            }
            self.floor = c.end;
            out.push(c);
        }
        out
    }
}

/// Every chunk of a whole recording.
pub fn chunks_of(vad: &Vad, total: u64) -> Vec<Chunk> {
    Chunker::new(0).finish(vad, total)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A sound the detector takes for speech, `secs` long.
    fn voice(secs: f64) -> Vec<f32> {
        (0..samples(secs))
            .map(|i| 0.3 * (i as f32 * 0.3).sin() * if i % 7 == 0 { 1.0 } else { 0.9 })
            .collect()
    }

    fn quiet(secs: f64) -> Vec<f32> {
        vec![0.0; samples(secs) as usize]
    }

    fn secs(c: &Chunk) -> (f64, f64) {
        let s = |x: u64| (x as f64 / SAMPLE_RATE as f64 * 100.0).round() / 100.0;
        (s(c.start), s(c.end))
    }

    #[test]
    fn pauses_cut_speech_into_padded_chunks() {
        let mut audio = quiet(1.0);
        audio.extend(voice(2.0));
        audio.extend(quiet(0.3)); // too short to cut at
        audio.extend(voice(1.0));
        audio.extend(quiet(2.0));
        audio.extend(voice(1.5));
        let mut vad = Vad::remembering_all();
        vad.feed(&audio);
        let chunks = chunks_of(&vad, audio.len() as u64);
        let spans: Vec<(f64, f64)> = chunks.iter().map(secs).collect();
        assert_eq!(spans, vec![(0.75, 4.55), (6.05, 7.8)], "{chunks:?}");
        assert!(chunks[0].gap.is_infinite());
        assert!((chunks[1].gap - 2.0).abs() < 0.05, "{}", chunks[1].gap);
    }

    #[test]
    fn a_live_stream_closes_the_same_chunks_as_the_whole_recording() {
        let mut audio = Vec::new();
        for (i, len) in [3.0, 0.7, 12.0, 4.0, 1.0, 36.0].iter().enumerate() {
            audio.extend(voice(*len));
            audio.extend(quiet(if i % 2 == 0 { 0.6 } else { 0.35 }));
        }
        let total = audio.len() as u64;
        let mut whole = Vad::remembering_all();
        whole.feed(&audio);
        let expected = chunks_of(&whole, total);
        let mut live = Vad::new();
        let mut chunker = Chunker::new(0);
        let mut got = Vec::new();
        for piece in audio.chunks(16_000) {
            live.feed(piece);
            got.extend(chunker.closed(&live));
        }
        got.extend(chunker.finish(&live, total));
        assert_eq!(got, expected);
        // The stretch of 36 s without a pause of half a second is cut; no chunk is longer than
        // the model hears; chunks follow each other.
        assert!(got.len() >= 5, "{got:?}");
        for w in got.windows(2) {
            assert!(w[0].end <= w[1].start, "{got:?}");
        }
        assert!(got
            .iter()
            .all(|c| c.end - c.start <= samples(MAX_SECS) && c.end > c.start));
        // Every sample of sound lies in some chunk.
        let covered = |p: u64| got.iter().any(|c| c.start <= p && p < c.end);
        let mut pos = 0u64;
        for (i, len) in [3.0, 0.7, 12.0, 4.0, 1.0, 36.0].iter().enumerate() {
            let n = samples(*len);
            for p in (pos..pos + n).step_by(800) {
                assert!(covered(p), "sample {p} of sound in no chunk: {got:?}");
            }
            pos += n + samples(if i % 2 == 0 { 0.6 } else { 0.35 });
        }
    }

    #[test]
    fn a_long_stretch_is_cut_at_its_longest_pause() {
        let mut audio = voice(10.0);
        audio.extend(quiet(0.2));
        audio.extend(voice(10.0));
        audio.extend(quiet(0.4));
        audio.extend(voice(15.0));
        let mut vad = Vad::remembering_all();
        vad.feed(&audio);
        let chunks = chunks_of(&vad, audio.len() as u64);
        let spans: Vec<(f64, f64)> = chunks.iter().map(secs).collect();
        assert_eq!(spans.len(), 2, "{spans:?}");
        assert!((spans[0].1 - 20.4).abs() < 0.05, "{spans:?}");
        assert_eq!(spans[0].1, spans[1].0);
    }
}
