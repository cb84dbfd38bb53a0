//! `livecap stream`: live captions on standard output, as text or JSON events, from a capture
//! device, a file played as if live, or raw PCM on standard input. SIGINT and SIGTERM end the stream with its tail
//! committed; a second signal exits at once.

use std::io::{self, IsTerminal, Write};
use std::ops::ControlFlow;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use anyhow::{bail, Context, Result};

use crate::audio::pcm::PcmFormat;
use crate::audio::source::{Input, SourceOptions};
use crate::cli::{StreamArgs, StreamFormat};
use crate::live::{self, Captioner, LiveError, Sink};
use crate::session::News;
use crate::share::{Board, Share};
use crate::stream::{ClockKind, Event};
use crate::transcript::Lines;

/// The flags only this command has, checked.
fn check(args: &StreamArgs) -> Result<()> {
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
    let cfg = crate::config::load(args.live.config.as_deref())?;
    let settings = args.live.settings(&cfg)?;
    check(args)?;
    let clock_kind = args.clock.unwrap_or(if settings.input.is_live() {
        ClockKind::Realtime
    } else {
        ClockKind::Simulated
    });
    if clock_kind != ClockKind::Realtime && matches!(settings.input, Input::Device(_)) {
        bail!("--clock: a capture device can only run on the real clock (realtime)");
    }
    let stop = Arc::new(AtomicBool::new(false));
    live::stop_on_signals(&stop)?;
    let source = SourceOptions {
        paced: clock_kind == ClockKind::Realtime,
        pcm: PcmFormat {
            encoding: args.input_format,
            rate: args.input_rate,
            channels: args.input_channels,
        },
        wait_for_default: false,
    };
    let mut captioner = Captioner::open(settings, &source, clock_kind)?;
    captioner.switch_mode_at(&args.switch_mode_at);
    let share = Share::announce(args.live.share.as_deref())?;
    let stdout = io::stdout();
    let mut printer = Printer {
        out: EventWriter::new(args.format, stdout.is_terminal()),
        second: None,
        w: stdout.lock(),
        write_error: None,
        share: share.as_ref().map(|s| s.board().clone()),
    };
    let ended = captioner.run(&stop, &mut printer);
    let Printer { w, write_error, .. } = printer;
    drop(w);
    if let Some(share) = share {
        share.finish();
    }
    if let Some(e) = write_error {
        if e.kind() == io::ErrorKind::BrokenPipe {
            return Ok(true);
        }
        return Err(e).context("cannot write to standard output");
    }
    match ended.failure {
        None => Ok(true),
        Some(LiveError::Source(e)) => {
            crate::stderr::say(format!("{e}; the text committed before it is above"));
            Ok(false)
        }
        Some(failure) => bail!("{failure}"),
    }
}

/// Standard output as the captioner's sink; recording news goes to standard error.
struct Printer<W: Write> {
    out: EventWriter,
    /// The second input's, when two are captioned apart.
    second: Option<EventWriter>,
    w: W,
    /// Writing failed (the reader went away): the session ends, its tail on disk.
    write_error: Option<io::Error>,
    /// The shared web page's captions, with `--share`.
    share: Option<Arc<Board>>,
}

impl<W: Write> Sink for Printer<W> {
    fn event(&mut self, e: &Event) -> ControlFlow<()> {
        if self.write_error.is_some() {
            return ControlFlow::Break(());
        }
        if let Some(board) = &self.share {
            board.event(e);
        }
        match self.out.write(&mut self.w, e) {
            Ok(()) => ControlFlow::Continue(()),
            Err(err) => {
                self.write_error = Some(err);
                ControlFlow::Break(())
            }
        }
    }

