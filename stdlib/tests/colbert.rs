//! ColBERT against PyLate: the model PyLate 1.6.0 built from all-MiniLM-L6-v2
//! (seed 42), rebuilt here from all-MiniLM-L6-v2 and the fixture's starting
//! weights, gives PyLate's token embeddings for every reference text, as query
//! and as document, on both back-ends.

use std::path::{Path, PathBuf};

use candle_core::Device;
use rankbook::index::MaxSimIndex;
use rankbook::model::EncodeOptions;
use rankbook::model::backend::Backend;
use rankbook::model::colbert::{
    BuildOptions, ColbertConfig, ColbertEncoder, ColbertOptions, Side, build_colbert,
};
use rankbook::rerank::{RerankOptions, Reranker, rerank};

const MINILM: &str = "sentence-transformers/all-MiniLM-L6-v2";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn fixture() -> PathBuf {
    root().join("stdlib/tests/fixtures/colbert-minilm")
}

/// Builds PyLate's model into `out` from all-MiniLM-L6-v2 and the fixture.
fn rebuild(out: &Path) {
    let init =
        candle_core::safetensors::load(fixture().join("init.safetensors"), &Device::Cpu).unwrap();
    let flat = |name: &str| -> Vec<f32> { init[name].flatten_all().unwrap().to_vec1().unwrap() };
    let text =
        std::fs::read_to_string(fixture().join("config_sentence_transformers.json")).unwrap();
    let config: ColbertConfig = serde_json::from_str(&text).unwrap();
    let opts = BuildOptions {
        config,
        init: Some((flat("projection"), flat("markers"))),
        ..Default::default()
    };
    build_colbert(MINILM, out, &opts).unwrap();
}

/// PyLate's model rebuilt into `dir`, loaded, and the sample collection.
fn sample_colbert(dir: &Path) -> (std::sync::Arc<ColbertEncoder>, rankbook::data::BeirDataset) {
    rebuild(dir);
    let model =
        std::sync::Arc::new(ColbertEncoder::from_dir(dir, &ColbertOptions::default()).unwrap());
    let data = rankbook::data::BeirDataset::open(&root().join("data/scifact-sample")).unwrap();
    (model, data)
}

fn texts() -> Vec<(String, String)> {
    std::fs::read_to_string(root().join("data/reference/minilm_reference.jsonl"))
        .unwrap()
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            (
                v["id"].as_str().unwrap().into(),
                v["text"].as_str().unwrap().into(),
            )
        })
        .collect()
}

/// PyLate's token vectors of `key` (`side/id`) in the reference file: (tokens, dim, values).
fn reference_tokens(
    reference: &std::collections::HashMap<String, candle_core::Tensor>,
    key: &str,
) -> (usize, usize, Vec<f32>) {
    let t = &reference[key];
    let (n, dim) = t.dims2().unwrap();
    let v = t
        .to_dtype(candle_core::DType::F32)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1()
        .unwrap();
    (n, dim, v)
}

fn cosine(a: &[f32], b: &[f32]) -> f64 {
    let dot: f64 = a.iter().zip(b).map(|(x, y)| *x as f64 * *y as f64).sum();
    let n = |v: &[f32]| v.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt();
    dot / (n(a) * n(b))
}

