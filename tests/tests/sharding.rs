//! Sharded encoding: N processes (`--shard i/N`, or RANK/WORLD_SIZE) each
//! encode a slice of the SciFact sample; `rankbook merge` puts the parts back
//! together byte for byte as the unsharded output, and refuses an incomplete,
//! repeated or changed set of parts.

use std::path::{Path, PathBuf};
use std::process::Command;

use rankbook_tests::{rankbook, rankbook_bin, repo_root, sample_data, test_cache_dir, text};

fn model() -> String {
    repo_root()
        .join("stdlib/tests/fixtures/tiny/modernbert-st")
        .to_string_lossy()
        .into_owned()
}

fn encode_command(output: &Path) -> Command {
    let mut c = Command::new(rankbook_bin());
    c.args(["encode", "--model", &model(), "--input"])
        .arg(sample_data().join("corpus.jsonl"))
        .arg("--output")
        .arg(output)
        .args(["--max-length", "64", "--quiet", "--no-cache"])
        .env("RANKBOOK_CACHE_DIR", test_cache_dir())
        .env_remove("RANK")
        .env_remove("WORLD_SIZE");
    c
}

fn ok(o: &std::process::Output) -> String {
    let (out, err) = text(o);
    assert!(o.status.success(), "{out}\n{err}");
    err
}

/// Runs N shard processes at once (odd ranks through the environment); their parts.
fn sharded(dir: &Path, n: usize) -> Vec<PathBuf> {
    let parts: Vec<PathBuf> = (0..n).map(|i| dir.join(format!("part{i}.arrow"))).collect();
    let children: Vec<_> = parts
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let mut c = encode_command(p);
            if i % 2 == 1 {
                c.env("RANK", i.to_string())
                    .env("WORLD_SIZE", n.to_string());
            } else {
                c.arg("--shard").arg(format!("{i}/{n}"));
            }
            c.spawn().expect("rankbook starts")
        })
        .collect();
    for child in children {
        ok(&child.wait_with_output().unwrap());
    }
    parts
}

fn merge(output: &Path, parts: &[PathBuf]) -> std::process::Output {
    let mut args = vec![
        "merge".to_string(),
        "--output".into(),
        output.to_string_lossy().into(),
    ];
    args.extend(parts.iter().map(|p| p.to_string_lossy().into_owned()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    rankbook(&args)
}

#[test]
fn sharded_encoding_merges_to_the_unsharded_output() {
    let d = tempfile::tempdir().unwrap();
    let whole = d.path().join("whole.jsonl");
    ok(&encode_command(&whole).output().unwrap());
    let want = std::fs::read(&whole).unwrap();
    for n in 1..=4 {
        let dir = d.path().join(format!("n{n}"));
        std::fs::create_dir(&dir).unwrap();
        let mut parts = sharded(&dir, n);
        parts.reverse(); // any order
        let merged = dir.join("merged.jsonl");
        ok(&merge(&merged, &parts));
        assert_eq!(std::fs::read(&merged).unwrap(), want, "N = {n}");
    }

    // Refusals: a missing shard, a shard twice, a changed part.
    let dir = d.path().join("n3");
    let parts: Vec<PathBuf> = (0..3).map(|i| dir.join(format!("part{i}.arrow"))).collect();
    let out = dir.join("again.jsonl");
    let refused = |parts: &[PathBuf], want: &str| {
        let o = merge(&out, parts);
        let (_, err) = text(&o);
        assert!(!o.status.success() && err.contains(want), "{err}");
        assert!(!out.exists(), "nothing written");
    };
    refused(&parts[..2], "shards 2 of 3 are missing");
    refused(
        &[
            parts[0].clone(),
            parts[1].clone(),
            parts[1].clone(),
            parts[2].clone(),
        ],
        "shard 1 is given twice",
    );
    std::fs::copy(&parts[0], &parts[1]).unwrap();
    refused(&parts, "its checksum differs");
}
