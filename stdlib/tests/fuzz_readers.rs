//! Fuzzing the readers of outside data (arbtest on stable Rust): each reader
//! gets a valid file byte-mutated (bytes flipped, inserted, deleted, lines
//! repeated or cut, the file truncated) and must return, never panic or hang;
//! an error names the file (and, for line-based formats, the line).
//! RANKBOOK_FUZZ_CASES sets the cases per reader (CI: the default below;
//! `scripts/fuzz.sh` runs a million).

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;

use arbtest::arbitrary::{Result as ArbResult, Unstructured};
use rankbook::data::{Qrels, Run};

const DEFAULT_CASES: u64 = 2_000;

/// Bytes that make parsers take their unusual paths.
const SPICE: &[&[u8]] = &[
    b"\t",
    b"\n",
    b"\r\n",
    b" ",
    b"\"",
    b"\\",
    b"{",
    b"}",
    b"[",
    b"]",
    b":",
    b",",
    b"#",
    b"\0",
    b"\xff",
    b"\xc3",
    b"\xef\xbb\xbf",
    b"NaN",
    b"-1",
    b"1e999",
    b"null",
    b"0",
    b"Q0",
];

fn cases() -> u64 {
    std::env::var("RANKBOOK_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_CASES)
}

/// `seed` mutated a few times by the fuzzer's choices.
fn mutate(u: &mut Unstructured, seed: &[u8]) -> ArbResult<Vec<u8>> {
    let mut out = seed.to_vec();
    for _ in 0..u.int_in_range(1..=4)? {
        let at = if out.is_empty() {
            0
        } else {
            u.choose_index(out.len() + 1)?
        };
        match u.int_in_range(0..=6)? {
            0 if !out.is_empty() => {
                let i = at.min(out.len() - 1);
                out[i] ^= 1 << u.int_in_range(0..=7)?;
            }
            1 => {
                let piece = *u.choose(SPICE)?;
                out.splice(at..at, piece.iter().copied());
            }
            2 => {
                let end = (at + u.int_in_range(1..=16)?).min(out.len());
                out.drain(at.min(end)..end);
            }
            3 => out.truncate(at),
            4 => {
                // Repeat the line the cut falls in (duplicate ids, repeated docs).
                let start = out[..at.min(out.len())]
                    .iter()
                    .rposition(|b| *b == b'\n')
                    .map_or(0, |i| i + 1);
                let end = out[start..]
                    .iter()
                    .position(|b| *b == b'\n')
                    .map_or(out.len(), |i| start + i + 1);
                let line = out[start..end].to_vec();
                out.splice(end..end, line);
            }
            5 => {
                let bytes: Vec<u8> = (0..u.int_in_range(1..=8)?)
                    .map(|_| u.arbitrary::<u8>())
                    .collect::<ArbResult<_>>()?;
                out.splice(at..at, bytes);
            }
            _ => {}
        }
    }
    Ok(out)
}

/// Runs `read` on mutations of `seed` written to `name`; every error must
/// name the file, and `with_line` errors also a line (`file:N`).
fn fuzz<T>(
    name: &str,
    seed_bytes: &[u8],
    with_line: bool,
    read: impl Fn(&Path) -> rankbook::Result<T>,
) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(name);
    // The valid file itself reads.
    std::fs::write(&path, seed_bytes).unwrap();
    if let Err(e) = read(&path) {
        panic!("{name}: the unmutated seed fails: {e}");
    }
    let (mut errors, mut read_ok) = (0u64, 0u64);
    // Seeds fixed per case, so a failure prints a seed that reproduces it
    // (ARBTEST_SEED) and CI sees the same cases every run. A seed is the
    // entropy's size (low 32 bits) and its random part.
    for case in 0..cases() {
        let random = (case + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32;
        let seed = (random << 32) | (64 + case % 192);
        arbtest::arbtest(|u| {
            let bytes = mutate(u, seed_bytes)?;
            std::fs::write(&path, &bytes).unwrap();
            match catch_unwind(AssertUnwindSafe(|| read(&path))) {
                Ok(Ok(_)) => read_ok += 1,
                Ok(Err(e)) => {
                    check_error(name, &e.to_string(), &path, with_line, &bytes);
                    errors += 1;
                }
                Err(_) => panic!("{name}: the reader panicked on {bytes:?}"),
            }
            Ok(())
        })
        .seed(seed)
        .run();
    }
    eprintln!(
        "{name}: {} cases, {read_ok} read, {errors} refused, 0 panics",
        cases()
    );
}

/// An error names the file and, for line-based formats, the line (`file:N`).
fn check_error(name: &str, msg: &str, path: &Path, with_line: bool, bytes: &[u8]) {
    let shown = path.display().to_string();
    let Some(at) = msg.find(&shown) else {
        panic!("{name}: error without the file: {msg}\ninput: {bytes:?}");
    };
    if with_line {
        let digits = msg[at + shown.len()..]
            .strip_prefix(':')
            .map_or(0, |r| r.chars().take_while(char::is_ascii_digit).count());
        assert!(
            digits > 0 || msg.contains("empty file"),
            "{name}: error without a line: {msg}\ninput: {bytes:?}"
        );
    }
}

#[test]
fn trec_runs() {
    let seed = b"1 Q0 d1 1 2.5 run\n1 Q0 d2 2 1.25 run\n2 Q0 d1 1 -0.5 run extra fields\n\n3 Q0 doc#3 1 1e-3 r\n";
    fuzz("run.trec", seed, true, Run::read);
}

#[test]
fn qrels_trec_beir_and_diversity() {
    fuzz(
        "qrels.txt",
        b"# comment\n1 0 d1 1\n1 0 d2 0\n2 0 d1 -1\n",
        true,
        Qrels::read,
    );
    fuzz(
        "qrels.tsv",
        b"query-id\tcorpus-id\tscore\n1\td1\t1\n2\td2\t2\n",
        true,
        Qrels::read,
    );
    fuzz(
        "qrels.div",
        b"1 1 d1 1\n1 2 d1 0\n1 2 d2 2\n",
        true,
        Qrels::read,
    );
}

#[test]
fn beir_corpus_and_texts() {
    let corpus = br#"{"_id": "d1", "title": "T", "text": "some text"}
{"_id": "d2", "text": "more \u00e9 text", "metadata": {}}
"#;
    fuzz(
        "corpus.jsonl",
        corpus,
        true,
        rankbook::data::beir::read_corpus,
    );
    fuzz(
        "texts.jsonl",
        b"{\"id\": \"q1\", \"text\": \"what\"}\n{\"id\": \"q2\", \"text\": \"why\"}\n",
        true,
        rankbook::data::read_texts,
    );
}

#[test]
fn training_files() {
    fuzz(
        "triples.tsv",
        b"a query\ta positive\ta negative\nq2\tp2\tn2\n",
        true,
        rankbook::data::training::read_triples,
    );
    fuzz(
        "pairs.jsonl",
        b"{\"text_a\": \"a\", \"text_b\": \"b\", \"score\": 0.5}\n{\"sentence1\": \"c\", \"sentence2\": \"d\", \"label\": 1}\n",
        true,
        rankbook::data::samples::read_pairs,
    );
    fuzz(
        "groups.jsonl",
        b"{\"text\": \"a\", \"group\": \"g1\"}\n{\"text\": \"b\", \"label\": \"g2\"}\n",
        true,
        rankbook::data::samples::read_groups,
    );
    fuzz(
        "negatives.jsonl",
        b"{\"query\": \"q\", \"positive\": \"p\", \"negatives\": [\"n1\", \"n2\"]}\n",
        true,
        |p| rankbook::data::negatives::read_negatives(p, None),
    );
}

#[test]
fn vector_files() {
    use rankbook::vectors::{
        Embeddings, MultiVectors, VectorFile, read_multi_vectors, write_multi_vectors,
        write_vectors,
    };
    let dir = tempfile::tempdir().unwrap();
    let ids = vec!["a".to_string(), "b".to_string()];
    let dense = dir.path().join("v.arrow");
    write_vectors(
        &dense,
        &ids,
        &Embeddings::new(3, vec![0.1, 0.2, 0.3, 0.4, 0.5, 0.6]),
    )
    .unwrap();
    fuzz(
        "v.arrow",
        &std::fs::read(&dense).unwrap(),
        false,
        VectorFile::open,
    );
    let multi = dir.path().join("m.arrow");
    let vectors = MultiVectors::new(2, vec![0, 2, 3], vec![0.1, 0.2, 0.3, 0.4, 0.5, 0.6]).unwrap();
    write_multi_vectors(&multi, &ids, &vectors).unwrap();
    fuzz(
        "m.arrow",
        &std::fs::read(&multi).unwrap(),
        false,
        read_multi_vectors,
    );
}
