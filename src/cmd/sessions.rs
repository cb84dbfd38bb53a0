//! `livecap sessions`: list the recorded sessions, show one, export its transcript, or
//! transcribe its kept audio again with full context.

use std::io::{self, BufWriter, Write};
use std::path::Path;

use anyhow::{bail, Context, Result};

use super::transcribe::decode_options;
use crate::asr::{self, Model, Transcript};
use crate::cli::{ExportArgs, RetranscribeArgs, SessionsCommand, TaskArg};
use crate::session::export::timestamp;
use crate::session::log::{
    create_private, find, list_ids, load_transcript, read_meta, read_transcript, summarize,
    Summary, TRANSCRIPT,
};
use crate::session::record::AUDIO;
use crate::session::{data_dir, write_transcript, Format};

pub fn run(cmd: &SessionsCommand) -> Result<bool> {
    let Some(data) = data_dir() else {
        bail!("there is no data directory; set LIVECAP_DATA_DIR");
    };
    match cmd {
        SessionsCommand::List => list(&data),
        SessionsCommand::Show { id } => show(&data, id),
        SessionsCommand::Export(a) => export(&data, a),
        SessionsCommand::Retranscribe(a) => retranscribe(&data, a),
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
    let id = crate::session::log::id_for(secs);
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

fn list(data: &Path) -> Result<bool> {
    let mut out = io::stdout().lock();
    let mut ok = true;
    for id in list_ids(data) {
        match summarize(data, &id) {
            Ok(s) => writeln!(out, "{}", list_line(&s))?,
            Err(e) => {
                ok = false;
                writeln!(io::stderr(), "livecap: {e}").ok();
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

fn show(data: &Path, id: &str) -> Result<bool> {
    let dir = find(data, id)?;
    let back = read_transcript(&dir.join(TRANSCRIPT))?;
    let meta = read_meta(&dir);
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
    if dir.join(AUDIO).is_file() {
        writeln!(out, "audio    {}", dir.join(AUDIO).display())?;
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

fn export(data: &Path, a: &ExportArgs) -> Result<bool> {
    let dir = find(data, &a.id)?;
    let t = load_transcript(&dir)?;
    write_out(&t, &a.id, a.format, a.output.as_deref())?;
    Ok(true)
}

fn retranscribe(data: &Path, a: &RetranscribeArgs) -> Result<bool> {
    let dir = find(data, &a.id)?;
    let audio_path = dir.join(AUDIO);
    if !audio_path.is_file() {
        bail!(
            "session {} has no recorded audio; record with --keep-audio to be able to transcribe it again",
            a.id
        );
    }
    let model_spec = match &a.model {
        Some(m) => m.clone(),
        None => read_meta(&dir)
            .map(|m| m.model)
            .unwrap_or_else(|| "tiny.en".into()),
    };
    let audio = crate::audio::load_file(&audio_path)?;
    let model = Model::load(&model_spec)?;
    let opts = decode_options(
        None,
        TaskArg::Transcribe,
        None,
        crate::config::vocabulary(&a.vocabulary)?,
        a.beam_size,
    )?;
    model.check_options(&opts)?;
    let t = asr::transcribe(&model, &audio.samples, &opts, &mut |_| {})?;
    write_out(&t, &a.id, a.format, a.output.as_deref())?;
    Ok(true)
}
