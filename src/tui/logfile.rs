//! While the app owns the screen, anything written to standard error (livecap's own messages,
//! and libraries' such as ALSA's) goes to a log file instead of over the captions. The terminal
//! gets standard error back when the app ends, and before a panic message is printed.

use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicI32, Ordering};

/// The terminal's standard error, saved while it points at the log (-1: not redirected).
static SAVED: AtomicI32 = AtomicI32::new(-1);

/// Standard error goes to a file until this is dropped.
#[derive(Debug)]
pub struct StderrToFile(());

impl StderrToFile {
    /// Send standard error to `path` (appended; private), or to nowhere when there is no path
    /// or it cannot be opened.
    pub fn start(path: Option<&Path>) -> StderrToFile {
        redirect(path);
        StderrToFile(())
    }
}

impl Drop for StderrToFile {
    fn drop(&mut self) {
        restore();
    }
}

#[cfg(unix)]
fn redirect(path: Option<&Path>) {
    use std::os::fd::IntoRawFd;
    let file = path.and_then(|p| {
        if let Some(dir) = p.parent() {
            std::fs::create_dir_all(dir).ok();
        }
        crate::session::log::private_file()
            .append(true)
            .open(p)
            .ok()
    });
    let mut file = match file {
        Some(f) => f,
        None => match std::fs::OpenOptions::new().write(true).open("/dev/null") {
            Ok(f) => f,
            Err(_) => return,
        },
    };
    let secs = crate::session::log::now() as u64;
    writeln!(
        file,
        "--- livecap {} started (unix time {secs})",
        env!("CARGO_PKG_VERSION")
    )
    .ok();
    let fd = file.into_raw_fd();
    // SAFETY: plain descriptor calls on descriptors this process owns.
    unsafe {
        let saved = libc::dup(2);
        if saved >= 0 && libc::dup2(fd, 2) >= 0 {
            SAVED.store(saved, Ordering::SeqCst);
        } else if saved >= 0 {
            libc::close(saved);
        }
        libc::close(fd);
    }
}

#[cfg(not(unix))]
fn redirect(_: Option<&Path>) {}

/// Give standard error back to the terminal (safe to call more than once).
pub fn restore() {
    let saved = SAVED.swap(-1, Ordering::SeqCst);
    #[cfg(unix)]
    if saved >= 0 {
        // SAFETY: `saved` is the descriptor `redirect` duplicated and nobody else closes.
        unsafe {
            libc::dup2(saved, 2);
            libc::close(saved);
        }
    }
    #[cfg(not(unix))]
    let _ = saved;
}
