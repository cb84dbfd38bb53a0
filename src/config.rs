//! The user's config file: defaults for live sessions (model, mode, window, step, language,
//! vocabulary), the app's theme and keys, read from the platform's config directory. Flags on
//! the command line win over it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::stream::{self, Mode};

/// The file as written: every setting optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigFile {
    model: Option<String>,
    mode: Option<Mode>,
    window: Option<f64>,
    step: Option<f64>,
    language: Option<String>,
    theme: Option<String>,
    #[serde(default)]
    vocabulary: Vec<String>,
    #[serde(default)]
    labels: Vec<String>,
    #[serde(default)]
    keys: BTreeMap<String, String>,
}

/// Checked settings from the config file.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Config {
    pub model: Option<String>,
    pub mode: Option<Mode>,
    pub window: Option<f64>,
    pub step: Option<f64>,
    /// Spoken language, as `--language` takes it.
    pub language: Option<String>,
    pub theme: Option<String>,
    /// Words and names to spell as given.
    pub vocabulary: Vec<String>,
    /// The labels of two inputs captioned apart (`--input A+B`), in order.
    pub labels: Vec<String>,
    /// `"key" = "action"` lines over the default keymap.
    pub keys: BTreeMap<String, String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read the config file {}: {source}", .path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the config file {} is not valid: {reason}", .path.display())]
    Invalid { path: PathBuf, reason: String },
}

/// livecap's config directory: `LIVECAP_CONFIG_DIR`, or the platform's (`~/.config/livecap` on
/// Linux). User themes live in its `themes/` folder.
pub fn config_dir() -> Option<PathBuf> {
    match std::env::var_os("LIVECAP_CONFIG_DIR") {
        Some(d) if !d.is_empty() => Some(PathBuf::from(d)),
        _ => dirs::config_dir().map(|d| d.join("livecap")),
    }
}

/// The settings in `path`, or in `config.toml` of the config directory when no path is given.
/// A missing default file is no settings; a missing named file is an error.
pub fn load(path: Option<&Path>) -> Result<Config, ConfigError> {
    let (path, must_exist) = match path {
        Some(p) => (p.to_path_buf(), true),
        None => match config_dir() {
            Some(d) => (d.join("config.toml"), false),
            None => return Ok(Config::default()),
        },
    };
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !must_exist => {
            return Ok(Config::default())
        }
        Err(source) => return Err(ConfigError::Read { path, source }),
    };
    parse(&text).map_err(|reason| ConfigError::Invalid { path, reason })
}

/// The vocabulary to use: the one given on the command line, else the config file's (the file
/// named by `LIVECAP_CONFIG`, or the config directory's `config.toml`).
pub fn vocabulary(flag: &[String]) -> Result<Vec<String>, ConfigError> {
    if !flag.is_empty() {
        return Ok(flag.to_vec());
    }
    let named = std::env::var_os("LIVECAP_CONFIG")
        .filter(|p| !p.is_empty())
        .map(PathBuf::from);
    Ok(load(named.as_deref())?.vocabulary)
}

/// Parse and check a config file's text.
pub fn parse(text: &str) -> Result<Config, String> {
    let f: ConfigFile = toml::from_str(text).map_err(|e| {
        let line = e.span().map(|s| {
            text.as_bytes()[..s.start.min(text.len())]
                .iter()
                .filter(|b| **b == b'\n')
                .count()
                + 1
        });
        match line {
            Some(l) => format!("line {l}: {}", e.message()),
            None => e.message().to_string(),
        }
    })?;
    if let Some(w) = f.window {
        stream::check_window(w).map_err(|what| format!("window = {w}: {what}"))?;
    }
    if let Some(s) = f.step {
        stream::check_step(s).map_err(|what| format!("step = {s}: {what}"))?;
    }
    if let Err(what) = check_labels(&f.labels) {
        return Err(format!("labels = {:?}: {what}", f.labels));
    }
    Ok(Config {
        model: f.model,
        mode: f.mode,
        window: f.window,
        step: f.step,
        language: f.language,
        theme: f.theme,
        vocabulary: f.vocabulary,
        labels: f.labels,
        keys: f.keys,
    })
}

/// Whether labels for two inputs can be used: none (the defaults), or two different short
/// names.
pub fn check_labels(labels: &[String]) -> Result<(), &'static str> {
    match labels {
        [] => Ok(()),
        [a, b] if a.trim().is_empty() || b.trim().is_empty() => Err("a label is empty"),
        [a, b] if a.trim() == b.trim() => Err("the two labels are the same"),
        [a, b]
            if a.chars().chain(b.chars()).any(char::is_control) || a.len() > 32 || b.len() > 32 =>
        {
            Err("a label must be a short name on one line")
        }
        [_, _] => Ok(()),
        _ => Err("give two labels, one per input, such as You,Them"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_config_parses() {
        let c = parse(
            r#"
model = "base.en"
mode = "full"
window = 8
step = 1.0
language = "de"
theme = "light"
vocabulary = ["Claflin", "ratatui"]
[keys]
x = "quit"
"#,
        )
        .expect("valid");
        assert_eq!(c.model.as_deref(), Some("base.en"));
        assert_eq!(c.mode, Some(Mode::Full));
        assert_eq!((c.window, c.step), (Some(8.0), Some(1.0)));
        assert_eq!(c.language.as_deref(), Some("de"));
        assert_eq!(c.keys.get("x").map(String::as_str), Some("quit"));
        assert_eq!(c.vocabulary, ["Claflin", "ratatui"]);
    }

    #[test]
    fn mistakes_are_named_with_their_line() {
        let e = parse("model = \"tiny.en\"\nmodle = \"x\"\n").expect_err("unknown key");
        assert!(e.starts_with("line 2:") && e.contains("modle"), "{e}");
        let e = parse("window = 90\n").expect_err("out of range");
        assert!(e.contains("window = 90"), "{e}");
        assert!(parse("mode = \"sideways\"\n").is_err());
    }

    #[test]
    fn a_missing_default_file_is_fine_but_a_named_one_is_not() {
        let dir = tempfile::tempdir().expect("temp dir");
        let missing = dir.path().join("nope.toml");
        let e = load(Some(&missing)).expect_err("named file missing");
        assert!(e.to_string().contains("nope.toml"), "{e}");
        let bad = dir.path().join("bad.toml");
        std::fs::write(&bad, "step = \"fast\"\n").expect("write");
        let e = load(Some(&bad)).expect_err("bad value");
        assert!(
            e.to_string().contains("bad.toml") && e.to_string().contains("line 1"),
            "{e}"
        );
    }
}
