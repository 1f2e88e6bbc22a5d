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
    // The file it was writing, not the temporary folder it was writing in.
    assert!(!err.contains(".rankbook-"), "{err}");
    eprintln!("{}", err.trim());
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

/// The embedding cache, `fit`'s checkpoints and model, and a script cell
/// saving an index (the kernel runs cells through the same session): on a
/// full disk each fails with one line naming what it was writing, and what
/// was there before still loads.
#[test]
fn the_cache_fit_and_cells_on_a_full_disk() {
    let Some(disk) = Tmpfs::mount("16m") else {
        eprintln!("skipped: cannot mount a tmpfs here (not root?)");
        return;
    };
    let sample = repo_root().join("data/scifact-sample");
    let p = |x: &Path| x.to_str().unwrap().to_string();
    let (cache, fit_out, idx) = (
        disk.path().join("cache"),
        disk.path().join("fit"),
        disk.path().join("idx"),
    );
    let half = disk.path().join("half.jsonl");
    let corpus = std::fs::read_to_string(sample.join("corpus.jsonl")).unwrap();
    std::fs::write(
        &half,
        corpus.lines().take(100).collect::<Vec<_>>().join("\n") + "\n",
    )
    .unwrap();
    let encode = |input: &Path, out: &Path| {
        rankbook(&[
            "encode",
            "--model",
            MODEL,
            "--input",
            &p(input),
            "--output",
            &p(out),
            "--cache-dir",
            &p(&cache),
            "--quiet",
        ])
    };
    let model = repo_root().join("stdlib/tests/fixtures/tiny/distilbert-st");
    let fit = |max_steps: &str| {
        rankbook(&[
            "fit",
            "--model",
            &p(&model),
            "--data",
            &p(&sample),
            "--split",
            "test",
            "--batch-size",
            "8",
            "--checkpoint-every",
            "2",
            "--max-steps",
            max_steps,
            "--quiet",
            "--output",
            &p(&fit_out),
        ])
    };
    let script = disk.path().join("save.rhai");
    std::fs::write(
        &script,
        format!(
            "let ds = beir(\"{}\");\nsave(bm25(corpus(ds)), \"{}\");\n",
            p(&sample),
            p(&idx)
        ),
    )
    .unwrap();
    let cell = || rankbook(&["run", &p(&script)]);
    // What is there before the disk fills.
    let first = disk.path().join("first.npy");
    for o in [encode(&half, &first), fit("2"), cell()] {
        assert!(o.status.success(), "{}", text(&o).1);
    }
    let checkpoints = files_of(&fit_out.join("checkpoints"));
    let index = files_of(&idx);
    disk.fill(4096);
    // The cache: the full corpus has 101 texts it does not hold.
    let o = encode(&sample.join("corpus.jsonl"), &disk.path().join("all.npy"));
    refused(&o, disk.path());
    assert!(
        text(&o).1.contains(&p(&cache)) || text(&o).1.contains("all.npy"),
        "{}",
        text(&o).1
    );
    // A second fit over the first one's output: its checkpoints stay.
    refused(&fit("6"), &fit_out);
    assert!(files_of(&fit_out.join("checkpoints")) == checkpoints);
    refused(&cell(), &idx);
    assert!(files_of(&idx) == index, "the index changed");
    // Room again: the old cache entries give the old vectors.
    std::fs::remove_file(disk.path().join("filler")).unwrap();
    let again = disk.path().join("again.npy");
    assert!(encode(&half, &again).status.success());
    assert!(std::fs::read(&again).unwrap() == std::fs::read(&first).unwrap());
}
