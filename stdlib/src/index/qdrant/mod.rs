//! Qdrant as an index back-end: the factory strings (always), the client with
//! the `qdrant` feature (dense vectors, and ColBERT token vectors compared by
//! Qdrant's MaxSim). The vectors live on a Qdrant server; the index folder
//! records the ids and where the collection is.

#[cfg(feature = "qdrant")]
mod collection;
#[cfg(feature = "qdrant")]
mod dense;
#[cfg(feature = "qdrant")]
mod multi;
#[cfg(feature = "qdrant")]
mod requests;
#[cfg(feature = "qdrant")]
mod server;
mod spec;

#[cfg(feature = "qdrant")]
pub use dense::QdrantIndex;
#[cfg(feature = "qdrant")]
pub use multi::QdrantColbertIndex;
pub use spec::{DEFAULT_URL, QDRANT, QdrantSpec};

/// Whether `factory` names a Qdrant index (`qdrant` or `qdrant:...`).
pub fn is_qdrant(factory: &str) -> bool {
    factory == QDRANT || factory.starts_with("qdrant:")
}

/// Checks, before a corpus is encoded for it, that a Qdrant index type can be
/// built: the factory string parses and the server answers.
#[cfg(feature = "qdrant")]
pub(crate) fn preflight(factory: &str) -> crate::error::Result<()> {
    let spec = QdrantSpec::parse(factory)?;
    server::Server::connect(&spec.server_url()).map(drop)
}

/// The error for a Qdrant index type in a build without the feature.
#[cfg(not(feature = "qdrant"))]
pub(crate) fn without_qdrant(factory: &str) -> crate::error::Error {
    crate::error::Error::InvalidArgument(format!(
        "index type \"{factory}\" is not available: Qdrant indexes need a build with `--features qdrant`"
    ))
}

#[cfg(all(test, not(feature = "qdrant")))]
mod tests {
    use crate::index::{Metric, build_index};
    use crate::vectors::Embeddings;

    #[test]
    fn without_the_feature_qdrant_types_are_refused() {
        let vectors = Embeddings::new(2, vec![1.0, 0.0]);
        let err = build_index("qdrant:HNSW", vec!["a".into()], vectors, Metric::Dot)
            .err()
            .unwrap()
            .to_string();
        assert!(
            err.contains("need a build with `--features qdrant`"),
            "{err}"
        );
    }
}
