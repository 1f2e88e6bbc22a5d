//! `rankbook eval` with several runs (comparison) and `rankbook fuse`.

use std::path::Path;

use rankbook::data::Run;
use rankbook_tests::{rankbook, text};

const QRELS: &str = "data/scifact-sample/qrels/test.tsv";
const RUN: &str = "data/scifact-sample/runs/all-MiniLM-L6-v2.trec";

/// A worse system: the committed run with its top two results swapped on every query.
fn swapped_run(dir: &Path) -> std::path::PathBuf {
    let run = Run::read(&rankbook_tests::repo_root().join(RUN)).unwrap();
    let mut out = Run::new();
    for (qid, ranked) in run.ranked() {
        for (i, s) in ranked.iter().enumerate() {
            let score = match i {
                0 => ranked[1].score,
                1 => ranked[0].score,
                _ => s.score,
            };
            out.push(qid, &s.doc, score);
        }
    }
    let p = dir.join("swapped.trec");
    out.write(&p, "swapped").unwrap();
    p
}

fn mean_of(run: &str, measure: &str) -> f64 {
    let o = rankbook(&[
        "eval",
        "--qrels",
        QRELS,
        "--run",
        run,
        "--measures",
        measure,
        "--json",
    ]);
    let v: serde_json::Value = serde_json::from_str(&text(&o).0).unwrap();
    v["measures"][measure].as_f64().unwrap()
}

#[test]
fn comparison_reports_deltas_and_p_values() {
    let d = tempfile::tempdir().unwrap();
    let b = swapped_run(d.path());
    let b = b.to_str().unwrap();
    let o = rankbook(&[
        "eval",
        "--qrels",
        QRELS,
        "--run",
        RUN,
        "--run",
        b,
        "--measures",
        "RR,nDCG@10",
        "--test",
        "wilcoxon",
        "--json",
    ]);
    let (stdout, stderr) = text(&o);
    assert!(o.status.success(), "{stderr}");
    let v: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(v["baseline"], "all-MiniLM-L6-v2");
    let sys = &v["systems"][1];
    assert_eq!(sys["name"], "swapped");
    let delta = sys["delta"]["RR"].as_f64().unwrap();
    let expected = mean_of(b, "RR") - mean_of(RUN, "RR");
    assert!((delta - expected).abs() < 1e-12, "{delta} vs {expected}");
    assert!(delta < -0.3, "swapping the top two hurts RR: {delta}");
    let p = sys["p"]["RR"].as_f64().unwrap();
    assert!(p < 0.001, "{p}");
    assert_eq!(sys["per_query"]["RR"].as_array().unwrap().len(), 50);
    let ci = &v["systems"][0]["ci95"]["RR"];
    assert!(ci[0].as_f64().unwrap() <= 0.9102 && 0.9102 <= ci[1].as_f64().unwrap());

    let table = text(&rankbook(&[
        "eval",
        "--qrels",
        QRELS,
        "--run",
        RUN,
        "--run",
        b,
        "--measures",
        "RR",
    ]))
    .0;
    assert!(
        table.contains("(baseline)") && table.contains("▼"),
        "{table}"
    );
    let bad = rankbook(&[
        "eval",
        "--qrels",
        QRELS,
        "--run",
        RUN,
        "--run",
        b,
        "--baseline",
        "nope",
    ]);
    assert!(
        text(&bad)
            .1
            .contains("--baseline nope is none of the runs (all-MiniLM-L6-v2, swapped)"),
        "{}",
        text(&bad).1
    );
}

#[test]
fn fusing_a_run_with_itself_keeps_its_ranking() {
    let d = tempfile::tempdir().unwrap();
    for method in ["rrf", "minmax", "zscore"] {
        let out = d.path().join(format!("{method}.trec"));
        let o = rankbook(&[
            "fuse",
            "--run",
            RUN,
            "--run",
            RUN,
            "--method",
            method,
            "--output",
            out.to_str().unwrap(),
        ]);
        assert!(o.status.success(), "{}", text(&o).1);
        let fused = Run::read(&out).unwrap();
        let orig = Run::read(&rankbook_tests::repo_root().join(RUN)).unwrap();
        for ((q1, a), (q2, b)) in fused.ranked().zip(orig.ranked()) {
            assert_eq!(q1, q2);
            let da: Vec<&str> = a.iter().map(|s| s.doc.as_str()).collect();
            let db: Vec<&str> = b.iter().map(|s| s.doc.as_str()).collect();
            assert_eq!(da, db, "{method} query {q1}");
        }
    }
    let o = rankbook(&[
        "fuse", "--run", RUN, "--method", "borda", "--output", "x.trec",
    ]);
    assert!(text(&o).1.contains("unknown fusion method \"borda\""));
}
