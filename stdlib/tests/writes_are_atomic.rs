//! Every write of an artefact goes through `atomic.rs` (issue 22): outside
//! it, the library's code (tests aside) calls a raw file writer only where
//! it is listed below with the reason it is safe. A new raw write fails this
//! test until it goes through `write_atomically` / `write_dir_atomically` or
//! is listed with its reason.

use std::path::Path;

/// Calls that write a file without a temporary file and a rename.
const RAW_WRITES: &[&str] = &[
    "fs::write(",
    "File::create(",
    "OpenOptions::new()",
    "safetensors::save(",
    "fs::copy(",
    "persist(",
];

/// (file, call, reason) of the raw writes that are safe.
const ALLOWED: &[(&str, &str, &str)] = &[
    (
        "model/weights.rs",
        "safetensors::save(",
        "save_tensors: its callers write into a temporary folder",
    ),
    (
        "model/sentence.rs",
        "fs::copy(",
        "copy_tree: called with a temporary folder as target",
    ),
    (
        "model/colbert/build.rs",
        "fs::write(",
        "inside write_dir_atomically's temporary folder",
    ),
    (
        "model/cross_encoder.rs",
        "fs::write(",
        "inside write_dir_atomically's temporary folder",
    ),
    (
        "model/cross_encoder.rs",
        "fs::copy(",
        "inside write_dir_atomically's temporary folder",
    ),
    (
        "model/colbert/build.rs",
        "fs::copy(",
        "inside write_dir_atomically's temporary folder",
    ),
    (
        "data/testing.rs",
        "fs::write(",
        "test fixtures (the module is compiled for tests only)",
    ),
    (
        "train/checkpoint.rs",
        "fs::write(",
        "inside write_dir_atomically's temporary folder",
    ),
    (
        "train/head_trainee.rs",
        "fs::write(",
        "inside write_dir_atomically's temporary folder",
    ),
    (
        "index/inverted.rs",
        "fs::write(",
        "inside write_index_dir's temporary folder",
    ),
    (
        "train/history.rs",
        "OpenOptions::new()",
        "history.jsonl is appended a whole line per write (created atomically)",
    ),
];

fn sources(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            sources(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

#[test]
fn no_writer_bypasses_the_atomic_module() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&src, &mut files);
    let mut found = Vec::new();
    for path in files {
        let rel = path.strip_prefix(&src).unwrap().display().to_string();
        if rel == "atomic.rs" {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        // The code before the file's unit tests.
        let code = text.split("#[cfg(test)]\nmod tests").next().unwrap();
        for (n, line) in code.lines().enumerate() {
            let line = line.trim_start();
            if line.starts_with("//") {
                continue;
            }
            for call in RAW_WRITES {
                if line.contains(call) && !ALLOWED.iter().any(|(f, c, _)| *f == rel && c == call) {
                    found.push(format!("src/{rel}:{}: {line}", n + 1));
                }
            }
        }
    }
    assert!(
        found.is_empty(),
        "raw writes outside atomic.rs (write through atomic.rs, or list them in ALLOWED with why they are safe):\n{}",
        found.join("\n")
    );
}
