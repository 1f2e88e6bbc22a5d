//! Dense vectors: the in-memory matrix and its file formats.

mod arrow_file;
mod embeddings;
pub(crate) mod files;
pub mod kmeans;
mod multi;
pub(crate) mod multi_file;
pub mod pca;

pub use arrow_file::VectorFile;
pub use embeddings::Embeddings;
pub use files::{VectorFormat, write_vectors};
pub use multi::MultiVectors;
pub use multi_file::{read_multi_vectors, write_multi_vectors};
