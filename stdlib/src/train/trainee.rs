//! What the trainer trains: anything with named parameters that embeds texts
//! for the losses, can be identified, validated and saved — a whole bi-encoder,
//! or a head on a frozen one.

use std::collections::HashMap;
use std::path::Path;

use candle_core::{Device, Tensor, Var};

use crate::compute::dropout::Dropout;
use crate::data::Run;
use crate::error::Result;
use crate::loss::{Embedder, ModelRef, Scorer};
use crate::model::SentenceEncoder;
use crate::model::colbert::ColbertEncoder;
use crate::model::cross_encoder::CrossEncoder;
use crate::model::weights::{assign_weights, copy_weights};
use crate::train::embedder::{ColbertEmbedder, ModelEmbedder};
use crate::train::validation::Validation;

/// A trainee as the losses see it at one step.
pub enum Scoring<'a> {
    /// A bi-encoder.
    Bi(Box<dyn Embedder + 'a>),
    /// A cross-encoder.
    Cross(Box<dyn Scorer + 'a>),
}

impl Scoring<'_> {
    /// The borrowed form the losses take.
    pub fn as_model(&self) -> ModelRef<'_> {
        match self {
            Self::Bi(e) => ModelRef::Bi(e.as_ref()),
            Self::Cross(s) => ModelRef::Cross(s.as_ref()),
        }
    }
}

/// A model the trainer can train.
pub trait Trainee {
    /// The trainable parameters by name.
    fn vars(&self) -> Vec<(String, Var)>;
    /// Whether it embeds a text as token vectors (a ColBERT) rather than one vector.
    fn token_vectors(&self) -> bool {
        false
    }
    /// The model as the losses see it at one step (dropout from `dropout_seed`).
    fn scoring(&self, dropout_seed: Option<u64>) -> Scoring<'_>;
    /// A name and the SHA-256 of the starting weights (a checkpoint must match them).
    fn identity(&self) -> Result<(String, String)>;
    /// Where the parameters live.
    fn device(&self) -> Device;
    /// A model for inference with the current weights (validation, the result).
    fn inference_model(&self) -> Result<SentenceEncoder>;
    /// The run the model gives on a validation collection: a bi-encoder
    /// searches the corpus, a cross-encoder re-ranks the first-stage run.
    fn validation_run(&self, v: &Validation) -> Result<Run> {
        v.dense_run(self.inference_model()?)
    }
    /// Writes the model as a sentence-transformers folder, atomically.
    fn save(&self, dir: &Path) -> Result<()>;
    /// Copies of the parameters by name.
    fn current_weights(&self) -> Result<HashMap<String, Tensor>> {
        copy_weights(&self.vars())
    }
    /// Sets the parameters (each must be present with its shape).
    fn set_weights(&self, weights: &HashMap<String, Tensor>) -> Result<()> {
        assign_weights(&self.vars(), weights)
    }
}

impl Trainee for SentenceEncoder {
    fn vars(&self) -> Vec<(String, Var)> {
        self.trainable_vars()
    }
    fn scoring(&self, dropout_seed: Option<u64>) -> Scoring<'_> {
        Scoring::Bi(Box::new(ModelEmbedder::new(self, dropout_seed)))
    }
    fn identity(&self) -> Result<(String, String)> {
        Ok((self.name().to_string(), self.base_weights_sha256()?))
    }
    fn device(&self) -> Device {
        SentenceEncoder::device(self).clone()
    }
    fn inference_model(&self) -> Result<SentenceEncoder> {
        self.inference_copy()
    }
    fn save(&self, dir: &Path) -> Result<()> {
        SentenceEncoder::save(self, dir)
    }
}

/// A cross-encoder at one step: scores pairs with the step's dropout.
struct CrossScorer<'a> {
    model: &'a CrossEncoder,
    dropout_seed: Option<u64>,
}

impl Scorer for CrossScorer<'_> {
    fn score(&self, pairs: &[(&str, &str)], part: u64, track: bool) -> Result<Tensor> {
        let dropout = self.dropout_seed.map(|s| Dropout::seeded(s, part));
        let s = self
            .model
            .forward_t(pairs, dropout.as_ref())?
            .narrow(1, 0, 1)?
            .squeeze(1)?;
        Ok(if track { s } else { s.detach() })
    }
}

impl Trainee for CrossEncoder {
    fn vars(&self) -> Vec<(String, Var)> {
        CrossEncoder::vars(self)
    }
    fn scoring(&self, dropout_seed: Option<u64>) -> Scoring<'_> {
        Scoring::Cross(Box::new(CrossScorer {
            model: self,
            dropout_seed,
        }))
    }
    fn identity(&self) -> Result<(String, String)> {
        Ok((self.name().to_string(), self.base_weights_sha256()?))
    }
    fn device(&self) -> Device {
        CrossEncoder::device(self).clone()
    }
    fn inference_model(&self) -> Result<SentenceEncoder> {
        Err(crate::Error::InvalidArgument(
            "a cross-encoder scores pairs and has no bi-encoder form".into(),
        ))
    }
    fn validation_run(&self, v: &Validation) -> Result<Run> {
        v.reranked_run(self)
    }
    fn save(&self, dir: &Path) -> Result<()> {
        CrossEncoder::save(self, dir)
    }
}

impl Trainee for ColbertEncoder {
    fn vars(&self) -> Vec<(String, Var)> {
        self.trainable_vars()
    }
    fn token_vectors(&self) -> bool {
        true
    }
    fn scoring(&self, dropout_seed: Option<u64>) -> Scoring<'_> {
        Scoring::Bi(Box::new(ColbertEmbedder::new(self, dropout_seed)))
    }
    fn identity(&self) -> Result<(String, String)> {
        Ok((self.name().to_string(), self.weights_sha256()?))
    }
    fn device(&self) -> Device {
        ColbertEncoder::device(self).clone()
    }
    fn inference_model(&self) -> Result<SentenceEncoder> {
        Err(crate::Error::InvalidArgument(
            "a ColBERT model gives token vectors, not one vector per text".into(),
        ))
    }
    fn validation_run(&self, v: &Validation) -> Result<Run> {
        v.maxsim_run(self.inference_copy()?)
    }
    fn save(&self, dir: &Path) -> Result<()> {
        ColbertEncoder::save(self, dir)
    }
}