    fn labelled(&mut self, lane: usize, label: &str, e: &Event) -> ControlFlow<()> {
        if self.write_error.is_some() {
            return ControlFlow::Break(());
        }
        if let Some(board) = &self.share {
            board.labelled(lane, label, e);
        }
        let writer = if lane == 0 {
            &mut self.out
        } else {
            let (format, tty) = (self.out.format, self.out.tty);
            self.second
                .get_or_insert_with(|| EventWriter::new(format, tty))
        };
        writer.label.get_or_insert_with(|| label.to_string());
        match writer.write(&mut self.w, e) {
            Ok(()) => ControlFlow::Continue(()),
            Err(err) => {
                self.write_error = Some(err);
                ControlFlow::Break(())
            }
        }
    }

    fn news(&mut self, news: News) {
        tell(news);
    }
}

/// An event as a JSON line, with the label of the input it came from.
#[derive(serde::Serialize)]
struct FromSource<'a> {
    #[serde(flatten)]
    event: &'a Event,
    source: &'a str,
}

/// Say news of the recording on standard error.
fn tell(news: News) {
    let msg = match news {
        News::Started { id, dir } => {
            format!("recording session {id} in {}", dir.display())
        }
        News::Failed(e) => format!("{e}; the captions go on unsaved"),
        News::Recovered => "the session is being saved again".into(),
    };
    crate::stderr::say(msg);
}

fn terminal_width() -> usize {
    crossterm::terminal::size()
        .map(|(c, _)| c as usize)
        .unwrap_or(80)
        .max(10)
}

/// Longest committed line (on a terminal, at most its width) before it is broken at a word.
pub(crate) const LINE_CHARS: usize = 100;

/// Writes events as text or JSON Lines.
struct EventWriter {
    format: StreamFormat,
    tty: bool,
    /// Committed words, in lines; the last one may still be being built.
    lines: Lines,
    /// The tentative tail last shown (terminal only).
    tentative: String,
    /// The input's label, with two inputs: each line starts with it (`You: …`).
    label: Option<String>,
}

impl EventWriter {
    fn new(format: StreamFormat, tty: bool) -> Self {
        Self {
            format,
            tty,
            lines: Lines::new(LINE_CHARS, f64::INFINITY),
            tentative: String::new(),
            label: None,
        }
    }

    /// What starts each of this input's lines.
    fn prefix(&self) -> String {
        self.label
            .as_ref()
            .map_or_else(String::new, |l| format!("{l}: "))
    }

    fn write(&mut self, w: &mut impl Write, e: &Event) -> io::Result<()> {
        match self.format {
            StreamFormat::Jsonl => {
                match &self.label {
                    Some(source) => {
                        serde_json::to_writer(&mut *w, &FromSource { event: e, source })?
                    }
                    None => serde_json::to_writer(&mut *w, e)?,
                }
                w.write_all(b"\n")?;
                w.flush()
            }
            StreamFormat::Text => self.write_text(w, e),
        }
    }

    fn write_text(&mut self, w: &mut impl Write, e: &Event) -> io::Result<()> {
        match e {
            Event::Commit { words, .. } => {
                if self.tty {
                    self.lines
                        .set_max_chars(LINE_CHARS.min(terminal_width() - 1));
                }
                for word in words {
                    self.lines.push(&word.text, word.start, word.end);
                }
                self.print_finished(w)?;
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
                crate::stderr::say(message);
                self.draw_live(w)?;
            }
            Event::End { .. } => {
                self.clear_live(w)?;
                self.lines.close();
                self.print_finished(w)?;
            }
            _ => return Ok(()),
        }
        w.flush()
    }

    /// Print the lines that are finished.
    fn print_finished(&mut self, w: &mut impl Write) -> io::Result<()> {
        for line in self.lines.take_finished() {
            self.clear_live(w)?;
            writeln!(w, "{}{}", self.prefix(), line.text)?;
        }
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
        let line = self.lines.open_line().map_or("", |l| l.text.as_str());
        let sep = if line.is_empty() || self.tentative.is_empty() {
            ""
        } else {
            " "
        };
        let committed: Vec<char> = format!("{}{line}", self.prefix()).chars().collect();
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
