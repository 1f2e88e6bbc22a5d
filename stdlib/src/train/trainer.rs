//! The training loop: seeded batches, the learning-rate schedule, AdamW in two
//! groups, gradient accumulation and clipping, a NaN guard, validation with
//! early stopping, checkpoints and bit-exact resume, history and callbacks,
//! and cancellation at step boundaries.

use std::path::{Path, PathBuf};
use std::time::Instant;

use candle_core::backprop::GradStore;

use crate::data::training::{
    TrainingData, group_batches, no_duplicate_batches, shuffled_batches, torch_order_batches,
};
use crate::error::{Error, Result};
use crate::loss::{Batch, Loss};
use crate::progress::{CancelFlag, Progress};
use crate::random::{Mt19937, SplitMix};
use crate::train::checkpoint::{
    Best, TrainerState, checkpoint_name, load_checkpoint, prune_checkpoints, save_checkpoint,
};
use crate::train::config::{BatchSampler, TrainConfig};
use crate::train::history::{EvalRecord, HISTORY_FILE, HistoryRecord, HistoryWriter, StepRecord};
use crate::train::optimizer::GroupedAdamW;
use crate::train::schedule::{Schedule, warmup_steps};
use crate::train::trainee::Trainee;
use crate::train::validation::Validation;

/// Hooks called as training goes; an error stops training with that error.
pub trait TrainCallback {
    /// After every optimiser step.
    fn on_step(&mut self, _record: &StepRecord) -> Result<()> {
        Ok(())
    }
    /// After every validation.
    fn on_eval(&mut self, _record: &EvalRecord) -> Result<()> {
        Ok(())
    }
    /// At the end of each epoch (0-based).
    fn on_epoch_end(&mut self, _epoch: usize) -> Result<()> {
        Ok(())
    }
}

/// No hooks.
pub struct NoCallback;
impl TrainCallback for NoCallback {}

/// Where a run reads and writes, and who watches it.
pub struct FitOptions<'a> {
    /// Directory for `history.jsonl`, `checkpoints/` and the final `model/`.
    pub output: Option<&'a Path>,
    /// A checkpoint directory to continue from.
    pub resume: Option<&'a Path>,
    /// A dev collection to validate on.
    pub validation: Option<&'a Validation>,
    /// Receives one unit per optimiser step.
    pub progress: &'a dyn Progress,
    /// Checked at step boundaries.
    pub cancel: Option<&'a CancelFlag>,
}

/// Why training ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    /// Every step was done.
    Finished,
    /// The watched measure stopped improving.
    EarlyStopped,
    /// The cancellation flag was set.
    Cancelled,
}

