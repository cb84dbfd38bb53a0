//! Command-line interface: subcommands and their flags.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use anyhow::{bail, Result};

use crate::asr::{tokens, ComputeType, DecodeOptions, Task};
use crate::audio::pcm::Encoding;
use crate::audio::source::Input;
use crate::config::Config;
use crate::live::{Settings, MODEL, STEP, WINDOW};
use crate::session::Format;
use crate::session::RecordOptions;
use crate::stream::{self, ClockKind, Mode};

/// Beams for full-context transcription by default: greedy (see BENCHMARKS.md for beam 5).
pub const BEAM_SIZE: usize = 1;

#[derive(Debug, Parser)]
#[command(
    name = "livecap",
    version,
    about = "Live captions in the terminal, with Whisper on the CPU",
    long_about = "Live captions in the terminal, with Whisper on the CPU.\n\nWithout a command, \
                  livecap opens the full-screen caption app (press ? in it for the keys).",
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub app: AppArgs,
}

/// The full-screen app's flags.
#[derive(Debug, Clone, Default, Args)]
pub struct AppArgs {
    #[command(flatten)]
    pub live: LiveArgs,
    /// Theme: default, light, high-contrast, mono, a theme in the config directory's themes/
    /// folder, or a path to a .toml file. With NO_COLOR set, the default is mono.
    #[arg(long, value_name = "NAME|PATH")]
    pub theme: Option<String>,
}

/// What a live session is given, by the app and `livecap stream` alike. Unset ones come from
/// the config file, then the defaults (see [`crate::live::Settings`]).
#[derive(Debug, Clone, Default, Args)]
pub struct LiveArgs {
    /// Audio source: `device:NAME` (a capture device: exact name, unique part of one, or index),
    /// `system` (what the default output plays, from a PulseAudio or PipeWire server), a file
    /// (wav, flac, mp3, ogg) played as if live, or `-` for raw PCM on standard input; or two of
    /// them joined by `+` (`mic+system`, `mic` being the default microphone), captioned apart in
    /// one session, each line under its input's label. Default: the system's default input
    /// device.
    #[arg(long, short = 'i', value_name = "SRC")]
    pub input: Option<String>,
    /// The labels of two inputs (`--input A+B`), in order: default "You" for a microphone or a
    /// file and "Them" for system audio (`labels` in the config file).
    #[arg(long, value_name = "A,B", value_delimiter = ',')]
    pub labels: Vec<String>,
    /// Model: a short name (tiny.en, base.en, small.en, medium.en, tiny, base, small, medium,
    /// large-v3), a Hugging Face repo id (openai/whisper-tiny.en), or a local directory in
    /// Hugging Face or CTranslate2 (faster-whisper) layout. Default: tiny.en.
    #[arg(long, short = 'm', env = "LIVECAP_MODEL")]
    pub model: Option<String>,
    /// Re-transcription policy: the last few seconds, or everything heard so far (`m` switches
    /// in the app). Default: window.
    #[arg(long, value_enum)]
    pub mode: Option<Mode>,
    /// Window mode: the most seconds a word stays tentative. Default: 5.
    #[arg(long, value_name = "SECONDS")]
    pub window: Option<f64>,
    /// Seconds between updates. Default: 1.
    #[arg(long, value_name = "SECONDS")]
    pub step: Option<f64>,
    /// Config file. Default: config.toml in the platform's config directory
    /// (~/.config/livecap/config.toml on Linux).
    #[arg(long, env = "LIVECAP_CONFIG", value_name = "PATH")]
    pub config: Option<PathBuf>,
    #[command(flatten)]
    pub save: SaveArgs,
    /// Spoken language (code such as `de`, or name such as `german`); detected when omitted.
    /// Default: `language` in the config file.
    #[arg(long, short = 'l')]
    pub language: Option<String>,
    /// Transcribe in the spoken language, or translate into English.
    #[arg(long, value_enum, default_value_t = TaskArg::Transcribe)]
    pub task: TaskArg,
    /// Words and names to spell as given, separated by commas ("Claflin, Dashwood, ratatui"):
    /// given to the model before what it hears, never printed. Default: `vocabulary` in the
    /// config file.
    #[arg(long, value_name = "WORDS", value_delimiter = ',')]
    pub vocabulary: Vec<String>,
    /// Beams searched when decoding (1: greedy, the fastest).
    #[arg(long, default_value_t = 1, value_name = "N")]
    pub beam_size: usize,
    /// Precision the model computes in: int8 (weights and inputs in 8 bits: the fastest, and as
    /// accurate as float16), float16 (the model's own) or float32.
    #[arg(long, value_enum, default_value_t = ComputeType::default())]
    pub compute_type: ComputeType,
    /// Serve the captions as a read-only web page at ADDR (this machine only by default;
    /// `--share=0.0.0.0:8080` for phones and laptops on the same network). The link, printed
    /// with a QR code, holds a random key: without it the server answers nothing.
    #[arg(long, value_name = "ADDR", num_args = 0..=1, require_equals = true,
          default_missing_value = crate::share::DEFAULT_ADDR)]
    pub share: Option<String>,
}

