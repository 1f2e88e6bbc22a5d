//! The kernel under faults, through jupyter_client: a soak
//! (tests/python/kernel_soak.py: cells, failing cells, interrupts at random
//! moments, a client that reconnects; every request answered exactly once,
//! the variables kept, the memory flat after warm-up) and kill trials
//! (tests/python/kernel_kill_trials.py). CI runs short ones;
//! `scripts/kernel_soak.sh` and `scripts/crash_trials.sh` the full sizes.

use std::process::Command;

use rankbook_tests::{install_kernel, python, rankbook_bin, repo_root, text};

/// Runs a client script of tests/python/ against a freshly installed kernel
/// with `env`; its JSON summary, once it reported no failure.
fn run_client(script: &str, env: &[(&str, String)]) -> serde_json::Value {
    let prefix = install_kernel();
    let o = Command::new(python())
        .arg(repo_root().join("tests/python").join(script))
        .env("JUPYTER_PATH", prefix.path().join("share/jupyter"))
        .envs(env.iter().map(|(k, v)| (k, v)))
        .current_dir(repo_root())
        .output()
        .expect("python runs");
    let (stdout, stderr) = text(&o);
    eprintln!("{stdout}");
    let summary: serde_json::Value = serde_json::from_str(stdout.trim())
        .unwrap_or_else(|e| panic!("no summary ({e}): {stderr}"));
    assert_eq!(summary["failures"], serde_json::json!([]), "{stderr}");
    assert!(o.status.success(), "{stderr}");
    summary
}

fn size(name: &str, ci: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| ci.to_string())
}

#[test]
fn the_kernel_survives_a_soak() {
    let summary = run_client(
        "kernel_soak.py",
        &[
            ("SOAK_CELLS", size("SOAK_CELLS", "600")),
            ("SOAK_INTERRUPTS", size("SOAK_INTERRUPTS", "5")),
            ("SOAK_FAILING", size("SOAK_FAILING", "20")),
            ("SOAK_RECONNECTS", size("SOAK_RECONNECTS", "2")),
        ],
    );
    assert_eq!(summary["requests"], summary["answered_once"]);
    let counts = &summary["counts"];
    assert_eq!(counts["error"], 20);
    let interrupts =
        counts["interrupted"].as_u64().unwrap() + counts["finished_first"].as_u64().unwrap();
    assert_eq!(interrupts.to_string(), size("SOAK_INTERRUPTS", "5"));
}

/// The kernel killed (SIGKILL) while a cell writes an index over an existing
/// one: the index at the path always loads, checksums verified; the next
/// write leaves no temporary folder. RANKBOOK_KILL_TRIALS sets the trials
/// (CI: 4; scripts/crash_trials.sh 200).
#[test]
fn a_killed_kernel_leaves_a_whole_index() {
    let summary = run_client(
        "kernel_kill_trials.py",
        &[
            ("KILL_TRIALS", size("RANKBOOK_KILL_TRIALS", "4")),
            ("RANKBOOK_BIN", rankbook_bin().display().to_string()),
        ],
    );
    assert_eq!(summary["unreadable"], 0);
}
