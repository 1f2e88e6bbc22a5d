//! A full disk (issue 22): on a small tmpfs (the tests run as root; skipped
//! otherwise), every writer fails with a one-line error naming the path and
//! leaves the previous artefact as it was.

use std::path::Path;
use std::process::Command;

use rankbook_tests::{rankbook, repo_root, text};

const MODEL: &str = "sentence-transformers/all-MiniLM-L6-v2";

/// A tmpfs mounted for the test, unmounted when dropped.
struct Tmpfs(tempfile::TempDir);

impl Tmpfs {
    fn mount(size: &str) -> Option<Self> {
        let dir = tempfile::tempdir().ok()?;
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .output()
            .ok()?
            .status
            .success();
        ok.then_some(Self(dir))
    }
    fn path(&self) -> &Path {
        self.0.path()
    }
    /// Fills the disk, leaving about `room` bytes.
    fn fill(&self, room: u64) {
        let out = Command::new("df")
            .args(["--output=avail", "-B1"])
            .arg(self.path())
            .output()
            .unwrap();
        let avail: u64 = String::from_utf8_lossy(&out.stdout)
            .lines()
            .nth(1)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        let size = avail.saturating_sub(room) as usize;
        std::fs::write(self.path().join("filler"), vec![0u8; size]).unwrap();
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.path()).status();
    }
}

fn files_of(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut v: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).unwrap_or_default(),
            )
        })
        .collect();
    v.sort();
    v
}

/// The refusal: one line of error (hints aside), the path named, nothing panicked.
fn refused(o: &std::process::Output, path: &Path) {
    let err = text(o).1;
    assert!(
        !o.status.success(),
        "writing on a full disk succeeded: {err}"
    );
    assert!(!err.contains("panicked"), "{err}");
    assert!(
        err.contains(path.to_str().unwrap()),
        "the error names {}: {err}",
        path.display()
    );
    assert!(err.to_lowercase().contains("no space left"), "{err}");
}

#[test]
fn writers_on_a_full_disk_fail_cleanly_and_keep_the_old_artefact() {
    let Some(disk) = Tmpfs::mount("8m") else {
        eprintln!("skipped: cannot mount a tmpfs here (not root?)");
        return;
    };
    let sample = repo_root().join("data/scifact-sample");
    let small = disk.path().join("small.jsonl");
    let corpus = std::fs::read_to_string(sample.join("corpus.jsonl")).unwrap();
    std::fs::write(
        &small,
        corpus.lines().take(20).collect::<Vec<_>>().join("\n") + "\n",
    )
    .unwrap();
    let (idx, npy, run) = (
        disk.path().join("idx"),
        disk.path().join("v.npy"),
        disk.path().join("run.trec"),
    );
    let p = |x: &Path| x.to_str().unwrap().to_string();
    let queries = sample.join("queries.jsonl");
    let index = |corpus: &Path| {
        rankbook(&[
            "index",
            "--bm25",
            "--corpus",
            &p(corpus),
            "--output",
            &p(&idx),
            "--quiet",
        ])
    };
    let encode = |corpus: &Path| {
        rankbook(&[
            "encode",
            "--model",
            MODEL,
            "--input",
            &p(corpus),
            "--output",
            &p(&npy),
            "--no-cache",
            "--quiet",
        ])
    };
    let search = || {
        rankbook(&[
            "search",
            "--index",
            &p(&idx),
            "--queries",
            &p(&queries),
            "--k",
            "100",
            "--output",
            &p(&run),
            "--quiet",
        ])
    };
    for o in [index(&small), encode(&small), search()] {
        assert!(o.status.success(), "{}", text(&o).1);
    }
    let before = (
        files_of(&idx),
        std::fs::read(&npy).unwrap(),
        std::fs::read(&run).unwrap(),
    );
    disk.fill(4096);
    let full = sample.join("corpus.jsonl");
    refused(&index(&full), &idx);
    refused(&encode(&full), &npy);
    refused(&search(), &run);
    assert!(files_of(&idx) == before.0, "the index changed");
    assert!(
        std::fs::read(&npy).unwrap() == before.1,
        "the vectors changed"
    );
    assert!(std::fs::read(&run).unwrap() == before.2, "the run changed");
    // Nothing half-written is left beside them.
    let stray: Vec<String> = std::fs::read_dir(disk.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".rankbook-"))
        .collect();
    assert!(stray.is_empty(), "{stray:?}");
}
