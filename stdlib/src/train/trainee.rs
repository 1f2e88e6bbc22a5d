//! What the trainer trains: anything with named parameters that embeds texts
//! for the losses, can be identified, validated and saved — a whole bi-encoder,
//! or a head on a frozen one.

use std::collections::HashMap;
use std::path::Path;

use candle_core::{Device, Tensor, Var};

use crate::error::Result;
use crate::loss::Embedder;
use crate::model::SentenceEncoder;
use crate::model::weights::{assign_weights, copy_weights};
use crate::train::embedder::ModelEmbedder;

/// A model the trainer can train.
pub trait Trainee {
    /// The trainable parameters by name.
    fn vars(&self) -> Vec<(String, Var)>;
    /// The model as the losses see it at one step (dropout from `dropout_seed`).
    fn embedder(&self, dropout_seed: Option<u64>) -> Box<dyn Embedder + '_>;
    /// A name and the SHA-256 of the starting weights (a checkpoint must match them).
    fn identity(&self) -> Result<(String, String)>;
    /// Where the parameters live.
    fn device(&self) -> Device;
    /// A model for inference with the current weights (validation, the result).
    fn inference_model(&self) -> Result<SentenceEncoder>;
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
    fn embedder(&self, dropout_seed: Option<u64>) -> Box<dyn Embedder + '_> {
        Box::new(ModelEmbedder::new(self, dropout_seed))
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
