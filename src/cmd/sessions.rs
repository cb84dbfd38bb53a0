//! `livecap sessions`: list the recorded sessions, show one, export its transcript, or
//! transcribe its kept audio again with full context.

use std::io::{self, BufWriter, Write};
use std::path::Path;

use anyhow::{bail, Context, Result};

use crate::cli::{
    decode_options, ExportArgs, FollowArgs, PlayArgs, RetranscribeArgs, SessionsCommand,
    StreamFormat, TaskArg,
};
use crate::cmd::stream::LINE_CHARS;
use crate::private::create_private;
use crate::session::export::timestamp;
use crate::session::follow::{self, Recording};
use crate::session::log::Entry;
use crate::session::reader::Summary;
use crate::session::{write_transcript, Format, Store};
use crate::share::Share;
use crate::transcript::{Lines, Transcript};

pub fn run(cmd: &SessionsCommand) -> Result<bool> {
    let Some(store) = Store::user() else {
        bail!("there is no data directory; set LIVECAP_DATA_DIR");
    };
    match cmd {
        SessionsCommand::List => list(&store),
        SessionsCommand::Show { id } => show(&store, id),
        SessionsCommand::Follow(a) => follow(&store, a),
        SessionsCommand::Export(a) => export(&store, a),
        SessionsCommand::Retranscribe(a) => retranscribe(&store, a),
        SessionsCommand::Play(a) => play(&store, a),
    }
}

