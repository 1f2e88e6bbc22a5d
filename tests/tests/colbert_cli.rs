//! ColBERT from the command line: build one from an encoder, index a corpus
//! (exact MaxSim), search the index and in memory (the same run), encode
//! queries as token vectors, and refuse queries encoded by another model.

use rankbook_tests::{rankbook, repo_root, sample_data, text};

fn ok(args: &[&str]) -> String {
    let o = rankbook(args);
    let (out, err) = text(&o);
    assert!(o.status.success(), "rankbook {args:?} failed:\n{err}");
    out
}

#[test]
fn build_index_search_and_encode_a_colbert() {
    let d = tempfile::tempdir().unwrap();
    let p = |name: &str| d.path().join(name).display().to_string();
    let tiny = repo_root().join("stdlib/tests/fixtures/tiny/xlm-roberta-st");
    let sample = sample_data();
    let queries = sample.join("queries.jsonl");
    let (tiny, sample, queries) = (
        tiny.to_str().unwrap(),
        sample.to_str().unwrap(),
        queries.to_str().unwrap(),
    );
    let model = p("colbert");
    ok(&[
        "colbert", "--model", tiny, "--output", &model, "--dim", "16",
    ]);
    ok(&[
        "index",
        "--model",
        &model,
        "--corpus",
        sample,
        "--output",
        &p("idx"),
        "--quiet",
    ]);
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(d.path().join("idx/manifest.json")).unwrap())
            .unwrap();
    assert_eq!(manifest["factory"], "MaxSim");
    assert_eq!(manifest["dim"], 16);

    let search = |extra: &[&str], out: &str| {
        let mut args = vec![
            "search",
            "--queries",
            queries,
            "--split",
            "test",
            "--k",
            "10",
        ];
        args.extend_from_slice(extra);
        args.extend_from_slice(&["--output", out, "--quiet"]);
        ok(&args);
        std::fs::read_to_string(out).unwrap()
    };
    let from_index = search(&["--index", &p("idx")], &p("a.trec"));
    let in_memory = search(&["--model", &model, "--corpus", sample], &p("b.trec"));
    assert_eq!(from_index, in_memory);
    assert_eq!(from_index.lines().count(), 50 * 10);

    ok(&[
        "encode",
        "--model",
        &model,
        "--kind",
        "query",
        "--input",
        queries,
        "--output",
        &p("q.jsonl"),
        "--quiet",
    ]);
    let first: serde_json::Value = serde_json::from_str(
        std::fs::read_to_string(d.path().join("q.jsonl"))
            .unwrap()
            .lines()
            .next()
            .unwrap(),
    )
    .unwrap();
    let rows = first["embedding"].as_array().unwrap();
    assert_eq!((rows.len(), rows[0].as_array().unwrap().len()), (32, 16));

    // Re-ranking a run's top 10 by MaxSim.
    let first = sample_data().join("runs/all-MiniLM-L6-v2.trec");
    ok(&[
        "rerank",
        "--model",
        &model,
        "--run",
        first.to_str().unwrap(),
        "--corpus",
        sample,
        "--k",
        "10",
        "--output",
        &p("r.trec"),
        "--quiet",
    ]);
    let reranked = std::fs::read_to_string(d.path().join("r.trec")).unwrap();
    assert_eq!(reranked.lines().count(), 50 * 10);

    // Another ColBERT (another seed) must not search this index.
    let other = p("other");
    ok(&[
        "colbert", "--model", tiny, "--output", &other, "--dim", "16", "--seed", "1",
    ]);
    let o = rankbook(&[
        "search",
        "--index",
        &p("idx"),
        "--model",
        &other,
        "--queries",
        queries,
        "--output",
        &p("c.trec"),
    ]);
    let (_, err) = text(&o);
    assert!(!o.status.success());
    assert!(err.contains("index built with"), "{err}");
    assert!(!d.path().join("c.trec").exists(), "nothing written");
}
