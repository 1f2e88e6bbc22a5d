//! The evaluator against pytrec_eval (trec_eval's own code) on thousands of
//! generated cases: graded and negative qrels, ties, missing and unjudged queries,
//! long docids; every measure and every query equal to 1e-9, in both averaging modes.

use std::fmt::Write;

use rankbook::data::{Qrels, Run};
use rankbook::eval::{EvalOptions, evaluate, parse_measures};
use rankbook_tests::{pytrec_eval_values, repo_root, write_trec_qrels};

const MEASURES: &str = "nDCG@10,nDCG,AP,AP@100,RR,RR@10,P@10,R@100,Rprec,Bpref,Success@10,NumRet,NumRel,NumRelRet,P(rel=2)@10,R(rel=2)@100";

/// xorshift: deterministic cases without a dependency.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

fn doc_id(rng: &mut Rng, i: u64) -> String {
    match rng.below(4) {
        0 => format!("d{i}"),
        1 => format!("D-{i:06}"),
        2 => format!("doc_{i}_{}", "x".repeat(60)),
        _ => format!("{i}"),
    }
}

/// Writes one generated case; returns (qrels text, run text).
fn generate(seed: u64) -> (String, String) {
    let mut rng = Rng(seed.wrapping_mul(0x9E3779B97F4A7C15) | 1);
    let docs: Vec<String> = (0..150).map(|i| doc_id(&mut rng, i)).collect();
    let (mut qrels, mut run) = (String::new(), String::new());
    for q in 0..40u64 {
        let qid = format!("q{q}");
        let in_qrels = rng.below(10) != 0;
        let in_run = rng.below(8) != 0;
        if in_qrels {
            let n = 1 + rng.below(30);
            let mut used = std::collections::HashSet::new();
            for _ in 0..n {
                let d = &docs[rng.below(docs.len() as u64) as usize];
                if used.insert(d.clone()) {
                    let grade = rng.below(5) as i64 - 1; // -1..=3
                    let _ = writeln!(qrels, "{qid} 0 {d} {grade}");
                }
            }
        }
        if in_run {
            let n = 1 + rng.below(120);
            let mut used = std::collections::HashSet::new();
            for r in 0..n {
                let d = &docs[rng.below(docs.len() as u64) as usize];
                if used.insert(d.clone()) {
                    // Few distinct scores: many ties, broken by docid.
                    let score = rng.below(12) as f64 / 4.0 - 1.0;
                    let _ = writeln!(run, "{qid} Q0 {d} {r} {score} gen");
                }
            }
        }
    }
    (qrels, run)
}

#[test]
fn every_measure_and_query_equals_pytrec_eval() {
    let measures = parse_measures(MEASURES).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut compared = 0usize;
    for seed in 1..=60u64 {
        let (q, r) = generate(seed);
        let qp = dir.path().join(format!("{seed}.qrels"));
        let rp = dir.path().join(format!("{seed}.run"));
        std::fs::write(&qp, &q).unwrap();
        std::fs::write(&rp, &r).unwrap();
        let want = pytrec_eval_values(&qp, &rp);
        let qrels = Qrels::read(&qp).unwrap();
        let run = Run::read(&rp).unwrap();
        let got = evaluate(&qrels, &run, &measures, EvalOptions::default());
        for (i, m) in measures.iter().enumerate() {
            let w = &want[&m.to_string()];
            assert_eq!(
                w.len(),
                got.num_queries(),
                "seed {seed} {m}: query sets differ"
            );
            for (qid, vals) in &got.per_query {
                let expected = w[qid];
                assert!(
                    (vals[i] - expected).abs() <= 1e-9,
                    "seed {seed} {m} {qid}: {} != {expected}",
                    vals[i]
                );
                compared += 1;
            }
        }
        // trec_eval -c: every judged query; a missing one is an empty ranking.
        let complete = evaluate(
            &qrels,
            &run,
            &measures,
            EvalOptions {
                complete: true,
                ..Default::default()
            },
        );
        assert_eq!(complete.num_queries(), qrels.len());
        for (i, m) in measures.iter().enumerate() {
            let w = &want[&m.to_string()];
            let sum: f64 = qrels
                .iter()
                .map(|(qid, judged)| match w.get(qid) {
                    Some(v) => *v,
                    None if m.kind == rankbook::eval::MeasureKind::NumRel => {
                        judged.values().filter(|g| **g >= m.rel_level()).count() as f64
                    }
                    None => 0.0,
                })
                .sum();
            let expected = sum / qrels.len() as f64;
            assert!(
                (complete.means[i] - expected).abs() <= 1e-9,
                "seed {seed} {m} (complete)"
            );
        }
    }
    assert!(compared > 10_000, "compared {compared} values");
}

#[test]
fn real_run_every_query_equals_pytrec_eval() {
    // The committed all-MiniLM-L6-v2 run on the SciFact sample; qrels given to
    // pytrec_eval in TREC layout.
    let root = repo_root();
    let qrels = Qrels::read(&root.join("data/scifact-sample/qrels/test.tsv")).unwrap();
    let run_path = root.join("data/scifact-sample/runs/all-MiniLM-L6-v2.trec");
    let dir = tempfile::tempdir().unwrap();
    let trec_qrels = dir.path().join("qrels.txt");
    write_trec_qrels(&qrels, &trec_qrels);
    let want = pytrec_eval_values(&trec_qrels, &run_path);
    let measures = parse_measures(MEASURES).unwrap();
    let got = evaluate(
        &qrels,
        &Run::read(&run_path).unwrap(),
        &measures,
        EvalOptions::default(),
    );
    assert_eq!(got.num_queries(), 50);
    for (i, m) in measures.iter().enumerate() {
        for (qid, vals) in &got.per_query {
            let expected = want[&m.to_string()][qid];
            assert!(
                (vals[i] - expected).abs() <= 1e-9,
                "{m} {qid}: {} != {expected}",
                vals[i]
            );
        }
    }
}