/// Decoding options from the command line (or the config file), validated; each mistake is
/// one sentence naming its flag.
pub fn decode_options(
    language: Option<&str>,
    task: TaskArg,
    prompt: Option<&str>,
    vocabulary: Vec<String>,
    beam_size: usize,
) -> anyhow::Result<DecodeOptions> {
    if !(1..=16).contains(&beam_size) {
        anyhow::bail!("--beam-size {beam_size}: give a number of beams from 1 (greedy) to 16");
    }
    let language = match language {
        None => None,
        Some(l) => match tokens::language_code(l) {
            Some(code) => Some(code.to_string()),
            None => anyhow::bail!("--language {l}: not a language Whisper knows (use a code such as en, de, fr, or a name such as german)"),
        },
    };
    Ok(DecodeOptions {
        language,
        task: match task {
            TaskArg::Transcribe => Task::Transcribe,
            TaskArg::Translate => Task::Translate,
        },
        initial_prompt: prompt.map(str::to_owned),
        vocabulary,
        beam_size,
        ..DecodeOptions::default()
    })
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Transcribe finished recordings (wav, flac, mp3, ogg) with full context.
    Transcribe(TranscribeArgs),
    /// Caption live audio (a device, a file played as if live, or raw PCM on stdin) to standard
    /// output.
    Stream(StreamArgs),
    /// List the audio input devices: index, name, default marker, channels and sample rates,
    /// then the monitors of the sound server's outputs (system audio). Pick one with `livecap
    /// stream --input device:NAME` (or `device:INDEX`).
    Devices(DevicesArgs),
    /// The recorded sessions: list them, show or export one, or transcribe its audio again.
    #[command(subcommand)]
    Sessions(SessionsCommand),
    /// Print a shell completion script, for instance
    /// `livecap completions bash > ~/.local/share/bash-completion/completions/livecap`.
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff), for instance
    /// `livecap man > ~/.local/share/man/man1/livecap.1`.
    Man,
}

#[derive(Debug, Subcommand)]
pub enum SessionsCommand {
    /// One line per session, oldest first: id, start time (UTC), duration, words, title.
    List,
    /// A session's details and its transcript with times.
    Show {
        /// The session's id, as `livecap sessions list` shows it.
        id: String,
    },
    /// Print a session's committed text as it is committed, from another terminal or an SSH
    /// login, starting with what is already there; ends when the session closes.
    Follow(FollowArgs),
    /// Write a session's transcript as text, SRT, WebVTT or JSON.
    Export(ExportArgs),
    /// Transcribe a session's kept audio again, with full context (needs --keep-audio when it
    /// was recorded).
    Retranscribe(RetranscribeArgs),
    /// Play a session's kept audio through the default output, from the start or from a
    /// line's time (needs --keep-audio when it was recorded). Ctrl-C stops.
    Play(PlayArgs),
}

