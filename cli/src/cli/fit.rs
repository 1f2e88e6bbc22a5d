//! `rankbook fit`: fine-tune a bi-encoder and save it as a sentence-transformers
//! folder, with validation, checkpoints, resume and a history file.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::Args;
use rankbook::compute::Precision;
use rankbook::data::BeirDataset;
use rankbook::data::training_source::TrainingSource;
use rankbook::model::colbert::{BuildOptions, ColbertEncoder, ColbertOptions, is_colbert_model};
use rankbook::model::cross_encoder::{CrossEncoder, CrossEncoderOptions};
use rankbook::model::head::HeadKind;
use rankbook::model::{EncodeOptions, SentenceEncoder};
use rankbook::train::request::{DEFAULT_LOSS, DEFAULT_MEASURES};
use rankbook::train::validation::DEFAULT_RERANK_DEPTH;
use rankbook::train::{
    BatchSampler, EarlyStopping, FitRequest, NoCallback, StartModel, StopReason, TrainConfig,
    ValidationRequest,
};

use crate::cli::encoding::EncodingArgs;
use crate::cli::progress::Bar;
use crate::cli::style::log;

#[derive(Args)]
pub struct FitArgs {
    /// Model folder or hub id to start from.
    #[arg(long)]
    model: String,
    /// A BEIR folder: its `--split` qrels give (query, positive) pairs, and it
    /// resolves the ids of `--negatives`, `--teacher-run` and `--clicks`.
    #[arg(long)]
    data: Option<PathBuf>,
    /// The qrels split to train on.
    #[arg(long, default_value = rankbook::mining::DEFAULT_SPLIT)]
    split: String,
    /// Mined negatives JSONL (`rankbook mine` output, or texts).
    #[arg(long)]
    negatives: Option<PathBuf>,
    /// MS MARCO triples TSV (query, positive, negative).
    #[arg(long)]
    triples: Option<PathBuf>,
    /// Pair samples JSONL: text_a, text_b, score.
    #[arg(long)]
    pairs: Option<PathBuf>,
    /// Group samples JSONL: text, group (for batch-hard-triplet).
    #[arg(long)]
    groups: Option<PathBuf>,
    /// A teacher's TREC run over `--data` for distillation (margin-mse, kl).
    #[arg(long)]
    teacher_run: Option<PathBuf>,
    /// Negatives per query taken from `--teacher-run`.
    #[arg(long, default_value_t = 1)]
    teacher_negatives: usize,
    /// Click sessions JSONL over `--data`'s corpus.
    #[arg(long)]
    clicks: Option<PathBuf>,
    /// The loss (mnrl, cached-mnrl, triplet, batch-hard-triplet, contrastive,
    /// online-contrastive, cosine, margin-mse, kl, ranknet, listnet, click-margin;
    /// for a ColBERT colbert-contrastive, cached-colbert-contrastive,
    /// colbert-distillation).
    #[arg(long, default_value = DEFAULT_LOSS)]
    loss: String,
    /// A loss setting, repeatable: scale=20, symmetric=1, mini_batch=16 (cached-mnrl),
    /// margin=0.5, cosine=1, temperature=2, normalize_scores=0.
    #[arg(long = "loss-param", value_name = "KEY=VALUE")]
    loss_params: Vec<String>,
    /// Train a cross-encoder (a *ForSequenceClassification of any supported
    /// family; a new classifier head on a plain encoder or sentence-transformers model) with bce, lce,
    /// ranknet, listnet, margin-mse or kl; saved as a sequence-classification
    /// folder. With --eval-split it is validated by re-ranking the top
    /// --rerank-depth docs of a BM25 run of the split's queries.
    #[arg(long, conflicts_with = "head")]
    cross_encoder: bool,
    /// Docs per query a cross-encoder re-ranks in validation.
    #[arg(long, default_value_t = DEFAULT_RERANK_DEPTH, requires = "cross_encoder")]
    rerank_depth: usize,
    /// Train only a head on the frozen model (linear or skip-connection), on
    /// its vectors encoded once through the embedding cache.
    #[arg(long)]
    head: Option<String>,
    /// Turn the bi-encoder into a ColBERT first, as PyLate does (markers and a
    /// projection seeded by --seed; OUTPUT/colbert-start), then train it. A
    /// ColBERT given as --model trains as one without this flag. A ColBERT's
    /// default loss is colbert-contrastive (PyLate's Contrastive).
    #[arg(long, conflicts_with_all = ["head", "cross_encoder"])]
    colbert: bool,
    /// Width of the token vectors of --colbert.
    #[arg(long, default_value_t = BuildOptions::default().dim, requires = "colbert")]
    colbert_dim: usize,
    /// Passes over the data.
    #[arg(long, default_value_t = TrainConfig::default().epochs)]
    epochs: usize,
    /// Stop after this many optimiser steps (the schedule spans them).
    #[arg(long)]
    max_steps: Option<usize>,
    /// Peak learning rate.
    #[arg(long, default_value_t = TrainConfig::default().lr)]
    lr: f64,
    /// Fraction of steps spent warming up.
    #[arg(long, default_value_t = TrainConfig::default().warmup_ratio)]
    warmup: f64,
    /// constant, linear or cosine.
    #[arg(long, default_value_t = TrainConfig::default().schedule)]
    schedule: String,
    /// AdamW weight decay (not on biases and LayerNorm).
    #[arg(long, default_value_t = TrainConfig::default().weight_decay)]
    weight_decay: f64,
    /// Clip the gradient norm to this (0: no clipping).
    #[arg(long, default_value_t = TrainConfig::default().max_grad_norm.unwrap_or(0.0))]
    max_grad_norm: f64,
    /// auto (the loss decides: no-duplicates for in-batch negatives), no-duplicates or random.
    #[arg(long, default_value = "auto", value_parser = BatchSampler::parse)]
    batch_sampler: BatchSampler,
    /// Batches per optimiser step.
    #[arg(long, default_value_t = TrainConfig::default().grad_accum)]
    grad_accum: usize,
    /// Fixes data order and dropout.
    #[arg(long, default_value_t = TrainConfig::default().seed)]
    seed: u64,
    /// Train without dropout.
    #[arg(long)]
    no_dropout: bool,
    /// Validate on this split of `--data` (at each epoch end, and every `--eval-every` steps).
    #[arg(long)]
    eval_split: Option<String>,
    /// Validate every this many steps.
    #[arg(long)]
    eval_every: Option<usize>,
    /// Validation measures; the first is watched for the best checkpoint.
    #[arg(long, default_value = DEFAULT_MEASURES)]
    measures: String,
    /// Stop after this many validations without improvement.
    #[arg(long)]
    patience: Option<usize>,
    /// Save the best validated weights instead of the last.
    #[arg(long)]
    load_best: bool,
    /// Write a checkpoint every this many steps.
    #[arg(long)]
    checkpoint_every: Option<usize>,
    /// Latest checkpoints kept (the best is kept too).
    #[arg(long, default_value_t = TrainConfig::default().keep_checkpoints)]
    keep_checkpoints: usize,
    /// Continue from a checkpoint directory (OUTPUT/checkpoints/step-N).
    #[arg(long)]
    resume: Option<PathBuf>,
    /// Output directory: model/, checkpoints/, history.jsonl.
    #[arg(long)]
    output: PathBuf,
    #[command(flatten)]
    encoding: EncodingArgs,
}

