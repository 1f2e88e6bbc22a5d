//! Where training data come from, as the `fit` command and scripts name it,
//! and loading it into one of the shapes the losses take.

use std::path::PathBuf;

use crate::data::BeirDataset;
use crate::data::Run;
use crate::data::clicks::read_clicks;
use crate::data::distill::distillation_examples;
use crate::data::negatives::read_negatives;
use crate::data::samples::{read_groups, read_pairs};
use crate::data::training::{TrainingData, pairs_from_qrels, read_triples};
use crate::error::{Error, Result};

/// A source of training data.
#[derive(Debug, Clone, PartialEq)]
pub enum TrainingSource {
    /// (query, positive) pairs from a BEIR split's qrels.
    Qrels {
        /// The BEIR folder.
        dir: PathBuf,
        /// `train`, `dev`, ...
        split: String,
    },
    /// MS MARCO triples TSV.
    Triples(PathBuf),
    /// Mined negatives JSONL (ids resolved in `data`).
    Negatives {
        /// The file.
        path: PathBuf,
        /// The BEIR folder its ids refer to.
        data: Option<PathBuf>,
    },
    /// `(text_a, text_b, score)` JSONL.
    Pairs(PathBuf),
    /// `(text, group)` JSONL.
    Groups(PathBuf),
    /// A teacher's TREC run over a BEIR split (distillation).
    Teacher {
        /// The BEIR folder.
        dir: PathBuf,
        /// Whose qrels mark the positives.
        split: String,
        /// The teacher's run.
        run: PathBuf,
        /// Negatives per example.
        negatives: usize,
    },
    /// Click sessions JSONL over a BEIR folder's corpus.
    Clicks {
        /// The sessions.
        path: PathBuf,
        /// The BEIR folder.
        data: PathBuf,
    },
}

impl TrainingSource {
    /// Reads the data.
    pub fn load(&self) -> Result<TrainingData> {
        let data = match self {
            Self::Qrels { dir, split } => {
                let ds = BeirDataset::open(dir)?;
                TrainingData::Examples(pairs_from_qrels(&ds, &ds.qrels(split)?)?)
            }
            Self::Triples(p) => TrainingData::Examples(read_triples(p)?),
            Self::Negatives { path, data } => {
                let ds = data.as_deref().map(BeirDataset::open).transpose()?;
                TrainingData::Examples(read_negatives(path, ds.as_ref())?)
            }
            Self::Pairs(p) => TrainingData::Pairs(read_pairs(p)?),
            Self::Groups(p) => TrainingData::Groups(read_groups(p)?),
            Self::Teacher {
                dir,
                split,
                run,
                negatives,
            } => {
                let ds = BeirDataset::open(dir)?;
                let qrels = ds.qrels(split)?;
                TrainingData::Examples(distillation_examples(
                    &ds,
                    &qrels,
                    &Run::read(run)?,
                    *negatives,
                )?)
            }
            Self::Clicks { path, data } => {
                TrainingData::Examples(read_clicks(path, &BeirDataset::open(data)?)?)
            }
        };
        if data.is_empty() {
            return Err(Error::InvalidArgument(format!(
                "no training examples in {}",
                self.describe()
            )));
        }
        Ok(data)
    }

    /// The source in words.
    pub fn describe(&self) -> String {
        match self {
            Self::Qrels { dir, split } => format!("{} ({split} qrels)", dir.display()),
            Self::Triples(p) | Self::Pairs(p) | Self::Groups(p) => p.display().to_string(),
            Self::Negatives { path, .. } | Self::Clicks { path, .. } => path.display().to_string(),
            Self::Teacher { run, .. } => format!("teacher run {}", run.display()),
        }
    }
}
