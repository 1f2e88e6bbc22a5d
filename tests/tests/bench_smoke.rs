//! Every bench script, run as CI's smoke run (`RANKBOOK_BENCH_SMOKE=1`): this
//! build's binaries, the repo's sample, the test venv, tiny sizes and no Python
//! peer. A bench that breaks (a moved flag, a renamed stats key) fails here
//! instead of rotting until someone runs it at full size.

use std::process::Command;

use rankbook_tests::{kernel_bin, python, rankbook_bin, repo_root, test_cache_dir, text};

/// Runs `bench/NAME.sh` in smoke mode; returns its stdout.
fn smoke(name: &str) -> String {
    let o = Command::new("bash")
        .arg(format!("bench/{name}.sh"))
        .current_dir(repo_root())
        .env("RANKBOOK_BENCH_SMOKE", "1")
        .env("RANKBOOK_BIN", rankbook_bin())
        .env("RANKBOOK_KERNEL_BIN", kernel_bin())
        .env("SMOKE_PYTHON", python())
        .env("RANKBOOK_CACHE_DIR", test_cache_dir())
        .output()
        .expect("bash runs");
    let (out, err) = text(&o);
    assert!(o.status.success(), "bench/{name}.sh failed:\n{out}\n{err}");
    out
}

#[test]
fn bench_scripts_run_in_smoke_mode() {
    // What each prints when its own side ran (the peers are left out).
    let expected = [
        ("bm25_scifact", "rankbook: index "),
        ("colbert_scifact", "rankbook: nDCG@10"),
        ("colbert_fit_scifact", "(2 steps, median"),
        ("colbert_plaid_scifact", "rankbook PLAID: nDCG@10"),
        ("cache_scifact", "ratio: "),
        ("encode_precision", "rankbook int8: "),
        ("encode_scifact", "rankbook: "),
        ("encode_arch", "rankbook modernbert: "),
        ("qwen3_memory", "f32: peak RSS "),
        ("eval_scale", "max |difference| 0.00e+00"),
        ("fit_scifact", "after 2 steps"),
        ("kernel_roundtrip", "rankbook-kernel: exec to port open"),
        ("repro", "| scifact-sample | bm25 |"),
        ("search_scale", "identical top-10 lists: 50/50"),
        (
            "scale_simulation",
            "dense N=4: merged top 100 identical to one shard's",
        ),
    ];
    let benches: Vec<String> = std::fs::read_dir(repo_root().join("bench"))
        .unwrap()
        .filter_map(|e| {
            let name = e.ok()?.file_name().into_string().ok()?;
            Some(name.strip_suffix(".sh")?.to_string())
        })
        .filter(|n| n != "lib")
        .collect();
    for b in &benches {
        assert!(
            expected.iter().any(|(n, _)| n == b),
            "bench/{b}.sh has no smoke check here"
        );
    }
    for (name, line) in expected {
        let out = smoke(name);
        assert!(out.contains(line), "bench/{name}.sh printed:\n{out}");
    }
}