#[test]
fn token_embeddings_equal_pylates_on_both_back_ends() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path().join("colbert");
    rebuild(&dir);
    let reference =
        candle_core::safetensors::load(fixture().join("reference.safetensors"), &Device::Cpu)
            .unwrap();
    let texts = texts();
    let refs: Vec<&str> = texts.iter().map(|(_, t)| t.as_str()).collect();
    for backend in [Backend::Packed, Backend::Candle] {
        let model = ColbertEncoder::from_dir(
            &dir,
            &ColbertOptions {
                backend,
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(model.dim(), 128);
        for side in [Side::Query, Side::Document] {
            let kind = if side == Side::Query {
                "query"
            } else {
                "document"
            };
            let opts = EncodeOptions {
                batch_size: 5,
                ..Default::default()
            };
            let (got, _) = model.encode(&refs, side, &opts).unwrap();
            let mut worst = 1.0f64;
            for (i, (id, _)) in texts.iter().enumerate() {
                let (n, dim, want) = reference_tokens(&reference, &format!("{kind}/{id}"));
                assert_eq!(got.count(i), n, "{backend:?} {kind} {id}: token count");
                for t in 0..n {
                    let g = &got.get(i)[t * dim..(t + 1) * dim];
                    worst = worst.min(cosine(g, &want[t * dim..(t + 1) * dim]));
                }
            }
            assert!(
                worst >= 0.99999,
                "{backend:?} {kind}: worst token cosine {worst}"
            );
        }
    }
}

#[test]
fn a_plain_encoder_is_not_a_colbert() {
    let e = ColbertEncoder::load(MINILM, &ColbertOptions::default())
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("not a ColBERT model"), "{e}");
}

#[test]
fn any_encoder_becomes_a_colbert_with_a_seeded_projection() {
    // A tiny XLM-RoBERTa sentence-transformers folder with its own Dense module.
    let src = root().join("stdlib/tests/fixtures/tiny/xlm-roberta-st");
    let d = tempfile::tempdir().unwrap();
    let build = |out: &Path| {
        let opts = BuildOptions {
            dim: 8,
            seed: 7,
            ..Default::default()
        };
        build_colbert(src.to_str().unwrap(), out, &opts).unwrap();
    };
    let (a, b) = (d.path().join("a"), d.path().join("b"));
    build(&a);
    build(&b);
    let model = ColbertEncoder::from_dir(&a, &ColbertOptions::default()).unwrap();
    assert_eq!(model.dim(), 8);
    let texts = ["a short query", "a document, with punctuation."];
    let (q, _) = model
        .encode(&texts, Side::Query, &EncodeOptions::default())
        .unwrap();
    // Queries are expanded to the query length; every vector has unit length.
    assert_eq!((q.count(0), q.count(1)), (32, 32));
    for t in 0..q.tokens() {
        let v = &q.as_slice()[t * 8..(t + 1) * 8];
        assert!((v.iter().map(|x| x * x).sum::<f32>() - 1.0).abs() < 1e-5);
    }
    let (docs, _) = model
        .encode(&texts, Side::Document, &EncodeOptions::default())
        .unwrap();
    let ids = model.tokenize(&texts[1..], Side::Document).unwrap();
    assert!(
        docs.count(1) < ids[0].ids.len(),
        "punctuation dropped from documents"
    );
    // Through the embedding cache: the second time every text comes from it,
    // the same vectors; queries and documents are filed apart.
    let cache = rankbook::cache::EmbeddingCache::new(d.path().join("cache"));
    let cached = EncodeOptions {
        cache: Some(&cache),
        ..Default::default()
    };
    for (side, want) in [(Side::Query, &q), (Side::Document, &docs)] {
        let (first, s1) = model.encode(&texts, side, &cached).unwrap();
        let (second, s2) = model.encode(&texts, side, &cached).unwrap();
        assert_eq!((s1.cached, s2.cached), (0, 2));
        assert_eq!((&first, &second), (want, want));
    }
    assert_eq!(cache.info().unwrap().keys, 2);
    // The same seed builds the same model.
    let again = ColbertEncoder::from_dir(&b, &ColbertOptions::default()).unwrap();
    let (q2, _) = again
        .encode(&texts, Side::Query, &EncodeOptions::default())
        .unwrap();
    assert_eq!(q, q2);
}

