//! Crash-consistency trials (issue 22): the real command writes over an existing
//! artefact and is killed with SIGKILL at a random moment; after each kill the
//! artefact at the path must load (checksums verified) and be the old one or the
//! new one, whole. The commands alternate between two corpora (201 and 100
//! documents) so that old and new differ. CI runs a few trials per kind;
//! `RANKBOOK_KILL_TRIALS=200` runs the full size (`scripts/crash_trials.sh`).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use rankbook_tests::{encode_args, rankbook, rankbook_bin, repo_root, text};

const MODEL: &str = "sentence-transformers/all-MiniLM-L6-v2";
const SPLADE: &str = "rasyosef/splade-tiny";

fn trials() -> usize {
    std::env::var("RANKBOOK_KILL_TRIALS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(4)
}

/// A small deterministic generator (no dependency for one random number).
struct Lcg(u64);
impl Lcg {
    fn unit(&mut self) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// The two corpora: the sample's 201 documents, and its first 100.
fn corpora(dir: &Path) -> [(PathBuf, usize); 2] {
    let full = repo_root().join("data/scifact-sample/corpus.jsonl");
    let text = std::fs::read_to_string(&full).unwrap();
    let half = dir.join("half.jsonl");
    let lines: Vec<&str> = text.lines().take(100).collect();
    std::fs::write(&half, lines.join("\n") + "\n").unwrap();
    [(full, 201), (half, 100)]
}

/// One artefact kind: the command that writes `out` from a corpus, and the
/// check that returns the document count of what is at `out` (None: unreadable).
struct Kind {
    name: &'static str,
    write: fn(&Path, &Path, &Path) -> Vec<String>,
    count: fn(&Path, &Path) -> Option<usize>,
}

fn index_args(extra: &[&str], corpus: &Path, out: &Path, cache: &Path) -> Vec<String> {
    let mut a: Vec<String> = ["index", "--corpus"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    a.push(corpus.display().to_string());
    a.extend(["--output".into(), out.display().to_string()]);
    a.extend([
        "--cache-dir".into(),
        cache.display().to_string(),
        "--quiet".into(),
    ]);
    a.extend(extra.iter().map(|s| s.to_string()));
    a
}

/// Loads the index (a search verifies every checksum) and reads its count.
fn index_count(out: &Path, scratch: &Path) -> Option<usize> {
    let queries = repo_root().join("data/scifact-sample/queries.jsonl");
    let o = rankbook(&[
        "search",
        "--index",
        out.to_str()?,
        "--queries",
        queries.to_str()?,
        "--k",
        "5",
        "--output",
        scratch.join("run.trec").to_str()?,
        "--quiet",
        "--no-cache",
    ]);
    if !o.status.success() {
        eprintln!("unreadable: {}", text(&o).1);
        return None;
    }
    let m: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("manifest.json")).ok()?).ok()?;
    m["count"].as_u64().map(|c| c as usize)
}

/// Rows of an `.npy` of vectors, if its ids file agrees.
fn npy_count(out: &Path, _: &Path) -> Option<usize> {
    let ids: Vec<String> =
        serde_json::from_str(&std::fs::read_to_string(out.with_extension("ids.json")).ok()?)
            .ok()?;
    let bytes = std::fs::read(out).ok()?;
    let header_len = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
    let rows = (bytes.len() - 10 - header_len) / (384 * 4);
    (rows == ids.len()).then_some(rows)
}

fn kinds() -> Vec<Kind> {
    vec![
        Kind {
            name: "BM25 index",
            write: |c, o, cache| index_args(&["--bm25"], c, o, cache),
            count: index_count,
        },
        Kind {
            name: "dense index",
            write: |c, o, cache| index_args(&["--model", MODEL], c, o, cache),
            count: index_count,
        },
        Kind {
            name: "SPLADE index",
            write: |c, o, cache| index_args(&["--model", SPLADE, "--sparse"], c, o, cache),
            count: index_count,
        },
        Kind {
            name: "encode .npy",
            write: |c, o, cache| {
                vec![
                    "encode".into(),
                    "--model".into(),
                    MODEL.into(),
                    "--input".into(),
                    c.display().to_string(),
                    "--output".into(),
                    o.display().to_string(),
                    "--cache-dir".into(),
                    cache.display().to_string(),
                    "--quiet".into(),
                ]
            },
            count: npy_count,
        },
    ]
}

/// Starts `rankbook ARGS` and sends it SIGKILL after a random part of
/// `span` seconds; whether it was still running then.
fn kill_at_random(args: &[String], rng: &mut Lcg, span: f64) -> bool {
    let mut child = Command::new(rankbook_bin())
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_secs_f64(rng.unit() * span));
    // Child::kill sends SIGKILL on Unix.
    let running = child.try_wait().unwrap().is_none();
    if running {
        child.kill().unwrap();
    }
    child.wait().unwrap();
    running
}

