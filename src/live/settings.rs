//! A live session's settings: the command line's flags over the config file over the defaults,
//! merged here once for the app and `livecap stream` alike.

use anyhow::{bail, Result};

use crate::asr::{ComputeType, DecodeOptions};
use crate::audio::source::Input;
use crate::cli::{decode_options, LiveArgs};
use crate::config::Config;
use crate::session::RecordOptions;
use crate::stream::{self, Mode};

/// The model when neither a flag nor the config file names one.
pub const MODEL: &str = crate::asr::DEFAULT_MODEL;
/// The window when none is given (seconds).
pub const WINDOW: f64 = 5.0;
/// Seconds between updates when none is given. Half a second commits worse text on varied
/// speech (stream-dev, stepped clock: tiny.en 28.1 % WER against 22.9 % at 1 s, base at int8
/// 30.7 % against 24.1 %) for 0.25 s less commit latency at the median.
pub const STEP: f64 = 1.0;

/// What a live session runs with, checked.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Where the audio comes from (no `--input`: the system's default input device).
    pub input: Input,
    pub model: String,
    pub compute: ComputeType,
    pub mode: Mode,
    pub window: f64,
    pub step: f64,
    pub decode: DecodeOptions,
    /// How the session is kept on disk; `None` with `--no-save`.
    pub record: Option<RecordOptions>,
}

impl Settings {
    /// Merge `flags` over `cfg` over the defaults; a value that cannot be used is one sentence
    /// naming its flag (the config file's own values were checked when it was read).
    pub fn resolve(flags: &LiveArgs, cfg: &Config) -> Result<Settings> {
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
        let input = Input::parse(flags.input.as_deref().unwrap_or("device:"));
        let model = flags
            .model
            .clone()
            .or_else(|| cfg.model.clone())
            .unwrap_or_else(|| MODEL.into());
        let mode = flags.mode.or(cfg.mode).unwrap_or(Mode::Window);
        let record = (!flags.save.no_save).then(|| RecordOptions {
            source: input.to_string(),
            model: model.clone(),
            mode,
            title: flags.save.title.clone(),
            keep_audio: flags.save.keep_audio,
        });
        Ok(Settings {
            input,
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
mod tests {
    use super::*;
    use clap::Parser;

    /// The flags as given by no flag at all.
    fn no_flags() -> LiveArgs {
        crate::cli::Cli::try_parse_from(["livecap"])
            .expect("parses")
            .app
            .live
    }

    #[test]
    fn flags_win_over_the_config_file_which_wins_over_the_defaults() {
        let none = Settings::resolve(&no_flags(), &Config::default()).expect("ok");
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
        let from_cfg = Settings::resolve(&no_flags(), &cfg).expect("ok");
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
        let both = Settings::resolve(&flags, &cfg).expect("ok");
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
        let e = Settings::resolve(&flags, &Config::default()).expect_err("step 0");
        assert!(e.to_string().starts_with("--step 0:"), "{e}");
        let mut flags = no_flags();
        flags.language = Some("klingon".into());
        let e = Settings::resolve(&flags, &Config::default()).expect_err("language");
        assert!(e.to_string().starts_with("--language klingon:"), "{e}");
    }
}
