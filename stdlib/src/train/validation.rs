//! Validation during training: encode a dev collection with the current
//! weights (the fast inference path), search it exactly, and score the run with
//! the evaluator; optionally the loss on held-out examples.

use std::collections::BTreeMap;

use crate::data::training::{TrainingData, pairs_from_qrels};
use crate::data::{BeirDataset, Qrels, TextRecord};
use crate::error::Result;
use crate::eval::{EvalOptions, Measure, evaluate};
use crate::index::{FlatIndex, Metric, VectorIndex};
use crate::loss::{Batch, Loss};
use crate::model::EncodeOptions;
use crate::progress::NoProgress;
use crate::train::trainee::Trainee;

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
        })
    }

    /// Mean measures of `model` as it is now, and the loss on the held-out
    /// examples (without dropout) when there are some and `loss` accepts them.
    pub fn run(
        &self,
        model: &dyn Trainee,
        loss: &dyn Loss,
    ) -> Result<(BTreeMap<String, f64>, Option<f64>)> {
        let copy = model.inference_model()?;
        let opts = EncodeOptions {
            batch_size: self.batch_size,
            ..Default::default()
        };
        fn texts(r: &[TextRecord]) -> Vec<&str> {
            r.iter().map(|t| t.text.as_str()).collect()
        }
        let doc_vectors = copy.encode_documents(&texts(&self.corpus), &opts)?;
        let query_vectors = copy.encode_queries(&texts(&self.queries), &opts)?;
        let ids = self.corpus.iter().map(|d| d.id.clone()).collect();
        let index = FlatIndex::new(ids, doc_vectors, Metric::Cosine)?;
        let qids: Vec<String> = self.queries.iter().map(|q| q.id.clone()).collect();
        let run = index.search(&qids, &query_vectors, self.k, &NoProgress)?;
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
