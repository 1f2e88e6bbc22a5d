//! BEIR dataset folders: `corpus.jsonl`, `queries.jsonl`, `qrels/<split>.tsv`.

use std::path::{Path, PathBuf};

use crate::data::qrels::Qrels;
use crate::data::texts::{TextRecord, read_texts};
use crate::error::{Error, Result};

/// A BEIR-layout collection loaded in memory.
#[derive(Debug, Clone)]
pub struct BeirDataset {
    /// The folder.
    pub dir: PathBuf,
    /// Documents, text = `(title + " " + text).strip()`.
    pub corpus: Vec<TextRecord>,
    /// All queries of all splits.
    pub queries: Vec<TextRecord>,
}

impl BeirDataset {
    /// Reads `dir/corpus.jsonl` and `dir/queries.jsonl`.
    pub fn open(dir: &Path) -> Result<Self> {
        if !dir.is_dir() {
            return Err(Error::io(
                dir,
                std::io::Error::new(std::io::ErrorKind::NotFound, "no such folder"),
            ));
        }
        Ok(Self {
            dir: dir.to_path_buf(),
            corpus: read_texts(&dir.join("corpus.jsonl"))?,
            queries: read_texts(&dir.join("queries.jsonl"))?,
        })
    }

    /// The path of a split's qrels.
    pub fn qrels_path(&self, split: &str) -> PathBuf {
        self.dir.join("qrels").join(format!("{split}.tsv"))
    }

    /// Reads the judgements of `split` (`train`, `dev`, `test`).
    pub fn qrels(&self, split: &str) -> Result<Qrels> {
        Qrels::read(&self.qrels_path(split))
    }

    /// The queries judged in `qrels`, in file order.
    pub fn judged_queries(&self, qrels: &Qrels) -> Vec<TextRecord> {
        self.queries
            .iter()
            .filter(|q| qrels.get(&q.id).is_some())
            .cloned()
            .collect()
    }
}
