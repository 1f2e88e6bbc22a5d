//! A dense index: a bi-encoder plus an exact index of its document vectors,
//! saved with the model's identity so queries are always encoded the way the
//! documents were.

use std::path::Path;
use std::sync::Arc;

use crate::data::{Run, TextRecord, texts_of};
use crate::error::{Error, Result};
use crate::index::disk::{load_index, recorded_model_error, save_index};
use crate::index::flat::Metric;
use crate::index::vector_index::{VectorIndex, build_index};
use crate::model::{EncodeOptions, EncodeStats, ModelOptions, SentenceEncoder};
use crate::progress::Progress;
use crate::shard::PartInfo;

/// Documents encoded by a model, searchable with queries encoded by the same model.
pub struct DenseIndex {
    model: Arc<SentenceEncoder>,
    index: Box<dyn VectorIndex>,
}

impl DenseIndex {
    /// Encodes `corpus` with the model's document prompt and indexes it in an
    /// index of type `factory` (`Flat`, or a faiss type with the `faiss` feature).
    pub fn build(
        model: Arc<SentenceEncoder>,
        corpus: &[TextRecord],
        factory: &str,
        metric: Metric,
        opts: &EncodeOptions,
    ) -> Result<(Self, EncodeStats)> {
        #[cfg(feature = "qdrant")]
        if crate::index::qdrant::is_qdrant(factory) {
            crate::index::qdrant::preflight(factory)?;
        }
        let o = EncodeOptions {
            prompt: opts.prompt.or(model.document_prompt()),
            ..*opts
        };
        let (vectors, stats) = model.encode(&texts_of(corpus), &o)?;
        let ids = corpus.iter().map(|r| r.id.clone()).collect();
        let index = build_index(factory, ids, vectors, metric)?;
        Ok((Self { model, index }, stats))
    }

    /// Writes the index (vectors, ids, the model's identity) to the directory `dir`.
    pub fn save(&self, dir: &Path) -> Result<()> {
        self.save_part(dir, None)
    }

    /// Writes the index, recording the slice of the corpus it holds if it is a part.
    pub fn save_part(&self, dir: &Path, part: Option<PartInfo>) -> Result<()> {
        save_index(dir, self.index.as_ref(), Some(self.model.identity()?), part)
    }

    /// Loads the index at `dir` with `model`, or with the model it was built with
    /// (loaded by name with `options`). Refuses a model whose settings differ.
    pub fn load(
        dir: &Path,
        model: Option<Arc<SentenceEncoder>>,
        options: &ModelOptions,
    ) -> Result<Self> {
        let (index, manifest) = load_index(dir)?;
        let Some(built) = manifest.model else {
            return Err(Error::InvalidArgument(format!(
                "{}: the index records no model; search it with vectors",
                dir.display()
            )));
        };
        let model = match model {
            Some(m) => m,
            None => Arc::new(
                SentenceEncoder::load(
                    &built.model,
                    &ModelOptions {
                        max_length: Some(built.max_length),
                        query_prompt: built.query_prompt.clone(),
                        document_prompt: built.document_prompt.clone(),
                        precision: options.precision.or(Some(built.precision)),
                        ..options.clone()
                    },
                )
                .map_err(|e| recorded_model_error(dir, &built.model, e))?,
            ),
        };
        let now = model.identity()?;
        if !now.same_vectors(&built) {
            return Err(Error::InvalidArgument(format!(
                "{}: index built with {built}, queries encoded with {now}",
                dir.display()
            )));
        }
        Ok(Self { model, index })
    }

    /// Number of indexed docs.
    pub fn len(&self) -> usize {
        self.index.len()
    }

    /// Whether no doc is indexed.
    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    /// The model that encoded the docs.
    pub fn model(&self) -> &Arc<SentenceEncoder> {
        &self.model
    }

    /// The index of the doc vectors.
    pub fn vector_index(&self) -> &dyn VectorIndex {
        self.index.as_ref()
    }

    /// Encodes `queries` with the model's query prompt and returns the top `k` per
    /// query; `progress` sees the encoding, then the search.
    pub fn search(
        &self,
        queries: &[TextRecord],
        k: usize,
        opts: &EncodeOptions,
        progress: &dyn Progress,
    ) -> Result<Run> {
        let vectors = self.model.encode_queries(&texts_of(queries), opts)?;
        let ids: Vec<String> = queries.iter().map(|q| q.id.clone()).collect();
        self.index.search(&ids, &vectors, k, progress)
    }
}
