//! Datasets and formats: JSONL texts, BEIR folders, TREC qrels and runs.

pub mod beir;
pub mod lines;
pub mod qrels;
pub mod run;
pub mod texts;

pub use beir::BeirDataset;
pub use qrels::Qrels;
pub use run::Run;
pub use texts::{TextRecord, read_texts};
