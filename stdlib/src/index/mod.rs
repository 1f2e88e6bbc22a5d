//! Indexes and search.

mod dense;
mod disk;
mod flat;
mod topk;

pub use dense::DenseIndex;
pub use disk::{Manifest, is_index, load_index, read_manifest, save_index};
pub use flat::{FlatIndex, Metric, score_to_f64};
pub use topk::TopK;
