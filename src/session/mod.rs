//! Transcripts as users keep them: sessions recorded on disk as they happen, the store through
//! which they are listed, opened and exported, and export to plain text, SRT, WebVTT and JSON.

pub mod cues;
pub mod export;
pub mod follow;
pub mod ids;
pub mod log;
pub mod reader;
pub mod record;
pub mod store;
pub mod wav;
pub mod writer;

pub use export::{write_transcript, Format};
pub use record::{data_dir, News, RecordOptions, Recorder};
pub use store::{Kept, KeptAudioError, Store};
