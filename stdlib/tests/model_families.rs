//! Every supported family beside BERT (DistilBERT, XLM-RoBERTa, MPNet) against
//! sentence-transformers and transformers, on tiny random-weight checkpoints
//! (`fixtures/tiny/`, made by `fixtures/make_tiny_models.py`): token ids,
//! embeddings on both inference back-ends, cross-encoder logits, SPLADE vectors.

use std::path::PathBuf;

use rankbook::model::cross_encoder::{CrossEncoder, CrossEncoderOptions};
use rankbook::model::splade::{SpladeEncoder, SpladeOptions};
use rankbook::model::{Backend, EncodeOptions, ModelOptions, SentenceEncoder};
use serde_json::Value;

/// Families with a cross-encoder fixture.
const FAMILIES: [&str; 4] = ["distilbert", "xlm-roberta", "mpnet", "modernbert"];
/// Families with a sentence-encoder fixture (Qwen3 is an embedder only).
const SENTENCE_FAMILIES: [&str; 5] = ["distilbert", "xlm-roberta", "mpnet", "modernbert", "qwen3"];

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/tiny")
        .join(name)
}

fn reference(name: &str) -> Value {
    let path = fixture(name).join("reference.json");
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

fn floats(v: &Value) -> Vec<f32> {
    serde_json::from_value(v.clone()).unwrap()
}

fn strings(v: &Value) -> Vec<String> {
    serde_json::from_value(v.clone()).unwrap()
}

fn cosine(a: &[f32], b: &[f32]) -> f64 {
    let dot: f64 = a.iter().zip(b).map(|(x, y)| *x as f64 * *y as f64).sum();
    let na: f64 = a.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt();
    let nb: f64 = b.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt();
    dot / (na * nb)
}

fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

#[test]
fn sentence_encoders_equal_sentence_transformers_on_both_back_ends() {
    for family in SENTENCE_FAMILIES {
        let name = format!("{family}-st");
        let r = reference(&name);
        let texts = strings(&r["texts"]);
        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        for backend in [Backend::Packed, Backend::Candle] {
            let opts = ModelOptions {
                backend,
                ..Default::default()
            };
            let m = SentenceEncoder::from_dir(&fixture(&name), &opts).unwrap();
            assert_eq!(
                m.max_length() as u64,
                r["max_seq_length"].as_u64().unwrap(),
                "{name}"
            );
            let ids: Vec<Vec<u32>> = m
                .tokenize(&refs, None)
                .unwrap()
                .into_iter()
                .map(|t| t.ids)
                .collect();
            let want: Vec<Vec<u32>> = serde_json::from_value(r["token_ids"].clone()).unwrap();
            assert_eq!(ids, want, "{name}: token ids");
            // One text per call (no padding), then all in one padded batch.
            for (i, text) in refs.iter().enumerate() {
                let (got, _) = m.encode(&[text], &EncodeOptions::default()).unwrap();
                let want = floats(&r["embeddings"][i]);
                let (c, d) = (cosine(got.row(0), &want), max_abs_diff(got.row(0), &want));
                assert!(
                    c >= 0.99999 && d <= 1e-5,
                    "{name} {backend:?} text {i}: cos {c}, max diff {d}"
                );
            }
            let opts = EncodeOptions {
                batch_size: refs.len(),
                ..Default::default()
            };
            let (got, _) = m.encode(&refs, &opts).unwrap();
            for i in 0..refs.len() {
                let want = floats(&r["embeddings_batched"][i]);
                let (c, d) = (cosine(got.row(i), &want), max_abs_diff(got.row(i), &want));
                assert!(
                    c >= 0.99999 && d <= 1e-5,
                    "{name} {backend:?} batched text {i}: cos {c}, max diff {d}"
                );
            }
        }
    }
}

#[test]
fn a_decoder_embedder_takes_its_query_prompt_and_pools_the_last_token() {
    // Qwen3-Embedding's way: an instruction before each query (from
    // config_sentence_transformers.json), the end-of-text token appended,
    // left padding in sentence-transformers' batch, the last token pooled.
    let name = "qwen3-st";
    let r = reference(name);
    let texts = strings(&r["texts"]);
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let prompt = r["query_prompt"].as_str().unwrap();
    for backend in [Backend::Packed, Backend::Candle] {
        let opts = ModelOptions {
            backend,
            ..Default::default()
        };
        let m = SentenceEncoder::from_dir(&fixture(name), &opts).unwrap();
        assert_eq!(m.query_prompt(), Some(prompt));
        let ids: Vec<Vec<u32>> = m
            .tokenize(&refs, Some(prompt))
            .unwrap()
            .into_iter()
            .map(|t| t.ids)
            .collect();
        let want: Vec<Vec<u32>> = serde_json::from_value(r["query_token_ids"].clone()).unwrap();
        assert_eq!(ids, want, "{name}: query token ids");
        let opts = EncodeOptions {
            batch_size: refs.len(),
            prompt: Some(prompt),
            ..Default::default()
        };
        let (got, _) = m.encode(&refs, &opts).unwrap();
        for i in 0..refs.len() {
            let want = floats(&r["query_embeddings"][i]);
            let (c, d) = (cosine(got.row(i), &want), max_abs_diff(got.row(i), &want));
            assert!(
                c >= 0.99999 && d <= 1e-5,
                "{name} {backend:?} query {i}: cos {c}, max diff {d}"
            );
        }
    }
}

#[test]
fn cross_encoder_logits_equal_transformers() {
    // ModernBERT's head pools the first token or (its option) the mean.
    let names = FAMILIES
        .iter()
        .map(|f| format!("{f}-ce"))
        .chain(["modernbert-ce-mean".to_string()]);
    for name in names {
        let r = reference(&name);
        let pairs: Vec<(String, String)> = serde_json::from_value(r["pairs"].clone()).unwrap();
        let pairs: Vec<(&str, &str)> = pairs
            .iter()
            .map(|(a, b)| (a.as_str(), b.as_str()))
            .collect();
        let opts = CrossEncoderOptions {
            max_length: Some(r["max_length"].as_u64().unwrap() as usize),
            ..Default::default()
        };
        let ce = CrossEncoder::load(fixture(&name).to_str().unwrap(), &opts).unwrap();
        let ids: Vec<Vec<u32>> = ce
            .tokenize(&pairs)
            .unwrap()
            .into_iter()
            .map(|t| t.ids)
            .collect();
        let want: Vec<Vec<u32>> = serde_json::from_value(r["token_ids"].clone()).unwrap();
        assert_eq!(ids, want, "{name}: token ids");
        let logits = ce
            .forward_t(&pairs, None)
            .unwrap()
            .to_vec2::<f32>()
            .unwrap();
        for (i, row) in logits.iter().enumerate() {
            let want = floats(&r["logits"][i]);
            let d = max_abs_diff(row, &want);
            assert!(d <= 1e-4, "{name} pair {i}: {row:?} vs {want:?}");
        }
    }
}

#[test]
fn splade_vectors_equal_transformers_masked_lm() {
    for family in ["distilbert", "xlm-roberta", "modernbert"] {
        let name = format!("{family}-mlm");
        let r = reference(&name);
        let texts = strings(&r["texts"]);
        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        let opts = SpladeOptions {
            max_length: Some(r["max_length"].as_u64().unwrap() as usize),
            ..Default::default()
        };
        let m = SpladeEncoder::load(fixture(&name).to_str().unwrap(), &opts).unwrap();
        let got = m.encode(&refs, 4, &rankbook::progress::NoProgress).unwrap();
        let vocab = m.vocab().len();
        for (i, v) in got.iter().enumerate() {
            let mut dense_got = vec![0f32; vocab];
            v.iter().for_each(|&(t, w)| dense_got[t as usize] = w);
            let mut dense_want = vec![0f32; vocab];
            let want: Vec<(u32, f32)> = serde_json::from_value(r["sparse"][i].clone()).unwrap();
            want.iter().for_each(|&(t, w)| dense_want[t as usize] = w);
            let d = max_abs_diff(&dense_got, &dense_want);
            assert!(d <= 1e-4, "{name} text {i}: max diff {d}");
        }
    }
}

#[test]
fn a_length_past_the_positions_is_an_error_everywhere() {
    // XLM-R's 130 position rows hold 128 tokens (positions start at padding_idx + 1).
    let name = fixture("xlm-roberta-st");
    let opts = ModelOptions {
        max_length: Some(129),
        ..Default::default()
    };
    let e = SentenceEncoder::from_dir(&name, &opts)
        .err()
        .unwrap()
        .to_string();
    assert!(
        e.contains("max length 129 exceeds the model's 128 positions"),
        "{e}"
    );
    let opts = CrossEncoderOptions {
        max_length: Some(129),
        ..Default::default()
    };
    let e = CrossEncoder::load(fixture("xlm-roberta-ce").to_str().unwrap(), &opts)
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("exceeds the model's 128 positions"), "{e}");
    let opts = SpladeOptions {
        max_length: Some(129),
        ..Default::default()
    };
    let e = SpladeEncoder::load(fixture("xlm-roberta-mlm").to_str().unwrap(), &opts)
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("exceeds the model's 128 positions"), "{e}");
}

