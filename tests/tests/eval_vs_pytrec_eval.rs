//! The evaluator against pytrec_eval (trec_eval's own code) on thousands of
//! generated cases: graded and negative qrels, ties, missing and unjudged queries,
//! long docids; every measure and every query equal to 1e-9, in both averaging modes
//! (ERR to gdeval's 5 decimals; IPrec and 11pt_avg where trec_eval 9, which
//! pytrec_eval wraps, and trec_eval 10, which rankbook follows, agree).

use std::fmt::Write;

use rankbook::data::{Qrels, Run};
use rankbook::eval::{EvalOptions, evaluate, parse_measures};
use rankbook_tests::{pytrec_eval_values, repo_root, write_trec_qrels};

const MEASURES: &str = "nDCG@10,nDCG,AP,AP@100,RR,RR@10,P@10,R@100,Rprec,Bpref,Success@10,NumRet,NumRel,NumRelRet,P(rel=2)@10,R(rel=2)@100,\
IPrec@0,IPrec@0.1,IPrec@0.5,IPrec@1,infAP,infAP(rel=2),SetP,SetP(rel=2),SetR,SetF,SetAP,NumQ,gm_map,11pt_avg,Rprec_mult_0.20,Rprec_mult_1.40,ERR@10,\
RBP(p=0.8,rel=1),RBP(p=0.5,rel=1),RBP(p=0.8,rel=2)";

/// Whether trec_eval 9 (pytrec_eval) and trec_eval 10 (rankbook) agree on a
/// query with `num_rel` relevant docs: 10 rounds the number of relevant docs a
/// recall level needs, 9 added 0.9 and truncated.
fn same_in_trec_eval_9(m: &rankbook::eval::Measure, num_rel: usize) -> bool {
    use rankbook::eval::MeasureKind;
    let agree = |x: f64| {
        let r = x * num_rel as f64;
        r.round() == (r + 0.9).floor()
    };
    match m.kind {
        MeasureKind::IPrec => agree(m.param_value()),
        MeasureKind::ElevenPtAvg => (0..=10).all(|i| agree(i as f64 / 10.0)),
        _ => true,
    }
}

/// gdeval reports only queries with a relevant doc, to 5 decimals.
fn gdeval_measure(m: &rankbook::eval::Measure) -> bool {
    m.kind == rankbook::eval::MeasureKind::ERR
}

fn num_rel(qrels: &Qrels, qid: &str, m: &rankbook::eval::Measure) -> usize {
    qrels
        .get(qid)
        .map_or(0, |j| j.values().filter(|g| **g >= m.rel_level()).count())
}

/// Checks rankbook's value of `m` for `qid` against the reference values `want`
/// of that measure; false when the references differ by definition (see above).
fn check(
    case: &str,
    m: &rankbook::eval::Measure,
    qid: &str,
    got: f64,
    want: &std::collections::BTreeMap<String, f64>,
    num_rel: usize,
) -> bool {
    if !same_in_trec_eval_9(m, num_rel) {
        return false;
    }
    let Some(&expected) = want.get(qid) else {
        assert!(gdeval_measure(m), "{case} {m} {qid}: no reference value");
        assert_eq!(got, 0.0, "{case} {m} {qid}: no relevant doc");
        return false;
    };
    let tolerance = if gdeval_measure(m) { 5.000001e-6 } else { 1e-9 };
    assert!(
        (got - expected).abs() <= tolerance,
        "{case} {m} {qid}: {got} != {expected}"
    );
    true
}

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
            // gdeval reports fewer queries (those with a relevant doc), cwl_eval
            // (RBP) more (every query of the run).
            if !gdeval_measure(m) && m.kind != rankbook::eval::MeasureKind::RBP {
                assert_eq!(
                    w.len(),
                    got.num_queries(),
                    "seed {seed} {m}: query sets differ"
                );
            }
            for (qid, vals) in &got.per_query {
                let case = format!("seed {seed}");
                if check(&case, m, qid, vals[i], w, num_rel(&qrels, qid, m)) {
                    compared += 1;
                }
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
            use rankbook::eval::MeasureKind;
            if qrels
                .query_ids()
                .any(|q| !same_in_trec_eval_9(m, num_rel(&qrels, q, m)))
            {
                continue;
            }
            let w = &want[&m.to_string()];
            let values = qrels.iter().map(|(qid, judged)| match w.get(qid) {
                Some(v) => *v,
                None if m.kind == MeasureKind::NumRel => {
                    judged.values().filter(|g| **g >= m.rel_level()).count() as f64
                }
                None if m.kind == MeasureKind::NumQ => 1.0,
                None => 0.0,
            });
            // Counts are summed and gm_map is geometric, as in trec_eval's `all` line.
            let expected = m.aggregate().of(values);
            let tolerance = if gdeval_measure(m) { 5.000001e-6 } else { 1e-9 };
            assert!(
                (complete.means[i] - expected).abs() <= tolerance,
                "seed {seed} {m} (complete): {} != {expected}",
                complete.means[i]
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
            let w = &want[&m.to_string()];
            check("sample", m, qid, vals[i], w, num_rel(&qrels, qid, m));
        }
    }
}

