//! all-MiniLM-L6-v2 against sentence-transformers' own outputs for 16 fixed texts
//! (token ids and embeddings in data/reference/minilm_reference.jsonl).

use std::path::PathBuf;

use rankbook::model::batch::TokenBatch;
use rankbook::model::{EncodeOptions, ModelOptions, SentenceEncoder};

const MODEL: &str = "sentence-transformers/all-MiniLM-L6-v2";

struct Reference {
    id: String,
    text: String,
    token_ids: Vec<u32>,
    embedding: Vec<f32>,
}

fn references() -> Vec<Reference> {
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../data/reference/minilm_reference.jsonl");
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

fn model() -> SentenceEncoder {
    SentenceEncoder::load(MODEL, &ModelOptions::default())
        .unwrap_or_else(|e| panic!("{e}\nhint: run bash scripts/setup.sh first"))
}

fn cosine(a: &[f32], b: &[f32]) -> f64 {
    let dot: f64 = a.iter().zip(b).map(|(x, y)| *x as f64 * *y as f64).sum();
    let na: f64 = a.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt();
    let nb: f64 = b.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt();
    dot / (na * nb)
}

fn check(name: &str, got: &[f32], want: &[f32]) {
    let cos = cosine(got, want);
    let max_diff = got
        .iter()
        .zip(want)
        .map(|(a, b)| (a - b).abs())
        .fold(0f32, f32::max);
    assert!(cos >= 0.99999, "{name}: cosine {cos}");
    assert!(max_diff <= 1e-5, "{name}: max abs diff {max_diff}");
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
    let m = model();
    let refs = references();
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
    for (i, r) in refs.iter().enumerate() {
        check(&format!("{} (single)", r.id), one.row(i), &r.embedding);
        check(&format!("{} (batch of 16)", r.id), all.row(i), &r.embedding);
    }
}

#[test]
fn padding_does_not_change_a_short_text() {
    // The short text padded to 256 positions must give the unpadded vector.
    let m = model();
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
    check("hello world padded", &v[0], &alone[0]);
}
