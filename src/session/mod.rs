//! Transcripts as users keep them: sessions recorded on disk as they happen, and export to plain
//! text, SRT, WebVTT and JSON.

pub mod export;
pub mod log;
pub mod record;
pub mod wav;

pub use export::{write_transcript, Format};
pub use record::{data_dir, News, RecordOptions, Recorder};
