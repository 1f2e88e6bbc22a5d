//! The Jupyter kernel against Python's reference client tooling:
//! jupyter_kernel_test with every optional attribute set
//! (tests/python/kernel_protocol.py), and driven as nbclient and JupyterLab drive it
//! (tests/python/kernel_conformance.py), run on the installed kernelspec.

use std::process::Command;

use rankbook_tests::{install_kernel, python, repo_root, text};

#[test]
fn jupyter_kernel_test_passes() {
    let prefix = install_kernel();
    let spec = prefix
        .path()
        .join("share/jupyter/kernels/rankbook/kernel.json");
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&spec).unwrap()).unwrap();
    assert_eq!(json["display_name"], "Rankbook (Rhai)");
    assert_eq!(json["interrupt_mode"], "message");
    assert!(
        prefix
            .path()
            .join("share/jupyter/kernels/rankbook/logo-64x64.png")
            .is_file()
    );

    let stderr = run_client(&prefix, "kernel_protocol.py");
    assert!(stderr.contains("OK"), "{stderr}");
}

/// Runs a Python client script of tests/python/ against the kernel installed
/// under `prefix`; its stderr, once it has succeeded.
fn run_client(prefix: &tempfile::TempDir, script: &str) -> String {
    let o = Command::new(python())
        .arg(repo_root().join("tests/python").join(script))
        .env("JUPYTER_PATH", prefix.path().join("share/jupyter"))
        .current_dir(repo_root())
        .output()
        .expect("python runs");
    let (_, stderr) = text(&o);
    assert!(o.status.success(), "{stderr}");
    stderr
}

#[test]
fn kernel_behaves_as_jupyter_clients_expect() {
    let stderr = run_client(&install_kernel(), "kernel_conformance.py");
    assert!(
        stderr.contains("Ran 6 tests") && stderr.contains("OK"),
        "{stderr}"
    );
}
