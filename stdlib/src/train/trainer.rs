//! The training loop for bi-encoders with MultipleNegativesRankingLoss: seeded
//! no-duplicate batches, the learning-rate schedule, AdamW in two groups,
//! gradient clipping, a NaN guard, per-step history and cancellation.

use candle_core::backprop::GradStore;
use serde::Serialize;

use crate::data::training::{Example, no_duplicate_batches};
use crate::error::{Error, Result};
use crate::loss::MultipleNegativesRankingLoss;
use crate::model::SentenceEncoder;
use crate::progress::{CancelFlag, Progress};
use crate::train::optimizer::GroupedAdamW;
use crate::train::schedule::{Schedule, warmup_steps};

/// How to train.
#[derive(Debug, Clone)]
pub struct TrainConfig {
    /// Passes over the data.
    pub epochs: usize,
    /// Examples per step.
    pub batch_size: usize,
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
    /// Fixes the data order.
    pub seed: u64,
    /// Dropout on while training.
    pub dropout: bool,
}

impl Default for TrainConfig {
    fn default() -> Self {
        // sentence-transformers' trainer defaults.
        Self {
            epochs: 1,
            batch_size: 32,
            lr: 2e-5,
            warmup_ratio: 0.1,
            schedule: "linear".into(),
            weight_decay: 0.01,
            max_grad_norm: Some(1.0),
            seed: 42,
            dropout: true,
        }
    }
}

/// One optimiser step, as written to the history.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StepRecord {
    /// 1-based step number.
    pub step: usize,
    /// 0-based epoch.
    pub epoch: usize,
    /// The batch's loss.
    pub loss: f64,
    /// The learning rate used.
    pub lr: f64,
    /// Global gradient norm before clipping.
    pub grad_norm: f64,
}

/// Global L2 norm of the gradients of `vars`.
fn grad_norm(grads: &GradStore, vars: &[candle_core::Var]) -> Result<f64> {
    let mut sum = 0f64;
    for v in vars {
        if let Some(g) = grads.get(v.as_tensor()) {
            sum += g.sqr()?.sum_all()?.to_scalar::<f32>()? as f64;
        }
    }
    Ok(sum.sqrt())
}

/// Trains `model` (loaded with `Backend::Trainable`) on `examples` with MNRL;
/// calls `on_step` after every step and returns the history.
pub fn fit_mnrl(
    model: &SentenceEncoder,
    examples: &[Example],
    cfg: &TrainConfig,
    progress: &dyn Progress,
    cancel: Option<&CancelFlag>,
    on_step: &mut dyn FnMut(&StepRecord),
) -> Result<Vec<StepRecord>> {
    let named = model.trainable_vars();
    if named.is_empty() {
        return Err(Error::InvalidArgument(
            "the model was not loaded for training (Backend::Trainable)".into(),
        ));
    }
    let vars: Vec<candle_core::Var> = named.iter().map(|(_, v)| v.clone()).collect();
    let epochs: Vec<Vec<Vec<usize>>> = (0..cfg.epochs)
        .map(|e| no_duplicate_batches(examples, cfg.batch_size, cfg.seed.wrapping_add(e as u64)))
        .collect::<Result<_>>()?;
    let total: usize = epochs.iter().map(Vec::len).sum();
    let schedule = Schedule::parse(&cfg.schedule, warmup_steps(cfg.warmup_ratio, total))?;
    let mut opt = GroupedAdamW::new(named, cfg.lr, cfg.weight_decay)?;
    let loss_fn = MultipleNegativesRankingLoss::default();
    let mut history = Vec::with_capacity(total);
    progress.start("training", total as u64);
    for (epoch, batches) in epochs.iter().enumerate() {
        for batch in batches {
            if let Some(c) = cancel {
                c.check()?;
            }
            let step = history.len();
            let lr = cfg.lr * schedule.factor(step, total);
            opt.set_learning_rate(lr);
            let texts = |f: &dyn Fn(&Example) -> Option<&str>| -> Vec<&str> {
                batch.iter().filter_map(|&i| f(&examples[i])).collect()
            };
            let anchors = texts(&|e| Some(e.anchor.as_str()));
            let positives = texts(&|e| Some(e.positive.as_str()));
            let negatives = texts(&|e| e.negative.as_deref());
            let a = model.embed_t(&anchors, model.query_prompt(), cfg.dropout)?;
            let p = model.embed_t(&positives, model.document_prompt(), cfg.dropout)?;
            let n = if negatives.is_empty() {
                None
            } else {
                Some(model.embed_t(&negatives, model.document_prompt(), cfg.dropout)?)
            };
            let loss = loss_fn.loss(&a, &p, n.as_ref())?;
            let value = loss.to_scalar::<f32>()? as f64;
            if !value.is_finite() {
                return Err(Error::InvalidArgument(format!(
                    "the loss is {value} at step {}; lower the learning rate",
                    step + 1
                )));
            }
            let mut grads = loss.backward()?;
            let norm = grad_norm(&grads, &vars)?;
            if let Some(max) = cfg.max_grad_norm
                && norm > max
            {
                for v in &vars {
                    if let Some(g) = grads.get(v.as_tensor()) {
                        let clipped = (g * (max / (norm + 1e-6)))?;
                        grads.insert(v.as_tensor(), clipped);
                    }
                }
            }
            opt.step(&grads)?;
            let record = StepRecord {
                step: step + 1,
                epoch,
                loss: value,
                lr,
                grad_norm: norm,
            };
            on_step(&record);
            progress.advance(1);
            history.push(record);
        }
    }
    progress.finish();
    Ok(history)
}
