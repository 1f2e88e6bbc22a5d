//! Evaluating a run against qrels: per-query values and their means.

use std::collections::{BTreeMap, HashSet};

use rayon::prelude::*;

use std::path::Path;

use crate::data::run_file::{RunText, map_run};
use crate::data::{Qrels, Run};
use crate::error::Result;
use crate::eval::judged::JudgedRanking;
use crate::eval::measure::{Measure, MeasureKind};

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
    /// Each measure over the evaluated queries: the mean, or the sum for
    /// counts (NumQ, NumRet, NumRel, NumRelRet) and the geometric mean for gm_map.
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

/// Evaluates `run` against `qrels` with trec_eval's semantics.
pub fn evaluate(qrels: &Qrels, run: &Run, measures: &[Measure], opts: EvalOptions) -> Evaluation {
    let qids: Vec<&str> = qrels
        .query_ids()
        .filter(|q| opts.complete || run.get(q).is_some())
        .collect();
    let rows = qids
        .par_iter()
        .map(|&q| {
            let mut results = run.get(q).map(|r| {
                r.iter()
                    .map(|s| (s.doc.as_str(), s.score))
                    .collect::<Vec<_>>()
            });
            let values = query_values(qrels, q, results.as_mut(), measures, opts);
            (q.to_string(), values.expect("qid comes from the qrels"))
        })
        .collect();
    Evaluation::from_rows(measures, rows)
}

/// Evaluates the TREC run file at `path` straight from its memory-mapped text,
/// checking its lines as it goes (no copy of the run is built).
pub fn evaluate_file(
    qrels: &Qrels,
    path: &Path,
    measures: &[Measure],
    opts: EvalOptions,
) -> Result<Evaluation> {
    let text = RunText::open(path)?;
    let queries = map_run(path, text.bytes(), |q, results| {
        query_values(qrels, q, Some(results), measures, opts)
    })?;
    let retrieved: HashSet<&str> = queries.iter().map(|(q, _)| *q).collect();
    let mut rows: Vec<(String, Vec<f64>)> = queries
        .into_iter()
        .filter_map(|(q, values)| Some((q.to_string(), values?)))
        .collect();
    if opts.complete {
        rows.extend(
            qrels
                .query_ids()
                .filter(|q| !retrieved.contains(q))
                .filter_map(|q| {
                    Some((q.to_string(), query_values(qrels, q, None, measures, opts)?))
                }),
        );
    }
    Ok(Evaluation::from_rows(measures, rows))
}

/// One query's values, or None when the qrels do not judge it.
fn query_values(
    qrels: &Qrels,
    q: &str,
    mut results: Option<&mut Vec<(&str, f64)>>,
    measures: &[Measure],
    opts: EvalOptions,
) -> Option<Vec<f64>> {
    let judgements = qrels.get(q)?;
    let mut ranking = match results.as_deref_mut() {
        Some(results) => {
            JudgedRanking::new(results, judgements, opts.ignore_identical_ids.then_some(q))
        }
        None => JudgedRanking::empty(judgements),
    };
    // Diversity measures need each retrieved doc's subtopics (the results are
    // in rank order now).
    if let Some(intents) = qrels.intents(q)
        && measures.iter().any(|m| m.kind == MeasureKind::AlphaNDCG)
    {
        let docs = results.iter().flat_map(|r| r.iter().map(|(d, _)| *d));
        ranking = ranking.with_intents(docs, intents);
    }
    Some(measures.iter().map(|m| ranking.compute(m)).collect())
}

impl Evaluation {
    fn from_rows(measures: &[Measure], rows: Vec<(String, Vec<f64>)>) -> Self {
        let means = measures
            .iter()
            .enumerate()
            .map(|(i, m)| m.aggregate().of(rows.iter().map(|(_, v)| v[i])))
            .collect();
        Evaluation {
            measures: measures.to_vec(),
            means,
            per_query: rows.into_iter().collect(),
        }
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
        // Counts are summed over queries, as trec_eval's `all` line and ir_measures do.
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
        assert_eq!(c.means, vec![0.5, 2.0]);
        assert_eq!(c.mean("RR"), Some(0.5));
    }
}
