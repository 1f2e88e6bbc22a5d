//! A ColBERT being trained: token vectors with their graph (zeroed where
//! PyLate's masks drop a token, padded to the side's length so that a batch's
//! documents stack), trainable and inference copies, and saving as a folder
//! PyLate loads.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use candle_core::{Device, Tensor, Var};

use super::{ColbertEncoder, ColbertOptions, Side, Weights, projection_prefix};
use crate::compute::dropout::Dropout;
use crate::error::{Error, Result};
use crate::model::backend::Backend;
use crate::model::batch::TokenBatch;
use crate::model::pooling::l2_normalize;
use crate::model::tokenize::TokenIds;
use crate::model::weights::{
    TrainedWeights, assign_weights, tensors_hash, vars_of, write_folder_with_weights,
};

impl ColbertEncoder {
    /// A copy loaded for training (`Backend::Trainable`), projections
    /// included, starting from this model's weights (trained ones too).
    pub fn trainable_copy(&self) -> Result<ColbertEncoder> {
        let options = ColbertOptions {
            backend: Backend::Trainable,
            precision: None,
            ..self.options.clone()
        };
        let mut copy = Self::build(&self.dir, &options, Weights::Folder)?;
        copy.name = self.name.clone();
        if let Weights::Trained(t) = &self.weights {
            assign_weights(&copy.trainable_vars(), &t.tensors)?;
        }
        Ok(copy)
    }

    /// The trainable weights by name (empty unless loaded for training).
    pub fn trainable_vars(&self) -> Vec<(String, Var)> {
        self.trainable.as_ref().map(vars_of).unwrap_or_default()
    }

    /// A copy for inference (the fast CPU path) with the current weights of a
    /// model being trained; its identity hashes those weights.
    pub fn inference_copy(&self) -> Result<ColbertEncoder> {
        let Some(w) = &self.trainable else {
            return Err(Error::InvalidArgument(
                "the ColBERT model was not loaded for training".into(),
            ));
        };
        let trained = TrainedWeights::of(w)?;
        let hash = tensors_hash(&trained.tensors)?;
        let options = ColbertOptions {
            backend: Backend::Auto,
            ..self.options.clone()
        };
        let mut copy = Self::build(&self.dir, &options, Weights::Trained(Arc::new(trained)))?;
        copy.name = format!("{}@{}", self.name, &hash[..12]);
        copy.weights_sha256 = Some(hash);
        Ok(copy)
    }

    /// The device it runs on.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// Writes the model as a PyLate folder at `out`: every file of its folder,
    /// with the transformer's and the projections' weights replaced by the
    /// current ones (same names and dtypes, `model.safetensors`). Atomic.
    pub fn save(&self, out: &Path) -> Result<()> {
        let stored = match (&self.trainable, &self.weights) {
            (Some(w), _) => Some(TrainedWeights::of(w)?.stored()?),
            (None, Weights::Trained(t)) => Some(t.stored()?),
            (None, Weights::Folder) => None,
        };
        let Some(stored) = stored else {
            return write_folder_with_weights(&self.dir, out, &[]);
        };
        // Each projection's weights go to its own folder, without the prefix.
        let mut groups: Vec<_> = self
            .projection_dirs
            .iter()
            .map(|d| (d.clone(), projection_prefix(&self.dir, d), HashMap::new()))
            .collect();
        let mut transformer = HashMap::new();
        for (name, t) in stored {
            match groups.iter_mut().find(|g| name.starts_with(&g.1)) {
                Some(g) => {
                    g.2.insert(name[g.1.len()..].to_string(), t);
                }
                None => {
                    transformer.insert(name, t);
                }
            }
        }
        let mut replaced = vec![(self.transformer_dir.clone(), transformer)];
        replaced.extend(groups.into_iter().map(|(d, _, w)| (d, w)));
        write_folder_with_weights(&self.dir, out, &replaced)
    }

    /// Token vectors of `texts` as `side`, keeping the autograd graph: the
    /// training forward pass (dropout masks from `train`). `(texts, length,
    /// dim)` with `length` the side's (query or document length); padding and
    /// a document's skiplist tokens are zero vectors, as PyLate's masks make
    /// them score 0.
    pub fn embed_t(&self, texts: &[&str], side: Side, train: Option<&Dropout>) -> Result<Tensor> {
        let ids = self.tokenize(texts, side)?;
        let rows: Vec<&TokenIds> = ids.iter().collect();
        let batch = TokenBatch::pad(&rows, self.mask_id);
        let (n, seq, h) = (batch.batch, batch.seq_len, self.encoder.hidden_size());
        let mut x = self
            .encoder
            .forward_t(&batch, train)?
            .reshape((n * seq, h))?;
        for p in &self.projections {
            x = p.forward(&x)?;
        }
        let keep: Vec<f32> = batch
            .ids
            .iter()
            .enumerate()
            .map(|(at, id)| {
                let real = at % seq < batch.lengths[at / seq];
                let kept = side == Side::Query || !self.skiplist.contains(id);
                if real && kept { 1.0 } else { 0.0 }
            })
            .collect();
        let keep = Tensor::from_vec(keep, (n * seq, 1), &self.device)?;
        let x = l2_normalize(&x)?
            .broadcast_mul(&keep)?
            .reshape((n, seq, self.dim))?;
        let length = match side {
            Side::Query => self.config.query_length,
            Side::Document => self.config.document_length,
        };
        if seq >= length {
            return Ok(x);
        }
        let pad = Tensor::zeros((n, length - seq, self.dim), x.dtype(), &self.device)?;
        Ok(Tensor::cat(&[&x, &pad], 1)?)
    }
}