/// What a run did.
#[derive(Debug, Clone)]
pub struct FitOutcome {
    /// Every step and validation.
    pub history: Vec<HistoryRecord>,
    /// Optimiser steps done.
    pub steps: usize,
    /// Steps the whole run has.
    pub total_steps: usize,
    /// Why it ended.
    pub stopped: StopReason,
    /// The best validation.
    pub best: Option<Best>,
    /// The last checkpoint written.
    pub last_checkpoint: Option<PathBuf>,
    /// Where the final model was saved.
    pub model_dir: Option<PathBuf>,
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

/// Each optimiser step's epoch and batches.
fn plan(
    data: &TrainingData,
    loss: &dyn Loss,
    cfg: &TrainConfig,
) -> Result<Vec<(usize, Vec<Vec<usize>>)>> {
    if cfg.grad_accum == 0 {
        return Err(Error::InvalidArgument(
            "gradient accumulation must be at least 1".into(),
        ));
    }
    // torch's RandomSampler draws every epoch from one generator seeded once.
    let mut torch_generator = Mt19937::new(cfg.seed);
    let mut steps = Vec::new();
    for epoch in 0..cfg.epochs {
        let seed = cfg.seed.wrapping_add(epoch as u64);
        let batches = match cfg.batch_sampler {
            BatchSampler::NoDuplicates => no_duplicate_batches(data, cfg.batch_size, seed)?,
            BatchSampler::Random => {
                torch_order_batches(&mut torch_generator, data.len(), cfg.batch_size)?
            }
            BatchSampler::Auto => auto_batches(data, loss, cfg.batch_size, seed)?,
        };
        steps.extend(batches.chunks(cfg.grad_accum).map(|c| (epoch, c.to_vec())));
    }
    if let Some(max) = cfg.max_steps {
        steps.truncate(max);
    }
    Ok(steps)
}

/// The batches the loss needs: no duplicates for in-batch negatives, pairs of
/// a group for batch-hard losses, plain shuffling otherwise.
fn auto_batches(
    data: &TrainingData,
    loss: &dyn Loss,
    batch_size: usize,
    seed: u64,
) -> Result<Vec<Vec<usize>>> {
    Ok(if loss.in_batch_negatives() {
        no_duplicate_batches(data, batch_size, seed)?
    } else if loss.group_batches() {
        group_batches(data, batch_size, seed)?
    } else {
        shuffled_batches(data.len(), batch_size, seed)?
    })
}

/// Whether `value` improves on `best` for `measure` (lower is better for the loss).
fn improves(measure: &str, value: f64, best: Option<&Best>) -> bool {
    match best {
        None => true,
        Some(b) if measure == "loss" => value < b.value,
        Some(b) => value > b.value,
    }
}

/// The state of a run between steps.
struct Run<'a> {
    model: &'a dyn Trainee,
    cfg: &'a TrainConfig,
    opt: GroupedAdamW,
    state: TrainerState,
    writer: Option<HistoryWriter>,
    output: Option<&'a Path>,
    last_checkpoint: Option<PathBuf>,
    best_weights: Option<std::collections::HashMap<String, candle_core::Tensor>>,
}

impl Run<'_> {
    fn record(&mut self, r: HistoryRecord) -> Result<()> {
        if let Some(w) = &mut self.writer {
            w.append(&r)?;
        }
        self.state.history.push(r);
        Ok(())
    }

    fn checkpoint(&mut self) -> Result<()> {
        let Some(out) = self.output else {
            return Ok(());
        };
        let root = out.join("checkpoints");
        let dir = root.join(checkpoint_name(self.state.step));
        if self.last_checkpoint.as_deref() == Some(dir.as_path()) {
            return Ok(());
        }
        let (moments, t) = self.opt.state();
        self.state.optimizer_steps = t;
        save_checkpoint(&dir, &self.state, &self.model.current_weights()?, &moments)?;
        prune_checkpoints(
            &root,
            self.cfg.keep_checkpoints.max(1),
            self.state.best.as_ref().map(|b| b.step),
        )?;
        self.last_checkpoint = Some(dir);
        Ok(())
    }
}

