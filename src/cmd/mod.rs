//! The subcommands, each a thin layer between the command line and the engine.

pub mod devices;
pub mod docs;
pub mod sessions;
pub mod stream;
pub mod transcribe;

use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use anyhow::{Context, Result};

/// SIGINT, SIGTERM and SIGHUP (a dropped SSH link) set `flag`, asking for a clean end with the
/// transcript complete; a second signal exits at once.
pub fn stop_on_signals(flag: &Arc<AtomicBool>) -> Result<()> {
    for sig in [
        signal_hook::consts::SIGINT,
        signal_hook::consts::SIGTERM,
        signal_hook::consts::SIGHUP,
    ] {
        signal_hook::flag::register_conditional_shutdown(sig, 130, flag.clone())
            .and_then(|_| signal_hook::flag::register(sig, flag.clone()))
            .context("cannot install signal handlers")?;
    }
    Ok(())
}
