//! `--stats-json FILE`: the machine-readable summary the benchmarks read
//! (counts, seconds per phase, peak RSS) instead of log lines meant for people.

use rankbook_tests::{rankbook, sample_data, text};

fn stats(args: &[&str]) -> serde_json::Value {
    let d = tempfile::tempdir().unwrap();
    let path = d.path().join("stats.json");
    let mut all: Vec<&str> = args.to_vec();
    all.extend(["--stats-json", path.to_str().unwrap(), "--quiet"]);
    let o = rankbook(&all);
    assert!(o.status.success(), "{}", text(&o).1);
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

#[test]
fn index_search_and_encode_write_their_summaries() {
    let data = sample_data();
    let d = tempfile::tempdir().unwrap();
    let index = d.path().join("bm25");
    let s = stats(&[
        "index",
        "--bm25",
        "--corpus",
        data.to_str().unwrap(),
        "--output",
        index.to_str().unwrap(),
    ]);
    assert_eq!(s["command"], "index");
    assert_eq!(s["counts"]["docs"], 201);
    assert!(s["seconds"]["index"].as_f64().unwrap() >= 0.0);
    assert!(s["seconds"]["total"].as_f64().unwrap() >= s["seconds"]["index"].as_f64().unwrap());
    assert!(s["peak_rss_mib"].as_f64().unwrap() > 1.0, "{s}");

    let run = d.path().join("run.trec");
    let s = stats(&[
        "search",
        "--index",
        index.to_str().unwrap(),
        "--queries",
        data.join("queries.jsonl").to_str().unwrap(),
        "--split",
        "test",
        "--output",
        run.to_str().unwrap(),
    ]);
    assert_eq!(s["command"], "search");
    assert_eq!(s["counts"]["queries"], 50);
    assert_eq!(s["counts"]["docs"], 201);
    assert!(s["seconds"]["search"].as_f64().is_some(), "{s}");

    let out = d.path().join("q.jsonl");
    let s = stats(&[
        "encode",
        "--model",
        "sentence-transformers/all-MiniLM-L6-v2",
        "--input",
        data.join("queries.jsonl").to_str().unwrap(),
        "--output",
        out.to_str().unwrap(),
        "--no-cache",
    ]);
    assert_eq!(s["command"], "encode");
    assert_eq!(s["counts"]["texts"], 50);
    assert!(s["counts"]["tokens"].as_u64().unwrap() > 50, "{s}");
    assert!(s["seconds"]["encode"].as_f64().unwrap() > 0.0, "{s}");
}