/// Diversity qrels (`qid subtopic docid rel`, ndeval's numeric ids) and a run
/// with distinct scores (ndeval ranks by the run's order, not by doc id on ties).
fn generate_diversity(seed: u64) -> (String, String) {
    let mut rng = Rng(seed.wrapping_mul(0x2545F4914F6CDD1D) | 1);
    let (mut qrels, mut run) = (String::new(), String::new());
    for q in 1..=25u64 {
        let subtopics = 1 + rng.below(5);
        for s in 1..=subtopics {
            for d in 0..40u64 {
                if rng.below(4) == 0 {
                    let grade = rng.below(3); // 0..=2
                    let _ = writeln!(qrels, "{q} {s} d{d} {grade}");
                }
            }
        }
        let n = rng.below(30);
        let mut used = std::collections::HashSet::new();
        for r in 0..n {
            let d = rng.below(50);
            if used.insert(d) {
                let _ = writeln!(run, "{q} Q0 d{d} {} {} gen", r + 1, 100.0 - r as f64);
            }
        }
    }
    (qrels, run)
}

#[test]
fn alpha_ndcg_equals_ndeval() {
    let dir = tempfile::tempdir().unwrap();
    let mut compared = 0;
    for seed in 1..=10u64 {
        let (q, r) = generate_diversity(seed);
        let qp = dir.path().join(format!("{seed}.qrels"));
        let rp = dir.path().join(format!("{seed}.run"));
        std::fs::write(&qp, &q).unwrap();
        std::fs::write(&rp, &r).unwrap();
        let o = std::process::Command::new(rankbook_tests::python())
            .arg(repo_root().join("tests/python/ndeval_values.py"))
            .args([&qp, &rp])
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", rankbook_tests::text(&o).1);
        let want: std::collections::BTreeMap<String, std::collections::BTreeMap<String, f64>> =
            serde_json::from_slice(&o.stdout).unwrap();
        let qrels = Qrels::read(&qp).unwrap();
        let names: Vec<&str> = want.keys().map(String::as_str).collect();
        let measures = parse_measures(&names.join(",")).unwrap();
        let got = evaluate(
            &qrels,
            &Run::read(&rp).unwrap(),
            &measures,
            EvalOptions::default(),
        );
        for (i, m) in measures.iter().enumerate() {
            for (qid, w) in &want[&m.to_string()] {
                let Some(values) = got.per_query.get(qid) else {
                    // A query the run does not retrieve for: 0, not averaged here.
                    assert_eq!(*w, 0.0, "seed {seed} {m} {qid}");
                    continue;
                };
                // ndeval prints 6 decimals.
                let g = values[i];
                assert!((g - w).abs() <= 5.1e-7, "seed {seed} {m} {qid}: {g} != {w}");
                compared += 1;
            }
        }
    }
    assert!(compared > 500, "compared {compared}");
}
