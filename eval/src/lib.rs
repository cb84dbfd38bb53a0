//! Judging livecap's output, for its tests and benchmarks (never shipped in the product): word
//! error rate against a reference (`wer`), and a finished stream against sentence times
//! (`report`).

pub mod report;
pub mod wer;
