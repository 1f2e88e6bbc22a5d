//! Sharded work: N processes (`--shard i/N`, or RANK/WORLD_SIZE) each encode,
//! index, search, mine or evaluate a slice of the SciFact sample; a set of
//! index parts searches as the unsharded index, and `rankbook merge` puts parts
//! back together byte for byte as the unsharded output, refusing an
//! incomplete, repeated or changed set of parts.

use std::path::{Path, PathBuf};
use std::process::Command;

use rankbook_tests::{rankbook, rankbook_bin, repo_root, sample_data, test_cache_dir, text};

fn model() -> String {
    repo_root()
        .join("stdlib/tests/fixtures/tiny/modernbert-st")
        .to_string_lossy()
        .into_owned()
}

fn encode_command(output: &Path) -> Command {
    let mut c = Command::new(rankbook_bin());
    c.args(["encode", "--model", &model(), "--input"])
        .arg(sample_data().join("corpus.jsonl"))
        .arg("--output")
        .arg(output)
        .args(["--max-length", "64", "--quiet", "--no-cache"])
        .env("RANKBOOK_CACHE_DIR", test_cache_dir())
        .env_remove("RANK")
        .env_remove("WORLD_SIZE");
    c
}

fn ok(o: &std::process::Output) -> String {
    let (out, err) = text(o);
    assert!(o.status.success(), "{out}\n{err}");
    err
}

/// Runs N encode shard processes at once; their parts.
fn sharded(dir: &Path, n: usize) -> Vec<PathBuf> {
    let parts: Vec<PathBuf> = (0..n).map(|i| dir.join(format!("part{i}.arrow"))).collect();
    run_shards(n, |i| encode_command(&parts[i]));
    parts
}

fn merge(output: &Path, parts: &[PathBuf]) -> std::process::Output {
    let mut args = vec![
        "merge".to_string(),
        "--output".into(),
        output.to_string_lossy().into(),
    ];
    args.extend(parts.iter().map(|p| p.to_string_lossy().into_owned()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    rankbook(&args)
}

#[test]
fn sharded_encoding_merges_to_the_unsharded_output() {
    let d = tempfile::tempdir().unwrap();
    let whole = d.path().join("whole.jsonl");
    ok(&encode_command(&whole).output().unwrap());
    let want = std::fs::read(&whole).unwrap();
    for n in 1..=4 {
        let dir = d.path().join(format!("n{n}"));
        std::fs::create_dir(&dir).unwrap();
        let mut parts = sharded(&dir, n);
        parts.reverse(); // any order
        let merged = dir.join("merged.jsonl");
        ok(&merge(&merged, &parts));
        assert_eq!(std::fs::read(&merged).unwrap(), want, "N = {n}");
    }

    // Refusals: a missing shard, a shard twice, a changed part.
    let dir = d.path().join("n3");
    let parts: Vec<PathBuf> = (0..3).map(|i| dir.join(format!("part{i}.arrow"))).collect();
    let out = dir.join("again.jsonl");
    let refused = |parts: &[PathBuf], want: &str| {
        let o = merge(&out, parts);
        let (_, err) = text(&o);
        assert!(!o.status.success() && err.contains(want), "{err}");
        assert!(!out.exists(), "nothing written");
    };
    refused(&parts[..2], "shards 2 of 3 are missing");
    refused(
        &[
            parts[0].clone(),
            parts[1].clone(),
            parts[1].clone(),
            parts[2].clone(),
        ],
        "shard 1 is given twice",
    );
    std::fs::copy(&parts[0], &parts[1]).unwrap();
    refused(&parts, "its checksum differs");
    // A .npy holds no ids: parts are .arrow or .jsonl.
    let npy = dir.join("part.npy");
    let o = encode_command(&npy)
        .args(["--shard", "0/2"])
        .output()
        .unwrap();
    let (_, err) = text(&o);
    assert!(
        !o.status.success() && err.contains("a part is written as .arrow or .jsonl"),
        "{err}"
    );
    assert!(!npy.exists());
}

fn fixture(name: &str) -> String {
    repo_root()
        .join("stdlib/tests/fixtures/tiny")
        .join(name)
        .to_string_lossy()
        .into_owned()
}

/// A rankbook command with the test cache and no launcher variables.
fn command(args: &[&str]) -> Command {
    let mut c = Command::new(rankbook_bin());
    c.args(args);
    if args[0] != "eval" {
        c.arg("--quiet");
    }
    c.env("RANKBOOK_CACHE_DIR", test_cache_dir())
        .env_remove("RANK")
        .env_remove("WORLD_SIZE");
    c
}

/// Runs `make(i)` for i in 0..n at once, shard i/N given by flag (even ranks)
/// or by RANK/WORLD_SIZE (odd ranks).
fn run_shards(n: usize, make: impl Fn(usize) -> Command) {
    let children: Vec<_> = (0..n)
        .map(|i| {
            let mut c = make(i);
            if i % 2 == 1 {
                c.env("RANK", i.to_string())
                    .env("WORLD_SIZE", n.to_string());
            } else {
                c.arg("--shard").arg(format!("{i}/{n}"));
            }
            c.spawn().expect("rankbook starts")
        })
        .collect();
    for child in children {
        ok(&child.wait_with_output().unwrap());
    }
}

/// The files of a folder, by name.
fn files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).unwrap(),
            )
        })
        .collect();
    out.sort();
    out
}

