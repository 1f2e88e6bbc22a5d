//! Datasets and formats: JSONL texts, BEIR folders, TREC qrels and runs.

pub mod beir;
pub mod lines;
pub mod qrels;
pub mod run;
pub mod run_file;
pub mod texts;
pub mod training;

pub use beir::BeirDataset;
pub use qrels::{Judgements, Qrels};
pub use run::Run;
pub use texts::{TextRecord, read_texts};
