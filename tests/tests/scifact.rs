//! Full SciFact (../shared/data/scifact) through the command line:
//! `rankbook search` with all-MiniLM-L6-v2 and exact dot-product search must
//! reproduce MTEB's nDCG@10 of 0.64508 and R@100 0.925; `rankbook eval` and
//! pytrec_eval agree on the run; a second search takes every vector from the
//! embedding cache.

use rankbook::data::Qrels;
use rankbook_tests::{pytrec_eval_values, rankbook, text, write_trec_qrels};

#[test]
fn minilm_reproduces_mteb_ndcg_at_10() {
    let Some(data) = rankbook_tests::shared_data() else {
        return;
    };
    let scifact = data.join("scifact");
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run.trec");
    let cache = dir.path().join("cache");
    let search = || {
        let o = rankbook(&[
            "search",
            "--model",
            "sentence-transformers/all-MiniLM-L6-v2",
            "--corpus",
            scifact.to_str().unwrap(),
            "--queries",
            scifact.join("queries.jsonl").to_str().unwrap(),
            "--split",
            "test",
            "--k",
            "100",
            "--output",
            run.to_str().unwrap(),
            "--cache-dir",
            cache.to_str().unwrap(),
            "--quiet",
        ]);
        let (_, stderr) = text(&o);
        assert!(o.status.success(), "{stderr}");
        eprint!("{stderr}");
        stderr
    };
    let first = search();
    assert!(first.contains("5183 texts, 0 from the cache"), "{first}");
    assert!(
        first.contains("searched 300 queries over 5183 docs"),
        "{first}"
    );

    let qrels_path = scifact.join("qrels/test.tsv");
    let o = rankbook(&[
        "eval",
        "--qrels",
        qrels_path.to_str().unwrap(),
        "--run",
        run.to_str().unwrap(),
        "--measures",
        "nDCG@10,R@100",
        "--json",
    ]);
    assert!(o.status.success(), "{}", text(&o).1);
    let got: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let ndcg = got["measures"]["nDCG@10"].as_f64().unwrap();
    let recall = got["measures"]["R@100"].as_f64().unwrap();
    eprintln!("SciFact test: nDCG@10 {ndcg:.5}, R@100 {recall:.5}");
    assert!((ndcg - 0.6451).abs() <= 0.001, "nDCG@10 {ndcg}");
    assert!((recall - 0.925).abs() <= 0.002, "R@100 {recall}");

    // pytrec_eval on the same run, query by query.
    let qrels = Qrels::read(&qrels_path).unwrap();
    let trec_qrels = dir.path().join("qrels.txt");
    write_trec_qrels(&qrels, &trec_qrels);
    let want = pytrec_eval_values(&trec_qrels, &run);
    for (name, mine) in [("nDCG@10", ndcg), ("R@100", recall)] {
        let theirs = want[name].values().sum::<f64>() / want[name].len() as f64;
        assert!((mine - theirs).abs() <= 1e-9, "{name}: {mine} != {theirs}");
        for (qid, v) in &got["per_query"].as_object().unwrap().clone() {
            let v = v[name].as_f64().unwrap();
            assert!((v - want[name][qid]).abs() <= 1e-9, "{name} {qid}");
        }
    }

    // Again: every vector from the cache, the same run.
    let before = std::fs::read(&run).unwrap();
    let second = search();
    assert!(
        second.contains("5183 texts, 5183 from the cache, 0 encoded"),
        "{second}"
    );
    assert!(std::fs::read(&run).unwrap() == before);
}
