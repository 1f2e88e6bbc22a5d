//! Indexes and search.

mod bm25;
mod dense;
mod disk;
#[cfg(feature = "faiss")]
mod faiss_index;
mod flat;
mod inverted;
mod lance;
mod lucene_norm;
mod maxsim;
mod parts;
mod plaid;
mod qdrant;
mod retriever;
mod sparse;
mod topk;
mod vector_index;
#[cfg(feature = "faiss")]
pub use faiss_index::FaissIndex;

pub use bm25::{Bm25Builder, Bm25Counts, Bm25Index, Bm25Params};
pub use dense::DenseIndex;
pub use disk::{
    Manifest, is_index, load_index, read_manifest, save_index, verified_manifest, write_index_dir,
};
pub use flat::{FlatIndex, Metric, score_to_f64};
pub use inverted::{InvertedIndex, TermWeights};
#[cfg(feature = "lancedb")]
pub use lance::LanceIndex;
pub use lance::{LANCE, LanceAnn, LanceSpec, is_lance};
pub use maxsim::{MAXSIM, MaxSimIndex};
pub(crate) use parts::merge_index_parts;
pub use parts::{PartedIndex, open_parts};
pub use plaid::{
    PLAID, PlaidBuild, PlaidIndex, PlaidSearch, PlaidSpec, ResidualCodec, default_centroids,
};
pub use qdrant::{DEFAULT_URL as QDRANT_DEFAULT_URL, QDRANT, QdrantSpec, is_qdrant};
#[cfg(feature = "qdrant")]
pub use qdrant::{QdrantColbertIndex, QdrantIndex};
pub use retriever::{OpenOptions, Retriever, build_colbert_index, open};
pub use sparse::SparseIndex;
pub use topk::TopK;
pub use vector_index::{DEFAULT_FACTORY, VectorIndex, build_index, index_backends};
