//! One training request, as `rankbook fit` and Rhai's `trainer(...)` both
//! describe it: which trainee, which loss, which validation, and the outcome's
//! summary. The CLI and the bindings only convert their options into it.

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::data::BeirDataset;
use crate::data::training::TrainingData;
use crate::error::{Error, Result};
use crate::eval::parse_measures;
use crate::loss::{Loss, loss_with, scores_token_vectors};
use crate::model::colbert::{BuildOptions, ColbertEncoder, ColbertOptions, build_colbert};
use crate::model::cross_encoder::{CrossEncoder, CrossEncoderOptions};
use crate::model::head::HeadKind;
use crate::model::{EncodeOptions, SentenceEncoder};
use crate::progress::{CancelFlag, Progress};
use crate::train::config::TrainConfig;
use crate::train::head_trainee::FrozenEncoderHead;
use crate::train::history::HistoryRecord;
use crate::train::trainee::Trainee;
use crate::train::trainer::{FitOptions, FitOutcome, StopReason, TrainCallback, fit};
use crate::train::validation::{DEFAULT_RERANK_DEPTH, Validation};

/// The loss trained with unless another is named.
pub const DEFAULT_LOSS: &str = "mnrl";
/// What the default loss means for a ColBERT: PyLate's contrastive loss.
pub const DEFAULT_COLBERT_LOSS: &str = "colbert-contrastive";
/// Validation measures unless others are named; the first is watched.
pub const DEFAULT_MEASURES: &str = "nDCG@10,R@100";
/// The qrels split validated on unless another is named (Rhai's `eval_split`).
pub const DEFAULT_EVAL_SPLIT: &str = "test";

/// Validate on a split of a BEIR dataset.
#[derive(Debug, Clone)]
pub struct ValidationRequest {
    /// The dataset.
    pub data: BeirDataset,
    /// Its qrels split.
    pub split: String,
    /// Measures, comma-separated (`nDCG@10,R@100`).
    pub measures: String,
    /// Docs per query a cross-encoder re-ranks (of a BM25 run).
    pub rerank_depth: usize,
}

impl ValidationRequest {
    /// Validation on `split` of `data` with the default measures.
    pub fn new(data: BeirDataset, split: &str) -> Self {
        Self {
            data,
            split: split.to_string(),
            measures: DEFAULT_MEASURES.to_string(),
            rerank_depth: DEFAULT_RERANK_DEPTH,
        }
    }
}

/// Everything a training run is asked to do.
#[derive(Debug, Clone)]
pub struct FitRequest {
    /// The loop's settings.
    pub config: TrainConfig,
    /// The loss by name (see [`crate::loss::KNOWN_LOSSES`]).
    pub loss: String,
    /// The loss's settings (`scale`, `margin`, ...).
    pub loss_settings: BTreeMap<String, f64>,
    /// Train only this head on the frozen bi-encoder.
    pub head: Option<HeadKind>,
    /// Turn the bi-encoder into a ColBERT first (as PyLate does: markers and
    /// a seeded projection), then train that.
    pub colbert: Option<BuildOptions>,
    /// Truncation length while training (default: the model's).
    pub max_length: Option<usize>,
    /// A dev collection to validate on.
    pub validation: Option<ValidationRequest>,
    /// Directory for `history.jsonl`, `checkpoints/` and the final `model/`.
    pub output: Option<PathBuf>,
    /// A checkpoint directory to continue from.
    pub resume: Option<PathBuf>,
}

impl Default for FitRequest {
    fn default() -> Self {
        Self {
            config: TrainConfig::default(),
            loss: DEFAULT_LOSS.to_string(),
            loss_settings: BTreeMap::new(),
            head: None,
            colbert: None,
            max_length: None,
            validation: None,
            output: None,
            resume: None,
        }
    }
}

