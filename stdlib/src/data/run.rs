//! Ranked results: TREC run files (`qid Q0 docid rank score tag`).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use crate::atomic::write_atomically;
use crate::data::run_file::{RunText, map_run};
use crate::error::{Error, Result};

/// One retrieved document and its score.
#[derive(Debug, Clone, PartialEq)]
pub struct Scored {
    /// Document id.
    pub doc: String,
    /// Retrieval score (higher is better).
    pub score: f64,
}

/// Results per query. Order inside a query is not significant: evaluation and
/// writing rank by score descending, ties by docid descending (trec_eval's order).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Run {
    map: BTreeMap<String, Vec<Scored>>,
}

/// trec_eval's ranking order: score descending, then docid descending (bytewise).
pub fn ranking_order(a: &Scored, b: &Scored) -> std::cmp::Ordering {
    rank_order((&a.doc, a.score), (&b.doc, b.score))
}

/// The same order on `(doc, score)` pairs.
pub fn rank_order(a: (&str, f64), b: (&str, f64)) -> std::cmp::Ordering {
    b.1.partial_cmp(&a.1)
        .unwrap_or(std::cmp::Ordering::Equal)
        .then_with(|| b.0.as_bytes().cmp(a.0.as_bytes()))
}

impl Run {
    /// An empty run.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one result (the caller keeps docs unique per query).
    pub fn push(&mut self, qid: &str, doc: &str, score: f64) {
        self.map.entry(qid.to_string()).or_default().push(Scored {
            doc: doc.to_string(),
            score,
        });
    }

    /// Sets the results of one query.
    pub fn set_query(&mut self, qid: &str, results: Vec<Scored>) {
        self.map.insert(qid.to_string(), results);
    }

    /// Adds every result of `other` (the caller keeps docs unique per query).
    pub fn absorb(&mut self, other: Run) {
        for (q, results) in other.map {
            self.map.entry(q).or_default().extend(results);
        }
    }

    /// Reads a TREC run; the rank column is ignored, a repeated doc is an error.
    pub fn read(path: &Path) -> Result<Self> {
        let text = RunText::open(path)?;
        let queries = map_run(path, text.bytes(), |_, results| {
            results
                .iter()
                .map(|&(doc, score)| Scored {
                    doc: doc.to_string(),
                    score,
                })
                .collect()
        })?;
        let mut run = Run::new();
        for (qid, results) in queries {
            run.set_query(qid, results);
        }
        Ok(run)
    }

    /// Writes the run in TREC format (ranked, ranks from 1), atomically.
    pub fn write(&self, path: &Path, tag: &str) -> Result<()> {
        let tag = if tag.is_empty() { "rankbook" } else { tag };
        write_atomically(path, |w| {
            for (qid, ranked) in self.ranked() {
                for (i, s) in ranked.iter().enumerate() {
                    writeln!(w, "{qid} Q0 {} {} {} {tag}", s.doc, i + 1, s.score)
                        .map_err(|e| Error::io(path, e))?;
                }
            }
            Ok(())
        })
    }

    /// Each query's results in ranking order.
    pub fn ranked(&self) -> impl Iterator<Item = (&str, Vec<&Scored>)> {
        self.map.iter().map(|(q, docs)| {
            let mut v: Vec<&Scored> = docs.iter().collect();
            v.sort_by(|a, b| ranking_order(a, b));
            (q.as_str(), v)
        })
    }

    /// The best `k` results of one query, in ranking order (empty if absent).
    pub fn top_of(&self, qid: &str, k: usize) -> Vec<&Scored> {
        let mut v: Vec<&Scored> = self
            .get(qid)
            .map(|r| r.iter().collect())
            .unwrap_or_default();
        v.sort_by(|a, b| ranking_order(a, b));
        v.truncate(k);
        v
    }

    /// Results of one query, unordered.
    pub fn get(&self, qid: &str) -> Option<&[Scored]> {
        self.map.get(qid).map(Vec::as_slice)
    }

    /// Query ids in sorted order.
    pub fn query_ids(&self) -> impl Iterator<Item = &str> {
        self.map.keys().map(String::as_str)
    }

    /// Number of queries.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether the run has no query.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// The results of the queries `keep` accepts.
    pub fn filter(&self, keep: impl Fn(&str) -> bool) -> Run {
        Run {
            map: self
                .map
                .iter()
                .filter(|(q, _)| keep(q))
                .map(|(q, v)| (q.clone(), v.clone()))
                .collect(),
        }
    }

    /// Keeps the best `k` results of each query.
    pub fn top_k(&self, k: usize) -> Run {
        Run {
            map: self
                .ranked()
                .map(|(q, v)| (q.to_string(), v.into_iter().take(k).cloned().collect()))
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str) -> Result<Run> {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("r.trec");
        std::fs::write(&p, text).unwrap();
        Run::read(&p)
    }

    #[test]
    fn ranks_by_score_then_docid_descending() {
        let r = read("q 0 a 1 1.0 t\nq Q0 b 2 2.0 t\nq Q0 c 3 1.0 t\n").unwrap();
        let (_, ranked) = r.ranked().next().unwrap();
        let docs: Vec<&str> = ranked.iter().map(|s| s.doc.as_str()).collect();
        assert_eq!(docs, ["b", "c", "a"]);
    }

    #[test]
    fn errors_are_named_and_empty_is_valid() {
        assert!(read("").unwrap().is_empty());
        let e = read("q Q0 a 1 1.0 t\nq Q0 a 2 0.5 t\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.ends_with(":2: query q retrieves doc a twice (first at line 1)"),
            "{e}"
        );
        let e = read("q Q0 a 1 x t\n").unwrap_err().to_string();
        assert!(e.ends_with(":1: score \"x\" is not a number"), "{e}");
        let e = read("q Q0 a 1\n").unwrap_err().to_string();
        assert!(e.contains("expected 6 columns"), "{e}");
    }

    #[test]
    fn filter_and_top_k_keep_ranking_order() {
        let mut r = Run::new();
        r.push("q1", "a", 0.1);
        r.push("q1", "b", 0.9);
        r.push("q2", "c", 0.5);
        let cut = r.top_k(1).filter(|q| q == "q1");
        assert_eq!(cut.len(), 1);
        assert_eq!(cut.top_of("q1", 5)[0].doc, "b");
        assert_eq!(cut.top_of("q1", 5).len(), 1);
    }

    #[test]
    fn write_then_read_round_trips() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("r.trec");
        let mut r = Run::new();
        r.push("q1", "d2", 0.7);
        r.push("q1", "d1", 0.1f32 as f64);
        r.write(&p, "x").unwrap();
        assert_eq!(Run::read(&p).unwrap(), r);
        assert!(
            std::fs::read_to_string(&p)
                .unwrap()
                .starts_with("q1 Q0 d2 1 0.7 x\n")
        );
    }
}
