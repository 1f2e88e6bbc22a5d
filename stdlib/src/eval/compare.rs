//! Comparing systems: means with bootstrap intervals, deltas to a baseline,
//! paired p-values (corrected for multiple comparisons) and per-query deltas.

use std::collections::BTreeSet;
use std::fmt::Write;

use crate::data::{Qrels, Run};
use crate::error::{Error, Result};
use crate::eval::evaluate::{EvalOptions, Evaluation, evaluate};
use crate::eval::measure::Measure;
use crate::eval::stats::{Correction, Test, bootstrap_ci, paired_t, permutation, wilcoxon};

/// Settings of a comparison.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CompareOptions {
    /// The paired test.
    pub test: Test,
    /// Adjustment over the systems compared with the baseline (per measure).
    pub correction: Correction,
    /// Significance level for the markers.
    pub alpha: f64,
    /// Bootstrap resamples for confidence intervals.
    pub bootstrap: usize,
    /// Random sign flips for the permutation test.
    pub permutations: usize,
    /// Seed of every resampling.
    pub seed: u64,
}

impl Default for CompareOptions {
    fn default() -> Self {
        Self {
            test: Test::T,
            correction: Correction::Holm,
            alpha: 0.05,
            bootstrap: 1000,
            permutations: 10_000,
            seed: 42,
        }
    }
}

/// One system's numbers in a comparison (per measure).
#[derive(Debug, Clone, PartialEq)]
pub struct SystemScores {
    /// The system's name.
    pub name: String,
    /// Mean per measure over the common queries.
    pub means: Vec<f64>,
    /// 95% bootstrap interval of each mean.
    pub ci: Vec<(f64, f64)>,
    /// Mean difference to the baseline (0 for the baseline).
    pub delta: Vec<f64>,
    /// Adjusted p-value against the baseline (NaN for the baseline itself).
    pub p: Vec<f64>,
    /// Per measure, the per-query values in `Comparison::queries` order.
    pub per_query: Vec<Vec<f64>>,
}

/// Several systems evaluated on the same queries.
#[derive(Debug, Clone, PartialEq)]
pub struct Comparison {
    /// The measures.
    pub measures: Vec<Measure>,
    /// Queries every system was evaluated on, sorted.
    pub queries: Vec<String>,
    /// Index of the baseline in `systems`.
    pub baseline: usize,
    /// The systems, in the order given.
    pub systems: Vec<SystemScores>,
    /// Settings used.
    pub options: CompareOptions,
}

impl Comparison {
    /// Per-query `(qid, system - baseline)` for one system and measure (for plots).
    pub fn deltas(&self, system: usize, measure: usize) -> Vec<(&str, f64)> {
        let b = &self.systems[self.baseline].per_query[measure];
        let s = &self.systems[system].per_query[measure];
        self.queries
            .iter()
            .zip(s.iter().zip(b))
            .map(|(q, (x, y))| (q.as_str(), x - y))
            .collect()
    }

    /// The marker for a system and measure: ▲ significantly better, ▼ worse.
    pub fn marker(&self, system: usize, measure: usize) -> &'static str {
        let s = &self.systems[system];
        if s.p[measure] < self.options.alpha {
            if s.delta[measure] > 0.0 { "▲" } else { "▼" }
        } else {
            ""
        }
    }
}

fn mean(v: &[f64]) -> f64 {
    if v.is_empty() {
        f64::NAN
    } else {
        v.iter().sum::<f64>() / v.len() as f64
    }
}

