//! The training history: one JSON line per optimiser step and per validation,
//! the file plots and notebooks read.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::data::lines::for_each_line;
use crate::error::{Error, Result};

/// One optimiser step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepRecord {
    /// 1-based step number.
    pub step: usize,
    /// 0-based epoch.
    pub epoch: usize,
    /// The step's loss (mean over its batches).
    pub loss: f64,
    /// The learning rate used.
    pub lr: f64,
    /// Global gradient norm before clipping.
    pub grad_norm: f64,
    /// Wall-clock seconds the step took.
    pub seconds: f64,
}

/// One validation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvalRecord {
    /// The step it followed.
    pub step: usize,
    /// 0-based epoch.
    pub epoch: usize,
    /// Mean IR measures on the validation queries, by name.
    pub measures: BTreeMap<String, f64>,
    /// The loss on the validation examples, when there are some.
    pub loss: Option<f64>,
}

/// A line of the history file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum HistoryRecord {
    /// An optimiser step.
    Step(StepRecord),
    /// A validation.
    Eval(EvalRecord),
}

/// The history file's name in a training output directory.
pub const HISTORY_FILE: &str = "history.jsonl";

/// Appends records to a history file as they happen.
pub struct HistoryWriter {
    path: PathBuf,
    file: std::fs::File,
}

impl HistoryWriter {
    /// Starts `path` afresh with `records` (those of a resumed run), atomically.
    pub fn create(path: &Path, records: &[HistoryRecord]) -> Result<Self> {
        let mut text = String::new();
        for r in records {
            text.push_str(&to_line(r));
        }
        crate::atomic::write_atomically(path, |f| {
            f.write_all(text.as_bytes()).map_err(|e| Error::io(path, e))
        })?;
        let file = std::fs::OpenOptions::new()
            .append(true)
            .open(path)
            .map_err(|e| Error::io(path, e))?;
        Ok(Self {
            path: path.to_path_buf(),
            file,
        })
    }

    /// Appends one record (a whole line per write, so a crash leaves whole lines).
    pub fn append(&mut self, r: &HistoryRecord) -> Result<()> {
        self.file
            .write_all(to_line(r).as_bytes())
            .map_err(|e| Error::io(&self.path, e))
    }
}

fn to_line(r: &HistoryRecord) -> String {
    let mut s = serde_json::to_string(r).unwrap_or_default();
    s.push('\n');
    s
}

/// Reads a history file.
pub fn read_history(path: &Path) -> Result<Vec<HistoryRecord>> {
    let mut out = Vec::new();
    for_each_line(path, |n, line| {
        if line.trim().is_empty() {
            return Ok(());
        }
        let r = serde_json::from_str(line)
            .map_err(|e| Error::parse(path, n, Some(e.column()), e.to_string()))?;
        out.push(r);
        Ok(())
    })?;
    Ok(out)
}
