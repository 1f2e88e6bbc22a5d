//! Fusion of runs: reciprocal rank fusion and normalised score fusion (CombSUM
//! of min-max or z-score normalised scores).

use std::collections::HashMap;

use crate::data::Run;
use crate::error::{Error, Result};

/// How to fuse runs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum FusionMethod {
    /// Σ 1 / (k + rank), ranks from 1 in trec_eval's order.
    Rrf { k: f64 },
    /// Σ (s - min) / (max - min) per query and run.
    MinMax,
    /// Σ (s - mean) / sd per query and run.
    ZScore,
}

impl FusionMethod {
    /// Parses `rrf`, `minmax`, `zscore` (`k` is used by RRF).
    pub fn parse(name: &str, k: f64) -> Result<Self> {
        match name {
            "rrf" => Ok(Self::Rrf { k }),
            "minmax" | "min-max" => Ok(Self::MinMax),
            "zscore" | "z-score" => Ok(Self::ZScore),
            _ => Err(Error::InvalidArgument(format!(
                "unknown fusion method \"{name}\" (known: rrf, minmax, zscore)"
            ))),
        }
    }
}

/// The settings of a fusion, with their defaults (RRF, k 60, 1,000 per query):
/// the command line and scripts read these.
#[derive(Debug, Clone, PartialEq)]
pub struct FuseOptions {
    /// `rrf`, `minmax` or `zscore`.
    pub method: String,
    /// RRF's k.
    pub k: f64,
    /// Docs kept per query.
    pub depth: usize,
}

impl Default for FuseOptions {
    fn default() -> Self {
        Self {
            method: "rrf".into(),
            k: 60.0,
            depth: 1000,
        }
    }
}

/// Fuses `runs` with `opts` (method parsed, then [`fuse`]).
pub fn fuse_with(runs: &[&Run], opts: &FuseOptions) -> Result<Run> {
    fuse(runs, FusionMethod::parse(&opts.method, opts.k)?, opts.depth)
}

/// Fuses `runs` query by query; a doc missing from a run contributes nothing.
/// `depth` keeps the best `depth` docs per query in the result.
pub fn fuse(runs: &[&Run], method: FusionMethod, depth: usize) -> Result<Run> {
    if runs.is_empty() {
        return Err(Error::InvalidArgument("nothing to fuse: no runs".into()));
    }
    let mut scores: HashMap<&str, HashMap<&str, f64>> = HashMap::new();
    for run in runs {
        for (qid, ranked) in run.ranked() {
            let acc = scores.entry(qid).or_default();
            let contrib: Vec<f64> = match method {
                FusionMethod::Rrf { k } => (0..ranked.len())
                    .map(|i| 1.0 / (k + (i + 1) as f64))
                    .collect(),
                FusionMethod::MinMax => {
                    let (lo, hi) = ranked
                        .iter()
                        .fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), s| {
                            (l.min(s.score), h.max(s.score))
                        });
                    // All scores equal: every doc counts fully.
                    ranked
                        .iter()
                        .map(|s| {
                            if hi > lo {
                                (s.score - lo) / (hi - lo)
                            } else {
                                1.0
                            }
                        })
                        .collect()
                }
                FusionMethod::ZScore => {
                    let n = ranked.len() as f64;
                    let mean = ranked.iter().map(|s| s.score).sum::<f64>() / n;
                    let sd =
                        (ranked.iter().map(|s| (s.score - mean).powi(2)).sum::<f64>() / n).sqrt();
                    ranked
                        .iter()
                        .map(|s| if sd > 0.0 { (s.score - mean) / sd } else { 0.0 })
                        .collect()
                }
            };
            for (s, c) in ranked.iter().zip(contrib) {
                *acc.entry(s.doc.as_str()).or_default() += c;
            }
        }
    }
    let mut out = Run::new();
    for (qid, docs) in scores {
        for (doc, score) in docs {
            out.push(qid, doc, score);
        }
    }
    Ok(out.top_k(depth))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(pairs: &[(&str, f64)]) -> Run {
        let mut r = Run::new();
        for (d, s) in pairs {
            r.push("q", d, *s);
        }
        r
    }

    fn scores(r: &Run) -> Vec<(String, f64)> {
        let (_, ranked) = r.ranked().next().unwrap();
        ranked.iter().map(|s| (s.doc.clone(), s.score)).collect()
    }

    #[test]
    fn rrf_matches_hand_computation() {
        let a = run(&[("x", 3.0), ("y", 2.0)]);
        let b = run(&[("y", 9.0), ("z", 1.0)]);
        let f = fuse(&[&a, &b], FusionMethod::Rrf { k: 60.0 }, 10).unwrap();
        let s = scores(&f);
        assert_eq!(s[0], ("y".into(), 1.0 / 62.0 + 1.0 / 61.0));
        assert_eq!(s[1], ("x".into(), 1.0 / 61.0));
        assert_eq!(s[2], ("z".into(), 1.0 / 62.0));
    }

    #[test]
    fn score_normalisations() {
        let a = run(&[("x", 10.0), ("y", 0.0), ("z", 5.0)]);
        let b = run(&[("x", 1.0), ("y", 3.0)]);
        let mm = scores(&fuse(&[&a, &b], FusionMethod::MinMax, 10).unwrap());
        // x: 1 + 0, y: 0 + 1 — tied, so docid descending puts y first.
        assert_eq!(mm[0], ("y".into(), 1.0));
        assert_eq!(mm[1], ("x".into(), 1.0));
        assert_eq!(mm[2], ("z".into(), 0.5));
        let z = scores(&fuse(&[&a], FusionMethod::ZScore, 2).unwrap());
        assert_eq!(z.len(), 2);
        assert!((z[0].1 - 5.0 / (50.0f64 / 3.0).sqrt()).abs() < 1e-12);
        assert!(FusionMethod::parse("borda", 60.0).is_err());
    }
}