/// Temporary entries rankbook left anywhere under `dir`.
fn temporaries_under(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .map(|p| {
            let ours = p
                .file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with(".rankbook-");
            usize::from(ours)
                + if p.is_dir() && !ours {
                    temporaries_under(&p)
                } else {
                    0
                }
        })
        .sum()
}

/// Temporary entries rankbook left beside `out`.
fn leftovers(out: &Path) -> usize {
    std::fs::read_dir(out.parent().unwrap())
        .unwrap()
        .filter(|e| {
            let name = e.as_ref().unwrap().file_name();
            name.to_string_lossy().starts_with(".rankbook-")
        })
        .count()
}

#[test]
fn killed_writes_leave_the_old_or_the_new_artefact() {
    let mut rng = Lcg(42);
    let mut report = Vec::new();
    // RANKBOOK_KILL_KINDS=SPLADE,... runs only the kinds named so.
    let only = std::env::var("RANKBOOK_KILL_KINDS").ok();
    let picked = |name: &str| {
        only.as_ref()
            .is_none_or(|o| o.split(',').any(|k| name.starts_with(k)))
    };
    for kind in kinds().into_iter().filter(|k| picked(k.name)) {
        let d = tempfile::tempdir().unwrap();
        let corpora = corpora(d.path());
        let (cache, scratch) = (d.path().join("cache"), d.path().join("scratch"));
        std::fs::create_dir_all(&scratch).unwrap();
        let out = d.path().join(if kind.name.starts_with("encode") {
            "vectors.npy"
        } else {
            "idx"
        });
        // The first build, and how long a whole write takes (cache warm).
        let run = |corpus: &Path| {
            let args = (kind.write)(corpus, &out, &cache);
            let o = Command::new(rankbook_bin()).args(&args).output().unwrap();
            assert!(o.status.success(), "{}: {}", kind.name, text(&o).1);
        };
        run(&corpora[0].0);
        let t = Instant::now();
        run(&corpora[1].0);
        let span = t.elapsed().as_secs_f64() * 1.2;
        let (mut killed, mut bad, mut finished) = (0, 0, 0);
        for trial in 0..trials() {
            let (corpus, _) = &corpora[trial % 2];
            if kill_at_random(&(kind.write)(corpus, &out, &cache), &mut rng, span) {
                killed += 1;
            } else {
                finished += 1;
            }
            match (kind.count)(&out, &scratch) {
                Some(n) if n == 201 || n == 100 => {}
                other => {
                    bad += 1;
                    eprintln!("{}: trial {trial}: after the kill {other:?}", kind.name);
                }
            }
        }
        // A later run is not tripped by anything a kill left.
        run(&corpora[0].0);
        assert_eq!((kind.count)(&out, &scratch), Some(201), "{}", kind.name);
        let left = leftovers(&out);
        report.push(format!(
            "{}: {} trials, {killed} killed mid-write, {finished} finished first, {bad} corrupted or unreadable, {left} temporary entries left beside it",
            kind.name,
            trials()
        ));
        assert_eq!(bad, 0, "{}", report.last().unwrap());
        // A write removes what killed writers left beside it.
        assert_eq!(left, 0, "{}", report.last().unwrap());
    }
    for line in &report {
        eprintln!("{line}");
    }
}