/// Trains `model` (a bi-encoder loaded with `Backend::Trainable`, or a head on
/// a frozen one) on `data` with `loss`.
pub fn fit(
    model: &dyn Trainee,
    data: &TrainingData,
    loss: &dyn Loss,
    cfg: &TrainConfig,
    opts: &FitOptions,
    callbacks: &mut dyn TrainCallback,
) -> Result<FitOutcome> {
    let named = model.vars();
    if named.is_empty() {
        return Err(Error::InvalidArgument(
            "the model was not loaded for training (Backend::Trainable)".into(),
        ));
    }
    loss.check(data)?;
    let vars: Vec<candle_core::Var> = named.iter().map(|(_, v)| v.clone()).collect();
    let steps = plan(data, loss, cfg)?;
    let total = steps.len();
    let schedule = Schedule::parse(&cfg.schedule, warmup_steps(cfg.warmup_ratio, total))?;
    let (name, base_hash) = model.identity()?;
    let mut run = Run {
        model,
        cfg,
        opt: GroupedAdamW::new(named, cfg.lr, cfg.weight_decay)?,
        state: TrainerState {
            step: 0,
            optimizer_steps: 0,
            model: name,
            base_weights_sha256: base_hash,
            data_sha256: data.digest(),
            loss: loss.name().to_string(),
            config: cfg.clone(),
            best: None,
            evals_since_best: 0,
            history: Vec::new(),
        },
        writer: None,
        output: opts.output,
        last_checkpoint: None,
        best_weights: None,
    };
    if let Some(dir) = opts.resume {
        let ckpt = load_checkpoint(dir, &model.device())?;
        check_resumable(&ckpt.state, &run.state, dir)?;
        model.set_weights(&ckpt.weights)?;
        run.opt
            .load_state(ckpt.optimizer, ckpt.state.optimizer_steps)?;
        run.state = TrainerState {
            config: cfg.clone(),
            ..ckpt.state
        };
    }
    if let Some(out) = opts.output {
        run.writer = Some(HistoryWriter::create(
            &out.join(HISTORY_FILE),
            &run.state.history,
        )?);
    }
    let watched = cfg
        .early_stopping
        .as_ref()
        .and_then(|e| e.measure.clone())
        .or_else(|| {
            opts.validation
                .and_then(|v| v.measures.first().map(|m| m.to_string()))
        });

    opts.progress.start("train", total as u64);
    opts.progress.advance(run.state.step as u64);
    let mut stopped = StopReason::Finished;
    while run.state.step < total {
        if opts.cancel.is_some_and(|c| c.is_cancelled()) {
            stopped = StopReason::Cancelled;
            break;
        }
        let s = run.state.step;
        let (epoch, batches) = &steps[s];
        let started = Instant::now();
        let lr = cfg.lr * schedule.factor(s, total);
        run.opt.set_learning_rate(lr);
        let mut grads = GradStore::default();
        let mut sum = 0.0;
        for (m, indices) in batches.iter().enumerate() {
            let seed = cfg
                .dropout
                .then(|| SplitMix::stream(cfg.seed, ((s as u64) << 8) | m as u64).next_u64());
            let scoring = model.scoring(seed);
            let batch = Batch { data, indices };
            let (value, g) =
                loss.backward(scoring.as_model(), &batch, 1.0 / batches.len() as f64)?;
            grads.extend(g)?;
            sum += value;
        }
        let value = sum / batches.len() as f64;
        if !value.is_finite() {
            let last = match &run.last_checkpoint {
                Some(p) => format!("the last good checkpoint is {}", p.display()),
                None => "no checkpoint was written yet".to_string(),
            };
            return Err(Error::InvalidArgument(format!(
                "the loss is {value} at step {}; {last}; lower the learning rate",
                s + 1
            )));
        }
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
        run.opt.step(&grads)?;
        drop(grads);
        run.state.step = s + 1;
        let record = StepRecord {
            step: s + 1,
            epoch: *epoch,
            loss: value,
            lr,
            grad_norm: norm,
            seconds: started.elapsed().as_secs_f64(),
        };
        opts.progress
            .status(&format!("loss {value:.4} lr {lr:.2e}"));
        opts.progress.advance(1);
        run.record(HistoryRecord::Step(record.clone()))?;
        callbacks.on_step(&record)?;

        let epoch_ends = s + 1 == total || steps[s + 1].0 != *epoch;
        let mut stop_early = false;
        if let Some(v) = opts.validation
            && (epoch_ends
                || cfg
                    .eval_every
                    .is_some_and(|n| n > 0 && (s + 1).is_multiple_of(n)))
        {
            let (measures, val_loss) = v.run(model, loss)?;
            let record = EvalRecord {
                step: s + 1,
                epoch: *epoch,
                measures,
                loss: val_loss,
            };
            run.record(HistoryRecord::Eval(record.clone()))?;
            callbacks.on_eval(&record)?;
            if let Some(name) = &watched {
                let value = if name == "loss" {
                    record.loss
                } else {
                    record.measures.get(name).copied()
                };
                let value = value.ok_or_else(|| {
                    Error::InvalidArgument(format!(
                        "early stopping watches `{name}`, which validation does not report (it reports {})",
                        record.measures.keys().cloned().collect::<Vec<_>>().join(", ")
                    ))
                })?;
                if improves(name, value, run.state.best.as_ref()) {
                    run.state.best = Some(Best {
                        measure: name.clone(),
                        step: s + 1,
                        value,
                    });
                    run.state.evals_since_best = 0;
                    if cfg.load_best_at_end && opts.output.is_none() {
                        run.best_weights = Some(model.current_weights()?);
                    }
                    run.checkpoint()?;
                } else {
                    run.state.evals_since_best += 1;
                }
                stop_early = cfg
                    .early_stopping
                    .as_ref()
                    .is_some_and(|e| run.state.evals_since_best >= e.patience.max(1));
            }
        }
        if cfg
            .checkpoint_every
            .is_some_and(|n| n > 0 && (s + 1).is_multiple_of(n))
        {
            run.checkpoint()?;
        }
        if epoch_ends {
            callbacks.on_epoch_end(*epoch)?;
        }
        if stop_early {
            stopped = StopReason::EarlyStopped;
            break;
        }
    }
    run.checkpoint()?;
    opts.progress.finish();
    if cfg.load_best_at_end
        && let Some(best) = &run.state.best
    {
        match (&run.best_weights, opts.output) {
            (Some(w), _) => model.set_weights(w)?,
            (None, Some(out)) => {
                let dir = out.join("checkpoints").join(checkpoint_name(best.step));
                model.set_weights(&load_checkpoint(&dir, &model.device())?.weights)?;
            }
            (None, None) => {}
        }
    }
    let model_dir = match opts.output {
        Some(out) => {
            let dir = out.join("model");
            model.save(&dir)?;
            Some(dir)
        }
        None => None,
    };
    Ok(FitOutcome {
        history: run.state.history,
        steps: run.state.step,
        total_steps: total,
        stopped,
        best: run.state.best.clone(),
        last_checkpoint: run.last_checkpoint,
        model_dir,
    })
}