#[test]
fn exact_search_gives_brute_force_maxsim_scores() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path().join("colbert");
    let (model, data) = sample_colbert(&dir);
    let opts = EncodeOptions::default();
    let (index, _) = MaxSimIndex::build(model.clone(), &data.corpus, &opts).unwrap();
    let queries: Vec<_> = data.queries.iter().take(8).cloned().collect();
    let texts: Vec<&str> = queries.iter().map(|q| q.text.as_str()).collect();
    let (q, _) = model.encode(&texts, Side::Query, &opts).unwrap();
    let hits = index
        .search_vectors(&q, 5, &rankbook::progress::NoProgress)
        .unwrap();
    let docs = index.docs();
    let dim = docs.dim();
    for (qi, hits) in hits.iter().enumerate() {
        // Every doc scored by the definition: sum over query tokens of the best dot product.
        let mut all: Vec<(f32, usize)> = (0..docs.len())
            .map(|di| {
                let score = q.get(qi).chunks_exact(dim).map(|qt| {
                    docs.get(di)
                        .chunks_exact(dim)
                        .map(|dt| qt.iter().zip(dt).map(|(a, b)| a * b).sum::<f32>())
                        .fold(f32::NEG_INFINITY, f32::max)
                });
                (score.sum(), di)
            })
            .collect();
        all.sort_by(|a, b| b.0.total_cmp(&a.0));
        for (rank, &(doc, score)) in hits.iter().enumerate() {
            assert!(
                (score - all[rank].0).abs() < 1e-4,
                "query {qi} rank {rank}: {score} vs {}",
                all[rank].0
            );
            let brute = all.iter().find(|(_, d)| *d == doc).unwrap().0;
            assert!((score - brute).abs() < 1e-4);
        }
    }
    let run = index.search(&queries, 5, &opts).unwrap();
    assert_eq!(run.len(), 8);
    // Re-ranking the index's own run by MaxSim gives back its scores.
    let (again, _) = rerank(
        Reranker::Colbert(&model),
        &run,
        &queries,
        &data.corpus,
        &RerankOptions::default(),
    )
    .unwrap();
    for q in run.query_ids() {
        let (a, b) = (run.get(q).unwrap(), again.get(q).unwrap());
        assert_eq!(a.len(), b.len());
        for (x, y) in a.iter().zip(b) {
            assert_eq!(x.doc, y.doc);
            assert!(
                (x.score - y.score).abs() < 1e-4,
                "{q} {}: {} vs {}",
                x.doc,
                x.score,
                y.score
            );
        }
    }
}

/// Cosine and largest relative difference of two gradients.
fn compare(got: &[f32], want: &[f32]) -> (f64, f64) {
    let scale = want.iter().fold(0f32, |m, x| m.max(x.abs())) as f64;
    let diff = got
        .iter()
        .zip(want)
        .fold(0f64, |m, (a, b)| m.max((a - b).abs() as f64));
    (cosine(got, want), diff / scale)
}

