//! The subcommands, each a thin layer between the command line and the engine.

pub mod devices;
pub mod docs;
pub mod sessions;
pub mod stream;
pub mod transcribe;
