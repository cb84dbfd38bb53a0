//! `livecap stream`: live captions on standard output, as text or JSON events, from a capture
//! device, a file played as if live, or raw PCM on standard input. SIGINT and SIGTERM end the stream with its tail
//! committed; a second signal exits at once.

use std::io::{self, IsTerminal, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use anyhow::{bail, Context, Result};

use super::transcribe::decode_options;
use crate::asr::Model;
use crate::audio::pcm::PcmFormat;
use crate::audio::source::{Capture, Input, SourceOptions};
use crate::audio::AudioState;
use crate::cli::{StreamArgs, StreamFormat};
use crate::session::{data_dir, News, RecordOptions, Recorder};
use crate::stream::{self, Clock, ClockKind, Event, RunConfig, Streamer};

fn check(args: &StreamArgs) -> Result<()> {
    if let Err(what) = stream::check_window(args.window) {
        bail!("--window {}: {what}", args.window);
    }
    if let Err(what) = stream::check_step(args.step) {
        bail!("--step {}: {what}", args.step);
    }
    for &s in &args.switch_mode_at {
        if !(s.is_finite() && s >= 0.0) {
            bail!("--switch-mode-at {s}: give seconds from the start of the stream, 0 or more");
        }
    }
    if args.input_rate == 0 || args.input_rate > 384_000 {
        bail!(
            "--input-rate {}: give a sample rate in Hz, such as 16000",
            args.input_rate
        );
    }
    if args.input_channels == 0 {
        bail!("--input-channels 0: give 1 or more channels");
    }
    Ok(())
}

/// Run the command; `Ok(false)` when the stream ended early because of an error already
/// reported.
pub fn run(args: &StreamArgs) -> Result<bool> {
    check(args)?;
    let opts = decode_options(
        args.lang.language.as_deref(),
        args.lang.task,
        None,
        crate::config::vocabulary(&args.vocabulary)?,
        args.beam_size,
    )?;
    // No --input: the system's default capture device.
    let input = Input::parse(args.input.as_deref().unwrap_or("device:"));
    let clock_kind = args.clock.unwrap_or(if input.is_live() {
        ClockKind::Realtime
    } else {
        ClockKind::Simulated
    });
    if clock_kind != ClockKind::Realtime && matches!(input, Input::Device(_)) {
        bail!("--clock: a capture device can only run on the real clock (realtime)");
    }

    let stop = Arc::new(AtomicBool::new(false));
    super::stop_on_signals(&stop)?;

    let audio = Arc::new(AudioState::new());
    if input == Input::Stdin && io::stdin().is_terminal() {
        bail!("--input -: standard input is a terminal; pipe raw PCM into it, e.g. arecord -f S16_LE -r 16000 -c 1 -t raw | livecap stream --input -");
    }
    let source_opts = SourceOptions {
        paced: clock_kind == ClockKind::Realtime,
        pcm: PcmFormat {
            encoding: args.input_format,
            rate: args.input_rate,
            channels: args.input_channels,
        },
    };
    // The source first: a wrong device or file is reported at once, and a device's audio is
    // kept while the model loads.
    let capture = Capture::start(&input, &source_opts, audio.clone())?;
    let model = Model::load(&args.model.model).and_then(|m| m.check_options(&opts).map(|_| m));
    let model = match model {
        Ok(m) => m,
        Err(e) => {
            capture.join();
            return Err(e.into());
        }
    };

    let recorder = start_recording(args, &input);
    let mut streamer = Streamer::new(&model, opts, args.mode, args.window);
    let mut clock = Clock::new(clock_kind);
    let cfg = RunConfig {
        step: args.step,
        switch_at: args.switch_mode_at.clone(),
        control: None,
    };
    let stdout = io::stdout();
    let mut out = Output::new(args.format, stdout.is_terminal());
    let mut write_error: Option<io::Error> = None;
    let mut lock = stdout.lock();
    let recorder = std::cell::RefCell::new(recorder);
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        stream::run_keeping(
            &mut streamer,
            &audio,
            &mut clock,
            &cfg,
            &stop,
            &mut |e| {
                // On disk first, then out.
                if let Some(r) = recorder.borrow_mut().as_mut() {
                    tell(r.on_event(e));
                }
                if write_error.is_none() {
                    if let Err(err) = out.write(&mut lock, e) {
                        write_error = Some(err);
                        stop.store(true, Ordering::Relaxed);
                    }
                }
            },
            &mut |samples| {
                if let Some(r) = recorder.borrow_mut().as_mut() {
                    tell(r.on_audio(samples));
                }
            },
        )
    }));
    let mut recorder = recorder.into_inner();
    let result = match outcome {
        Ok(r) => r,
        Err(panic) => {
            // Keep what was on screen, then fail as loudly as before.
            if let (Some(r), Some(e)) = (recorder.as_mut(), stream::salvage(&mut streamer, 0.0)) {
                r.on_event(&e);
            }
            if let Some(r) = recorder.take() {
                r.finish().ok();
            }
            std::panic::resume_unwind(panic);
        }
    };
    if let Some(Err(e)) = recorder.map(Recorder::finish) {
        tell(Some(News::Failed(e.to_string())));
    }
    drop(lock);
    capture.join();
    if let Some(e) = write_error {
        if e.kind() == io::ErrorKind::BrokenPipe {
            return Ok(true);
        }
        return Err(e).context("cannot write to standard output");
    }
    result?;
    if let Some(e) = audio.error() {
        eprintln!("livecap: {e}; the text committed before it is above");
        return Ok(false);
    }
    Ok(true)
}

