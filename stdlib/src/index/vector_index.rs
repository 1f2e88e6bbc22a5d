//! What every index type offers (exact Flat, and the faiss types with the `faiss`
//! feature), and how an index type is chosen from a factory string.

use std::path::Path;

use crate::data::Run;
use crate::error::{Error, Result};
use crate::index::flat::{FlatIndex, Metric, normalized, score_to_f64};
use crate::progress::Progress;
use crate::vectors::Embeddings;

/// A searchable set of doc vectors.
pub trait VectorIndex: Send + Sync {
    /// The index type as a faiss factory string (`Flat`, `HNSW32`, …).
    fn factory(&self) -> &str;
    /// Doc ids in index order.
    fn ids(&self) -> &[String];
    /// Vector width.
    fn dim(&self) -> usize;
    /// How vectors are compared.
    fn metric(&self) -> Metric;
    /// The best `k` docs per query vector, best first, as `(doc index, score)`
    /// (higher is better; ties by the larger doc id).
    fn search_vectors_with(
        &self,
        queries: &Embeddings,
        k: usize,
        progress: &dyn Progress,
    ) -> Result<Vec<Vec<(usize, f32)>>>;
    /// Writes the index's files into the directory `dir`; returns their names.
    fn write_files(&self, dir: &Path) -> Result<Vec<String>>;

    /// Sets a search parameter (`nprobe` for IVF types, `efSearch` for HNSW).
    fn set_parameter(&self, name: &str, _value: usize) -> Result<()> {
        Err(Error::InvalidArgument(format!(
            "index type \"{}\" has no parameter {name}",
            self.factory()
        )))
    }

    /// The stored vector of the doc at `row` (None where the index type keeps
    /// no exact copy).
    fn vector(&self, _row: usize) -> Option<Vec<f32>> {
        None
    }

    /// Number of docs.
    fn len(&self) -> usize {
        self.ids().len()
    }

    /// Whether the index holds no doc.
    fn is_empty(&self) -> bool {
        self.ids().is_empty()
    }

    /// Searches and returns a run keyed by `query_ids`.
    fn search(
        &self,
        query_ids: &[String],
        queries: &Embeddings,
        k: usize,
        progress: &dyn Progress,
    ) -> Result<Run> {
        let hits = self.search_vectors_with(queries, k, progress)?;
        let mut run = Run::new();
        for (qid, hits) in query_ids.iter().zip(hits) {
            for (doc, score) in hits {
                run.push(qid, &self.ids()[doc], score_to_f64(score));
            }
        }
        Ok(run)
    }
}

/// Query vectors ready to search an index of width `dim`: the width checked,
/// unit length for cosine.
pub(crate) fn prepare_queries(
    queries: &Embeddings,
    dim: usize,
    metric: Metric,
) -> Result<Embeddings> {
    if queries.dim() != dim {
        return Err(Error::InvalidArgument(format!(
            "query vectors have dimension {}, the index {dim}",
            queries.dim()
        )));
    }
    Ok(if metric == Metric::Cosine {
        normalized(queries)
    } else {
        queries.clone()
    })
}

/// The index type unless another is asked for: exact search.
pub const DEFAULT_FACTORY: &str = "Flat";

/// The index back-ends this build has: `flat` always, `faiss`, `lance` and
/// `qdrant` with their features.
pub fn index_backends() -> Vec<&'static str> {
    let mut backends = vec!["flat"];
    if cfg!(feature = "faiss") {
        backends.push("faiss");
    }
    if cfg!(feature = "lancedb") {
        backends.push("lance");
    }
    if cfg!(feature = "qdrant") {
        backends.push("qdrant");
    }
    backends
}

/// Builds an index of type `factory` over `vectors`.
pub fn build_index(
    factory: &str,
    ids: Vec<String>,
    vectors: Embeddings,
    metric: Metric,
) -> Result<Box<dyn VectorIndex>> {
    if vectors.is_empty() {
        return Err(Error::InvalidArgument(
            "cannot index an empty corpus".into(),
        ));
    }
    if factory == "Flat" {
        return Ok(Box::new(FlatIndex::new(ids, vectors, metric)?));
    }
    if crate::index::lance::is_lance(factory) {
        return build_lance(factory, ids, vectors, metric);
    }
    if crate::index::qdrant::is_qdrant(factory) {
        #[cfg(feature = "qdrant")]
        return Ok(Box::new(crate::index::qdrant::QdrantIndex::build(
            factory, ids, vectors, metric,
        )?));
        #[cfg(not(feature = "qdrant"))]
        return Err(crate::index::qdrant::without_qdrant(factory));
    }
    #[cfg(feature = "faiss")]
    {
        Ok(Box::new(crate::index::faiss_index::FaissIndex::build(
            factory, ids, &vectors, metric,
        )?))
    }
    #[cfg(not(feature = "faiss"))]
    Err(without_faiss(factory))
}

#[cfg(feature = "lancedb")]
fn build_lance(
    factory: &str,
    ids: Vec<String>,
    vectors: Embeddings,
    metric: Metric,
) -> Result<Box<dyn VectorIndex>> {
    Ok(Box::new(crate::index::lance::LanceIndex::build(
        factory, ids, vectors, metric,
    )?))
}

#[cfg(not(feature = "lancedb"))]
fn build_lance(
    factory: &str,
    _: Vec<String>,
    _: Embeddings,
    _: Metric,
) -> Result<Box<dyn VectorIndex>> {
    Err(crate::index::lance::without_lancedb(factory))
}

/// The error for a faiss index type in a build without the feature.
#[cfg(not(feature = "faiss"))]
pub(crate) fn without_faiss(factory: &str) -> Error {
    Error::InvalidArgument(format!(
        "index type \"{factory}\" is not available: this build has Flat (exact search); IVF, HNSW and PQ need a build with `--features faiss`"
    ))
}
