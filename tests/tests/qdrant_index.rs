//! Qdrant index types through `rankbook index --factory qdrant...` (feature
//! `qdrant`). Against a server (`QDRANT_URL`, e.g. http://localhost:6334; none
//! can be installed on the machines these tests were written on, so they say
//! "skipped" without one): on the sample corpus the exact Qdrant index gives the
//! Flat run (dense, all-MiniLM-L6-v2) and the exact MaxSim run (a ColBERT) byte
//! for byte, its HNSW graph finds at least 95% of the exact top 10, a named
//! collection is not overwritten. Without a server: a clear error, nothing
//! written.
#![cfg(feature = "qdrant")]

use std::path::Path;

use rankbook_tests::{rankbook, recall_at_10, repo_root, sample_data, strip_run_tag, text};

const MODEL: &str = "sentence-transformers/all-MiniLM-L6-v2";

/// The server to test against, or None (and a note) without one.
fn server() -> Option<String> {
    match std::env::var("QDRANT_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            eprintln!("skipped: QDRANT_URL not set (no Qdrant server to test against)");
            None
        }
    }
}

fn run_ok(args: &[&str]) -> String {
    let o = rankbook(args);
    let (_, err) = text(&o);
    assert!(o.status.success(), "rankbook {args:?} failed:\n{err}");
    err
}

/// `rankbook index` of the sample corpus with `model` as `factory` into `out`:
/// whether it succeeded, and its stderr.
fn try_index(model: &str, out: &Path, factory: &str) -> (bool, String) {
    let sample = sample_data();
    let o = rankbook(&[
        "index",
        "--model",
        model,
        "--corpus",
        sample.to_str().unwrap(),
        "--output",
        out.to_str().unwrap(),
        "--factory",
        factory,
        "--quiet",
    ]);
    (o.status.success(), text(&o).1)
}

/// [`try_index`] that must succeed: its stderr.
fn index(model: &str, out: &Path, factory: &str) -> String {
    let (ok, err) = try_index(model, out, factory);
    assert!(ok, "index as {factory} failed:\n{err}");
    err
}

/// `rankbook search` of the sample's test queries over `idx`: the run (top 100).
fn search(idx: &Path, extra: &[&str]) -> String {
    let run = idx.with_extension("trec");
    let queries = sample_data().join("queries.jsonl");
    let mut args = vec![
        "search",
        "--index",
        idx.to_str().unwrap(),
        "--queries",
        queries.to_str().unwrap(),
        "--split",
        "test",
        "--k",
        "100",
        "--output",
        run.to_str().unwrap(),
        "--quiet",
    ];
    args.extend_from_slice(extra);
    run_ok(&args);
    std::fs::read_to_string(run).unwrap()
}

#[test]
fn without_a_server_indexing_fails_clearly_and_writes_nothing() {
    let d = tempfile::tempdir().unwrap();
    let out = d.path().join("idx");
    // Port 9 (discard): nothing listens there.
    let (ok, err) = try_index(MODEL, &out, "qdrant:url=http://127.0.0.1:9");
    assert!(!ok);
    assert!(
        err.contains("Qdrant at http://127.0.0.1:9: connecting")
            && err.contains("hint: start a Qdrant server"),
        "{err}"
    );
    assert!(!out.exists());
    // A malformed factory string is refused before anything is encoded.
    let (ok, err) = try_index(MODEL, &out, "qdrant:HNSW,m=0");
    assert!(
        !ok && err.contains("m=0 is not a positive integer"),
        "{err}"
    );
    assert!(!out.exists());
}

#[test]
fn dense_exact_equals_flat_and_hnsw_finds_the_exact_top_10() {
    let Some(url) = server() else {
        return;
    };
    let d = tempfile::tempdir().unwrap();
    let (flat, exact, hnsw) = (
        d.path().join("flat"),
        d.path().join("qdrant"),
        d.path().join("hnsw"),
    );
    index(MODEL, &flat, "Flat");
    let log = index(MODEL, &exact, "qdrant");
    assert!(log.contains("(384 dims, dot, qdrant) ->"), "{log}");
    index(MODEL, &hnsw, "qdrant:HNSW,m=16,ef_construct=100");
    let manifest = std::fs::read_to_string(hnsw.join("manifest.json")).unwrap();
    assert!(
        manifest.contains("\"factory\": \"qdrant:HNSW,m=16,ef_construct=100\""),
        "{manifest}"
    );
    let location = std::fs::read_to_string(exact.join("qdrant.json")).unwrap();
    assert!(
        location.contains(&url) && location.contains("rankbook-"),
        "{location}"
    );

    let want = search(&flat, &[]);
    assert_eq!(want.lines().count(), 50 * 100);
    assert_eq!(strip_run_tag(&search(&exact, &[])), strip_run_tag(&want));
    search(&hnsw, &["--ef-search", "128"]);
    let recall = recall_at_10(&flat.with_extension("trec"), &hnsw.with_extension("trec"));
    eprintln!("Qdrant HNSW recall@10 of exact: {recall:.4}");
    assert!(recall >= 0.95, "recall@10 {recall}");

    // The exact type has no graph to tune.
    let o = rankbook(&[
        "search",
        "--index",
        exact.to_str().unwrap(),
        "--queries",
        sample_data().join("queries.jsonl").to_str().unwrap(),
        "--output",
        d.path().join("x.trec").to_str().unwrap(),
        "--ef-search",
        "64",
    ]);
    assert!(
        text(&o).1.contains("has no parameter efSearch"),
        "{}",
        text(&o).1
    );

    // A named collection is the user's: building into it again is refused.
    let name = format!("rankbook-test-{}", std::process::id());
    let factory = format!("qdrant:collection={name}");
    index(MODEL, &d.path().join("named"), &factory);
    let (ok, err) = try_index(MODEL, &d.path().join("again"), &factory);
    assert!(!ok && err.contains("already exists"), "{err}");
    assert!(!d.path().join("again").exists());
}

#[test]
fn colbert_on_qdrant_equals_exact_maxsim() {
    let Some(_) = server() else {
        return;
    };
    let d = tempfile::tempdir().unwrap();
    let p = |name: &str| d.path().join(name);
    let tiny = repo_root().join("stdlib/tests/fixtures/tiny/xlm-roberta-st");
    let colbert = p("colbert");
    run_ok(&[
        "colbert",
        "--model",
        tiny.to_str().unwrap(),
        "--output",
        colbert.to_str().unwrap(),
        "--dim",
        "16",
        "--seed",
        "42",
    ]);
    let colbert = colbert.to_str().unwrap();
    index(colbert, &p("maxsim"), "MaxSim");
    index(colbert, &p("qdrant"), "qdrant");
    index(colbert, &p("hnsw"), "qdrant:HNSW,m=16");
    let manifest = std::fs::read_to_string(p("qdrant").join("manifest.json")).unwrap();
    assert!(manifest.contains("\"factory\": \"qdrant\""), "{manifest}");
    let want = search(&p("maxsim"), &[]);
    assert_eq!(
        strip_run_tag(&search(&p("qdrant"), &[])),
        strip_run_tag(&want)
    );
    search(&p("hnsw"), &["--ef-search", "128"]);
    let recall = recall_at_10(
        &p("maxsim").with_extension("trec"),
        &p("hnsw").with_extension("trec"),
    );
    eprintln!("Qdrant multi-vector HNSW recall@10 of exact MaxSim: {recall:.4}");
    assert!(recall >= 0.95, "recall@10 {recall}");
}