/// Refuses a checkpoint of another model, data, loss or settings.
fn check_resumable(saved: &TrainerState, now: &TrainerState, dir: &Path) -> Result<()> {
    let what = |m: String| {
        Err(Error::InvalidArgument(format!(
            "cannot resume from {}: {m}",
            dir.display()
        )))
    };
    if saved.base_weights_sha256 != now.base_weights_sha256 {
        return what(format!(
            "it was trained from another model ({}, weights {}…), not {} (weights {}…)",
            saved.model,
            &saved.base_weights_sha256[..12.min(saved.base_weights_sha256.len())],
            now.model,
            &now.base_weights_sha256[..12.min(now.base_weights_sha256.len())]
        ));
    }
    if saved.data_sha256 != now.data_sha256 {
        return what("it was trained on other data".into());
    }
    if saved.loss != now.loss {
        return what(format!(
            "it was trained with the {} loss, not {}",
            saved.loss, now.loss
        ));
    }
    let diff = saved.config.differences(&now.config);
    if !diff.is_empty() {
        return what(format!("its settings differ ({})", diff.join("; ")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::training::Example;
    use crate::loss::loss_by_name;

    #[test]
    fn the_batch_sampler_setting_chooses_how_examples_are_batched() {
        // Query q0 has three positives: the no-duplicates sampler needs a batch per repeat.
        let data = TrainingData::Examples(
            ["d0", "d1", "d2"]
                .iter()
                .map(|d| Example::pair("q0", *d))
                .chain((1..5).map(|i| Example::pair(format!("q{i}"), format!("e{i}"))))
                .collect(),
        );
        let loss = loss_by_name("mnrl").unwrap();
        let batches = |sampler| {
            let cfg = TrainConfig {
                batch_size: 4,
                batch_sampler: sampler,
                ..TrainConfig::default()
            };
            let steps = plan(&data, loss.as_ref(), &cfg).unwrap();
            steps.into_iter().flat_map(|(_, b)| b).collect::<Vec<_>>()
        };
        let auto = batches(BatchSampler::Auto);
        assert_eq!(auto, no_duplicate_batches(&data, 4, 42).unwrap());
        assert_eq!(auto.len(), 3);
        assert_eq!(batches(BatchSampler::NoDuplicates), auto);
        // torch.randperm(7, generator=torch.Generator().manual_seed(42)), in batches of 4.
        let random = batches(BatchSampler::Random);
        assert_eq!(random, [vec![1, 6, 3, 5], vec![4, 0, 2]]);
        assert_eq!(
            BatchSampler::parse("no_duplicates"),
            Ok(BatchSampler::NoDuplicates)
        );
        assert!(
            BatchSampler::parse("bucket")
                .unwrap_err()
                .contains("no-duplicates")
        );
    }
}
