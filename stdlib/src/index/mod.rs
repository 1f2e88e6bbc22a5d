//! Indexes and search.

mod dense;
mod disk;
#[cfg(feature = "faiss")]
mod faiss_index;
mod flat;
mod topk;
mod vector_index;
#[cfg(feature = "faiss")]
pub use faiss_index::FaissIndex;

pub use dense::DenseIndex;
pub use disk::{Manifest, is_index, load_index, read_manifest, save_index};
pub use flat::{FlatIndex, Metric, score_to_f64};
pub use topk::TopK;
pub use vector_index::{VectorIndex, build_index};