/// The model a run starts from (never changed: training works on a copy, or
/// on a head over it).
#[derive(Clone, Copy)]
pub enum StartModel<'a> {
    /// A bi-encoder.
    Encoder(&'a SentenceEncoder),
    /// A cross-encoder.
    CrossEncoder(&'a CrossEncoder),
    /// A ColBERT.
    Colbert(&'a ColbertEncoder),
}

/// What a run trains.
pub enum Prepared<'a> {
    /// A trainable copy of a bi-encoder.
    Encoder(SentenceEncoder),
    /// A head on a frozen bi-encoder.
    Head(FrozenEncoderHead<'a>),
    /// A copy of a cross-encoder.
    CrossEncoder(CrossEncoder),
    /// A trainable copy of a ColBERT, and the temporary folder it was built
    /// in (when built from an encoder without an output directory).
    Colbert(Box<ColbertEncoder>, Option<tempfile::TempDir>),
}

impl Prepared<'_> {
    /// As the trainer sees it.
    pub fn trainee(&self) -> &dyn Trainee {
        match self {
            Self::Encoder(m) => m,
            Self::Head(h) => h,
            Self::CrossEncoder(c) => c,
            Self::Colbert(c, _) => c.as_ref(),
        }
    }
}

impl FitRequest {
    /// The loss, its settings checked.
    pub fn build_loss(&self) -> Result<Box<dyn Loss>> {
        loss_with(&self.loss, &self.loss_settings)
    }

    /// The loss's name for a trainee that gives token vectors or not: the
    /// default loss of a ColBERT is PyLate's contrastive loss.
    pub fn loss_name(&self, token_vectors: bool) -> &str {
        if token_vectors && self.loss == DEFAULT_LOSS && self.loss_settings.is_empty() {
            DEFAULT_COLBERT_LOSS
        } else {
            &self.loss
        }
    }

    /// Checks the loss and the measures before anything is loaded.
    pub fn check(&self) -> Result<()> {
        self.build_loss()?;
        if let Some(v) = &self.validation {
            parse_measures(&v.measures)?;
        }
        Ok(())
    }

    /// The validation collection, if one is asked for.
    pub fn build_validation(&self) -> Result<Option<Validation>> {
        let Some(r) = &self.validation else {
            return Ok(None);
        };
        let mut v = Validation::from_beir(&r.data, &r.split, parse_measures(&r.measures)?)?;
        v.batch_size = self.config.batch_size;
        v.rerank_depth = r.rerank_depth;
        Ok(Some(v))
    }

    /// What to train, starting from `start`: a trainable copy of a bi-encoder,
    /// a head on it frozen (its vectors encoded once with `encode`, through
    /// the cache it names), or a copy of a cross-encoder.
    pub fn prepare<'a>(
        &self,
        start: StartModel<'a>,
        data: &TrainingData,
        encode: &EncodeOptions,
    ) -> Result<Prepared<'a>> {
        let colbert = self.colbert.is_some() || matches!(start, StartModel::Colbert(_));
        if colbert && self.head.is_some() {
            return Err(Error::InvalidArgument(
                "a ColBERT trains whole: leave out `head` (heads go on a frozen bi-encoder)".into(),
            ));
        }
        if colbert && self.max_length.is_some() {
            return Err(Error::InvalidArgument(
                "a ColBERT's lengths are its query_length and document_length (set when it is built: rankbook colbert --query-length --document-length); leave out max_length".into(),
            ));
        }
        Ok(match (start, self.head, &self.colbert) {
            (StartModel::Encoder(m), None, Some(build)) => {
                let (dir, temp) = match &self.output {
                    Some(out) => (out.join("colbert-start"), None),
                    None => {
                        let t =
                            tempfile::tempdir().map_err(|e| Error::io("a temporary folder", e))?;
                        (t.path().join("colbert"), Some(t))
                    }
                };
                build_colbert(&m.dir().display().to_string(), &dir, build)?;
                let start = ColbertEncoder::from_dir(&dir, &ColbertOptions::default())?;
                Prepared::Colbert(Box::new(start.trainable_copy()?), temp)
            }
            (_, _, Some(_)) => {
                return Err(Error::InvalidArgument(
                    "`colbert` turns a bi-encoder into a ColBERT; this model is not a bi-encoder"
                        .into(),
                ));
            }
            (StartModel::Colbert(c), _, None) => {
                Prepared::Colbert(Box::new(c.trainable_copy()?), None)
            }
            (StartModel::Encoder(m), Some(kind), None) => {
                let opts = EncodeOptions {
                    batch_size: self.config.batch_size,
                    ..encode.clone()
                };
                Prepared::Head(FrozenEncoderHead::new(
                    m,
                    kind,
                    data,
                    self.config.seed,
                    &opts,
                )?)
            }
            (StartModel::Encoder(m), None, None) => {
                Prepared::Encoder(m.trainable_copy(self.max_length)?)
            }
            (StartModel::CrossEncoder(_), Some(_), None) => {
                return Err(Error::InvalidArgument(
                    "a cross-encoder trains whole: leave out `head` (heads go on a frozen bi-encoder)"
                        .into(),
                ));
            }
            (StartModel::CrossEncoder(c), None, None) => {
                let copy = CrossEncoder::load(
                    c.name(),
                    &CrossEncoderOptions {
                        max_length: self.max_length.or(Some(c.max_length())),
                        seed: self.config.seed,
                        precision: Default::default(),
                        ..c.options().clone()
                    },
                )?;
                copy.set_weights(&c.current_weights()?)?;
                Prepared::CrossEncoder(copy)
            }
        })
    }

    /// Trains `trainee` on `data`: the loss checked against the data, the
    /// validation built, then the loop.
    pub fn run(
        &self,
        trainee: &dyn Trainee,
        data: &TrainingData,
        progress: &dyn Progress,
        cancel: Option<&CancelFlag>,
        callback: &mut dyn TrainCallback,
    ) -> Result<FitOutcome> {
        let loss = loss_with(self.loss_name(trainee.token_vectors()), &self.loss_settings)?;
        loss.check(data)?;
        if scores_token_vectors(loss.as_ref()) != trainee.token_vectors() {
            return Err(Error::InvalidArgument(if trainee.token_vectors() {
                format!(
                    "the {} loss scores one vector per text; a ColBERT trains with colbert-contrastive, cached-colbert-contrastive or colbert-distillation",
                    loss.name()
                )
            } else {
                format!(
                    "the {} loss trains ColBERT models (token vectors); this model gives one vector per text",
                    loss.name()
                )
            }));
        }
        let validation = self.build_validation()?;
        fit(
            trainee,
            data,
            loss.as_ref(),
            &self.config,
            &FitOptions {
                output: self.output.as_deref(),
                resume: self.resume.as_deref(),
                validation: validation.as_ref(),
                progress,
                cancel,
            },
            callback,
        )
    }
}

