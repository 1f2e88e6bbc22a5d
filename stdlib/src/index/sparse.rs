//! A learned sparse index: documents encoded by a SPLADE model into weighted
//! vocabulary terms, searched by exact dot product with queries encoded by the
//! same model.

use std::path::Path;
use std::sync::Arc;

use crate::data::{Run, TextRecord, texts_of};
use crate::error::{Error, Result};
use crate::index::bm25::to_run;
use crate::index::disk::{Manifest, recorded_model_error, verified_manifest, write_index_dir};
use crate::index::flat::Metric;
use crate::index::inverted::InvertedIndex;
use crate::model::splade::{SpladeEncoder, SpladeOptions};
use crate::progress::Progress;
use crate::shard::PartInfo;

/// The factory name of a SPLADE index in its manifest.
pub const SPLADE: &str = "SPLADE";

/// Texts encoded per forward pass.
const BATCH: usize = 32;

/// SPLADE document vectors, inverted.
pub struct SparseIndex {
    model: Arc<SpladeEncoder>,
    inverted: InvertedIndex,
}

impl SparseIndex {
    /// Encodes and indexes `corpus`; `progress` counts docs.
    pub fn build(
        model: Arc<SpladeEncoder>,
        corpus: &[TextRecord],
        progress: &dyn Progress,
    ) -> Result<Self> {
        let texts = texts_of(corpus);
        let vectors = model.encode(&texts, BATCH, progress)?;
        let ids = corpus.iter().map(|r| r.id.clone()).collect();
        let inverted = InvertedIndex::new(ids, model.vocab().to_vec(), &vectors)?;
        Ok(Self { model, inverted })
    }

    /// The encoder.
    pub fn model(&self) -> &Arc<SpladeEncoder> {
        &self.model
    }

    /// The postings.
    pub fn inverted(&self) -> &InvertedIndex {
        &self.inverted
    }

    /// The best `k` docs per query.
    pub fn search(&self, queries: &[TextRecord], k: usize, progress: &dyn Progress) -> Result<Run> {
        let texts = texts_of(queries);
        let vectors = self.model.encode(&texts, BATCH, progress)?;
        Ok(to_run(
            &self.inverted,
            queries,
            self.inverted.search(&vectors, k, progress),
        ))
    }

    /// Writes the index directory (atomically).
    pub fn save(&self, dir: &Path) -> Result<()> {
        self.save_part(dir, None)
    }

    /// Writes the index directory, recording the slice of the corpus it holds if it is a part.
    pub fn save_part(&self, dir: &Path, part: Option<PartInfo>) -> Result<()> {
        let manifest = Manifest {
            model: Some(self.model.identity()?),
            part,
            ..Manifest::new(
                SPLADE,
                Metric::Dot,
                self.inverted.vocabulary_size(),
                self.inverted.len(),
            )
        };
        write_index_dir(dir, manifest, |tmp| self.inverted.write_files(tmp))
    }

    /// Loads a sparse index with `model`, or the model it records (loaded with
    /// `device`); refuses a model whose weights or settings differ.
    pub fn load(dir: &Path, model: Option<Arc<SpladeEncoder>>, device: &str) -> Result<Self> {
        let m = verified_manifest(dir)?;
        let built = match m.model {
            Some(built) if m.factory == SPLADE => built,
            _ => {
                return Err(Error::InvalidArgument(format!(
                    "{}: a {} index, not a SPLADE one",
                    dir.display(),
                    m.factory
                )));
            }
        };
        let model = match model {
            Some(m) => m,
            None => Arc::new(
                SpladeEncoder::load(
                    &built.model,
                    &SpladeOptions {
                        device: device.to_string(),
                        max_length: Some(built.max_length),
                        top_k: built.top_k,
                        precision: built.precision,
                    },
                )
                .map_err(|e| recorded_model_error(dir, &built.model, e))?,
            ),
        };
        let now = model.identity()?;
        if !now.same_vectors(&built) {
            return Err(Error::InvalidArgument(format!(
                "{}: index built with {built}, queries encoded with {now}",
                dir.display(),
            )));
        }
        Ok(Self {
            model,
            inverted: InvertedIndex::read_files(dir)?,
        })
    }
}
