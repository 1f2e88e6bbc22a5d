//! Dense vectors: the in-memory matrix and its file formats.

mod embeddings;
mod files;

pub use embeddings::Embeddings;
pub use files::{VectorFormat, write_vectors};
