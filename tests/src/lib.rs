//! Helpers for rankbook's end-to-end tests: where things are, and running the CLI.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub mod hub_server;

/// The repository root.
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ sits in the repo")
        .to_path_buf()
}

/// The `rankbook` binary of this build (`cargo build --bins` makes it).
pub fn rankbook_bin() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    // target/<profile>/deps/<test> -> target/<profile>/rankbook
    let dir = exe.parent().and_then(Path::parent).expect("target layout");
    let bin = dir.join(format!("rankbook{}", std::env::consts::EXE_SUFFIX));
    assert!(
        bin.is_file(),
        "{} not built: run `cargo build --bins` before the tests (scripts/test.sh does)",
        bin.display()
    );
    bin
}

/// The `rankbook-kernel` binary of this build (`cargo build --bins` makes it).
pub fn kernel_bin() -> PathBuf {
    let bin =
        rankbook_bin().with_file_name(format!("rankbook-kernel{}", std::env::consts::EXE_SUFFIX));
    assert!(
        bin.is_file(),
        "{} not built: run `cargo build --bins`",
        bin.display()
    );
    bin
}

/// Installs the kernelspec into a fresh prefix; returns it (its
/// `share/jupyter` goes on `JUPYTER_PATH`).
pub fn install_kernel() -> tempfile::TempDir {
    let prefix = tempfile::tempdir().unwrap();
    let o = Command::new(kernel_bin())
        .args(["install", "--prefix"])
        .arg(prefix.path())
        .output()
        .expect("rankbook-kernel runs");
    assert!(o.status.success(), "{}", text(&o).1);
    prefix
}

/// An embedding cache folder private to this test process, so tests neither
/// read nor fill the user's cache.
pub fn test_cache_dir() -> PathBuf {
    std::env::temp_dir().join(format!("rankbook-test-cache-{}", std::process::id()))
}

/// Runs `rankbook ARGS` from the repo root (with the test process's cache folder).
pub fn rankbook(args: &[&str]) -> Output {
    Command::new(rankbook_bin())
        .args(args)
        .env("RANKBOOK_CACHE_DIR", test_cache_dir())
        .current_dir(repo_root())
        .output()
        .expect("rankbook runs")
}

/// The arguments of `rankbook encode` with all-MiniLM-L6-v2, quiet, and `extra`.
pub fn encode_args(input: &Path, output: &Path, extra: &[&str]) -> Vec<String> {
    let mut args = vec![
        "encode",
        "--model",
        "sentence-transformers/all-MiniLM-L6-v2",
        "--input",
        input.to_str().unwrap(),
        "--output",
        output.to_str().unwrap(),
        "--quiet",
    ];
    args.extend_from_slice(extra);
    args.iter().map(|s| s.to_string()).collect()
}

/// stdout and stderr as strings.
pub fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// `../shared/data` (or `RANKBOOK_SHARED/data`), or None with the skip notice printed.
pub fn shared_data() -> Option<PathBuf> {
    let shared = std::env::var_os("RANKBOOK_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("../shared"));
    let data = shared.join("data");
    if data.is_dir() {
        Some(data)
    } else {
        eprintln!("skipped: ../shared not present");
        None
    }
}

/// The test venv's Python (made by scripts/test.sh), required by the interop tests.
pub fn python() -> PathBuf {
    let p = std::env::var_os("RANKBOOK_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join(".venv/bin/python"));
    assert!(
        p.is_file(),
        "{} missing: run `bash scripts/test.sh`, which creates the test venv",
        p.display()
    );
    p
}

/// The embedded SciFact sample.
pub fn sample_data() -> PathBuf {
    repo_root().join("data/scifact-sample")
}

/// Per-query values from pytrec_eval (`tests/python/pytrec_eval_values.py`):
/// `{measure: {qid: value}}` under rankbook's measure names. `qrels` in TREC
/// layout (`qid 0 doc grade`).
pub fn pytrec_eval_values(
    qrels: &Path,
    run: &Path,
) -> std::collections::BTreeMap<String, std::collections::BTreeMap<String, f64>> {
    let o = Command::new(python())
        .arg(repo_root().join("tests/python/pytrec_eval_values.py"))
        .args([qrels, run])
        .output()
        .expect("python runs");
    assert!(o.status.success(), "{}", text(&o).1);
    serde_json::from_slice(&o.stdout).expect("pytrec_eval_values.py prints JSON")
}

/// Writes `qrels` in TREC layout to `path` (for pytrec_eval).
pub fn write_trec_qrels(qrels: &rankbook::data::Qrels, path: &Path) {
    use std::fmt::Write;
    let mut lines = String::new();
    for (q, judged) in qrels.iter() {
        for (d, g) in judged {
            let _ = writeln!(lines, "{q} 0 {d} {g}");
        }
    }
    std::fs::write(path, lines).expect("qrels written");
}

/// `rankbook eval --json` of `run` against `qrels` (`--complete` when asked):
/// the mean of each measure by name.
pub fn eval_means(
    qrels: &Path,
    run: &Path,
    measures: &str,
    complete: bool,
) -> std::collections::BTreeMap<String, f64> {
    let (q, r) = (qrels.to_str().unwrap(), run.to_str().unwrap());
    let mut args = vec![
        "eval",
        "--qrels",
        q,
        "--run",
        r,
        "--measures",
        measures,
        "--json",
    ];
    if complete {
        args.push("--complete");
    }
    let o = rankbook(&args);
    assert!(o.status.success(), "{}", text(&o).1);
    let got: serde_json::Value =
        serde_json::from_slice(&o.stdout).expect("eval --json prints JSON");
    serde_json::from_value(got["measures"].clone()).expect("measures are numbers")
}

/// A TREC run's lines without their run tag (which names the index).
pub fn strip_run_tag(run: &str) -> Vec<String> {
    run.lines()
        .map(|l| l.rsplit_once(' ').map_or(l, |(rest, _)| rest).to_string())
        .collect()
}

/// The share of the run file `exact`'s top 10 (per query) that the run file
/// `found` has in its own top 10: an ANN index's recall of the exact search.
pub fn recall_at_10(exact: &Path, found: &Path) -> f64 {
    let read = |p: &Path| rankbook::data::Run::read(p).expect("a run file");
    let (exact, found) = (read(exact), read(found));
    let (mut hit, mut total) = (0usize, 0usize);
    for qid in exact.query_ids() {
        let truth: Vec<&str> = exact
            .top_of(qid, 10)
            .iter()
            .map(|s| s.doc.as_str())
            .collect();
        total += truth.len();
        hit += found
            .top_of(qid, 10)
            .iter()
            .filter(|s| truth.contains(&s.doc.as_str()))
            .count();
    }
    hit as f64 / total as f64
}
