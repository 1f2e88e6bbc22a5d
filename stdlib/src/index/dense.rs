//! A dense index: a bi-encoder plus an exact index of its document vectors.

use std::sync::Arc;

use crate::data::{Run, TextRecord};
use crate::error::{Error, Result};
use crate::index::flat::{FlatIndex, Metric};
use crate::model::{EncodeOptions, SentenceEncoder};

/// Documents encoded by a model, searchable with queries encoded by the same model.
pub struct DenseIndex {
    model: Arc<SentenceEncoder>,
    flat: FlatIndex,
}

fn texts(records: &[TextRecord]) -> Vec<&str> {
    records.iter().map(|r| r.text.as_str()).collect()
}

impl DenseIndex {
    /// Encodes `corpus` with the model's document prompt and indexes it (dot product).
    pub fn build(
        model: Arc<SentenceEncoder>,
        corpus: &[TextRecord],
        opts: &EncodeOptions,
    ) -> Result<Self> {
        if corpus.is_empty() {
            return Err(Error::InvalidArgument(
                "cannot index an empty corpus".into(),
            ));
        }
        let vectors = model.encode_documents(&texts(corpus), opts)?;
        let ids = corpus.iter().map(|r| r.id.clone()).collect();
        let flat = FlatIndex::new(ids, vectors, Metric::Dot)?;
        Ok(Self { model, flat })
    }

    /// Number of indexed docs.
    pub fn len(&self) -> usize {
        self.flat.len()
    }

    /// Whether no doc is indexed.
    pub fn is_empty(&self) -> bool {
        self.flat.is_empty()
    }

    /// The model that encoded the docs.
    pub fn model(&self) -> &Arc<SentenceEncoder> {
        &self.model
    }

    /// Encodes `queries` with the model's query prompt and returns the top `k` per query.
    pub fn search(&self, queries: &[TextRecord], k: usize, opts: &EncodeOptions) -> Result<Run> {
        let vectors = self.model.encode_queries(&texts(queries), opts)?;
        let ids: Vec<String> = queries.iter().map(|q| q.id.clone()).collect();
        self.flat.search(&ids, &vectors, k)
    }
}
