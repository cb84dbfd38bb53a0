//! `livecap completions SHELL` and `livecap man`: the shell completion scripts and the manual
//! page, generated from the command line's own definition so they never drift from it.

use std::io::Write;

use anyhow::Result;
use clap::CommandFactory;

use crate::cli::Cli;

pub fn completions(shell: clap_complete::Shell) -> Result<bool> {
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "livecap", &mut out);
    std::io::stdout().lock().write_all(&out)?;
    Ok(true)
}

/// One page: the app's flags, then each command (and each `sessions` command) with its own.
pub fn man() -> Result<bool> {
    let cmd = Cli::command();
    let mut out = Vec::new();
    let man = clap_mangen::Man::new(cmd.clone());
    man.render_title(&mut out)?;
    man.render_name_section(&mut out)?;
    man.render_synopsis_section(&mut out)?;
    man.render_description_section(&mut out)?;
    man.render_options_section(&mut out)?;
    for sub in cmd.get_subcommands() {
        render_command(&mut out, &format!("livecap {}", sub.get_name()), sub)?;
        for inner in sub.get_subcommands() {
            let name = format!("livecap {} {}", sub.get_name(), inner.get_name());
            render_command(&mut out, &name, inner)?;
        }
    }
    man.render_version_section(&mut out)?;
    std::io::stdout().lock().write_all(&out)?;
    Ok(true)
}

/// A command as a section of the page: its name, what it does, and its options.
fn render_command(out: &mut Vec<u8>, name: &str, cmd: &clap::Command) -> Result<()> {
    writeln!(out, ".SH \"{}\"", name.to_uppercase())?;
    let about = cmd
        .get_long_about()
        .or(cmd.get_about())
        .map(|a| a.to_string())
        .unwrap_or_default();
    for para in about.split("\n\n") {
        writeln!(out, ".PP\n{}", roff_text(para))?;
    }
    let mut usage = cmd.clone().bin_name(name.to_string());
    writeln!(
        out,
        ".PP\n\\fBUsage:\\fR {}",
        roff_text(&usage.render_usage().to_string().replace("Usage: ", ""))
    )?;
    for arg in cmd.get_arguments() {
        if arg.is_hide_set() || matches!(arg.get_id().as_str(), "help" | "version") {
            continue;
        }
        let mut names = Vec::new();
        if let Some(s) = arg.get_short() {
            names.push(format!("-{s}"));
        }
        if let Some(l) = arg.get_long() {
            names.push(format!("--{l}"));
        }
        let value = arg
            .get_value_names()
            .map(|v| {
                v.iter()
                    .map(|s| format!("<{s}>"))
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .unwrap_or_else(|| format!("<{}>", arg.get_id().as_str().to_uppercase()));
        let head = if names.is_empty() {
            value
        } else if arg.get_action().takes_values() {
            format!("{} {value}", names.join(", "))
        } else {
            names.join(", ")
        };
        let help = arg
            .get_long_help()
            .or(arg.get_help())
            .map(|h| h.to_string())
            .unwrap_or_default();
        let values: Vec<String> = arg
            .get_possible_values()
            .iter()
            .filter(|v| !v.is_hide_set())
            .map(|v| v.get_name().to_string())
            .collect();
        let mut help = help;
        if !values.is_empty() && arg.get_action().takes_values() {
            help = format!("{help} [possible values: {}]", values.join(", "));
        }
        let defaults: Vec<String> = arg
            .get_default_values()
            .iter()
            .map(|v| v.to_string_lossy().into_owned())
            .collect();
        if !defaults.is_empty() && arg.get_action().takes_values() {
            help = format!("{help} [default: {}]", defaults.join(","));
        }
        writeln!(
            out,
            ".TP\n\\fB{}\\fR\n{}",
            roff_text(&head),
            roff_text(&help)
        )?;
    }
    Ok(())
}

/// Text that roff shows as written: backslashes escaped, no line taken for a request.
fn roff_text(s: &str) -> String {
    s.replace('\\', "\\e")
        .lines()
        .map(|l| {
            let l = l.trim();
            if l.starts_with('.') || l.starts_with('\'') {
                format!("\\&{l}")
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}