impl FitArgs {
    fn source(&self) -> anyhow::Result<TrainingSource> {
        let data = || {
            self.data
                .clone()
                .context("this data source refers to ids: give --data with the BEIR folder")
        };
        let given = [
            self.negatives.is_some(),
            self.triples.is_some(),
            self.pairs.is_some(),
            self.groups.is_some(),
            self.teacher_run.is_some(),
            self.clicks.is_some(),
        ];
        if given.iter().filter(|g| **g).count() > 1 {
            bail!("give one of --negatives, --triples, --pairs, --groups, --teacher-run, --clicks");
        }
        Ok(if let Some(p) = &self.negatives {
            TrainingSource::Negatives {
                path: p.clone(),
                data: self.data.clone(),
            }
        } else if let Some(p) = &self.triples {
            TrainingSource::Triples(p.clone())
        } else if let Some(p) = &self.pairs {
            TrainingSource::Pairs(p.clone())
        } else if let Some(p) = &self.groups {
            TrainingSource::Groups(p.clone())
        } else if let Some(run) = &self.teacher_run {
            TrainingSource::Teacher {
                dir: data()?,
                split: self.split.clone(),
                run: run.clone(),
                negatives: self.teacher_negatives,
            }
        } else if let Some(p) = &self.clicks {
            TrainingSource::Clicks {
                path: p.clone(),
                data: data()?,
            }
        } else {
            TrainingSource::Qrels {
                dir: data().context("give --data (a BEIR folder) or another data source")?,
                split: self.split.clone(),
            }
        })
    }

