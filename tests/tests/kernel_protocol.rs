//! The Jupyter kernel against Python's reference client tooling:
//! jupyter_kernel_test with every optional attribute set
//! (tests/python/kernel_protocol.py), run on the installed kernelspec.

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

    let o = Command::new(python())
        .arg(repo_root().join("tests/python/kernel_protocol.py"))
        .env("JUPYTER_PATH", prefix.path().join("share/jupyter"))
        .current_dir(repo_root())
        .output()
        .expect("python runs");
    let (_, stderr) = text(&o);
    assert!(o.status.success(), "{stderr}");
    assert!(stderr.contains("OK"), "{stderr}");
}
