//! `rankbook index` / `search` / `cache` on the embedded SciFact sample: an index
//! directory searches exactly like the in-memory path, the cache serves a second
//! run, and stale, altered or wrong inputs are refused with clear errors.

use std::path::Path;

use rankbook_tests::{rankbook, text};

const MODEL: &str = "sentence-transformers/all-MiniLM-L6-v2";
const SAMPLE: &str = "data/scifact-sample";

fn ok(args: &[&str]) -> String {
    let o = rankbook(args);
    let (_, stderr) = text(&o);
    assert!(o.status.success(), "rankbook {args:?} failed:\n{stderr}");
    stderr
}

fn fails(args: &[&str]) -> String {
    let o = rankbook(args);
    let (_, stderr) = text(&o);
    assert!(!o.status.success(), "rankbook {args:?} should fail");
    assert!(!stderr.contains("panicked"), "{stderr}");
    stderr
}

/// Same lines (qid, doc, rank) in the same order, scores within `tol`; reports
/// the first difference only.
fn same_ranking(a: &str, b: &str, tol: f64) {
    assert_eq!(a.lines().count(), b.lines().count());
    for (n, (x, y)) in a.lines().zip(b.lines()).enumerate() {
        let (fx, fy): (Vec<&str>, Vec<&str>) = (x.split(' ').collect(), y.split(' ').collect());
        let close = (fx[4].parse::<f64>().unwrap() - fy[4].parse::<f64>().unwrap()).abs() <= tol;
        assert!(
            fx[..4] == fy[..4] && close,
            "line {}: {x:?} vs {y:?}",
            n + 1
        );
    }
}

#[test]
fn index_search_and_cache_on_the_sample() {
    let d = tempfile::tempdir().unwrap();
    let p = |name: &str| d.path().join(name).to_str().unwrap().to_string();
    let cache = p("cache");
    let queries = format!("{SAMPLE}/queries.jsonl");
    let search_memory = |out: &str| {
        ok(&[
            "search",
            "--model",
            MODEL,
            "--corpus",
            SAMPLE,
            "--queries",
            &queries,
            "--split",
            "test",
            "--k",
            "100",
            "--output",
            out,
            "--cache-dir",
            &cache,
            "--quiet",
        ])
    };

    // In memory, twice: the second run takes every vector from the cache.
    let first = search_memory(&p("memory.trec"));
    assert!(
        first.contains("corpus: 201 texts, 0 from the cache, 201 encoded"),
        "{first}"
    );
    let second = search_memory(&p("memory2.trec"));
    assert!(
        second.contains("corpus: 201 texts, 201 from the cache, 0 encoded"),
        "{second}"
    );
    let run = std::fs::read_to_string(p("memory.trec")).unwrap();
    assert!(run == std::fs::read_to_string(p("memory2.trec")).unwrap());
    assert_eq!(run.lines().count(), 50 * 100);
    // The committed real run was made the same way (with a plain dot-product
    // loop; the block products round the last digit differently).
    let committed = std::fs::read_to_string(
        rankbook_tests::repo_root()
            .join(SAMPLE)
            .join("runs/all-MiniLM-L6-v2.trec"),
    )
    .unwrap();
    same_ranking(&run, &committed, 1e-6);
    let info = text(&rankbook(&["cache", "info", "--cache-dir", &cache])).0;
    assert!(info.contains("for 1 model settings"), "{info}");

    // Through an index directory: identical run.
    let idx = p("idx");
    ok(&[
        "index",
        "--model",
        MODEL,
        "--corpus",
        SAMPLE,
        "--output",
        &idx,
        "--cache-dir",
        &cache,
        "--quiet",
    ]);
    ok(&[
        "search",
        "--index",
        &idx,
        "--queries",
        &queries,
        "--split",
        "test",
        "--output",
        &p("index.trec"),
        "--cache-dir",
        &cache,
        "--quiet",
    ]);
    assert!(run == std::fs::read_to_string(p("index.trec")).unwrap());

    // Queries encoded differently from the docs: refused.
    let e = fails(&[
        "search",
        "--index",
        &idx,
        "--model",
        MODEL,
        "--max-length",
        "128",
        "--queries",
        &queries,
        "--output",
        &p("x.trec"),
    ]);
    assert!(
        e.contains("index built with sentence-transformers/all-MiniLM-L6-v2 (weights"),
        "{e}"
    );
    assert!(
        e.contains("max length 256") && e.contains("max length 128"),
        "{e}"
    );
    assert!(!Path::new(&p("x.trec")).exists());

    // Another metric than the index's: refused.
    let e = fails(&[
        "search",
        "--index",
        &idx,
        "--metric",
        "l2",
        "--queries",
        &queries,
        "--output",
        &p("m.trec"),
        "--cache-dir",
        &cache,
    ]);
    assert!(
        e.contains("the index compares vectors by dot, not l2"),
        "{e}"
    );

    // An altered vector file: refused by its checksum, nothing written.
    let vectors = Path::new(&idx).join("vectors.arrow");
    let mut bytes = std::fs::read(&vectors).unwrap();
    let at = bytes.len() / 2;
    bytes[at] ^= 0x10;
    std::fs::write(&vectors, bytes).unwrap();
    let e = fails(&[
        "search",
        "--index",
        &idx,
        "--queries",
        &queries,
        "--output",
        &p("y.trec"),
    ]);
    assert!(
        e.contains("vectors.arrow does not match its checksum"),
        "{e}"
    );
    assert!(!Path::new(&p("y.trec")).exists());

    // Clearing the cache empties it.
    let cleared = text(&rankbook(&["cache", "clear", "--cache-dir", &cache])).0;
    assert!(cleared.contains("cleared 2 files"), "{cleared}");
}

