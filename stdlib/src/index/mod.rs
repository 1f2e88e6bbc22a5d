//! Indexes and search.

mod flat;
mod topk;

pub use flat::{FlatIndex, Metric};
pub use topk::TopK;
