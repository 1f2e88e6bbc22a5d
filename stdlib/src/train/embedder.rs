//! The bi-encoder as the losses see it: texts to embeddings with the model's
//! prompts (or, for a ColBERT, to token vectors with its markers), dropout
//! masks drawn from the step's seed.

use candle_core::Tensor;

use crate::compute::dropout::Dropout;
use crate::error::Result;
use crate::loss::{Embedder, Role};
use crate::model::SentenceEncoder;
use crate::model::colbert::{ColbertEncoder, Side};

/// A model being trained, at one step.
pub struct ModelEmbedder<'a> {
    model: &'a SentenceEncoder,
    /// The seed of this step's dropout (None: dropout off).
    dropout_seed: Option<u64>,
}

impl<'a> ModelEmbedder<'a> {
    /// `model` with dropout from `dropout_seed`, or none.
    pub fn new(model: &'a SentenceEncoder, dropout_seed: Option<u64>) -> Self {
        Self {
            model,
            dropout_seed,
        }
    }
}

impl Embedder for ModelEmbedder<'_> {
    fn embed(&self, texts: &[&str], role: Role, part: u64, track: bool) -> Result<Tensor> {
        let prompt = match role {
            Role::Query => self.model.query_prompt(),
            Role::Document => self.model.document_prompt(),
        };
        let dropout = self.dropout_seed.map(|s| Dropout::seeded(s, part));
        let e = self.model.embed_t(texts, prompt, dropout.as_ref())?;
        Ok(if track { e } else { e.detach() })
    }
}

/// A ColBERT being trained, at one step: `(texts, length, dim)` token vectors.
pub struct ColbertEmbedder<'a> {
    model: &'a ColbertEncoder,
    /// The seed of this step's dropout (None: dropout off).
    dropout_seed: Option<u64>,
}

impl<'a> ColbertEmbedder<'a> {
    /// `model` with dropout from `dropout_seed`, or none.
    pub fn new(model: &'a ColbertEncoder, dropout_seed: Option<u64>) -> Self {
        Self {
            model,
            dropout_seed,
        }
    }
}

impl Embedder for ColbertEmbedder<'_> {
    fn embed(&self, texts: &[&str], role: Role, part: u64, track: bool) -> Result<Tensor> {
        let side = match role {
            Role::Query => Side::Query,
            Role::Document => Side::Document,
        };
        let dropout = self.dropout_seed.map(|s| Dropout::seeded(s, part));
        let e = self.model.embed_t(texts, side, dropout.as_ref())?;
        Ok(if track { e } else { e.detach() })
    }
}
