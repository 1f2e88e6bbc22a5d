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

/// The tiny XLM-R encoder, the sample corpus and its queries.
fn inputs() -> (String, String, String) {
    let tiny = repo_root().join("stdlib/tests/fixtures/tiny/xlm-roberta-st");
    let sample = sample_data();
    let queries = sample.join("queries.jsonl");
    let s = |p: std::path::PathBuf| p.display().to_string();
    (s(tiny), s(sample), s(queries))
}

#[test]
fn build_index_search_and_encode_a_colbert() {
    let d = tempfile::tempdir().unwrap();
    let p = |name: &str| d.path().join(name).display().to_string();
    let (tiny, sample, queries) = inputs();
    let (tiny, sample, queries) = (tiny.as_str(), sample.as_str(), queries.as_str());
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

/// `fit --colbert` turns an encoder into a ColBERT and trains it with PyLate's
/// contrastive loss; validation's nDCG@10 is what searching with the saved
/// model gives; a saved ColBERT trains on as one.
#[test]
fn fit_turns_an_encoder_into_a_colbert_and_trains_it() {
    let d = tempfile::tempdir().unwrap();
    let p = |name: &str| d.path().join(name).display().to_string();
    let (tiny, sample, queries) = inputs();
    let (tiny, sample, queries) = (tiny.as_str(), sample.as_str(), queries.as_str());
    let fit = |model: &str, out: &str, extra: &[&str]| {
        let mut args = vec![
            "fit",
            "--model",
            model,
            "--data",
            sample,
            "--split",
            "test",
            "--batch-size",
            "8",
            "--max-steps",
            "3",
            "--lr",
            "1e-3",
            "--output",
            out,
            "--quiet",
        ];
        args.extend_from_slice(extra);
        let o = rankbook(&args);
        let (stdout, stderr) = text(&o);
        assert!(o.status.success(), "rankbook {args:?} failed:\n{stderr}");
        (stdout, stderr)
    };
    let (stdout, stderr) = fit(
        tiny,
        &p("run"),
        &["--colbert", "--colbert-dim", "16", "--eval-split", "test"],
    );
    assert_eq!(stdout.trim(), p("run/model"));
    assert!(
        stderr.contains("with the colbert-contrastive loss"),
        "{stderr}"
    );
    assert!(stderr.contains("trained 3 of 3 steps"), "{stderr}");
    // Both the transformer and the projection were trained and saved.
    let bytes = |dir: &str, file: &str| std::fs::read(d.path().join(dir).join(file)).unwrap();
    for file in ["model.safetensors", "1_Dense/model.safetensors"] {
        assert_ne!(
            bytes("run/model", file),
            bytes("run/colbert-start", file),
            "{file}"
        );
    }
    let history = rankbook::train::read_history(&d.path().join("run/history.jsonl")).unwrap();
    let Some(rankbook::train::HistoryRecord::Eval(e)) = history.last() else {
        panic!("no validation at the end: {history:?}");
    };
    let run = p("tuned.trec");
    ok(&[
        "search",
        "--model",
        &p("run/model"),
        "--corpus",
        sample,
        "--queries",
        queries,
        "--split",
        "test",
        "--k",
        "100",
        "--no-cache",
        "--quiet",
        "--output",
        &run,
    ]);
    let eval = ok(&[
        "eval",
        "--qrels",
        &format!("{sample}/qrels/test.tsv"),
        "--run",
        &run,
        "--measures",
        "nDCG@10",
        "--json",
    ]);
    let v: serde_json::Value = serde_json::from_str(&eval).unwrap();
    let searched = v["measures"]["nDCG@10"].as_f64().unwrap();
    assert!(
        (searched - e.measures["nDCG@10"]).abs() < 1e-4,
        "validation {} vs search {searched}",
        e.measures["nDCG@10"]
    );
    // A saved ColBERT trains as one; a single-vector loss is refused.
    let (_, stderr) = fit(&p("run/model"), &p("again"), &[]);
    assert!(
        stderr.contains("with the colbert-contrastive loss"),
        "{stderr}"
    );
    let o = rankbook(&[
        "fit",
        "--model",
        &p("run/model"),
        "--data",
        sample,
        "--split",
        "test",
        "--loss",
        "cached-mnrl",
        "--output",
        &p("bad"),
    ]);
    let (_, stderr) = text(&o);
    assert!(!o.status.success());
    assert!(stderr.contains("colbert-contrastive"), "{stderr}");
    assert!(
        !d.path().join("bad").exists(),
        "a refused run wrote its output"
    );
}
