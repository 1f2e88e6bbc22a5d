//! Evaluating a run against qrels: per-query values and their means.

use std::collections::{BTreeMap, HashSet};

use rayon::prelude::*;

use std::io::Write;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::atomic::write_atomically;
use crate::data::json_file::read_json;
use crate::data::run_file::{RunText, map_run};
use crate::data::{Qrels, Run};
use crate::error::{Error, Result};
use crate::eval::judged::JudgedRanking;
use crate::eval::measure::{Measure, MeasureKind, parse_measures};

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
    Ok(EvaluationPart::of_file(qrels, path, measures, opts)?.into_evaluation())
}

/// Per-query values with each query's place in the order [`evaluate_file`]
/// aggregates in (its place in the run, queries missing from the run after),
/// so that parts evaluated apart (`eval --shard`) merge into exactly the
/// evaluation of them all: means are sums, and sums depend on their order.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EvaluationPart {
    measures: Vec<String>,
    /// `(place, qid, values)` in aggregation order.
    rows: Vec<(u64, String, Vec<f64>)>,
}

/// The place of queries judged but missing from the run: after every run
/// query, in query-id order (the qrels' order).
const MISSING: u64 = u64::MAX;

impl EvaluationPart {
    /// Evaluates the run file at `path` against `qrels` (which may hold a
    /// slice of the judged queries).
    pub fn of_file(
        qrels: &Qrels,
        path: &Path,
        measures: &[Measure],
        opts: EvalOptions,
    ) -> Result<Self> {
        let text = RunText::open(path)?;
        let queries = map_run(path, text.bytes(), |q, results| {
            query_values(qrels, q, Some(results), measures, opts)
        })?;
        let retrieved: HashSet<&str> = queries.iter().map(|(q, _)| *q).collect();
        let mut rows: Vec<(u64, String, Vec<f64>)> = queries
            .into_iter()
            .enumerate()
            .filter_map(|(i, (q, values))| Some((i as u64, q.to_string(), values?)))
            .collect();
        if opts.complete {
            rows.extend(
                qrels
                    .query_ids()
                    .filter(|q| !retrieved.contains(q))
                    .filter_map(|q| {
                        let values = query_values(qrels, q, None, measures, opts)?;
                        Some((MISSING, q.to_string(), values))
                    }),
            );
        }
        Ok(Self {
            measures: measures.iter().map(|m| m.to_string()).collect(),
            rows,
        })
    }

    /// Number of evaluated queries.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// Whether no query was evaluated.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The evaluation of these queries alone.
    pub fn into_evaluation(self) -> Evaluation {
        let measures = parse_measures(&self.measures.join(","))
            .expect("a part's measures are rankbook's own names");
        let rows = self.rows.into_iter().map(|(_, q, v)| (q, v)).collect();
        Evaluation::from_rows(&measures, rows)
    }

    /// Writes the part (values as shortest round-trip decimals: exact).
    pub fn write(&self, path: &Path) -> Result<()> {
        let text = serde_json::to_string(self).expect("an evaluation serialises");
        write_atomically(path, |w| {
            writeln!(w, "{text}").map_err(|e| Error::io(path, e))
        })
    }

    /// Reads what [`EvaluationPart::write`] wrote, checked.
    pub fn read(path: &Path) -> Result<Self> {
        let part: Self = read_json(path)?;
        let measures = parse_measures(&part.measures.join(","))
            .map_err(|e| Error::InvalidArgument(format!("{}: {e}", path.display())))?;
        if let Some((_, q, v)) = part.rows.iter().find(|(_, _, v)| v.len() != measures.len()) {
            return Err(Error::InvalidArgument(format!(
                "{}: query {q} has {} values for {} measures",
                path.display(),
                v.len(),
                measures.len()
            )));
        }
        Ok(part)
    }

    /// The evaluation of disjoint parts' queries, aggregated in the order one
    /// evaluation of them all would use.
    pub fn merge(parts: Vec<Self>) -> Result<Evaluation> {
        let Some(first) = parts.first() else {
            return Err(Error::InvalidArgument("no evaluations to merge".into()));
        };
        let measures = first.measures.clone();
        let mut rows = Vec::new();
        let mut seen = HashSet::new();
        for p in parts {
            if p.measures != measures {
                return Err(Error::InvalidArgument(
                    "the parts were evaluated with different measures".into(),
                ));
            }
            for row in p.rows {
                if !seen.insert(row.1.clone()) {
                    return Err(Error::InvalidArgument(format!(
                        "query {} is in two parts (parts hold disjoint queries)",
                        row.1
                    )));
                }
                rows.push(row);
            }
        }
        rows.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
        Ok(Self { measures, rows }.into_evaluation())
    }
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
