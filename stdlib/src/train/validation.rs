//! Validation during training: encode a dev collection with the current
//! weights (the fast inference path), search it exactly, and score the run with
//! the evaluator; optionally the loss on held-out examples. A ColBERT searches
//! with exact MaxSim; a cross-encoder instead re-ranks a BM25 run of the dev
//! queries (built once).

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};

use crate::analysis::AnalyzerSpec;
use crate::data::Run;

use crate::model::SentenceEncoder;
use crate::model::cross_encoder::CrossEncoder;
use crate::rerank::{RerankOptions, Reranker, rerank};

use crate::data::training::{TrainingData, pairs_from_qrels};
use crate::data::{BeirDataset, Qrels, TextRecord};
use crate::error::Result;
use crate::eval::{EvalOptions, Measure, evaluate};
use crate::index::{Bm25Index, Bm25Params, DenseIndex, MaxSimIndex, Metric, Retriever};
use crate::loss::{Batch, Loss};
use crate::model::EncodeOptions;
use crate::model::colbert::ColbertEncoder;
use crate::progress::NoProgress;
use crate::train::trainee::Trainee;

/// Docs per query a cross-encoder re-ranks in validation, unless set.
pub const DEFAULT_RERANK_DEPTH: usize = 20;

/// A dev collection to validate on.
pub struct Validation {
    /// Documents searched.
    pub corpus: Vec<TextRecord>,
    /// Queries asked.
    pub queries: Vec<TextRecord>,
    /// Their judgements.
    pub qrels: Qrels,
    /// Measures reported (the first is the headline one).
    pub measures: Vec<Measure>,
    /// Documents retrieved per query.
    pub k: usize,
    /// Held-out examples for the validation loss.
    pub loss_data: Option<TrainingData>,
    /// Texts per forward pass.
    pub batch_size: usize,
    /// Docs per query a cross-encoder re-ranks (of the BM25 run).
    pub rerank_depth: usize,
    /// The BM25 run a cross-encoder re-ranks, made on first use.
    first_stage: OnceLock<Run>,
}

impl Validation {
    /// The `split` of a BEIR dataset, with its (query, positive) pairs for the loss.
    pub fn from_beir(data: &BeirDataset, split: &str, measures: Vec<Measure>) -> Result<Self> {
        let qrels = data.qrels(split)?;
        let pairs = pairs_from_qrels(data, &qrels)?;
        Ok(Self {
            corpus: data.corpus.clone(),
            queries: data.judged_queries(&qrels),
            qrels,
            measures,
            k: 100,
            loss_data: (!pairs.is_empty()).then_some(TrainingData::Examples(pairs)),
            batch_size: 32,
            rerank_depth: DEFAULT_RERANK_DEPTH,
            first_stage: OnceLock::new(),
        })
    }

    /// The run of a bi-encoder: the corpus indexed exactly (cosine) and the
    /// queries searched, as `rankbook index` and `search` do.
    pub fn dense_run(&self, model: SentenceEncoder) -> Result<Run> {
        let opts = EncodeOptions {
            batch_size: self.batch_size,
            ..Default::default()
        };
        let (index, _) =
            DenseIndex::build(Arc::new(model), &self.corpus, "Flat", Metric::Cosine, &opts)?;
        Retriever::search(&index, &self.queries, self.k, &opts)
    }

    /// The run of a ColBERT: the corpus indexed for exact MaxSim and the
    /// queries searched, as `rankbook index` and `search` do.
    pub fn maxsim_run(&self, model: ColbertEncoder) -> Result<Run> {
        let opts = EncodeOptions {
            batch_size: self.batch_size,
            ..Default::default()
        };
        let (index, _) = MaxSimIndex::build(Arc::new(model), &self.corpus, &opts)?;
        Retriever::search(&index, &self.queries, self.k, &opts)
    }

    /// The BM25 run (default analyser and parameters) a cross-encoder re-ranks.
    pub fn first_stage(&self) -> Result<&Run> {
        if let Some(r) = self.first_stage.get() {
            return Ok(r);
        }
        let index = Bm25Index::build(
            &self.corpus,
            &AnalyzerSpec::default(),
            Bm25Params::default(),
            &NoProgress,
        )?;
        let run = Retriever::search(&index, &self.queries, self.k, &EncodeOptions::default())?;
        Ok(self.first_stage.get_or_init(|| run))
    }

    /// The run of a cross-encoder: the top `rerank_depth` docs of the BM25 run
    /// of each query, re-scored.
    pub fn reranked_run(&self, model: &CrossEncoder) -> Result<Run> {
        let opts = RerankOptions {
            k: self.rerank_depth,
            batch_size: self.batch_size,
            skip_missing: false,
            encode: EncodeOptions::default(),
        };
        let first = self.first_stage()?;
        Ok(rerank(
            Reranker::Cross(model),
            first,
            &self.queries,
            &self.corpus,
            &opts,
        )?
        .0)
    }

    /// Mean measures of `model` as it is now, and the loss on the held-out
    /// examples (without dropout) when there are some and `loss` accepts them.
    pub fn run(
        &self,
        model: &dyn Trainee,
        loss: &dyn Loss,
    ) -> Result<(BTreeMap<String, f64>, Option<f64>)> {
        let run = model.validation_run(self)?;
        let e = evaluate(&self.qrels, &run, &self.measures, EvalOptions::default());
        let measures = e
            .measures
            .iter()
            .zip(&e.means)
            .map(|(m, v)| (m.to_string(), *v))
            .collect();
        let loss_value = match &self.loss_data {
            Some(d) if loss.check(d).is_ok() => Some(self.loss(model, loss, d)?),
            _ => None,
        };
        Ok((measures, loss_value))
    }

    /// The mean loss over batches of the held-out examples, without dropout.
    fn loss(&self, model: &dyn Trainee, loss: &dyn Loss, data: &TrainingData) -> Result<f64> {
        let scoring = model.scoring(None);
        let all: Vec<usize> = (0..data.len()).collect();
        let (mut sum, mut n) = (0.0, 0usize);
        for chunk in all.chunks(self.batch_size.max(1)) {
            let batch = Batch {
                data,
                indices: chunk,
            };
            let v = loss
                .forward(scoring.as_model(), &batch)?
                .to_scalar::<f32>()? as f64;
            sum += v * chunk.len() as f64;
            n += chunk.len();
        }
        Ok(sum / n.max(1) as f64)
    }
}