fn search_args(index: &[PathBuf], run: &Path) -> Vec<String> {
    let mut a = vec!["search".to_string(), "--index".into()];
    a.extend(index.iter().map(|p| p.to_string_lossy().into_owned()));
    a.extend([
        "--queries".into(),
        sample_data().join("queries.jsonl").to_string_lossy().into(),
        "--k".into(),
        "20".into(),
        "--output".into(),
        run.to_string_lossy().into(),
    ]);
    a
}

fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

#[test]
fn sharded_indexes_search_and_merge_as_the_whole_index() {
    let d = tempfile::tempdir().unwrap();
    let corpus = sample_data().join("corpus.jsonl");
    let corpus = corpus.to_str().unwrap().to_string();
    let kinds: Vec<(&str, Vec<String>)> = vec![
        ("dense", vec!["--model".into(), model()]),
        ("bm25", vec!["--bm25".into()]),
        (
            "splade",
            vec![
                "--model".into(),
                fixture("modernbert-mlm"),
                "--sparse".into(),
            ],
        ),
        (
            "colbert",
            vec!["--model".into(), fixture("modernbert-colbert")],
        ),
    ];
    for (kind, model_args) in &kinds {
        let index_args = |out: &Path| {
            let mut a: Vec<String> = vec!["index".into()];
            a.extend(model_args.iter().cloned());
            a.extend([
                "--corpus".into(),
                corpus.clone(),
                "--output".into(),
                out.to_string_lossy().into(),
            ]);
            if *kind != "bm25" {
                a.extend(["--max-length".into(), "64".into(), "--no-cache".into()]);
            }
            a
        };
        let whole = d.path().join(format!("{kind}-whole"));
        ok(&command(&strs(&index_args(&whole))).output().unwrap());
        let whole_run = d.path().join(format!("{kind}-whole.trec"));
        ok(&command(&strs(&search_args(
            std::slice::from_ref(&whole),
            &whole_run,
        )))
        .output()
        .unwrap());
        let want_run = std::fs::read(&whole_run).unwrap();
        assert!(want_run.len() > 1000, "{kind}: a real run");
        for n in 1..=4 {
            let parts: Vec<PathBuf> = (0..n)
                .map(|i| d.path().join(format!("{kind}-{n}-part{i}")))
                .collect();
            run_shards(n, |i| command(&strs(&index_args(&parts[i]))));
            // Searched as one: the unsharded top 20, byte for byte.
            let run = d.path().join(format!("{kind}-{n}.trec"));
            ok(&command(&strs(&search_args(&parts, &run))).output().unwrap());
            assert_eq!(
                std::fs::read(&run).unwrap(),
                want_run,
                "{kind}, N = {n}: search over parts"
            );
            // Each part searched on its own host, the hits merged by score.
            if *kind != "bm25" {
                let hits: Vec<PathBuf> = (0..n)
                    .map(|i| d.path().join(format!("{kind}-{n}-hits{i}.trec")))
                    .collect();
                for (i, (part, out)) in parts.iter().zip(&hits).enumerate() {
                    let mut c = command(&strs(&search_args(std::slice::from_ref(part), out)));
                    if i % 2 == 1 {
                        // Under a launcher: RANK picks the part, the queries stay whole.
                        c.env("RANK", i.to_string())
                            .env("WORLD_SIZE", n.to_string());
                    }
                    ok(&c.output().unwrap());
                }
                let merged = d.path().join(format!("{kind}-{n}-hits.trec"));
                ok(&merge(&merged, &hits));
                assert_eq!(
                    std::fs::read(&merged).unwrap(),
                    want_run,
                    "{kind}, N = {n}: hits merged"
                );
            }
            // Merged: the unsharded index folder, file for file.
            let merged = d.path().join(format!("{kind}-{n}-merged"));
            ok(&merge(&merged, &parts));
            assert_eq!(
                files(&merged),
                files(&whole),
                "{kind}, N = {n}: merged index"
            );
        }
    }

    // From Rhai: the parts open as one index, merge, and texts shard alike.
    let script = d.path().join("parts.rhai");
    let part = |i: usize| {
        d.path()
            .join(format!("bm25-3-part{i}"))
            .display()
            .to_string()
    };
    std::fs::write(
        &script,
        format!(
            r#"let ds = beir("{data}");
let qrels = ds.qrels("test");
let queries = ds.queries(qrels);
let whole = evaluate(qrels, load_index("{whole}").search(queries, 20), ["nDCG@10"]);
let parts = evaluate(qrels, load_index(["{p2}", "{p0}", "{p1}"]).search(queries, 20), ["nDCG@10"]);
print(whole["nDCG@10"] == parts["nDCG@10"]);
print(whole["nDCG@10"]);
let m = merge_parts("{merged}", ["{p0}", "{p1}", "{p2}"]);
print(`${{m.kind}} ${{m.parts}} ${{m.rows}}`);
print(load_index("{merged}").len());
print(`${{ds.corpus().shard("0/3").len()}} ${{ds.corpus().shard("2/3").len()}}`);
"#,
            data = sample_data().display(),
            whole = d.path().join("bm25-whole").display(),
            p0 = part(0),
            p1 = part(1),
            p2 = part(2),
            merged = d.path().join("rhai-merged").display(),
        ),
    )
    .unwrap();
    let o = rankbook(&["run", script.to_str().unwrap()]);
    let (stdout, stderr) = text(&o);
    assert!(o.status.success(), "{stdout}{stderr}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines[0], "true", "{stdout}");
    assert!(lines[1].parse::<f64>().unwrap() > 0.3, "{stdout}");
    assert_eq!(lines[2..], ["index 3 201", "201", "67 67"], "{stdout}");

    // A set missing a part is refused; so is a part alone of a BM25 index.
    let parts: Vec<PathBuf> = (0..3)
        .map(|i| d.path().join(format!("bm25-3-part{i}")))
        .collect();
    let run = d.path().join("refused.trec");
    let o = command(&strs(&search_args(&parts[..2], &run)))
        .output()
        .unwrap();
    let (_, err) = text(&o);
    assert!(
        !o.status.success() && err.contains("shards 2 of 3 are missing"),
        "{err}"
    );
    assert!(!run.exists(), "nothing written");
    let o = command(&strs(&search_args(&parts[..1], &run)))
        .output()
        .unwrap();
    let (_, err) = text(&o);
    assert!(!o.status.success() && err.contains("missing"), "{err}");
    // Parts of two different indexes do not make one.
    let mixed = [
        d.path().join("dense-2-part0"),
        d.path().join("bm25-2-part1"),
    ];
    let o = command(&strs(&search_args(&mixed, &run))).output().unwrap();
    let (_, err) = text(&o);
    assert!(
        !o.status.success() && (err.contains("another input") || err.contains("built otherwise")),
        "{err}"
    );
}

#[test]
fn sharded_search_mining_and_evaluation_merge_to_the_unsharded_outputs() {
    let d = tempfile::tempdir().unwrap();
    let index = d.path().join("bm25");
    let corpus = sample_data().join("corpus.jsonl");
    ok(&command(&[
        "index",
        "--bm25",
        "--corpus",
        corpus.to_str().unwrap(),
        "--output",
        index.to_str().unwrap(),
    ])
    .output()
    .unwrap());
    let whole_run = d.path().join("whole.trec");
    ok(&command(&strs(&search_args(
        std::slice::from_ref(&index),
        &whole_run,
    )))
    .output()
    .unwrap());
    let qrels = sample_data().join("qrels/test.tsv");
    let qrels = qrels.to_str().unwrap();
    let eval_args = |run: &Path| -> Vec<String> {
        [
            "eval",
            "--qrels",
            qrels,
            "--run",
            run.to_str().unwrap(),
            "--json",
        ]
        .map(String::from)
        .to_vec()
    };
    // The run's queries in reverse order: means are sums in run order, which
    // the merged parts must keep (a sorted run would hide a wrong order).
    let reversed = d.path().join("reversed.trec");
    let lines = std::fs::read_to_string(&whole_run).unwrap();
    let mut blocks: Vec<Vec<&str>> = Vec::new();
    for line in lines.lines() {
        let q = line.split_whitespace().next();
        match blocks.last_mut() {
            Some(b) if b[0].split_whitespace().next() == q => b.push(line),
            _ => blocks.push(vec![line]),
        }
    }
    blocks.reverse();
    std::fs::write(&reversed, blocks.concat().join("\n") + "\n").unwrap();
    let o = command(&strs(&eval_args(&reversed))).output().unwrap();
    ok(&o);
    let want_eval = o.stdout.clone();
    assert!(String::from_utf8_lossy(&want_eval).contains("nDCG@10"));
    let data = sample_data();
    let mine_args = |out: &Path| -> Vec<String> {
        let mut a: Vec<String> = [
            "mine",
            "--model",
            &model(),
            "--data",
            data.to_str().unwrap(),
            "--split",
            "test",
            "--depth",
            "2..30",
            "--negatives",
            "3",
            "--sampling",
            "random",
            "--max-length",
            "64",
            "--no-cache",
            "--output",
        ]
        .map(String::from)
        .to_vec();
        a.push(out.to_string_lossy().into());
        a
    };
    let whole_mined = d.path().join("whole.jsonl");
    ok(&command(&strs(&mine_args(&whole_mined))).output().unwrap());
    let want_mined = std::fs::read(&whole_mined).unwrap();
    assert!(want_mined.len() > 500);
    for n in 1..=4 {
        let part = |what: &str, i: usize| d.path().join(format!("{what}-{n}-{i}"));
        let parts = |what: &str| (0..n).map(|i| part(what, i)).collect::<Vec<_>>();
        run_shards(n, |i| {
            command(&strs(&search_args(
                std::slice::from_ref(&index),
                &part("run", i),
            )))
        });
        let merged = d.path().join(format!("run-{n}.trec"));
        ok(&merge(&merged, &parts("run")));
        assert_eq!(
            std::fs::read(&merged).unwrap(),
            std::fs::read(&whole_run).unwrap(),
            "runs, N = {n}"
        );

        run_shards(n, |i| {
            let mut a = eval_args(&reversed);
            a.pop(); // --json: a part holds every value
            a.extend(["--output".into(), part("eval", i).to_string_lossy().into()]);
            command(&strs(&a))
        });
        let merged = d.path().join(format!("eval-{n}.json"));
        ok(&merge(&merged, &parts("eval")));
        assert_eq!(std::fs::read(&merged).unwrap(), want_eval, "eval, N = {n}");

        run_shards(n, |i| command(&strs(&mine_args(&part("mined", i)))));
        let merged = d.path().join(format!("mined-{n}.jsonl"));
        ok(&merge(&merged, &parts("mined")));
        assert_eq!(
            std::fs::read(&merged).unwrap(),
            want_mined,
            "mined, N = {n}"
        );
    }
    // Parts of different outputs do not merge.
    let o = merge(
        &d.path().join("mixed"),
        &[d.path().join("run-2-0"), d.path().join("eval-2-1")],
    );
    let (_, err) = text(&o);
    assert!(
        !o.status.success() && err.contains("parts of one output only"),
        "{err}"
    );
}

#[test]
fn shard_caches_import_into_one_cache_that_serves_the_whole_corpus() {
    let d = tempfile::tempdir().unwrap();
    let cache = |name: &str| d.path().join(name).to_string_lossy().into_owned();
    let encode = |out: &Path, cache_dir: &str| {
        let mut c = encode_command(out);
        let args: Vec<_> = c.get_args().map(|a| a.to_owned()).collect();
        // The same command with a cache of its own instead of --no-cache.
        c = Command::new(rankbook_bin());
        c.args(args.iter().filter(|a| *a != "--no-cache"))
            .env("RANKBOOK_CACHE_DIR", cache_dir)
            .env_remove("RANK")
            .env_remove("WORLD_SIZE");
        c
    };
    run_shards(2, |i| {
        encode(
            &d.path().join(format!("p{i}.arrow")),
            &cache(&format!("c{i}")),
        )
    });
    let o = rankbook(&[
        "cache",
        "import",
        "--cache-dir",
        &cache("one"),
        &cache("c0"),
        &cache("c1"),
    ]);
    let err = ok(&o);
    assert!(
        err.contains("entries added, 0 already here, 0 damaged"),
        "{err}"
    );
    let whole = d.path().join("whole.jsonl");
    let err = ok(&encode(&whole, &cache("one")).output().unwrap());
    assert!(err.contains("(201 from the cache)"), "{err}");
    let fresh = d.path().join("fresh.jsonl");
    ok(&encode_command(&fresh).output().unwrap());
    assert_eq!(
        std::fs::read(&whole).unwrap(),
        std::fs::read(&fresh).unwrap()
    );
}