/// PyLate's Contrastive and Distillation losses on a fixed batch, without
/// dropout: the same loss values and the same gradients of the projection and
/// of a transformer weight (`training_reference.safetensors`, made by
/// `make_training_reference.py`).
#[test]
fn losses_and_gradients_equal_pylates() {
    use rankbook::data::training::{Example, TrainingData};
    use rankbook::loss::{Batch, loss_by_name};
    use rankbook::train::Trainee;

    let d = tempfile::tempdir().unwrap();
    let dir = d.path().join("colbert");
    rebuild(&dir);
    let reference = candle_core::safetensors::load(
        fixture().join("training_reference.safetensors"),
        &Device::Cpu,
    )
    .unwrap();
    let model = ColbertEncoder::from_dir(&dir, &ColbertOptions::default())
        .unwrap()
        .trainable_copy()
        .unwrap();
    let t: Vec<String> = texts().into_iter().map(|(_, t)| t).collect();
    let example = |q: usize, p: usize, n: &[usize], teacher: Option<Vec<f32>>| Example {
        negatives: n.iter().map(|&i| t[i].clone()).collect(),
        teacher,
        ..Example::pair(t[q].clone(), t[p].clone())
    };
    let cases = [
        (
            "contrastive",
            "colbert-contrastive",
            TrainingData::Examples(vec![
                example(0, 1, &[8], None),
                example(2, 3, &[9], None),
                example(4, 5, &[10], None),
                example(6, 7, &[11], None),
            ]),
        ),
        (
            "distillation",
            "colbert-distillation",
            TrainingData::Examples(vec![
                example(0, 1, &[8, 9], Some(vec![3.0, 1.0, 0.5])),
                example(2, 3, &[10, 11], Some(vec![0.2, 2.0, 1.0])),
            ]),
        ),
    ];
    let vars: std::collections::HashMap<String, candle_core::Var> =
        model.vars().into_iter().collect();
    for (name, loss_name, data) in cases {
        let loss = loss_by_name(loss_name).unwrap();
        loss.check(&data).unwrap();
        let all: Vec<usize> = (0..data.len()).collect();
        let scoring = model.scoring(None);
        let batch = Batch {
            data: &data,
            indices: &all,
        };
        let (value, grads) = loss.backward(scoring.as_model(), &batch, 1.0).unwrap();
        let want_loss = reference[&format!("loss/{name}")].to_vec1::<f32>().unwrap()[0] as f64;
        assert!(
            (value - want_loss).abs() < 1e-4 * want_loss.abs().max(1.0),
            "{name}: loss {value} vs PyLate's {want_loss}"
        );
        for (var, key) in [
            ("1_Dense.linear.weight", "projection"),
            ("encoder.layer.5.output.dense.bias", "layer5_output_bias"),
        ] {
            let got: Vec<f32> = grads
                .get(vars[var].as_tensor())
                .unwrap()
                .flatten_all()
                .unwrap()
                .to_vec1()
                .unwrap();
            let want: Vec<f32> = reference[&format!("grad/{name}/{key}")]
                .flatten_all()
                .unwrap()
                .to_vec1()
                .unwrap();
            let (cos, rel) = compare(&got, &want);
            eprintln!(
                "{name}: loss {value:.6} (PyLate {want_loss:.6}); {key}: cosine {cos:.7}, difference {rel:.2e}"
            );
            assert!(
                cos > 0.99999 && rel < 1e-4,
                "{name}: gradient of {var}: cosine {cos}, largest difference {rel} of the largest entry"
            );
        }
    }
}

