//! A committed real case: all-MiniLM-L6-v2's run on the embedded SciFact sample,
//! with the values pytrec_eval (trec_eval) gives for it.

use rankbook_tests::{rankbook, text};

const QRELS: &str = "data/scifact-sample/qrels/test.tsv";
const RUN: &str = "data/scifact-sample/runs/all-MiniLM-L6-v2.trec";

#[test]
fn rankbook_eval_equals_trec_eval_values() {
    let o = rankbook(&[
        "eval",
        "--qrels",
        QRELS,
        "--run",
        RUN,
        "--json",
        "--measures",
        "nDCG@10,AP,RR,R@100,P@10,Bpref,Rprec",
    ]);
    let (stdout, stderr) = text(&o);
    assert!(o.status.success(), "{stderr}");
    let v: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    // Means printed by pytrec_eval 0.5 (trec_eval 9) for the same files.
    let expected = [
        ("nDCG@10", 0.9311324941007691),
        ("AP", 0.9095555555555555),
        ("RR", 0.9102222222222223),
        ("R@100", 1.0),
        ("P@10", 0.11999999999999991),
        ("Bpref", 1.0),
        ("Rprec", 0.8759999999999999),
    ];
    for (name, want) in expected {
        let got = v["measures"][name].as_f64().unwrap();
        assert!((got - want).abs() < 1e-12, "{name}: {got} != {want}");
    }
    assert_eq!(v["per_query"].as_object().unwrap().len(), 50);
    assert_eq!(v["per_query"]["1"]["nDCG@10"], 1.0);
}

#[test]
fn table_and_per_query_layouts() {
    let o = rankbook(&[
        "eval",
        "--qrels",
        QRELS,
        "--run",
        RUN,
        "--measures",
        "nDCG@10,R@100",
    ]);
    assert_eq!(
        text(&o).0,
        "measure  value\nnDCG@10  0.9311\nR@100    1.0000\nqueries  50\n"
    );
    let o = rankbook(&[
        "eval",
        "--qrels",
        QRELS,
        "--run",
        RUN,
        "--measures",
        "RR",
        "--per-query",
    ]);
    let out = text(&o).0;
    assert!(out.starts_with("RR\t1\t1.0000\n"), "{out}");
    assert!(out.ends_with("RR\tall\t0.9102\n"), "{out}");
}

#[test]
fn bad_measure_and_bad_file_are_clear() {
    let o = rankbook(&[
        "eval",
        "--qrels",
        QRELS,
        "--run",
        RUN,
        "--measures",
        "MRR@10",
    ]);
    assert!(
        text(&o)
            .1
            .contains("measure \"MRR@10\": unknown measure (known: AP, nDCG"),
        "{}",
        text(&o).1
    );
    let o = rankbook(&["eval", "--qrels", RUN, "--run", RUN]);
    assert!(
        text(&o)
            .1
            .contains("all-MiniLM-L6-v2.trec:1: expected 4 columns (qid 0 docid rel) or 3"),
        "{}",
        text(&o).1
    );
}
