//! A soak of the kernel through jupyter_client (tests/python/kernel_soak.py):
//! cells, failing cells, interrupts at random moments, a client that
//! reconnects; every request answered exactly once, the variables kept, the
//! memory flat after warm-up. CI runs a short one; `scripts/kernel_soak.sh`
//! the full size (10,000 cells, 100 interrupts, 20 failing cells).

use std::process::Command;

use rankbook_tests::{install_kernel, python, repo_root, text};

#[test]
fn the_kernel_survives_a_soak() {
    let prefix = install_kernel();
    let size = |name: &str, ci: &str| std::env::var(name).unwrap_or_else(|_| ci.to_string());
    let o = Command::new(python())
        .arg(repo_root().join("tests/python/kernel_soak.py"))
        .env("JUPYTER_PATH", prefix.path().join("share/jupyter"))
        .env("SOAK_CELLS", size("SOAK_CELLS", "600"))
        .env("SOAK_INTERRUPTS", size("SOAK_INTERRUPTS", "5"))
        .env("SOAK_FAILING", size("SOAK_FAILING", "20"))
        .env("SOAK_RECONNECTS", size("SOAK_RECONNECTS", "2"))
        .current_dir(repo_root())
        .output()
        .expect("python runs");
    let (stdout, stderr) = text(&o);
    eprintln!("{stdout}");
    let summary: serde_json::Value = serde_json::from_str(stdout.trim())
        .unwrap_or_else(|e| panic!("no summary ({e}): {stderr}"));
    assert_eq!(summary["failures"], serde_json::json!([]), "{stderr}");
    assert!(o.status.success(), "{stderr}");
    assert_eq!(summary["requests"], summary["answered_once"]);
    let counts = &summary["counts"];
    assert_eq!(counts["error"], 20);
    let interrupts =
        counts["interrupted"].as_u64().unwrap() + counts["finished_first"].as_u64().unwrap();
    assert_eq!(interrupts.to_string(), size("SOAK_INTERRUPTS", "5"));
}