/// `encode` into an embedding cache that already holds other entries, killed
/// at a random moment: afterwards the old entries give the same vectors, and
/// the texts the killed run was encoding give, through the cache, exactly the
/// vectors of an encode without it (a damaged entry is never served).
#[test]
fn killed_cache_writes_never_serve_a_damaged_entry() {
    let mut rng = Lcg(7);
    let d = tempfile::tempdir().unwrap();
    let [(full, _), _] = corpora(d.path());
    let cache = d.path().join("cache");
    let encode = encode_args;
    let cached = ["--cache-dir", cache.to_str().unwrap()];
    let run = |args: Vec<String>| {
        let o = Command::new(rankbook_bin()).args(&args).output().unwrap();
        assert!(o.status.success(), "{}", text(&o).1);
    };
    // The old entries: the 201 documents.
    let want_old = d.path().join("old.npy");
    run(encode(&full, &want_old, &cached));
    // Texts new to the cache for each trial: the first 100 with a suffix.
    let lines: Vec<String> = std::fs::read_to_string(&full)
        .unwrap()
        .lines()
        .take(100)
        .map(String::from)
        .collect();
    let fresh_corpus = |trial: usize| {
        let path = d.path().join(format!("fresh-{trial}.jsonl"));
        let text: Vec<String> = lines
            .iter()
            .map(|l| {
                let mut v: serde_json::Value = serde_json::from_str(l).unwrap();
                let t = format!("{} (trial {trial})", v["text"].as_str().unwrap());
                v["text"] = t.into();
                v.to_string()
            })
            .collect();
        std::fs::write(&path, text.join("\n") + "\n").unwrap();
        path
    };
    let t = Instant::now();
    run(encode(
        &fresh_corpus(usize::MAX),
        &d.path().join("x.npy"),
        &cached,
    ));
    let span = t.elapsed().as_secs_f64() * 1.2;
    let (mut killed, mut bad) = (0, 0);
    let same = |a: &Path, b: &Path| std::fs::read(a).unwrap() == std::fs::read(b).unwrap();
    for trial in 0..trials() {
        let corpus = fresh_corpus(trial);
        let args = encode(&corpus, &d.path().join("killed.npy"), &cached);
        killed += usize::from(kill_at_random(&args, &mut rng, span));
        let (got_old, got_new, want_new) = (
            d.path().join("got-old.npy"),
            d.path().join("got-new.npy"),
            d.path().join("want-new.npy"),
        );
        run(encode(&full, &got_old, &cached));
        run(encode(&corpus, &got_new, &cached));
        run(encode(&corpus, &want_new, &["--no-cache"]));
        if !same(&got_old, &want_old) || !same(&got_new, &want_new) {
            bad += 1;
            eprintln!("embedding cache: trial {trial}: vectors differ after the kill");
        }
    }
    // A later store removes the temporary files killed writers left.
    run(encode(
        &fresh_corpus(usize::MAX - 1),
        &d.path().join("y.npy"),
        &cached,
    ));
    let left = temporaries_under(&cache);
    let line = format!(
        "embedding cache: {} trials, {killed} killed mid-write, {bad} with vectors differing from an uncached encode, {left} temporary files left",
        trials()
    );
    assert_eq!(left, 0, "{line}");
    eprintln!("{line}");
    assert_eq!(bad, 0, "{line}");
}

/// `fit` killed at a random moment while it writes checkpoints and its final
/// model: every checkpoint left loads, and resuming from the last one ends
/// with weights bit-identical to an uninterrupted run's (a final model the
/// killed run had written is already those).
#[test]
fn killed_fit_resumes_bit_exactly() {
    let mut rng = Lcg(11);
    let d = tempfile::tempdir().unwrap();
    let data = repo_root().join("data/scifact-sample");
    let model = repo_root().join("stdlib/tests/fixtures/tiny/distilbert-st");
    let fit = |out: &Path, resume: Option<&Path>| {
        let mut args: Vec<String> = [
            "fit",
            "--model",
            model.to_str().unwrap(),
            "--data",
            data.to_str().unwrap(),
            "--split",
            "test",
            "--batch-size",
            "8",
            "--epochs",
            "3",
            "--checkpoint-every",
            "2",
            "--keep-checkpoints",
            "100",
            "--quiet",
            "--output",
            out.to_str().unwrap(),
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        if let Some(r) = resume {
            args.extend(["--resume".into(), r.display().to_string()]);
        }
        args
    };
    let run = |args: Vec<String>| {
        let o = Command::new(rankbook_bin()).args(&args).output().unwrap();
        assert!(o.status.success(), "{}", text(&o).1);
    };
    let whole = d.path().join("whole");
    let t = Instant::now();
    run(fit(&whole, None));
    let span = t.elapsed().as_secs_f64() * 1.2;
    let want = std::fs::read(whole.join("model/model.safetensors")).unwrap();
    let (mut killed, mut resumed, mut bad) = (0, 0, 0);
    for trial in 0..trials() {
        let out = d.path().join(format!("run-{trial}"));
        killed += usize::from(kill_at_random(&fit(&out, None), &mut rng, span));
        let final_model = out.join("model/model.safetensors");
        // A final model is whole or absent.
        if final_model.exists() && std::fs::read(&final_model).unwrap() != want {
            bad += 1;
            eprintln!("fit: trial {trial}: a final model differing from the whole run's");
        }
        let last = std::fs::read_dir(out.join("checkpoints"))
            .into_iter()
            .flatten()
            .map(|e| e.unwrap().path())
            .filter(|p| {
                p.file_name()
                    .unwrap()
                    .to_string_lossy()
                    .starts_with("step-")
            })
            .max();
        let o = Command::new(rankbook_bin())
            .args(fit(&out, last.as_deref()))
            .output()
            .unwrap();
        if !o.status.success() {
            bad += 1;
            eprintln!(
                "fit: trial {trial}: resume from {last:?} failed: {}",
                text(&o).1
            );
            continue;
        }
        resumed += usize::from(last.is_some());
        if std::fs::read(&final_model).unwrap() != want {
            bad += 1;
            eprintln!("fit: trial {trial}: resumed from {last:?}, other weights");
        }
        std::fs::remove_dir_all(&out).unwrap();
    }
    let line = format!(
        "fit: {} trials, {killed} killed mid-run, {resumed} resumed from a checkpoint, {bad} unreadable or not bit-exact",
        trials()
    );
    eprintln!("{line}");
    assert_eq!(bad, 0, "{line}");
}
