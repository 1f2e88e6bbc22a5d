//! Evaluating a run against qrels: per-query values and their means.

use std::collections::BTreeMap;

use rayon::prelude::*;

use crate::data::run_file::RunView;
use crate::data::{Qrels, Run};
use crate::eval::judged::JudgedRanking;
use crate::eval::measure::Measure;

/// Which queries count and how ids are treated.
#[derive(Debug, Clone, Copy, Default)]
pub struct EvalOptions {
    /// Average over every judged query, counting a missing one as an empty
    /// ranking (trec_eval -c); by default only queries in both run and qrels count.
    pub complete: bool,
    /// Drop a retrieved doc whose id equals its query's id (BEIR ArguAna/Quora).
    pub ignore_identical_ids: bool,
}

/// Results of one evaluation.
#[derive(Debug, Clone, PartialEq)]
pub struct Evaluation {
    /// The measures, in the order asked.
    pub measures: Vec<Measure>,
    /// Mean of each measure over the evaluated queries.
    pub means: Vec<f64>,
    /// Per evaluated query, one value per measure.
    pub per_query: BTreeMap<String, Vec<f64>>,
}

impl Evaluation {
    /// The mean of the measure named `name` (as written by `Measure`'s Display).
    pub fn mean(&self, name: &str) -> Option<f64> {
        let i = self.measures.iter().position(|m| m.to_string() == name)?;
        Some(self.means[i])
    }

    /// Number of queries averaged over.
    pub fn num_queries(&self) -> usize {
        self.per_query.len()
    }

    /// Per-query values of measure `index`, in query-id order.
    pub fn column(&self, index: usize) -> Vec<(&str, f64)> {
        self.per_query
            .iter()
            .map(|(q, v)| (q.as_str(), v[index]))
            .collect()
    }
}

/// Anything that gives each query's `(doc, score)` results: an owned [`Run`] or a
/// [`RunView`] borrowed from a memory-mapped file.
pub trait Rankings: Sync {
    /// The results of `qid`, unordered; None when the run lacks the query.
    fn results(&self, qid: &str) -> Option<Vec<(&str, f64)>>;
    /// Whether the run has `qid`.
    fn contains(&self, qid: &str) -> bool;
}

impl Rankings for Run {
    fn results(&self, qid: &str) -> Option<Vec<(&str, f64)>> {
        self.get(qid)
            .map(|r| r.iter().map(|s| (s.doc.as_str(), s.score)).collect())
    }
    fn contains(&self, qid: &str) -> bool {
        self.get(qid).is_some()
    }
}

impl Rankings for RunView<'_> {
    fn results(&self, qid: &str) -> Option<Vec<(&str, f64)>> {
        self.get(qid)
            .map(|r| r.into_iter().map(|l| (l.doc, l.score)).collect())
    }
    fn contains(&self, qid: &str) -> bool {
        RunView::contains(self, qid)
    }
}

/// Evaluates `run` against `qrels` with trec_eval's semantics.
pub fn evaluate(
    qrels: &Qrels,
    run: &impl Rankings,
    measures: &[Measure],
    opts: EvalOptions,
) -> Evaluation {
    let qids: Vec<&str> = qrels
        .query_ids()
        .filter(|q| opts.complete || run.contains(q))
        .collect();
    let rows: Vec<(String, Vec<f64>)> = qids
        .par_iter()
        .map(|&q| {
            let judgements = qrels.get(q).expect("qid comes from the qrels");
            let ranking = match run.results(q) {
                Some(results) => {
                    JudgedRanking::new(results, judgements, opts.ignore_identical_ids.then_some(q))
                }
                None => JudgedRanking::empty(judgements),
            };
            (
                q.to_string(),
                measures.iter().map(|m| ranking.compute(m)).collect(),
            )
        })
        .collect();
    let mut means = vec![0.0; measures.len()];
    for (_, v) in &rows {
        for (s, x) in means.iter_mut().zip(v) {
            *s += x;
        }
    }
    if !rows.is_empty() {
        for s in &mut means {
            *s /= rows.len() as f64;
        }
    }
    Evaluation {
        measures: measures.to_vec(),
        means,
        per_query: rows.into_iter().collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval::measure::parse_measures;

    #[test]
    fn default_averages_over_intersection_and_complete_over_qrels() {
        let mut qrels = Qrels::new();
        qrels.insert("q1", "a", 1);
        qrels.insert("q2", "b", 1);
        let mut run = Run::new();
        run.push("q1", "a", 1.0);
        run.push("q3", "zzz", 1.0); // not judged: ignored
        let ms = parse_measures("RR,NumRel").unwrap();
        let e = evaluate(&qrels, &run, &ms, EvalOptions::default());
        assert_eq!(e.num_queries(), 1);
        assert_eq!(e.means, vec![1.0, 1.0]);
        let c = evaluate(
            &qrels,
            &run,
            &ms,
            EvalOptions {
                complete: true,
                ..Default::default()
            },
        );
        assert_eq!(c.num_queries(), 2);
        assert_eq!(c.means, vec![0.5, 1.0]);
        assert_eq!(c.mean("RR"), Some(0.5));
    }
}