#[test]
fn plaid_compresses_to_a_fraction_and_finds_what_exact_maxsim_finds() {
    use rankbook::index::{PlaidBuild, PlaidIndex, Retriever, default_centroids};
    use rankbook::progress::NoProgress;
    let d = tempfile::tempdir().unwrap();
    let dir = d.path().join("colbert");
    let (model, data) = sample_colbert(&dir);
    let opts = EncodeOptions::default();
    let (exact, _) = MaxSimIndex::build(model.clone(), &data.corpus, &opts).unwrap();
    let docs = exact.docs();
    let plaid = PlaidIndex::from_vectors(
        model.clone(),
        exact.ids().to_vec(),
        docs,
        &PlaidBuild::default(),
    )
    .unwrap();
    assert_eq!(plaid.centroids(), default_centroids(docs.tokens()));
    assert_eq!(plaid.codec().nbits, 4);
    // Decompressed token vectors stay close to the originals.
    let dim = docs.dim();
    let (mut sum, mut worst, mut n) = (0.0, 1.0f64, 0);
    for doc in 0..docs.len() {
        let back = plaid.decompressed(doc);
        for (a, b) in back.chunks_exact(dim).zip(docs.get(doc).chunks_exact(dim)) {
            let c = cosine(a, b);
            sum += c;
            worst = worst.min(c);
            n += 1;
        }
    }
    eprintln!(
        "{} centroids; token cosine mean {:.4}, worst {worst:.4}",
        plaid.centroids(),
        sum / n as f64
    );
    assert!(sum / n as f64 >= 0.95, "mean cosine {}", sum / n as f64);
    // Its top 10 holds exact MaxSim's top 10, query by query.
    let texts: Vec<&str> = data.queries.iter().map(|q| q.text.as_str()).collect();
    let (q, _) = model.encode(&texts, Side::Query, &opts).unwrap();
    let want = exact.search_vectors(&q, 10, &NoProgress).unwrap();
    let got = plaid.search_vectors(&q, 10, &NoProgress).unwrap();
    let shared: usize = want
        .iter()
        .zip(&got)
        .map(|(w, g)| {
            g.iter()
                .filter(|(d, _)| w.iter().any(|(e, _)| e == d))
                .count()
        })
        .sum();
    let overlap = shared as f64 / (10 * want.len()) as f64;
    eprintln!("overlap@10 with exact MaxSim: {overlap:.3}");
    assert!(overlap >= 0.9, "overlap@10 {overlap}");
    // Each score is MaxSim over the doc's decompressed vectors.
    for (qi, hits) in got.iter().enumerate().take(5) {
        for &(doc, score) in hits {
            let back = plaid.decompressed(doc);
            let brute: f32 = q
                .get(qi)
                .chunks_exact(dim)
                .map(|qt| {
                    back.chunks_exact(dim)
                        .map(|dt| qt.iter().zip(dt).map(|(a, b)| a * b).sum::<f32>())
                        .fold(f32::NEG_INFINITY, f32::max)
                })
                .sum();
            assert!((score - brute).abs() < 1e-4, "{score} vs {brute}");
        }
    }
    // Saved, it is a fraction of the exact index and searches the same.
    exact.save(&d.path().join("exact")).unwrap();
    plaid.save(&d.path().join("plaid")).unwrap();
    let size = |name: &str| -> u64 {
        std::fs::read_dir(d.path().join(name))
            .unwrap()
            .map(|e| e.unwrap().metadata().unwrap().len())
            .sum()
    };
    let ratio = size("plaid") as f64 / size("exact") as f64;
    eprintln!("PLAID folder / exact folder: {ratio:.3}");
    assert!(ratio <= 0.25, "{ratio}");
    let loaded =
        PlaidIndex::load(&d.path().join("plaid"), None, &ColbertOptions::default()).unwrap();
    assert_eq!(loaded.search_vectors(&q, 10, &NoProgress).unwrap(), got);
    // Search settings by name, checked.
    loaded.set_parameter("n_ivf_probe", 1.0).unwrap();
    assert_eq!(loaded.search_settings().n_ivf_probe, 1);
    assert!(loaded.set_parameter("n_full_scores", 0.5).is_err());
    assert!(loaded.set_parameter("efSearch", 16.0).is_err());
    // Opened as the exact kind, or damaged, it is refused.
    let err = MaxSimIndex::load(&d.path().join("plaid"), None, &ColbertOptions::default())
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("not a ColBERT (MaxSim) one"), "{err}");
    let codes = d.path().join("plaid/plaid.arrow");
    let mut bytes = std::fs::read(&codes).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    std::fs::write(&codes, bytes).unwrap();
    let err = PlaidIndex::load(&d.path().join("plaid"), None, &ColbertOptions::default())
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("plaid.arrow"), "{err}");
}

/// In bf16 and int8 the token vectors stay close to PyLate's f32 ones (same
/// token counts), and the index records the precision.
#[test]
fn token_embeddings_in_bf16_and_int8_stay_close_to_pylates() {
    use rankbook::compute::Precision;
    let d = tempfile::tempdir().unwrap();
    let dir = d.path().join("colbert");
    rebuild(&dir);
    let reference =
        candle_core::safetensors::load(fixture().join("reference.safetensors"), &Device::Cpu)
            .unwrap();
    let texts = texts();
    let refs: Vec<&str> = texts.iter().map(|(_, t)| t.as_str()).collect();
    for (precision, floor) in [(Precision::Bf16, 0.999), (Precision::Int8, 0.99)] {
        if let Err(e) = precision.check_supported() {
            eprintln!("skipped {precision}: {e}");
            continue;
        }
        let model = ColbertEncoder::from_dir(
            &dir,
            &ColbertOptions {
                precision: Some(precision),
                ..Default::default()
            },
        )
        .unwrap();
        assert!(
            model
                .identity()
                .unwrap()
                .to_string()
                .contains(&format!("precision {precision}"))
        );
        let (got, _) = model
            .encode(&refs, Side::Document, &EncodeOptions::default())
            .unwrap();
        let (mut worst, mut sum, mut count) = (1.0f64, 0.0, 0);
        for (i, (id, _)) in texts.iter().enumerate() {
            let (n, dim, want) = reference_tokens(&reference, &format!("document/{id}"));
            assert_eq!(got.count(i), n, "{precision} {id}: token count");
            for t in 0..n {
                let c = cosine(
                    &got.get(i)[t * dim..(t + 1) * dim],
                    &want[t * dim..(t + 1) * dim],
                );
                worst = worst.min(c);
                sum += c;
                count += 1;
            }
        }
        eprintln!(
            "ColBERT {precision}: token cosine min {worst:.5}, mean {:.5}",
            sum / count as f64
        );
        assert!(worst >= floor, "{precision}: worst token cosine {worst}");
    }
}