#[derive(Debug, Clone, Args)]
pub struct PlayArgs {
    /// The session's id, as `livecap sessions list` shows it.
    pub id: String,
    /// Where to start, in seconds from the session's start (the times `sessions show` gives).
    #[arg(long, value_name = "SECONDS", default_value_t = 0.0)]
    pub from: f64,
    /// Of a session that captioned two inputs apart, play only this one's audio (its label, as
    /// `sessions show` prints it). Default: both, mixed, as the call sounded.
    #[arg(long, value_name = "LABEL")]
    pub source: Option<String>,
}

#[derive(Debug, Clone, Args)]
pub struct FollowArgs {
    /// The session's id (default: the newest one still being recorded).
    pub id: Option<String>,
    /// Skip what the session already holds: only what is committed from now on.
    #[arg(long)]
    pub from_now: bool,
    /// `text`: the same lines as `livecap stream`; `jsonl`: one JSON object per committed
    /// piece, with its times, mode and model, and a last one saying how the session ended.
    #[arg(long, short = 'f', value_enum, default_value_t = StreamFormat::Text)]
    pub format: StreamFormat,
    /// Serve the captions as a read-only web page at ADDR (this machine only by default;
    /// `--share=0.0.0.0:8080` for phones and laptops on the same network). The link, printed
    /// with a QR code, holds a random key: without it the server answers nothing.
    #[arg(long, value_name = "ADDR", num_args = 0..=1, require_equals = true,
          default_missing_value = crate::share::DEFAULT_ADDR)]
    pub share: Option<String>,
}

#[derive(Debug, Clone, Args)]
pub struct ExportArgs {
    pub id: String,
    #[arg(long, short = 'f', value_enum, default_value_t = Format::Txt)]
    pub format: Format,
    /// Write here instead of standard output.
    #[arg(long, short = 'o')]
    pub output: Option<PathBuf>,
}

#[derive(Debug, Clone, Args)]
pub struct RetranscribeArgs {
    pub id: String,
    /// Model (default: the one the session was recorded with).
    #[arg(long, short = 'm')]
    pub model: Option<String>,
    #[arg(long, short = 'f', value_enum, default_value_t = Format::Txt)]
    pub format: Format,
    /// Write here instead of standard output.
    #[arg(long, short = 'o')]
    pub output: Option<PathBuf>,
    /// Words and names to spell as given, separated by commas ("Claflin, Dashwood, ratatui"):
    /// given to the model before what it hears, never printed. Default: `vocabulary` in the
    /// config file.
    #[arg(long, value_name = "WORDS", value_delimiter = ',')]
    pub vocabulary: Vec<String>,
    /// Beams searched when decoding (1: greedy, faster).
    #[arg(long, default_value_t = BEAM_SIZE, value_name = "N")]
    pub beam_size: usize,
    /// Precision the model computes in: int8 (weights and inputs in 8 bits: the fastest, and as
    /// accurate as float16), float16 (the model's own) or float32.
    #[arg(long, value_enum, default_value_t = ComputeType::default())]
    pub compute_type: ComputeType,
}

#[derive(Debug, Clone, Args)]
pub struct DevicesArgs {
    /// Also list the devices that cannot capture now (busy, unplugged, or a plugin whose sound
    /// server is not running), with the reason.
    #[arg(long)]
    pub all: bool,
}

#[derive(Debug, Clone, Args)]
pub struct ModelArgs {
    /// Model: a short name (tiny.en, base.en, small.en, medium.en, tiny, base, small, medium,
    /// large-v3), a Hugging Face repo id (openai/whisper-tiny.en), or a local directory in
    /// Hugging Face or CTranslate2 (faster-whisper) layout.
    #[arg(long, short = 'm', env = "LIVECAP_MODEL", default_value = crate::asr::DEFAULT_MODEL)]
    pub model: String,
    /// Precision the model computes in: int8 (weights and inputs in 8 bits: the fastest, and as
    /// accurate as float16), float16 (the model's own) or float32.
    #[arg(long, value_enum, default_value_t = ComputeType::default())]
    pub compute_type: ComputeType,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, ValueEnum)]
pub enum TaskArg {
    #[default]
    Transcribe,
    Translate,
}

