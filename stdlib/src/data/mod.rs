//! Datasets and formats: JSONL texts, BEIR folders, TREC qrels and runs.

pub mod beir;
pub mod clicks;
pub mod distill;
pub mod json_file;
pub mod json_lines;
pub mod lines;
pub mod negatives;
pub mod qrels;
pub mod run;
pub mod run_file;
pub mod samples;
pub mod texts;
pub mod training;
pub mod training_source;

#[cfg(test)]
mod testing;

pub use beir::BeirDataset;
pub use qrels::{Intents, Judgements, Qrels};
pub use run::Run;
pub use texts::{TextRecord, count_texts, read_texts, read_texts_shard, stream_texts, texts_of};
