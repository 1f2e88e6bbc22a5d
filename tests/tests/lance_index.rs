//! LanceDB index types through `rankbook index --factory lance...` (feature
//! `lancedb`), on full SciFact with all-MiniLM-L6-v2: the exact LanceDB index
//! gives the Flat index's run byte for byte (top 100, scores included); its ANN
//! index (IVF_HNSW_SQ) finds at least 95% of the exact top 10.
#![cfg(feature = "lancedb")]

use std::path::Path;

use rankbook_tests::{rankbook, recall_at_10, strip_run_tag, text};

const MODEL: &str = "sentence-transformers/all-MiniLM-L6-v2";

/// `rankbook index` of SciFact's corpus as `factory` into `out`.
fn index(scifact: &Path, out: &Path, cache: &Path, factory: &str) -> String {
    let o = rankbook(&[
        "index",
        "--model",
        MODEL,
        "--corpus",
        scifact.to_str().unwrap(),
        "--output",
        out.to_str().unwrap(),
        "--factory",
        factory,
        "--cache-dir",
        cache.to_str().unwrap(),
        "--quiet",
    ]);
    let (_, stderr) = text(&o);
    assert!(o.status.success(), "{factory}: {stderr}");
    stderr
}

/// `rankbook search` of SciFact's test queries over the index `idx`: the run.
fn search(scifact: &Path, idx: &Path, cache: &Path, extra: &[&str]) -> String {
    let run = idx.with_extension("trec");
    let queries = scifact.join("queries.jsonl");
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
        "--cache-dir",
        cache.to_str().unwrap(),
        "--quiet",
    ];
    args.extend_from_slice(extra);
    let o = rankbook(&args);
    assert!(o.status.success(), "{}", text(&o).1);
    std::fs::read_to_string(run).unwrap()
}

#[test]
fn lancedb_exact_equals_flat_and_its_ann_finds_the_exact_top_10() {
    let Some(data) = rankbook_tests::shared_data() else {
        return;
    };
    let scifact = data.join("scifact");
    let d = tempfile::tempdir().unwrap();
    let cache = d.path().join("cache");
    let (flat, exact, ann) = (
        d.path().join("flat"),
        d.path().join("lance"),
        d.path().join("ann"),
    );
    index(&scifact, &flat, &cache, "Flat");
    let log = index(&scifact, &exact, &cache, "lance");
    assert!(log.contains("(384 dims, dot, lance) ->"), "{log}");
    index(
        &scifact,
        &ann,
        &cache,
        "lance:IVF_HNSW_SQ,partitions=8,m=16",
    );
    let manifest = std::fs::read_to_string(ann.join("manifest.json")).unwrap();
    assert!(
        manifest.contains("\"factory\": \"lance:IVF_HNSW_SQ,partitions=8,m=16\""),
        "{manifest}"
    );
    assert!(manifest.contains("lance/docs.lance/"), "{manifest}");

    let want = search(&scifact, &flat, &cache, &[]);
    assert_eq!(want.lines().count(), 300 * 100);
    // The exact LanceDB index: the same top 100 and the same scores as Flat.
    let got = search(&scifact, &exact, &cache, &[]);
    assert_eq!(strip_run_tag(&got), strip_run_tag(&want));

    // ANN: recall@10 against the exact top 10, with LanceDB's search settings.
    // 5 of the 8 partitions (LanceDB's k-means is not seeded: about 0.97 over builds).
    search(
        &scifact,
        &ann,
        &cache,
        &["--nprobe", "5", "--ef-search", "100"],
    );
    let recall = recall_at_10(&flat.with_extension("trec"), &ann.with_extension("trec"));
    eprintln!("LanceDB IVF_HNSW_SQ recall@10 of exact: {recall:.4}");
    assert!(recall >= 0.95, "recall@10 {recall}");

    // Without search settings LanceDB's defaults apply; a setting the index
    // type lacks is refused.
    let o = rankbook(&[
        "search",
        "--index",
        exact.to_str().unwrap(),
        "--queries",
        scifact.join("queries.jsonl").to_str().unwrap(),
        "--split",
        "test",
        "--output",
        d.path().join("x.trec").to_str().unwrap(),
        "--nprobe",
        "4",
        "--cache-dir",
        cache.to_str().unwrap(),
    ]);
    assert!(!o.status.success());
    assert!(
        text(&o).1.contains("has no parameter nprobe"),
        "{}",
        text(&o).1
    );
}
