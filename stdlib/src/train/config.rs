//! How to train: every setting of a run, with sentence-transformers' defaults.

use serde::{Deserialize, Serialize};

/// Stop when a validation measure stops improving.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EarlyStopping {
    /// The measure watched (`nDCG@10`, ... or `loss` for the validation loss;
    /// None: validation's first measure).
    pub measure: Option<String>,
    /// Evaluations without improvement before stopping.
    pub patience: usize,
}

/// How examples are cut into batches (sentence-transformers' `batch_sampler`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BatchSampler {
    /// The loss decides: no duplicates for in-batch negatives, pairs of a
    /// group for batch-hard losses, plain shuffling otherwise.
    #[default]
    Auto,
    /// No text twice in a batch (a repeat would be its own in-batch negative).
    NoDuplicates,
    /// Plain shuffled batches in the order of sentence-transformers' default
    /// sampler (torch's `RandomSampler`) for the same seed.
    Random,
}

impl BatchSampler {
    /// Parses `auto`, `no-duplicates` or `random`.
    pub fn parse(name: &str) -> Result<Self, String> {
        match name.replace('_', "-").as_str() {
            "auto" => Ok(Self::Auto),
            "no-duplicates" => Ok(Self::NoDuplicates),
            "random" => Ok(Self::Random),
            _ => Err(format!(
                "unknown batch sampler \"{name}\" (expected auto, no-duplicates or random)"
            )),
        }
    }
}

/// How to train.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TrainConfig {
    /// Passes over the data.
    pub epochs: usize,
    /// Samples per forward pass.
    pub batch_size: usize,
    /// Stop after this many optimiser steps (the schedule spans them), as
    /// Hugging Face's `max_steps`.
    pub max_steps: Option<usize>,
    /// How examples are cut into batches.
    pub batch_sampler: BatchSampler,
    /// Batches whose gradients are summed before each optimiser step.
    pub grad_accum: usize,
    /// Peak learning rate.
    pub lr: f64,
    /// Fraction of the steps spent warming up.
    pub warmup_ratio: f64,
    /// `constant`, `linear` or `cosine`.
    pub schedule: String,
    /// AdamW weight decay (not on biases and LayerNorm).
    pub weight_decay: f64,
    /// Clip the global gradient norm to this (None: no clipping).
    pub max_grad_norm: Option<f64>,
    /// Fixes the data order and the dropout masks.
    pub seed: u64,
    /// Dropout on while training.
    pub dropout: bool,
    /// Validate every this many steps (and always at the end of an epoch).
    pub eval_every: Option<usize>,
    /// Write a checkpoint every this many steps (and at the end).
    pub checkpoint_every: Option<usize>,
    /// How many of the latest checkpoints to keep (the best one is kept too).
    pub keep_checkpoints: usize,
    /// Stop early when validation stops improving.
    pub early_stopping: Option<EarlyStopping>,
    /// Restore the best validated weights at the end.
    pub load_best_at_end: bool,
}

impl Default for TrainConfig {
    fn default() -> Self {
        // sentence-transformers' trainer defaults.
        Self {
            epochs: 1,
            batch_size: 32,
            max_steps: None,
            batch_sampler: BatchSampler::Auto,
            grad_accum: 1,
            lr: 2e-5,
            warmup_ratio: 0.1,
            schedule: "linear".into(),
            weight_decay: 0.01,
            max_grad_norm: Some(1.0),
            seed: 42,
            dropout: true,
            eval_every: None,
            checkpoint_every: None,
            keep_checkpoints: 2,
            early_stopping: None,
            load_best_at_end: false,
        }
    }
}

impl TrainConfig {
    /// The settings that change the numbers of a run (a resumed run must match them).
    pub fn differences(&self, other: &TrainConfig) -> Vec<String> {
        let a = serde_json::to_value(self).unwrap_or_default();
        let b = serde_json::to_value(other).unwrap_or_default();
        let (Some(a), Some(b)) = (a.as_object(), b.as_object()) else {
            return Vec::new();
        };
        // Bookkeeping settings may change on resume.
        let free = [
            "checkpoint_every",
            "keep_checkpoints",
            "eval_every",
            "early_stopping",
            "load_best_at_end",
        ];
        a.iter()
            .filter(|(k, v)| !free.contains(&k.as_str()) && b.get(*k) != Some(v))
            .map(|(k, v)| {
                format!(
                    "{k}: {v} in the checkpoint, {} now",
                    b.get(k).cloned().unwrap_or_default()
                )
            })
            .collect()
    }
}
