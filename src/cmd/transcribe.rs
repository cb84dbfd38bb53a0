//! `livecap transcribe`: full-context transcription of finished recordings to txt, SRT, WebVTT
//! or JSON. Each file's text reaches its destination as soon as it exists (plain text segment by
//! segment), so an error in one file loses nothing already transcribed.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use crate::asr::{self, DecodeOptions, Model};
use crate::audio;
use crate::cli::{decode_options, TranscribeArgs};
use crate::session::{write_transcript, Format};

enum Sink {
    Stdout,
    File(PathBuf),
}

fn destinations(args: &TranscribeArgs) -> Result<Vec<Sink>> {
    let many = args.files.len() > 1;
    match &args.output {
        None => {
            if many && matches!(args.format, Format::Srt | Format::Vtt) {
                bail!(
                    "--format {}: several files need --output DIR, one subtitle file each",
                    args.format.extension()
                );
            }
            Ok(args.files.iter().map(|_| Sink::Stdout).collect())
        }
        Some(out) if many => {
            std::fs::create_dir_all(out).with_context(|| {
                format!("--output {}: cannot create this directory", out.display())
            })?;
            let mut used = std::collections::HashSet::new();
            Ok(args
                .files
                .iter()
                .map(|f| {
                    let stem = f
                        .file_stem()
                        .map(|s| s.to_string_lossy().into_owned())
                        .unwrap_or_else(|| "audio".into());
                    let mut name = format!("{stem}.{}", args.format.extension());
                    let mut k = 2;
                    while !used.insert(name.clone()) {
                        name = format!("{stem}-{k}.{}", args.format.extension());
                        k += 1;
                    }
                    Sink::File(out.join(name))
                })
                .collect())
        }
        Some(out) => {
            if out.is_dir() {
                bail!(
                    "--output {}: is a directory; give a file name",
                    out.display()
                );
            }
            Ok(vec![Sink::File(out.clone())])
        }
    }
}

/// Run the command; `Ok(false)` when some file could not be transcribed (each already reported).
pub fn run(args: &TranscribeArgs) -> Result<bool> {
    let opts = decode_options(
        args.lang.language.as_deref(),
        args.lang.task,
        args.prompt.as_deref(),
        crate::config::vocabulary(&args.vocabulary)?,
        args.beam_size,
    )?;
    let sinks = destinations(args)?;
    let model = Model::load_as(&args.model.model, args.model.compute_type)?;
    model.check_options(&opts)?;
    let many = args.files.len() > 1;
    let mut all_ok = true;
    for (i, (file, sink)) in args.files.iter().zip(&sinks).enumerate() {
        if let Err(e) = transcribe_one(&model, &opts, file, sink, args.format, many && i > 0, many)
        {
            crate::stderr::say(format!("{e:#}"));
            all_ok = false;
        }
    }
    Ok(all_ok)
}

fn open(sink: &Sink) -> Result<Box<dyn Write>> {
    Ok(match sink {
        Sink::Stdout => Box::new(io::stdout().lock()),
        Sink::File(p) => {
            Box::new(BufWriter::new(File::create(p).with_context(|| {
                format!("--output {}: cannot create this file", p.display())
            })?))
        }
    })
}

fn transcribe_one(
    model: &Model,
    opts: &DecodeOptions,
    file: &Path,
    sink: &Sink,
    format: Format,
    gap: bool,
    header: bool,
) -> Result<()> {
    let audio = audio::load_file(file)?;
    let name = file.display().to_string();
    let mut out = open(sink)?;
    let stdout_header = header && matches!(sink, Sink::Stdout) && format == Format::Txt;
    if stdout_header {
        writeln!(out, "{}==> {name} <==", if gap { "\n" } else { "" })?;
    }
    if format == Format::Txt {
        let mut write_err: Option<io::Error> = None;
        let t = asr::transcribe(model, &audio.samples, opts, &mut |s| {
            if write_err.is_none() {
                if let Err(e) = writeln!(out, "{}", s.text.trim()).and_then(|_| out.flush()) {
                    write_err = Some(e);
                }
            }
        });
        if let Some(e) = write_err {
            return Err(e).context("cannot write the transcript");
        }
        t?;
    } else {
        let t = asr::transcribe(model, &audio.samples, opts, &mut |_| {})?;
        write_transcript(&mut out, &t, &name, format).context("cannot write the transcript")?;
    }
    out.flush().context("cannot write the transcript")?;
    Ok(())
}