/// Spoken language and task, shared by the commands that decode.
#[derive(Debug, Clone, Args)]
pub struct LanguageArgs {
    /// Spoken language (code such as `de`, or name such as `german`); detected when omitted.
    #[arg(long, short = 'l')]
    pub language: Option<String>,
    /// Transcribe in the spoken language, or translate into English.
    #[arg(long, value_enum, default_value_t = TaskArg::Transcribe)]
    pub task: TaskArg,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StreamFormat {
    /// Committed text, a line per sentence.
    Text,
    /// One JSON object per line.
    Jsonl,
}

#[derive(Debug, Clone, Args)]
pub struct StreamArgs {
    #[command(flatten)]
    pub live: LiveArgs,
    /// `realtime` paces a file as if it were live; `simulated` runs without waiting but keeps
    /// the timing a live stream would have on this machine. Default: realtime for standard
    /// input, simulated for files.
    #[arg(long, value_enum)]
    pub clock: Option<ClockKind>,
    /// Switch to the other mode when the stream clock reaches these many seconds (one time,
    /// or several separated by commas).
    #[arg(long, value_name = "SECONDS", value_delimiter = ',')]
    pub switch_mode_at: Vec<f64>,
    /// Output: committed text, a line per sentence (on a terminal, with the tentative tail
    /// live, dimmed, after it), or JSON events.
    #[arg(long, short = 'f', value_enum, default_value_t = StreamFormat::Text)]
    pub format: StreamFormat,
    /// Sample format of raw PCM on standard input.
    #[arg(long, value_enum, default_value_t = Encoding::S16le)]
    pub input_format: Encoding,
    /// Sample rate of raw PCM on standard input.
    #[arg(long, default_value_t = 16_000, value_name = "HZ")]
    pub input_rate: u32,
    /// Channels of raw PCM on standard input (mixed down to mono).
    #[arg(long, default_value_t = 1, value_name = "N")]
    pub input_channels: u16,
}

/// How a live session is kept on disk.
#[derive(Debug, Clone, Default, Args)]
pub struct SaveArgs {
    /// Do not record the session (by default its transcript is saved as it is committed).
    #[arg(long)]
    pub no_save: bool,
    /// Also keep the session's audio, as a WAV file beside its transcript.
    #[arg(long, conflicts_with = "no_save")]
    pub keep_audio: bool,
    /// A title for the session, shown by `livecap sessions list`.
    #[arg(long, value_name = "TEXT")]
    pub title: Option<String>,
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
    #[command(flatten)]
    pub lang: LanguageArgs,
    /// Text that sets the vocabulary and style, as if said just before the recording.
    #[arg(long)]
    pub prompt: Option<String>,
    /// Words and names to spell as given, separated by commas ("Claflin, Dashwood, ratatui"):
    /// given to the model before what it hears, never printed. Default: `vocabulary` in the
    /// config file.
    #[arg(long, value_name = "WORDS", value_delimiter = ',')]
    pub vocabulary: Vec<String>,
    /// Beams searched when decoding (1: greedy, faster).
    #[arg(long, default_value_t = BEAM_SIZE, value_name = "N")]
    pub beam_size: usize,

