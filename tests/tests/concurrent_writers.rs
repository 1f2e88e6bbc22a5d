//! Concurrent writers (issue 22): processes encoding overlapping corpora into
//! one embedding cache get the vectors a single process gets, byte for byte;
//! index commands racing on one output folder each succeed or fail with a
//! one-line error, and the folder left is one of theirs, whole.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use rankbook_tests::{rankbook_bin, repo_root, text};

const MODEL: &str = "sentence-transformers/all-MiniLM-L6-v2";

/// Writes documents `range` of the sample corpus to `path`; returns their count.
fn slice(path: &Path, range: std::ops::Range<usize>) -> usize {
    let full =
        std::fs::read_to_string(repo_root().join("data/scifact-sample/corpus.jsonl")).unwrap();
    let lines: Vec<&str> = full.lines().skip(range.start).take(range.len()).collect();
    std::fs::write(path, lines.join("\n") + "\n").unwrap();
    lines.len()
}

fn spawn(args: &[&str]) -> Child {
    Command::new(rankbook_bin())
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Vectors of an `.npy` + `.ids.json` pair, by id, as raw bytes.
fn vectors(npy: &Path) -> HashMap<String, Vec<u8>> {
    let ids: Vec<String> =
        serde_json::from_str(&std::fs::read_to_string(npy.with_extension("ids.json")).unwrap())
            .unwrap();
    let bytes = std::fs::read(npy).unwrap();
    let header = 10 + u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
    let row = (bytes.len() - header) / ids.len();
    ids.into_iter()
        .enumerate()
        .map(|(i, id)| (id, bytes[header + i * row..header + (i + 1) * row].to_vec()))
        .collect()
}

fn path_str(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn processes_sharing_a_cache_get_the_single_process_vectors() {
    let d = tempfile::tempdir().unwrap();
    let cache = d.path().join("cache");
    let ranges = [0..120, 40..160, 80..201, 0..201];
    let inputs: Vec<PathBuf> = ranges
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let p = d.path().join(format!("part{i}.jsonl"));
            slice(&p, r.clone());
            p
        })
        .collect();
    let outs: Vec<PathBuf> = (0..ranges.len())
        .map(|i| d.path().join(format!("out{i}.npy")))
        .collect();
    let children: Vec<Child> = inputs
        .iter()
        .zip(&outs)
        .map(|(i, o)| {
            spawn(&[
                "encode",
                "--model",
                MODEL,
                "--input",
                path_str(i),
                "--output",
                path_str(o),
                "--cache-dir",
                path_str(&cache),
                "--quiet",
                "--threads",
                "1",
            ])
        })
        .collect();
    for c in children {
        let o = c.wait_with_output().unwrap();
        assert!(o.status.success(), "{}", text(&o).1);
    }
    // The single-process run, without the cache.
    let all = inputs.last().unwrap();
    let encode_all = |out: &Path, cache_args: &[&str]| -> Output {
        Command::new(rankbook_bin())
            .args([
                "encode",
                "--model",
                MODEL,
                "--input",
                path_str(all),
                "--output",
                path_str(out),
            ])
            .args(cache_args)
            .arg("--quiet")
            .output()
            .unwrap()
    };
    let single = d.path().join("single.npy");
    let o = encode_all(&single, &["--no-cache"]);
    assert!(o.status.success(), "{}", text(&o).1);
    let want = vectors(&single);
    let mut mismatches = 0;
    for out in &outs {
        for (id, v) in vectors(out) {
            mismatches += usize::from(want[&id] != v);
        }
    }
    assert_eq!(
        mismatches, 0,
        "vectors differing from the single-process run"
    );
    // The cache now serves everything, undamaged.
    let o = encode_all(
        &d.path().join("again.npy"),
        &["--cache-dir", path_str(&cache)],
    );
    let log = text(&o).1;
    assert!(
        log.contains("(201 from the cache)") && !log.contains("damaged"),
        "{log}"
    );
    assert_eq!(vectors(&d.path().join("again.npy")), want);
}

#[test]
fn index_commands_racing_on_one_folder_leave_one_whole_index() {
    let d = tempfile::tempdir().unwrap();
    let sizes = [
        slice(&d.path().join("a.jsonl"), 0..201),
        slice(&d.path().join("b.jsonl"), 0..100),
    ];
    let rounds: usize = std::env::var("RANKBOOK_RACE_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5);
    let (mut won, mut refused) = (0, 0);
    for round in 0..rounds {
        // Round 0 races on a fresh path; later rounds over an existing index.
        let out = d.path().join("idx");
        let children: Vec<Child> = ["a.jsonl", "b.jsonl", "a.jsonl"]
            .iter()
            .map(|c| {
                spawn(&[
                    "index",
                    "--bm25",
                    "--corpus",
                    path_str(&d.path().join(c)),
                    "--output",
                    path_str(&out),
                    "--quiet",
                ])
            })
            .collect();
        for c in children {
            let o = c.wait_with_output().unwrap();
            let err = text(&o).1;
            if o.status.success() {
                won += 1;
            } else {
                refused += 1;
                assert!(!err.contains("panicked"), "round {round}: {err}");
                assert!(
                    err.contains(path_str(&out)),
                    "round {round}: the error names the folder: {err}"
                );
            }
        }
        let m: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(out.join("manifest.json")).unwrap())
                .unwrap();
        let count = m["count"].as_u64().unwrap() as usize;
        assert!(sizes.contains(&count), "round {round}: {count} docs");
        let q = repo_root().join("data/scifact-sample/queries.jsonl");
        let o = Command::new(rankbook_bin())
            .args([
                "search",
                "--index",
                path_str(&out),
                "--queries",
                path_str(&q),
                "--k",
                "5",
            ])
            .arg("--output")
            .arg(d.path().join("run.trec"))
            .arg("--quiet")
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "round {round}: the index loads: {}",
            text(&o).1
        );
    }
    eprintln!(
        "{rounds} rounds of 3 racing index commands: {won} succeeded, {refused} refused with an error naming the folder, 0 mixed folders"
    );
}
