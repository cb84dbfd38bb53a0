//! Panics on request, in builds with the `fault-injection` feature only (the tests' builds, by
//! `scripts/test`), so that tests can check what a panic in the engine or in the app's UI does
//! to the terminal and the transcript: `LIVECAP_PANIC=engine` panics after the engine's first
//! commit, `LIVECAP_PANIC=ui` after the app first draws a committed word. Other builds ignore
//! the variable.

/// Where a panic may be asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    Engine,
    Ui,
}

/// Panic if `LIVECAP_PANIC` names `place` (with `fault-injection` only; the variable is read
/// once).
pub fn panic_if_asked(place: Place) {
    static ASKED: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    if cfg!(feature = "fault-injection") {
        let asked = ASKED.get_or_init(|| std::env::var("LIVECAP_PANIC").ok());
        let name = match place {
            Place::Engine => "engine",
            Place::Ui => "ui",
        };
        if asked.as_deref() == Some(name) {
            panic!("LIVECAP_PANIC={name}: a panic asked for by a test");
        }
    }
}
