//! `livecap sessions`: list the recorded sessions, show one, export its transcript, or
//! transcribe its kept audio again with full context.

use std::io::{self, BufWriter, Write};
use std::path::Path;

use anyhow::{bail, Context, Result};

use crate::cli::{decode_options, ExportArgs, RetranscribeArgs, SessionsCommand, TaskArg};
use crate::private::create_private;
use crate::session::export::timestamp;
use crate::session::reader::Summary;
use crate::session::{write_transcript, Format, Store};
use crate::transcript::Transcript;

pub fn run(cmd: &SessionsCommand) -> Result<bool> {
    let Some(store) = Store::user() else {
        bail!("there is no data directory; set LIVECAP_DATA_DIR");
    };
    match cmd {
        SessionsCommand::List => list(&store),
        SessionsCommand::Show { id } => show(&store, id),
        SessionsCommand::Export(a) => export(&store, a),
        SessionsCommand::Retranscribe(a) => retranscribe(&store, a),
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
    if let Some(audio) = &opened.audio {
        writeln!(out, "audio    {}", audio.display())?;
    }
    writeln!(out)?;
    for e in &back.entries {
        writeln!(
            out,
            "[{} --> {}]  {}",
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