/// Evaluates `runs` (name, run) and compares each with `runs[baseline]`.
pub fn compare(
    qrels: &Qrels,
    runs: &[(String, Run)],
    baseline: usize,
    measures: &[Measure],
    eval: EvalOptions,
    opts: CompareOptions,
) -> Result<Comparison> {
    if runs.len() < 2 {
        return Err(Error::InvalidArgument(
            "a comparison needs at least two runs".into(),
        ));
    }
    if baseline >= runs.len() {
        return Err(Error::InvalidArgument(format!(
            "baseline index {baseline} out of range"
        )));
    }
    let evals: Vec<Evaluation> = runs
        .iter()
        .map(|(_, r)| evaluate(qrels, r, measures, eval))
        .collect();
    let mut common: BTreeSet<&String> = evals[0].per_query.keys().collect();
    for e in &evals[1..] {
        common.retain(|q| e.per_query.contains_key(*q));
    }
    if common.is_empty() {
        return Err(Error::InvalidArgument(
            "the runs share no judged query".into(),
        ));
    }
    let queries: Vec<String> = common.into_iter().cloned().collect();
    let mut systems: Vec<SystemScores> = evals
        .iter()
        .zip(runs)
        .enumerate()
        .map(|(si, (e, (name, _)))| {
            let per_query: Vec<Vec<f64>> = (0..measures.len())
                .map(|m| queries.iter().map(|q| e.per_query[q][m]).collect())
                .collect();
            let seed = opts.seed.wrapping_add(si as u64);
            SystemScores {
                name: name.clone(),
                means: per_query.iter().map(|v| mean(v)).collect(),
                ci: per_query
                    .iter()
                    .map(|v| bootstrap_ci(v, opts.bootstrap, seed))
                    .collect(),
                delta: vec![0.0; measures.len()],
                p: vec![f64::NAN; measures.len()],
                per_query,
            }
        })
        .collect();
    for m in 0..measures.len() {
        let base = systems[baseline].per_query[m].clone();
        let others: Vec<usize> = (0..systems.len()).filter(|&s| s != baseline).collect();
        let raw: Vec<f64> = others
            .iter()
            .map(|&s| {
                let v = &systems[s].per_query[m];
                match opts.test {
                    Test::T => paired_t(v, &base),
                    Test::Wilcoxon => wilcoxon(v, &base),
                    Test::Permutation => permutation(v, &base, opts.permutations, opts.seed),
                }
            })
            .collect();
        // NaN (identical systems) stays NaN and takes no part in the correction.
        let finite: Vec<f64> = raw.iter().copied().filter(|p| p.is_finite()).collect();
        let mut adjusted = opts.correction.adjust(&finite).into_iter();
        for (&s, p) in others.iter().zip(&raw) {
            systems[s].p[m] = if p.is_finite() {
                adjusted.next().unwrap_or(f64::NAN)
            } else {
                f64::NAN
            };
            systems[s].delta[m] = systems[s].means[m] - systems[baseline].means[m];
        }
    }
    Ok(Comparison {
        measures: measures.to_vec(),
        queries,
        baseline,
        systems,
        options: opts,
    })
}

pub(crate) fn p_text(p: f64) -> String {
    if p.is_nan() {
        "-".into()
    } else if p < 1e-4 {
        format!("{p:.1e}")
    } else {
        format!("{p:.4}")
    }
}

/// A plain table: one row per system; mean, delta, p and marker per measure.
pub fn format_comparison(c: &Comparison) -> String {
    let name_w = c
        .systems
        .iter()
        .map(|s| s.name.chars().count())
        .max()
        .unwrap_or(6)
        .max(6);
    let mut s = String::new();
    let _ = write!(s, "{:<name_w$}", "system");
    for m in &c.measures {
        let _ = write!(s, "  {:<28}", m.to_string());
    }
    s.push('\n');
    for (i, sys) in c.systems.iter().enumerate() {
        let _ = write!(s, "{:<name_w$}", sys.name);
        for m in 0..c.measures.len() {
            let cell = if i == c.baseline {
                format!("{:.4} (baseline)", sys.means[m])
            } else {
                format!(
                    "{:.4} {:+.4} p={} {}",
                    sys.means[m],
                    sys.delta[m],
                    p_text(sys.p[m]),
                    c.marker(i, m)
                )
            };
            let _ = write!(s, "  {:<28}", cell);
        }
        s.push('\n');
    }
    let _ = writeln!(
        s,
        "{} queries; {:?} test, {:?} correction, ▲/▼ significant at {}",
        c.queries.len(),
        c.options.test,
        c.options.correction,
        c.options.alpha
    );
    s
}

