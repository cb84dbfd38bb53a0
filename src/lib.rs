//! livecap: live captions in the terminal. The library holds the engine (audio in, Whisper
//! inference, transcript out); `main.rs` only parses the command line and dispatches.

pub mod asr;
pub mod audio;
pub mod cli;
pub mod cmd;
pub mod config;
pub mod live;
pub mod session;
pub mod stderr;
pub mod stream;
pub mod tui;