/// Start recording the session unless asked not to; trouble is said on standard error and the
/// captions go on.
fn start_recording(args: &StreamArgs, input: &Input) -> Option<Recorder> {
    if args.save.no_save {
        return None;
    }
    let Some(dir) = data_dir() else {
        tell(Some(News::Failed(
            "there is no data directory (set LIVECAP_DATA_DIR)".into(),
        )));
        return None;
    };
    let (r, news) = Recorder::start(
        &dir,
        RecordOptions {
            source: input.to_string(),
            model: args.model.model.clone(),
            mode: args.mode,
            title: args.save.title.clone(),
            keep_audio: args.save.keep_audio,
        },
    );
    tell(Some(news));
    Some(r)
}

/// Say news of the recording on standard error.
fn tell(news: Option<News>) {
    let msg = match news {
        None => return,
        Some(News::Started { id, dir }) => {
            format!("recording session {id} in {}", dir.display())
        }
        Some(News::Failed(e)) => format!("{e}; the captions go on unsaved"),
        Some(News::Recovered) => "the session is being saved again".into(),
    };
    use std::io::Write as _;
    writeln!(io::stderr(), "livecap: {msg}").ok();
}

fn terminal_width() -> usize {
    crossterm::terminal::size()
        .map(|(c, _)| c as usize)
        .unwrap_or(80)
        .max(10)
}

/// Longest committed line (on a terminal, at most its width) before it is broken at a word.
const LINE_CHARS: usize = 100;

/// Writes events as text or JSON Lines.
struct Output {
    format: StreamFormat,
    tty: bool,
    /// Committed words of the line being built.
    line: String,
    /// The tentative tail last shown (terminal only).
    tentative: String,
}

impl Output {
    fn new(format: StreamFormat, tty: bool) -> Self {
        Self {
            format,
            tty,
            line: String::new(),
            tentative: String::new(),
        }
    }

    fn write(&mut self, w: &mut impl Write, e: &Event) -> io::Result<()> {
        match self.format {
            StreamFormat::Jsonl => {
                serde_json::to_writer(&mut *w, e)?;
                w.write_all(b"\n")?;
                w.flush()
            }
            StreamFormat::Text => self.write_text(w, e),
        }
    }

    fn write_text(&mut self, w: &mut impl Write, e: &Event) -> io::Result<()> {
        match e {
            Event::Commit { words, .. } => {
                let limit = if self.tty {
                    LINE_CHARS.min(terminal_width() - 1)
                } else {
                    LINE_CHARS
                };
                for word in words {
                    let len = self.line.chars().count();
                    if len > 0 && len + 1 + word.text.chars().count() > limit {
                        self.end_line(w)?;
                    }
                    if !self.line.is_empty() {
                        self.line.push(' ');
                    }
                    self.line.push_str(&word.text);
                    if stream::ends_sentence(&word.text) {
                        self.end_line(w)?;
                    }
                }
                self.draw_live(w)?;
            }
            Event::Partial { text, .. } => {
                self.tentative.clone_from(text);
                self.draw_live(w)?;
            }
            Event::Device { message, .. } => {
                // Beside the captions, not in them: standard error, between lines.
                self.clear_live(w)?;
                w.flush()?;
                eprintln!("livecap: {message}");
                self.draw_live(w)?;
            }
            Event::End { .. } => {
                self.clear_live(w)?;
                if !self.line.is_empty() {
                    self.end_line(w)?;
                }
            }
            _ => return Ok(()),
        }
        w.flush()
    }

    /// Print the line being built as a finished line.
    fn end_line(&mut self, w: &mut impl Write) -> io::Result<()> {
        self.clear_live(w)?;
        writeln!(w, "{}", self.line)?;
        self.line.clear();
        Ok(())
    }

    fn clear_live(&self, w: &mut impl Write) -> io::Result<()> {
        if self.tty {
            write!(w, "\r\x1b[K")?;
        }
        Ok(())
    }

    /// On a terminal, the line being built and the tentative tail (dimmed), on one screen line.
    fn draw_live(&self, w: &mut impl Write) -> io::Result<()> {
        if !self.tty {
            return Ok(());
        }
        let width = terminal_width();
        let sep = if self.line.is_empty() || self.tentative.is_empty() {
            ""
        } else {
            " "
        };
        let committed: Vec<char> = self.line.chars().collect();
        let tentative: Vec<char> = format!("{sep}{}", self.tentative).chars().collect();
        // Keep the end of the line in view.
        // Room for the terminal to echo "^C" without wrapping the line.
        let room = width - 3;
        let total = committed.len() + tentative.len();
        let skip = total.saturating_sub(room);
        let c: String = committed.iter().skip(skip).collect();
        let t: String = tentative
            .iter()
            .skip(skip.saturating_sub(committed.len()))
            .collect();
        write!(w, "\r\x1b[K{c}\x1b[2m{t}\x1b[0m")
    }
}