    fn config(&self) -> TrainConfig {
        TrainConfig {
            epochs: self.epochs,
            batch_size: self.encoding.batch_size,
            max_steps: self.max_steps,
            batch_sampler: self.batch_sampler,
            grad_accum: self.grad_accum,
            lr: self.lr,
            warmup_ratio: self.warmup,
            schedule: self.schedule.clone(),
            weight_decay: self.weight_decay,
            max_grad_norm: (self.max_grad_norm > 0.0).then_some(self.max_grad_norm),
            seed: self.seed,
            dropout: !self.no_dropout,
            eval_every: self.eval_every,
            checkpoint_every: self.checkpoint_every,
            keep_checkpoints: self.keep_checkpoints,
            early_stopping: self.patience.map(|patience| EarlyStopping {
                measure: None,
                patience,
            }),
            load_best_at_end: self.load_best,
        }
    }
}

/// Parses `KEY=VALUE` loss settings.
fn loss_settings(params: &[String]) -> anyhow::Result<BTreeMap<String, f64>> {
    params
        .iter()
        .map(|kv| {
            let (k, v) = kv
                .split_once('=')
                .with_context(|| format!("--loss-param {kv}: expected KEY=VALUE"))?;
            let v: f64 = v
                .parse()
                .with_context(|| format!("--loss-param {kv}: {v} is not a number"))?;
            Ok((k.to_string(), v))
        })
        .collect()
}

impl FitArgs {
    fn request(&self) -> anyhow::Result<FitRequest> {
        let validation = match &self.eval_split {
            Some(split) => {
                let dir = self.data.as_deref().context("--eval-split needs --data")?;
                Some(ValidationRequest {
                    measures: self.measures.clone(),
                    rerank_depth: self.rerank_depth,
                    ..ValidationRequest::new(BeirDataset::open(dir)?, split)
                })
            }
            None => None,
        };
        Ok(FitRequest {
            config: self.config(),
            loss: self.loss.clone(),
            loss_settings: loss_settings(&self.loss_params)?,
            head: self.head.as_deref().map(HeadKind::parse).transpose()?,
            colbert: self.colbert.then(|| BuildOptions {
                dim: self.colbert_dim,
                seed: self.seed,
                ..Default::default()
            }),
            max_length: self.encoding.max_length,
            validation,
            output: Some(self.output.clone()),
            resume: self.resume.clone(),
        })
    }
}

pub fn run(a: FitArgs) -> anyhow::Result<()> {
    if let Some(p) = a.encoding.precision.filter(|p| *p != Precision::F32) {
        bail!(
            "fit trains in f32 (got --precision {p}); encode or index the saved model with --precision {p}"
        );
    }
    let request = a.request()?;
    request.check()?;
    let source = a.source()?;
    let data = source.load()?;
    request.build_loss()?.check(&data)?;
    let options = a.encoding.model_options();
    let (encoder, cross, colbert);
    let start = if !a.colbert && is_colbert_model(&a.model)? {
        colbert = ColbertEncoder::load(&a.model, &ColbertOptions::from(&options))?;
        StartModel::Colbert(&colbert)
    } else if a.cross_encoder {
        cross = CrossEncoder::load(
            &a.model,
            &CrossEncoderOptions {
                device: a.encoding.device.clone(),
                max_length: a.encoding.max_length,
                seed: a.seed,
                ..Default::default()
            },
        )?;
        StartModel::CrossEncoder(&cross)
    } else {
        encoder = SentenceEncoder::load(&a.model, &options)?;
        StartModel::Encoder(&encoder)
    };
    let bar = Bar::new(a.encoding.quiet);
    let cache = a.encoding.cache();
    let prepared = request.prepare(
        start,
        &data,
        &EncodeOptions {
            progress: &bar,
            cache: cache.as_ref(),
            ..Default::default()
        },
    )?;
    log(format_args!(
        "training {}{} on {} {} from {} with the {} loss",
        a.model,
        request.head.map_or(String::new(), |k| format!(
            " (a {} head on the frozen model)",
            k.name()
        )),
        data.len(),
        data.shape(),
        source.describe(),
        request.loss_name(prepared.trainee().token_vectors())
    ));
    // Stopping at a step boundary saves the checkpoint and the model.
    let cancel = super::progress::cancel_on_ctrl_c(
        "interrupted: stopping after this step (Ctrl-C again to quit now)",
    );
    let out = request.run(
        prepared.trainee(),
        &data,
        &bar,
        Some(&cancel),
        &mut NoCallback,
    )?;
    crate::cli::stats::count("steps", out.steps);
    crate::cli::stats::seconds("train", out.train_seconds());
    for line in out.summary() {
        log(format_args!("{line}"));
    }
    if let Some(dir) = &out.model_dir {
        println!("{}", dir.display());
    }
    if out.stopped == StopReason::Cancelled
        && let Some(c) = &out.last_checkpoint
    {
        log(format_args!("hint: continue with --resume {}", c.display()));
    }
    Ok(())
}
