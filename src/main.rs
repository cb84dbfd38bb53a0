//! The `livecap` binary: parse the command line, dispatch, and turn errors into one sentence.

use std::process::ExitCode;

use clap::Parser;
use livecap::cli::{Cli, Command};

fn main() -> ExitCode {
    livecap::reuse_freed_memory();
    let cli = Cli::parse();
    if let Err(e) = livecap::asr::kernels::cpu::check_cap() {
        livecap::stderr::say(e);
        return ExitCode::FAILURE;
    }
    let result = match &cli.command {
        None => livecap::tui::run(&cli.app),
        Some(Command::Transcribe(args)) => livecap::cmd::transcribe::run(args),
        Some(Command::Stream(args)) => livecap::cmd::stream::run(args),
        Some(Command::Devices(args)) => livecap::cmd::devices::run(args.all),
        Some(Command::Sessions(cmd)) => livecap::cmd::sessions::run(cmd),
        Some(Command::Completions { shell }) => livecap::cmd::docs::completions(*shell),
        Some(Command::Man) => livecap::cmd::docs::man(),
    };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        // Output piped into something that stopped reading (`| head`): not an error.
        Err(e)
            if e.chain().any(|c| {
                c.downcast_ref::<std::io::Error>()
                    .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            }) =>
        {
            ExitCode::SUCCESS
        }
        Err(e) => {
            livecap::stderr::say(format!("{e:#}"));
            ExitCode::FAILURE
        }
    }
}