/// JSON: per system the means, intervals, deltas, p-values and per-query values.
pub fn format_comparison_json(c: &Comparison) -> String {
    let names: Vec<String> = c.measures.iter().map(|m| m.to_string()).collect();
    let systems: Vec<serde_json::Value> = c
        .systems
        .iter()
        .map(|s| {
            let by_measure = |f: &dyn Fn(usize) -> serde_json::Value| -> serde_json::Value {
                names.iter().enumerate().map(|(i, n)| (n.clone(), f(i))).collect::<serde_json::Map<_, _>>().into()
            };
            let num = |x: f64| if x.is_finite() { x.into() } else { serde_json::Value::Null };
            serde_json::json!({
                "name": s.name,
                "means": by_measure(&|i| num(s.means[i])),
                "ci95": by_measure(&|i| serde_json::json!([num(s.ci[i].0), num(s.ci[i].1)])),
                "delta": by_measure(&|i| num(s.delta[i])),
                "p": by_measure(&|i| num(s.p[i])),
                "per_query": by_measure(&|i| s.per_query[i].iter().map(|x| num(*x)).collect::<Vec<_>>().into()),
            })
        })
        .collect();
    serde_json::json!({
        "baseline": c.systems[c.baseline].name,
        "queries": c.queries,
        "systems": systems,
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval::measure::parse_measures;

    fn runs() -> (Qrels, Vec<(String, Run)>) {
        let mut qrels = Qrels::new();
        let (mut a, mut b) = (Run::new(), Run::new());
        for q in 0..30 {
            let qid = format!("q{q}");
            qrels.insert(&qid, "rel", 1);
            // a finds the relevant doc at rank 1 always; b only on even queries.
            a.push(&qid, "rel", 2.0);
            a.push(&qid, "x", 1.0);
            b.push(&qid, "rel", if q % 2 == 0 { 2.0 } else { 0.5 });
            b.push(&qid, "x", 1.0);
        }
        (qrels, vec![("a".into(), a), ("b".into(), b)])
    }

    #[test]
    fn deltas_p_values_and_markers() {
        let (qrels, runs) = runs();
        let ms = parse_measures("RR").unwrap();
        let c = compare(
            &qrels,
            &runs,
            0,
            &ms,
            EvalOptions::default(),
            CompareOptions::default(),
        )
        .unwrap();
        assert_eq!(c.queries.len(), 30);
        assert_eq!(c.systems[0].means[0], 1.0);
        assert_eq!(c.systems[1].means[0], 0.75);
        assert_eq!(c.systems[1].delta[0], -0.25);
        assert!(c.systems[1].p[0] < 0.001, "{}", c.systems[1].p[0]);
        assert_eq!(c.marker(1, 0), "▼");
        let d = c.deltas(1, 0);
        assert_eq!(d.iter().filter(|(_, x)| *x == -0.5).count(), 15);
        assert!(format_comparison(&c).contains("0.7500 -0.2500 p="));
        let j: serde_json::Value = serde_json::from_str(&format_comparison_json(&c)).unwrap();
        assert_eq!(j["systems"][1]["delta"]["RR"], -0.25);
        assert!(crate::present::format_comparison_html(&c).contains("▼"));
    }

    #[test]
    fn needs_two_runs() {
        let (qrels, runs) = runs();
        let ms = parse_measures("RR").unwrap();
        assert!(
            compare(
                &qrels,
                &runs[..1],
                0,
                &ms,
                EvalOptions::default(),
                CompareOptions::default()
            )
            .is_err()
        );
    }
}