/// Three MNRL + AdamW steps on `backend`; the losses and the trained model.
fn three_steps(dir: &std::path::Path, backend: Backend) -> (Vec<f32>, SentenceEncoder) {
    use rankbook::loss::MultipleNegativesRankingLoss;
    use rankbook::train::GroupedAdamW;
    let m = SentenceEncoder::from_dir(
        dir,
        &ModelOptions {
            backend,
            ..Default::default()
        },
    )
    .unwrap();
    let anchors = ["how do vaccines work", "capital of france", "ocean tides"];
    let positives = [
        "Paris is the capital and largest city of France.",
        "Tides are caused by the gravitational pull of the moon.",
        "Vaccines train the immune system to recognise a pathogen.",
    ];
    let mut opt = GroupedAdamW::new(m.trainable_vars(), 1e-3, 0.01).unwrap();
    let loss_fn = MultipleNegativesRankingLoss::default();
    let mut losses = Vec::new();
    for _ in 0..3 {
        let a = m.embed_t(&anchors, None, None).unwrap();
        let p = m.embed_t(&positives, None, None).unwrap();
        let loss = loss_fn.loss(&a, &p, None).unwrap();
        losses.push(loss.to_scalar::<f32>().unwrap());
        opt.step(&loss.backward().unwrap()).unwrap();
    }
    (losses, m)
}

#[test]
fn fused_training_equals_the_candle_reference_and_saved_folders_reload() {
    for family in SENTENCE_FAMILIES {
        let dir = fixture(&format!("{family}-st"));
        let (fused, m) = three_steps(&dir, Backend::Trainable);
        let (reference, _) = three_steps(&dir, Backend::TrainableReference);
        let d = max_abs_diff(&fused, &reference);
        assert!(
            d <= 1e-5,
            "{family}: fused {fused:?} vs candle {reference:?}"
        );
        assert!(
            fused[2] < fused[0],
            "{family}: training did not lower the loss: {fused:?}"
        );

        let out = tempfile::tempdir().unwrap();
        let saved = out.path().join("tuned");
        m.save(&saved).unwrap();
        let texts = ["capital of france", "a text the model never trained on"];
        let trained: Vec<f32> = m
            .embed_t(&texts, None, None)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1()
            .unwrap();
        let reloaded = SentenceEncoder::from_dir(&saved, &ModelOptions::default()).unwrap();
        let (again, _) = reloaded.encode(&texts, &EncodeOptions::default()).unwrap();
        let d = max_abs_diff(&trained, again.as_slice());
        assert!(d <= 1e-5, "{family}: reloaded vectors differ by {d}");
    }
}
