//! Live captioning: the one place where captions run live, for the app and `livecap stream`
//! alike. A [`Captioner`] owns the source, the streamer, the clock and the recorder (which keeps
//! one on-disk session after another as the captioner is asked for new ones); its settings
//! are merged once ([`Settings`]); front-ends are [`Sink`]s of its events, told each one after
//! it is on disk; requests reach the engine in order on one typed channel ([`Handle`]).

mod captioner;
mod echo;
pub mod engine;
pub mod requests;
mod settings;

use std::sync::atomic::AtomicBool;
use std::sync::Arc;

pub use captioner::{Captioner, Ended, LiveError, Sink};
pub use requests::{Gone, Handle, Request};
pub use settings::{Settings, MODEL, STEP, WINDOW};

/// SIGINT, SIGTERM and SIGHUP (a dropped SSH link) set `flag`, asking for a clean end with the
/// transcript complete; a second signal exits at once. The process's one place that installs
/// signal handlers.
pub fn stop_on_signals(flag: &Arc<AtomicBool>) -> anyhow::Result<()> {
    use anyhow::Context;
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
