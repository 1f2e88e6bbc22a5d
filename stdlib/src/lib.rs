//! rankbook: fine-tune, index, search, re-rank and evaluate neural retrieval models.

pub mod analysis;
pub mod atomic;
pub mod cache;
pub mod checksum;
pub mod compute;
pub mod data;
pub mod error;
pub mod eval;
pub mod fusion;
pub mod index;
pub mod loss;
pub mod mining;
pub mod model;
#[cfg(feature = "plot")]
pub mod plot;
pub mod present;
pub mod progress;
pub mod random;
pub mod rerank;
pub mod shard;
pub mod train;
pub mod vectors;

pub use error::{Error, Result};
