//! Notebook 01 opened in JupyterLab (from the test venv) in headless Chromium:
//! run all on the rankbook kernel, then the results tables, the plot and the
//! final numbers are read from the page (tests/python/jupyterlab_notebook.py).
//! The screenshot is kept in target/browser-test/ as the test's artefact.

use std::path::PathBuf;
use std::process::Command;

use rankbook_tests::{install_kernel, python, repo_root, test_cache_dir, text};

fn executable(var: &str, default: &str) -> PathBuf {
    std::env::var_os(var).map_or_else(|| PathBuf::from(default), PathBuf::from)
}

#[test]
fn notebook_01_renders_in_jupyterlab() {
    let chromium = executable("CHROMIUM", "/usr/bin/chromium");
    let driver = executable("CHROMEDRIVER", "/usr/bin/chromedriver");
    if !chromium.is_file() || !driver.is_file() {
        eprintln!(
            "skipped: chromium and chromedriver not installed (apt-get install chromium chromium-driver; scripts/test.sh does it when run as root)"
        );
        return;
    }
    let prefix = install_kernel();
    // A copy, so that JupyterLab's autosave never writes into the repo.
    let work = tempfile::tempdir().unwrap();
    let notebooks = work.path().join("notebooks");
    std::fs::create_dir(&notebooks).unwrap();
    std::fs::copy(
        repo_root().join("notebooks/01_quickstart.ipynb"),
        notebooks.join("01_quickstart.ipynb"),
    )
    .unwrap();
    std::os::unix::fs::symlink(repo_root().join("data"), work.path().join("data")).unwrap();
    let shots = repo_root().join("target/browser-test");
    std::fs::create_dir_all(&shots).unwrap();
    let shot = shots.join("01_quickstart.png");
    let _ = std::fs::remove_file(&shot);
    let o = Command::new(python())
        .arg(repo_root().join("tests/python/jupyterlab_notebook.py"))
        .arg(work.path())
        .arg(&shot)
        .env("JUPYTER_PATH", prefix.path().join("share/jupyter"))
        .env("RANKBOOK_CACHE_DIR", test_cache_dir())
        .env("CHROMIUM", &chromium)
        .env("CHROMEDRIVER", &driver)
        .output()
        .expect("python runs");
    let (_, stderr) = text(&o);
    assert!(o.status.success(), "{stderr}");
    assert!(stderr.contains("nDCG@10 0.9311 shown"), "{stderr}");
    let png = std::fs::read(&shot).unwrap();
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 20_000,
        "{} bytes",
        png.len()
    );
}
