//! The one owner of standard error's descriptor. Parts of livecap that need standard error
//! elsewhere ask here and get a guard: the app sends it to a log file while it owns the screen
//! ([`to_file`]); probing audio devices silences it while system plugins may print ([`hush`]).
//! Guards may overlap and end in any order, on any thread: descriptor 2 always points at what
//! the guards alive now ask for (silence over the log file over the original), and once none
//! is left it is the original again. [`release`] gives the original back for good (before a
//! panic message, or once the terminal is restored).

use std::path::Path;
use std::sync::{Mutex, MutexGuard};

#[derive(Default)]
struct State {
    /// The original standard error, saved while anything else is in place.
    #[cfg(unix)]
    original: Option<std::os::fd::OwnedFd>,
    /// The log file asked for by a [`ToFile`] guard.
    #[cfg(unix)]
    log: Option<std::os::fd::OwnedFd>,
    /// [`Hush`] guards alive.
    hushes: usize,
    /// Released: the original stays, whatever guards remain.
    released: bool,
}

static STATE: Mutex<State> = Mutex::new(State {
    #[cfg(unix)]
    original: None,
    #[cfg(unix)]
    log: None,
    hushes: 0,
    released: false,
});

fn state() -> MutexGuard<'static, State> {
    // Only descriptors are kept here: a panic elsewhere leaves them usable.
    STATE.lock().unwrap_or_else(|e| e.into_inner())
}

impl State {
    /// Point descriptor 2 at what is asked for now.
    #[cfg(unix)]
    fn apply(&mut self) {
        use std::os::fd::{AsRawFd, OwnedFd};
        let wanted = !self.released && (self.hushes > 0 || self.log.is_some());
        if !wanted {
            if let Some(original) = self.original.take() {
                // SAFETY: both descriptors are open and owned here.
                unsafe { libc::dup2(original.as_raw_fd(), 2) };
            }
            return;
        }
        if self.original.is_none() {
            // SAFETY: duplicating descriptor 2; the copy is owned below.
            let fd = unsafe { libc::dup(2) };
            if fd < 0 {
                return;
            }
            // SAFETY: `fd` is a fresh descriptor nobody else owns.
            self.original = Some(unsafe { std::os::fd::FromRawFd::from_raw_fd(fd) });
        }
        let null;
        let target: &OwnedFd = if self.hushes > 0 {
            match std::fs::OpenOptions::new().write(true).open("/dev/null") {
                Ok(f) => {
                    null = OwnedFd::from(f);
                    &null
                }
                Err(_) => return,
            }
        } else {
            match &self.log {
                Some(log) => log,
                None => return,
            }
        };
        // SAFETY: both descriptors are open.
        unsafe { libc::dup2(target.as_raw_fd(), 2) };
    }

    #[cfg(not(unix))]
    fn apply(&mut self) {}
}

/// While alive, standard error goes nowhere.
#[derive(Debug)]
#[must_use = "standard error is silenced only while the guard lives"]
pub struct Hush(());

/// Silence standard error until the guard is dropped.
pub fn hush() -> Hush {
    let mut s = state();
    s.hushes += 1;
    s.apply();
    Hush(())
}

impl Drop for Hush {
    fn drop(&mut self) {
        let mut s = state();
        s.hushes = s.hushes.saturating_sub(1);
        s.apply();
    }
}

/// While alive, standard error goes to a log file.
#[derive(Debug)]
#[must_use = "standard error goes to the file only while the guard lives"]
pub struct ToFile(());

/// Send standard error to `path` (appended; private; a first line says when), or to nowhere
/// when there is no path or it cannot be opened, until the guard is dropped.
pub fn to_file(path: Option<&Path>) -> ToFile {
    let mut s = state();
    #[cfg(unix)]
    {
        s.log = open_log(path);
    }
    #[cfg(not(unix))]
    let _ = path;
    s.released = false;
    s.apply();
    ToFile(())
}

impl Drop for ToFile {
    fn drop(&mut self) {
        let mut s = state();
        #[cfg(unix)]
        {
            s.log = None;
        }
        s.apply();
    }
}

#[cfg(unix)]
fn open_log(path: Option<&Path>) -> Option<std::os::fd::OwnedFd> {
    use std::io::Write;
    let file = path.and_then(|p| {
        if let Some(dir) = p.parent() {
            std::fs::create_dir_all(dir).ok();
        }
        crate::private::private_file().append(true).open(p).ok()
    });
    let mut file = match file {
        Some(f) => f,
        None => std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/null")
            .ok()?,
    };
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    writeln!(
        file,
        "--- livecap {} started (unix time {secs})",
        env!("CARGO_PKG_VERSION")
    )
    .ok();
    Some(file.into())
}

/// Say `message` on standard error as `livecap: message`, wherever it points now. Never panics
/// (unlike `eprintln!`): standard error may be a terminal that is gone. Every message livecap
/// prints for a person goes through here.
pub fn say(message: impl std::fmt::Display) {
    use std::io::Write;
    writeln!(std::io::stderr(), "livecap: {message}").ok();
}

/// Give standard error its original place for good: guards still alive no longer move it.
/// Safe from a panic hook (it never waits for a guard being taken or dropped on another
/// thread; the panicking thread may hold one).
pub fn release() {
    match STATE.try_lock() {
        Ok(mut s) => {
            s.released = true;
            s.apply();
        }
        Err(std::sync::TryLockError::Poisoned(e)) => {
            let mut s = e.into_inner();
            s.released = true;
            s.apply();
        }
        // Someone is in the middle of a change; what they apply is theirs to finish.
        Err(std::sync::TryLockError::WouldBlock) => {}
    }
}