/// Token ids (when the reference has them) and token vectors of the fixture
/// folder `dir` equal its `reference.json` (the texts' vectors as queries and
/// as documents, from the tool that made the folder), on both back-ends.
fn assert_equals_reference(dir: &Path, dim: usize) {
    let text = std::fs::read_to_string(dir.join("reference.json")).unwrap();
    let reference: serde_json::Value = serde_json::from_str(&text).unwrap();
    let texts: Vec<&str> = reference["texts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    for backend in [Backend::Packed, Backend::Candle] {
        let opts = ColbertOptions {
            backend,
            ..Default::default()
        };
        let model = ColbertEncoder::from_dir(dir, &opts).unwrap();
        assert_eq!(model.dim(), dim);
        for (side, kind) in [(Side::Query, "queries"), (Side::Document, "documents")] {
            if let Some(ids) = reference.get(format!("{}_ids", side.name())) {
                let got: Vec<Vec<u32>> = model
                    .tokenize(&texts, side)
                    .unwrap()
                    .iter()
                    .map(|t| t.ids.clone())
                    .collect();
                let want: Vec<Vec<u32>> = serde_json::from_value(ids.clone()).unwrap();
                assert_eq!(got, want, "{kind}: token ids");
            }
            let (got, _) = model
                .encode(&texts, side, &EncodeOptions::default())
                .unwrap();
            for (i, want) in reference[kind].as_array().unwrap().iter().enumerate() {
                let want = want.as_array().unwrap();
                assert_eq!(got.count(i), want.len(), "{backend:?} {kind} {i}: tokens");
                for (t, row) in want.iter().enumerate() {
                    let row: Vec<f32> = row
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|x| x.as_f64().unwrap() as f32)
                        .collect();
                    let g = &got.get(i)[t * dim..(t + 1) * dim];
                    let cos = cosine(g, &row);
                    assert!(
                        cos >= 0.99999,
                        "{backend:?} {kind} {i} token {t}: cos {cos}"
                    );
                }
            }
        }
    }
}

#[test]
fn a_pylate_colbert_on_modernbert_equals_pylate_on_both_back_ends() {
    // PyLate's own folder (make_tiny_colbert.py): the tiny ModernBERT with its
    // "[Q] "/"[D] " markers and a 16-d projection.
    assert_equals_reference(
        &root().join("stdlib/tests/fixtures/tiny/modernbert-colbert"),
        16,
    );
}

#[test]
fn a_stanford_checkpoint_equals_colbert_ai_on_both_back_ends() {
    // colbert-ai's own checkpoint (make_tiny_stanford_colbert.py): a tiny BERT
    // under `bert.`, `linear.weight` (16-d), [unused0]/[unused1] markers,
    // lengths 24/40 from artifact.metadata.
    let dir = root().join("stdlib/tests/fixtures/tiny/bert-stanford-colbert");
    assert!(rankbook::model::colbert::is_colbert(&dir));
    let model = ColbertEncoder::from_dir(&dir, &ColbertOptions::default()).unwrap();
    let c = model.config();
    assert_eq!(
        (c.query_prefix.as_str(), c.document_prefix.as_str()),
        ("[unused0]", "[unused1]")
    );
    assert_eq!((c.query_length, c.document_length), (24, 40));
    assert_equals_reference(&dir, 16);
}