#[test]
fn bad_input_is_named() {
    let d = tempfile::tempdir().unwrap();
    let p = |name: &str| d.path().join(name).to_str().unwrap().to_string();
    let corpus = p("c.jsonl");
    std::fs::write(
        &corpus,
        "{\"_id\": \"a\", \"text\": \"x\"}\n{\"_id\": \"a\", \"text\": \"y\"}\n",
    )
    .unwrap();
    let out = p("i");
    let index_args = [
        "index", "--model", MODEL, "--corpus", &corpus, "--output", &out,
    ];
    let e = fails(&index_args);
    assert!(
        e.contains("c.jsonl:2: duplicate id \"a\" (first at line 1)"),
        "{e}"
    );
    std::fs::write(&corpus, "").unwrap();
    let e = fails(&index_args);
    assert!(e.contains("empty corpus"), "{e}");
    // Without the faiss feature, its index types are a clear error.
    if cfg!(not(feature = "faiss")) {
        let e = fails(&[
            "index",
            "--model",
            MODEL,
            "--corpus",
            SAMPLE,
            "--output",
            &p("i"),
            "--factory",
            "HNSW32",
        ]);
        assert!(e.contains("index type \"HNSW32\" is not available"), "{e}");
    }
    assert!(!Path::new(&p("i")).exists());
    // An output folder that is not an index is never replaced.
    std::fs::create_dir(p("mine")).unwrap();
    std::fs::write(d.path().join("mine/notes.txt"), "keep me").unwrap();
    let e = fails(&[
        "index",
        "--model",
        MODEL,
        "--corpus",
        SAMPLE,
        "--output",
        &p("mine"),
        "--no-cache",
        "--quiet",
    ]);
    assert!(
        e.contains("is not a rankbook index; refusing to replace it"),
        "{e}"
    );
    assert!(d.path().join("mine/notes.txt").exists());
    let e = fails(&[
        "search",
        "--index",
        &p("mine"),
        "--queries",
        &corpus,
        "--output",
        &p("r"),
    ]);
    assert!(
        e.contains("no queries") || e.contains("not a rankbook index"),
        "{e}"
    );
}

