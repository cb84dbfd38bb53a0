//! Command-line interface: subcommands and their flags.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::session::Format;

#[derive(Debug, Parser)]
#[command(
    name = "livecap",
    version,
    about = "Live captions in the terminal, with Whisper on the CPU"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Transcribe finished recordings (wav, flac, mp3, ogg) with full context.
    Transcribe(TranscribeArgs),
}

#[derive(Debug, Clone, Args)]
pub struct ModelArgs {
    /// Model: a short name (tiny.en, base.en, small.en, medium.en, tiny, base, small, medium,
    /// large-v3), a Hugging Face repo id (openai/whisper-tiny.en), or a local directory in
    /// Hugging Face or CTranslate2 (faster-whisper) layout.
    #[arg(long, short = 'm', env = "LIVECAP_MODEL", default_value = "tiny.en")]
    pub model: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TaskArg {
    Transcribe,
    Translate,
}

#[derive(Debug, Clone, Args)]
pub struct TranscribeArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    /// Output format.
    #[arg(long, short = 'f', value_enum, default_value_t = Format::Txt)]
    pub format: Format,
    /// Write here instead of standard output; with several input files, a directory that gets
    /// one file per input.
    #[arg(long, short = 'o')]
    pub output: Option<PathBuf>,
    /// Spoken language (code such as `de`, or name such as `german`); detected when omitted.
    #[arg(long, short = 'l')]
    pub language: Option<String>,
    /// Transcribe in the spoken language, or translate into English.
    #[arg(long, value_enum, default_value_t = TaskArg::Transcribe)]
    pub task: TaskArg,
    /// Text that sets the vocabulary and style, as if said just before the recording.
    #[arg(long)]
    pub prompt: Option<String>,
    /// Audio files to transcribe.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
}
