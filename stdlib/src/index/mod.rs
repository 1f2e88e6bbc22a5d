//! Indexes and search.

mod dense;
mod flat;
mod topk;

pub use dense::DenseIndex;
pub use flat::{FlatIndex, Metric, score_to_f64};
pub use topk::TopK;