#[test]
fn two_processes_fill_one_cache_at_once() {
    let d = tempfile::tempdir().unwrap();
    let cache = d.path().join("cache");
    let corpus = rankbook_tests::repo_root()
        .join(SAMPLE)
        .join("corpus.jsonl");
    let encode = |out: &str| {
        std::process::Command::new(rankbook_tests::rankbook_bin())
            .args(["encode", "--model", MODEL, "--input"])
            .arg(&corpus)
            .arg("--output")
            .arg(d.path().join(out))
            .arg("--cache-dir")
            .arg(&cache)
            .args(["--quiet", "--threads", "1"])
            .spawn()
            .unwrap()
    };
    let (mut a, mut b) = (encode("a.npy"), encode("b.npy"));
    assert!(a.wait().unwrap().success() && b.wait().unwrap().success());
    // A third run finds every vector, none damaged, and the same numbers.
    let o = rankbook(&[
        "encode",
        "--model",
        MODEL,
        "--input",
        corpus.to_str().unwrap(),
        "--output",
        d.path().join("c.npy").to_str().unwrap(),
        "--cache-dir",
        cache.to_str().unwrap(),
        "--quiet",
    ]);
    let (_, stderr) = text(&o);
    assert!(stderr.contains("(201 from the cache)"), "{stderr}");
    let read = |n: &str| std::fs::read(d.path().join(n)).unwrap();
    assert!(read("a.npy") == read("c.npy") && read("b.npy") == read("c.npy"));
}

/// An index built in int8 searches in int8 without being told, refuses f32
/// queries, and the cache keeps int8 vectors apart from f32 ones.
#[test]
fn an_int8_index_keeps_its_precision() {
    if rankbook::compute::Precision::Int8
        .check_supported()
        .is_err()
    {
        eprintln!("skipped: this CPU has no AVX512-VNNI");
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let p = |name: &str| d.path().join(name).to_str().unwrap().to_string();
    let (cache, idx) = (p("cache"), p("idx"));
    let queries = format!("{SAMPLE}/queries.jsonl");
    let index = |precision: &str, out: &str| {
        ok(&[
            "index",
            "--model",
            MODEL,
            "--corpus",
            SAMPLE,
            "--output",
            out,
            "--cache-dir",
            &cache,
            "--quiet",
            "--precision",
            precision,
        ])
    };
    let built = index("int8", &idx);
    assert!(built.contains("201 encoded"), "{built}");
    let search = |extra: &[&str], out: &str| {
        let mut args = vec![
            "search",
            "--index",
            &idx,
            "--queries",
            &queries,
            "--split",
            "test",
            "--output",
            out,
            "--cache-dir",
            &cache,
            "--quiet",
        ];
        args.extend_from_slice(extra);
        rankbook(&args)
    };
    let o = search(&[], &p("int8.trec"));
    assert!(o.status.success(), "{}", text(&o).1);
    let o = search(&["--precision", "int8"], &p("int8b.trec"));
    assert!(o.status.success(), "{}", text(&o).1);
    assert_eq!(
        std::fs::read_to_string(p("int8.trec")).unwrap(),
        std::fs::read_to_string(p("int8b.trec")).unwrap()
    );
    let e = text(&search(&["--precision", "f32"], &p("f32.trec"))).1;
    assert!(
        e.contains("precision int8") && e.contains("queries encoded with"),
        "{e}"
    );
    assert!(!e.contains("panicked"), "{e}");
    // int8 vectors are not f32 vectors: an f32 index encodes everything again.
    let f32_built = index("f32", &p("idx32"));
    assert!(
        f32_built.contains("0 from the cache, 201 encoded"),
        "{f32_built}"
    );
    let e = fails(&[
        "fit",
        "--model",
        MODEL,
        "--data",
        SAMPLE,
        "--output",
        &p("m"),
        "--precision",
        "int8",
    ]);
    assert!(e.contains("fit trains in f32"), "{e}");
}
