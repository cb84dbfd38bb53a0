//! Transcripts as users keep them: export to plain text, SRT, WebVTT and JSON.

pub mod export;

pub use export::{write_transcript, Format};
