//! Every tutorial notebook in notebooks/ executed end to end by nbclient (a
//! real Jupyter client) against the installed kernel: no error output, and
//! images wherever a plot is made.

use std::process::Command;

use rankbook_tests::{install_kernel, python, repo_root, text};

#[test]
fn notebooks_execute_without_errors() {
    let prefix = install_kernel();
    let out = tempfile::tempdir().unwrap();
    let o = Command::new(python())
        .arg(repo_root().join("tests/python/run_notebooks.py"))
        .arg(out.path())
        .env("JUPYTER_PATH", prefix.path().join("share/jupyter"))
        .env("RANKBOOK_CACHE_DIR", rankbook_tests::test_cache_dir())
        .current_dir(repo_root())
        .output()
        .expect("python runs");
    let (_, stderr) = text(&o);
    assert!(o.status.success(), "{stderr}");
    let executed = std::fs::read_to_string(out.path().join("02_bm25_vs_dense.ipynb")).unwrap();
    assert!(executed.contains("image/svg+xml") && executed.contains("image/png"));
    assert!(
        executed.contains("(baseline)"),
        "the comparison table is shown"
    );
    // The live training view ends showing the last step and the curves.
    let tuned = std::fs::read_to_string(out.path().join("03_fine_tuning.ipynb")).unwrap();
    assert!(
        tuned.contains("step 4: loss"),
        "the live view's final state"
    );
    // The MPNet model runs on the packed path with its measured nDCG@10.
    let families = std::fs::read_to_string(out.path().join("07_model_families.ipynb")).unwrap();
    assert!(
        families.contains("0.9286"),
        "all-mpnet-base-v2's nDCG@10 on the sample"
    );
    // Every Rhai notebook ran (notebooks/evcxr/ is for the Rust kernel).
    let names: Vec<String> = std::fs::read_dir(repo_root().join("notebooks"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".ipynb"))
        .collect();
    assert_eq!(names.len(), 8, "{names:?}");
    for n in &names {
        assert!(out.path().join(n).is_file(), "{n} was not executed");
    }
}