/// Text from a file a person may have edited, safe to print: no control characters.
fn printable(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// `YYYY-MM-DD HH:MM UTC` for unix seconds.
fn utc(secs: f64) -> String {
    let id = crate::session::ids::id_for(secs);
    // The id is `YYYY-MM-DDTHH-MM-SSZ`.
    match (id.get(..10), id.get(11..13), id.get(14..16)) {
        (Some(d), Some(h), Some(m)) => format!("{d} {h}:{m} UTC"),
        _ => id,
    }
}

fn duration(secs: f64) -> String {
    let s = secs.max(0.0).round() as u64;
    format!("{}:{:02}:{:02}", s / 3600, (s / 60) % 60, s % 60)
}

fn list(store: &Store) -> Result<bool> {
    let mut out = io::stdout().lock();
    let mut ok = true;
    for summary in store.list() {
        match summary {
            Ok(s) => writeln!(out, "{}", list_line(&s))?,
            Err(e) => {
                ok = false;
                crate::stderr::say(e);
            }
        }
    }
    Ok(ok)
}

/// One line of `sessions follow --format jsonl`.
#[derive(serde::Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
enum Followed<'a> {
    Commit(&'a Entry),
    /// The session closed (`clean`), or its recorder was killed (not `clean`).
    End {
        clean: bool,
    },
}

/// Print what session `args.id` commits, as it is committed, until it closes. Standard output
/// gone (`| head`) ends it quietly, as for every command.
fn follow(store: &Store, args: &FollowArgs) -> Result<bool> {
    let mut follower = store.follow(args.id.as_deref(), args.from_now)?;
    let share = Share::announce(args.share.as_deref())?;
    let mut out = io::stdout().lock();
    // Lines are cut per input: a session of two inputs prints each one's after its label.
    let mut lines: Vec<(Option<String>, Lines)> = Vec::new();
    let json = |out: &mut io::StdoutLock, f: &Followed| -> io::Result<()> {
        serde_json::to_writer(&mut *out, f)?;
        writeln!(out)
    };
    let recording = loop {
        // Asked first: once the recording is over, this read gets every line.
        let recording = follower.recording();
        for e in follower.read_new()? {
            if let Some(s) = &share {
                s.board().commit(&e.text);
            }
            match args.format {
                StreamFormat::Text => {
                    let at = match lines.iter().position(|(who, _)| *who == e.source) {
                        Some(at) => at,
                        None => {
                            lines.push((e.source.clone(), Lines::new(LINE_CHARS, f64::INFINITY)));
                            lines.len() - 1
                        }
                    };
                    let (who, grouper) = &mut lines[at];
                    // Word by word, as `livecap stream` breaks its lines.
                    for w in e.text.split_whitespace() {
                        grouper.push(w, e.start, e.end);
                    }
                    print_lines(&mut out, who.as_deref(), grouper.take_finished())?;
                }
                StreamFormat::Jsonl => json(&mut out, &Followed::Commit(&e))?,
            }
        }
        out.flush()?;
        if recording != Recording::Live {
            break recording;
        }
        std::thread::sleep(follow::EVERY);
    };
    let clean = recording == Recording::Ended;
    if let Some(share) = share {
        share.finish();
    }
    match args.format {
        StreamFormat::Text => {
            for (who, grouper) in &mut lines {
                grouper.close();
                print_lines(&mut out, who.as_deref(), grouper.take_finished())?;
            }
        }
        StreamFormat::Jsonl => json(&mut out, &Followed::End { clean })?,
    }
    out.flush()?;
    if !clean {
        let id = follower.dir().file_name().unwrap_or_default();
        crate::stderr::say(format!(
            "the livecap recording session {} stopped without closing it (it was killed); every line it wrote is above",
            id.to_string_lossy()
        ));
    }
    Ok(true)
}

/// Finished lines, each after its input's label when the session captioned two apart.
fn print_lines(
    out: &mut impl Write,
    who: Option<&str>,
    lines: Vec<crate::transcript::Line>,
) -> io::Result<()> {
    for l in lines {
        match who {
            Some(who) => writeln!(out, "{}: {}", printable(who), printable(&l.text))?,
            None => writeln!(out, "{}", printable(&l.text))?,
        }
    }
    Ok(())
}

fn list_line(s: &Summary) -> String {
    let mut line = format!(
        "{}  {}  {}  {:>6} words",
        s.id,
        s.started.map_or_else(|| "unknown start".into(), utc),
        duration(s.duration),
        s.words
    );
    if let Some(t) = &s.title {
        line.push_str("  ");
        line.push_str(&printable(t));
    }
    if s.torn {
        line.push_str("  (cut off)");
    }
    line
}

fn show(store: &Store, id: &str) -> Result<bool> {
    let opened = store.open(id)?;
    let (back, meta) = (&opened.transcript, &opened.meta);
    let mut out = io::stdout().lock();
    writeln!(out, "session  {id}")?;
    if let Some(m) = &meta {
        if let Some(t) = &m.title {
            writeln!(out, "title    {}", printable(t))?;
        }
        writeln!(out, "started  {}", utc(m.started))?;
        match m.ended {
            Some(e) => writeln!(out, "ended    {}", utc(e))?,
            None => writeln!(out, "ended    (not closed: the process was stopped hard)")?,
        }
        writeln!(out, "source   {}", printable(&m.source))?;
        writeln!(out, "model    {}", printable(&m.model))?;
    }
    let words: usize = back
        .entries
        .iter()
        .map(|e| e.text.split_whitespace().count())
        .sum();
    writeln!(out, "words    {words}")?;
    for kept in &opened.audio {
        match &kept.label {
            Some(label) => writeln!(
                out,
                "audio    {} ({})",
                kept.path.display(),
                printable(label)
            )?,
            None => writeln!(out, "audio    {}", kept.path.display())?,
        }
    }
    writeln!(out)?;
    for e in &back.entries {
        let who = e
            .source
            .as_deref()
            .map_or_else(String::new, |s| format!("{}: ", printable(s)));
        writeln!(
            out,
            "[{} --> {}]  {who}{}",
            timestamp(e.start, '.'),
            timestamp(e.end, '.'),
            printable(e.text.trim())
        )?;
    }
    if back.torn {
        writeln!(
            out,
            "(the last line was cut off when livecap was stopped; it is left out)"
        )?;
    }
    Ok(true)
}

/// Write `t` in `format` to `output` or standard output.
fn write_out(t: &Transcript, name: &str, format: Format, output: Option<&Path>) -> Result<()> {
    match output {
        Some(path) => {
            let f = create_private(path)
                .with_context(|| format!("cannot create {}", path.display()))?;
            let mut w = BufWriter::new(f);
            write_transcript(&mut w, t, name, format)
                .with_context(|| format!("cannot write {}", path.display()))
        }
        None => {
            let mut w = io::stdout().lock();
            match write_transcript(&mut w, t, name, format) {
                Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
                r => r.context("cannot write to standard output"),
            }
        }
    }
}

fn export(store: &Store, a: &ExportArgs) -> Result<bool> {
    let t = store.transcript(&a.id)?;
    write_out(&t, &a.id, a.format, a.output.as_deref())?;
    Ok(true)
}

/// How often `sessions play` looks whether the audio is over or a signal came.
const PLAY_LOOK_EVERY: std::time::Duration = std::time::Duration::from_millis(50);

fn play(store: &Store, a: &PlayArgs) -> Result<bool> {
    let opened = store.open(&a.id)?;
    let Some(samples) = opened.kept_samples(a.source.as_deref())? else {
        bail!(
            "session {} has no kept audio; record with --keep-audio to be able to hear it again",
            a.id
        );
    };
    let length = samples.len() as f64 / crate::audio::SAMPLE_RATE as f64;
    if !a.from.is_finite() || a.from < 0.0 || a.from >= length {
        bail!(
            "--from {}: session {}'s audio lasts {} ({length:.1} s)",
            a.from,
            a.id,
            duration(length)
        );
    }
    let first = (a.from * crate::audio::SAMPLE_RATE as f64) as usize;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    crate::live::stop_on_signals(&stop)?;
    let playing = crate::audio::device::Playback::start(samples.get(first..).unwrap_or_default())?;
    crate::stderr::say(format!(
        "playing session {} from {} through {} (Ctrl-C stops)",
        a.id,
        timestamp(a.from, '.'),
        playing.device
    ));
    while !playing.done() && !stop.load(std::sync::atomic::Ordering::Relaxed) {
        std::thread::sleep(PLAY_LOOK_EVERY);
    }
    if let Some(why) = playing.failure() {
        bail!("the default output stopped playing: {why}");
    }
    Ok(true)
}

fn retranscribe(store: &Store, a: &RetranscribeArgs) -> Result<bool> {
    let opts = decode_options(
        None,
        TaskArg::Transcribe,
        None,
        crate::config::vocabulary(&a.vocabulary)?,
        a.beam_size,
    )?;
    let t = store.retranscribe(&a.id, a.model.as_deref(), a.compute_type, &opts)?;
    write_out(&t, &a.id, a.format, a.output.as_deref())?;
    Ok(true)
}
