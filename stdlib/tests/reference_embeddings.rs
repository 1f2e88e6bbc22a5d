//! all-MiniLM-L6-v2 (BERT) and all-mpnet-base-v2 (MPNet) against
//! sentence-transformers' own outputs for 16 fixed texts (token ids and
//! embeddings in data/reference/{minilm,mpnet}_reference.jsonl).

use std::path::PathBuf;

use rankbook::model::batch::TokenBatch;
use rankbook::model::{Backend, EncodeOptions, ModelOptions, SentenceEncoder};

const MODEL: &str = "sentence-transformers/all-MiniLM-L6-v2";
const MPNET: &str = "sentence-transformers/all-mpnet-base-v2";

struct Reference {
    id: String,
    text: String,
    token_ids: Vec<u32>,
    embedding: Vec<f32>,
}

fn references() -> Vec<Reference> {
    references_in("minilm_reference.jsonl")
}

fn references_in(file: &str) -> Vec<Reference> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../data/reference")
        .join(file);
    std::fs::read_to_string(&path)
        .unwrap()
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            Reference {
                id: v["id"].as_str().unwrap().to_string(),
                text: v["text"].as_str().unwrap().to_string(),
                token_ids: serde_json::from_value(v["token_ids"].clone()).unwrap(),
                embedding: serde_json::from_value(v["embedding"].clone()).unwrap(),
            }
        })
        .collect()
}

/// Both inference paths: the packed CPU path (default) and candle.
fn models() -> Vec<(&'static str, SentenceEncoder)> {
    models_of(MODEL)
}

fn models_of(model: &str) -> Vec<(&'static str, SentenceEncoder)> {
    [("cpu", Backend::Auto), ("candle", Backend::Candle)]
        .into_iter()
        .map(|(name, backend)| {
            let opts = ModelOptions {
                backend,
                ..Default::default()
            };
            let m = SentenceEncoder::load(model, &opts)
                .unwrap_or_else(|e| panic!("{e}\nhint: run bash scripts/setup.sh --all first"));
            (name, m)
        })
        .collect()
}

fn model() -> SentenceEncoder {
    models().remove(0).1
}

fn cosine(a: &[f32], b: &[f32]) -> f64 {
    let dot: f64 = a.iter().zip(b).map(|(x, y)| *x as f64 * *y as f64).sum();
    let na: f64 = a.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt();
    let nb: f64 = b.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt();
    dot / (na * nb)
}

fn check(name: &str, got: &[f32], want: &[f32]) -> (f64, f32) {
    let cos = cosine(got, want);
    let max_diff = got
        .iter()
        .zip(want)
        .map(|(a, b)| (a - b).abs())
        .fold(0f32, f32::max);
    assert!(cos >= 0.99999, "{name}: cosine {cos}");
    assert!(max_diff <= 1e-5, "{name}: max abs diff {max_diff}");
    (cos, max_diff)
}

#[test]
fn token_ids_equal_sentence_transformers() {
    let m = model();
    let refs = references();
    assert_eq!(refs.len(), 16);
    let texts: Vec<&str> = refs.iter().map(|r| r.text.as_str()).collect();
    let ids = m.tokenize(&texts, None).unwrap();
    for (r, got) in refs.iter().zip(&ids) {
        assert_eq!(got.ids, r.token_ids, "token ids of `{}`", r.id);
    }
}

#[test]
fn embeddings_equal_reference_one_by_one_and_in_padded_batches() {
    let refs = references();
    for (path, m) in models() {
        check_model(path, &m, &refs);
    }
}

#[test]
fn all_mpnet_base_v2_equals_sentence_transformers() {
    let refs = references_in("mpnet_reference.jsonl");
    let texts: Vec<&str> = refs.iter().map(|r| r.text.as_str()).collect();
    for (path, m) in models_of(MPNET) {
        let ids = m.tokenize(&texts, None).unwrap();
        for (r, got) in refs.iter().zip(&ids) {
            assert_eq!(got.ids, r.token_ids, "token ids of `{}`", r.id);
        }
        check_model(&format!("mpnet {path}"), &m, &refs);
    }
}

fn check_model(path: &str, m: &SentenceEncoder, refs: &[Reference]) {
    let texts: Vec<&str> = refs.iter().map(|r| r.text.as_str()).collect();
    // One by one: batches of a single text, no padding.
    let single = EncodeOptions {
        batch_size: 1,
        ..Default::default()
    };
    let (one, _) = m.encode(&texts, &single).unwrap();
    // All 16 in one padded batch.
    let batched = EncodeOptions {
        batch_size: 16,
        ..Default::default()
    };
    let (all, stats) = m.encode(&texts, &batched).unwrap();
    assert_eq!(stats.texts, 16);
    assert!(
        stats.padded_tokens > stats.tokens,
        "the batch really was padded"
    );
    let (mut min_cos, mut max_diff) = (1f64, 0f32);
    for (i, r) in refs.iter().enumerate() {
        for (c, d) in [
            check(
                &format!("{path}: {} (single)", r.id),
                one.row(i),
                &r.embedding,
            ),
            check(
                &format!("{path}: {} (batch of 16)", r.id),
                all.row(i),
                &r.embedding,
            ),
        ] {
            min_cos = min_cos.min(c);
            max_diff = max_diff.max(d);
        }
    }
    eprintln!("{path}: min cosine {min_cos:.9}, max abs diff {max_diff:.2e}");
}

#[test]
fn padding_does_not_change_a_short_text() {
    // The short text padded to 256 positions must give the unpadded vector.
    for (_, m) in models() {
        padded_equals_alone(&m);
    }
}

fn padded_equals_alone(m: &SentenceEncoder) {
    let ids = m
        .tokenize(&["hello world", &"apple ".repeat(300)], None)
        .unwrap();
    let padded = TokenBatch::pad(&[&ids[0], &ids[1]], 0);
    assert_eq!(padded.seq_len, 256);
    let v = m.forward_batch(&padded).unwrap().to_vec2::<f32>().unwrap();
    let alone = m
        .forward_batch(&TokenBatch::pad(&[&ids[0]], 0))
        .unwrap()
        .to_vec2::<f32>()
        .unwrap();
    let _ = check("hello world padded", &v[0], &alone[0]);
}