impl FitOutcome {
    /// Seconds spent in optimiser steps.
    pub fn train_seconds(&self) -> f64 {
        self.history
            .iter()
            .filter_map(|r| match r {
                HistoryRecord::Step(s) => Some(s.seconds),
                _ => None,
            })
            .sum()
    }

    /// The loss of the last step.
    pub fn last_loss(&self) -> Option<f64> {
        self.history.iter().rev().find_map(|r| match r {
            HistoryRecord::Step(s) => Some(s.loss),
            _ => None,
        })
    }

    /// The run in a few lines: steps and time, each validation, the best one.
    pub fn summary(&self) -> Vec<String> {
        let secs = self.train_seconds();
        let mut lines = vec![format!(
            "{} {} of {} steps in {secs:.1} s ({:.2} s/step), last loss {}",
            match self.stopped {
                StopReason::Finished => "trained",
                StopReason::EarlyStopped => "stopped early after",
                StopReason::Cancelled => "interrupted after",
            },
            self.steps,
            self.total_steps,
            secs / self.steps.max(1) as f64,
            self.last_loss().map_or("-".into(), |l| format!("{l:.4}"))
        )];
        for r in &self.history {
            if let HistoryRecord::Eval(e) = r {
                let m: Vec<String> = e
                    .measures
                    .iter()
                    .map(|(k, v)| format!("{k} {v:.4}"))
                    .collect();
                lines.push(format!("  step {}: {}", e.step, m.join(", ")));
            }
        }
        if let Some(b) = &self.best {
            lines.push(format!(
                "best {} {:.4} at step {}",
                b.measure, b.value, b.step
            ));
        }
        lines
    }
}
