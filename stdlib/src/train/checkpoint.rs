//! Checkpoints: everything a run needs to continue bit-exactly — the weights
//! (f32, as trained), the optimiser's moments and step count, the step reached,
//! the history so far, and what identifies the model, the data and the settings.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::{Device, Tensor};
use serde::{Deserialize, Serialize};

use crate::atomic::write_dir_atomically;
use crate::error::{Error, Result};
use crate::model::weights::save_tensors;
use crate::train::config::TrainConfig;
use crate::train::history::HistoryRecord;

const STATE: &str = "trainer_state.json";
const WEIGHTS: &str = "weights.safetensors";
const OPTIMIZER: &str = "optimizer.safetensors";

/// The best validation so far.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Best {
    /// The measure watched.
    pub measure: String,
    /// The step validated.
    pub step: usize,
    /// The watched measure's value.
    pub value: f64,
}

/// What a checkpoint records besides tensors.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainerState {
    /// Optimiser steps done.
    pub step: usize,
    /// AdamW's update count.
    pub optimizer_steps: u64,
    /// The model's name and the SHA-256 of the weights training started from.
    pub model: String,
    /// SHA-256 of the starting weights.
    pub base_weights_sha256: String,
    /// Content hash of the training data.
    pub data_sha256: String,
    /// The loss's name.
    pub loss: String,
    /// The run's settings.
    pub config: TrainConfig,
    /// The best validation so far.
    pub best: Option<Best>,
    /// Validations since the best one (early stopping).
    pub evals_since_best: usize,
    /// The history up to `step`.
    pub history: Vec<HistoryRecord>,
}

/// A checkpoint read back.
pub struct Checkpoint {
    /// Its directory.
    pub dir: PathBuf,
    /// Its state.
    pub state: TrainerState,
    /// The weights by name.
    pub weights: HashMap<String, Tensor>,
    /// The optimiser's moments by name.
    pub optimizer: HashMap<String, Tensor>,
}

/// A checkpoint directory's name for `step` (sorts by step).
pub fn checkpoint_name(step: usize) -> String {
    format!("step-{step:08}")
}

/// Whether `dir` is a checkpoint (so replacing it is safe).
pub fn is_checkpoint(dir: &Path) -> bool {
    dir.join(STATE).is_file()
}

/// Writes a checkpoint directory atomically.
pub fn save_checkpoint(
    dir: &Path,
    state: &TrainerState,
    weights: &HashMap<String, Tensor>,
    optimizer: &HashMap<String, Tensor>,
) -> Result<()> {
    write_dir_atomically(dir, "checkpoint", is_checkpoint, |tmp| {
        for (name, tensors) in [(WEIGHTS, weights), (OPTIMIZER, optimizer)] {
            let path = tmp.join(name);
            save_tensors(tensors, &path)?;
        }
        let path = tmp.join(STATE);
        let json = serde_json::to_string_pretty(state)
            .map_err(|e| Error::InvalidArgument(format!("cannot encode the trainer state: {e}")))?;
        std::fs::write(&path, json).map_err(|e| Error::io(&path, e))
    })
}

/// Reads a checkpoint directory onto `device`.
pub fn load_checkpoint(dir: &Path, device: &Device) -> Result<Checkpoint> {
    let path = dir.join(STATE);
    if !path.is_file() {
        return Err(Error::InvalidArgument(format!(
            "{} is not a checkpoint (no {STATE})",
            dir.display()
        )));
    }
    let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
    let state: TrainerState = serde_json::from_str(&text)
        .map_err(|e| Error::parse(&path, e.line(), Some(e.column()), e.to_string()))?;
    let read = |name: &str| -> Result<HashMap<String, Tensor>> {
        let p = dir.join(name);
        candle_core::safetensors::load(&p, device)
            .map_err(|e| Error::InvalidArgument(format!("{}: cannot read: {e}", p.display())))
    };
    Ok(Checkpoint {
        dir: dir.to_path_buf(),
        state,
        weights: read(WEIGHTS)?,
        optimizer: read(OPTIMIZER)?,
    })
}

/// Deletes the step checkpoints under `root` except the newest `keep` and `best`.
pub fn prune_checkpoints(root: &Path, keep: usize, best: Option<usize>) -> Result<()> {
    let Ok(entries) = std::fs::read_dir(root) else {
        return Ok(());
    };
    let mut steps: Vec<(usize, PathBuf)> = entries
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let step = name.strip_prefix("step-")?.parse().ok()?;
            is_checkpoint(&e.path()).then_some((step, e.path()))
        })
        .collect();
    steps.sort();
    let cut = steps.len().saturating_sub(keep);
    for (step, path) in &steps[..cut] {
        if Some(*step) != best {
            std::fs::remove_dir_all(path).map_err(|e| Error::io(path, e))?;
        }
    }
    Ok(())
}