    /// Audio files to transcribe.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
}

impl LiveArgs {
    /// The session's settings: these flags over `cfg` over the defaults. A value that cannot be
    /// used is one sentence naming its flag (the config file's own values were checked when it
    /// was read).
    pub fn settings(&self, cfg: &Config) -> Result<Settings> {
        let flags = self;
        let window = flags.window.or(cfg.window).unwrap_or(WINDOW);
        if let Err(what) = stream::check_window(window) {
            bail!("--window {window}: {what}");
        }
        let step = flags.step.or(cfg.step).unwrap_or(STEP);
        if let Err(what) = stream::check_step(step) {
            bail!("--step {step}: {what}");
        }
        let vocabulary = if flags.vocabulary.is_empty() {
            cfg.vocabulary.clone()
        } else {
            flags.vocabulary.clone()
        };
        let language = flags.language.as_deref().or(cfg.language.as_deref());
        // The live modes prompt the decoder with the committed text (and the vocabulary).
        let decode = decode_options(language, flags.task, None, vocabulary, flags.beam_size)?;
        let (input, second) = Input::parse_inputs(flags.input.as_deref().unwrap_or("device:"));
        let labels = if flags.labels.is_empty() {
            cfg.labels.clone()
        } else {
            flags.labels.clone()
        };
        if let Err(what) = crate::config::check_labels(&labels) {
            bail!("--labels {}: {what}", labels.join(","));
        }
        let labels = match (&labels[..], &second) {
            ([a, b], _) => [a.trim().to_string(), b.trim().to_string()],
            (_, Some(b)) if input.is_system() && !b.is_system() => ["Them".into(), "You".into()],
            _ => ["You".into(), "Them".into()],
        };
        let model = flags
            .model
            .clone()
            .or_else(|| cfg.model.clone())
            .unwrap_or_else(|| MODEL.into());
        let mode = flags.mode.or(cfg.mode).unwrap_or(Mode::Window);
        let record = (!flags.save.no_save).then(|| RecordOptions {
            source: match &second {
                Some(b) => format!("{input}+{b}"),
                None => input.to_string(),
            },
            model: model.clone(),
            mode,
            title: flags.save.title.clone(),
            keep_audio: flags.save.keep_audio,
            labels: second.as_ref().map(|_| labels.clone()),
        });
        Ok(Settings {
            input,
            second,
            labels,
            model,
            compute: flags.compute_type,
            mode,
            window,
            step,
            decode,
            record,
        })
    }
}

#[cfg(test)]
mod settings_tests {
    use super::*;

    /// The flags as given by no flag at all.
    fn no_flags() -> LiveArgs {
        Cli::try_parse_from(["livecap"]).expect("parses").app.live
    }

    #[test]
    fn flags_win_over_the_config_file_which_wins_over_the_defaults() {
        let none = no_flags().settings(&Config::default()).expect("ok");
        assert_eq!(
            (none.model.as_str(), none.mode, none.window, none.step),
            (MODEL, Mode::Window, WINDOW, STEP)
        );
        assert_eq!(none.input, Input::Device(String::new()));
        assert!(none.record.is_some());
        let cfg = crate::config::parse(
            "model = \"base.en\"\nmode = \"full\"\nwindow = 8\nstep = 2\nlanguage = \"de\"\nvocabulary = [\"Claflin\"]\n",
        )
        .expect("valid");
        let from_cfg = no_flags().settings(&cfg).expect("ok");
        assert_eq!(
            (
                from_cfg.model.as_str(),
                from_cfg.mode,
                from_cfg.window,
                from_cfg.step
            ),
            ("base.en", Mode::Full, 8.0, 2.0)
        );
        assert_eq!(from_cfg.decode.language.as_deref(), Some("de"));
        assert_eq!(from_cfg.decode.vocabulary, ["Claflin"]);
        let mut flags = no_flags();
        flags.model = Some("tiny".into());
        flags.window = Some(3.0);
        flags.language = Some("french".into());
        flags.vocabulary = vec!["ratatui".into()];
        flags.save.no_save = true;
        let both = flags.settings(&cfg).expect("ok");
        assert_eq!(
            (both.model.as_str(), both.window, both.step),
            ("tiny", 3.0, 2.0)
        );
        assert_eq!(both.decode.language.as_deref(), Some("fr"));
        assert_eq!(both.decode.vocabulary, ["ratatui"]);
        assert!(both.record.is_none());
    }

    #[test]
    fn a_bad_flag_is_named() {
        let mut flags = no_flags();
        flags.step = Some(0.0);
        let e = flags.settings(&Config::default()).expect_err("step 0");
        assert!(e.to_string().starts_with("--step 0:"), "{e}");
        let mut flags = no_flags();
        flags.language = Some("klingon".into());
        let e = flags.settings(&Config::default()).expect_err("language");
        assert!(e.to_string().starts_with("--language klingon:"), "{e}");
    }
}
