//! livecap: live captions in the terminal. The library holds the engine (audio in, Whisper
//! inference, transcript out); `main.rs` only parses the command line and dispatches.

pub mod asr;
pub mod audio;
pub mod cli;
pub mod cmd;
pub mod config;
pub mod faults;
pub mod live;
pub mod private;
pub mod session;
pub mod share;
pub mod stderr;
pub mod stream;
pub mod transcript;
pub mod tui;

/// Keep freed blocks of up to 32 MiB for reuse instead of giving them back to the system: the
/// encoder frees and asks again for the same large buffers in every layer, and each fresh mapping
/// costs page faults (measured: 18 % off `transcribe` of the dev files with base at int8, for
/// 14 MB more peak memory). Call it first thing in `main`, before any thread starts.
pub fn reuse_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only tunes the allocator; it is called before any thread starts
    // (callers do so first thing in `main`).
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 128 << 20);
    }
}
