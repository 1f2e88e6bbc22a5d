//! Fine-tuning foundations with the real model: the trainable path embeds like
//! the inference path, a few MNRL + AdamW steps lower the loss, and the saved
//! folder has the input's files and tensor names and reloads with the same
//! embeddings.

use std::collections::BTreeSet;

use rankbook::loss::MultipleNegativesRankingLoss;
use rankbook::model::{Backend, EncodeOptions, ModelOptions, SentenceEncoder};
use rankbook::train::GroupedAdamW;

const MODEL: &str = "sentence-transformers/all-MiniLM-L6-v2";

fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

fn names(dir: &std::path::Path) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        let name = e.file_name().to_string_lossy().into_owned();
        if e.path().is_dir() {
            out.extend(names(&e.path()).into_iter().map(|n| format!("{name}/{n}")));
        } else {
            out.insert(name);
        }
    }
    out
}

fn tensor_names(path: &std::path::Path) -> BTreeSet<(String, String)> {
    candle_core::safetensors::load(path, &candle_core::Device::Cpu)
        .unwrap()
        .into_iter()
        .map(|(k, v)| (k, format!("{:?}", v.dtype())))
        .collect()
}

#[test]
fn train_a_few_steps_save_and_reload() {
    let m = SentenceEncoder::load(
        MODEL,
        &ModelOptions {
            backend: Backend::Trainable,
            ..Default::default()
        },
    )
    .unwrap();
    let fast = SentenceEncoder::load(MODEL, &ModelOptions::default()).unwrap();
    let anchors = [
        "how do vaccines work",
        "capital of france",
        "rust borrow checker",
        "ocean tides",
    ];
    // Deliberately mismatched pairs: a loss far from 0 that training must lower.
    let positives = [
        "Paris is the capital and largest city of France.",
        "The borrow checker enforces Rust's ownership rules at compile time.",
        "Tides are caused by the gravitational pull of the moon.",
        "Vaccines train the immune system to recognise a pathogen.",
    ];
    // Before training: the trainable path embeds like the inference path.
    let e = m.embed_t(&anchors, None, false).unwrap();
    let want = fast.encode(&anchors, &EncodeOptions::default()).unwrap().0;
    let got: Vec<f32> = e.flatten_all().unwrap().to_vec1().unwrap();
    assert!(max_diff(&got, want.as_slice()) < 1e-5);

    let vars = m.trainable_vars();
    // Every tensor of the file is a variable (unused ones get no gradient).
    assert_eq!(
        vars.len(),
        tensor_names(&m.dir().join("model.safetensors")).len()
    );
    let mut opt = GroupedAdamW::new(vars, 2e-5, 0.01).unwrap();
    let loss_fn = MultipleNegativesRankingLoss::default();
    let mut losses = Vec::new();
    for _ in 0..3 {
        let a = m.embed_t(&anchors, None, false).unwrap();
        let p = m.embed_t(&positives, None, false).unwrap();
        let loss = loss_fn.loss(&a, &p, None).unwrap();
        losses.push(loss.to_scalar::<f32>().unwrap());
        opt.step(&loss.backward().unwrap()).unwrap();
    }
    assert!(losses.windows(2).all(|w| w[1] < w[0]), "{losses:?}");

    // Saved: the input's files and tensor names/dtypes; reloads with the same vectors.
    let d = tempfile::tempdir().unwrap();
    let out = d.path().join("tuned");
    m.save(&out).unwrap();
    assert_eq!(names(&out), names(m.dir()));
    assert_eq!(
        tensor_names(&out.join("model.safetensors")),
        tensor_names(&m.dir().join("model.safetensors"))
    );
    let reloaded = SentenceEncoder::load(out.to_str().unwrap(), &ModelOptions::default()).unwrap();
    let again = reloaded
        .encode(&anchors, &EncodeOptions::default())
        .unwrap()
        .0;
    let tuned: Vec<f32> = m
        .embed_t(&anchors, None, false)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1()
        .unwrap();
    assert!(max_diff(&tuned, again.as_slice()) < 1e-5);
    assert!(
        max_diff(&tuned, want.as_slice()) > 1e-4,
        "training changed nothing"
    );
}

#[test]
fn fit_follows_the_schedule_and_stops_when_cancelled() {
    use rankbook::data::BeirDataset;
    use rankbook::data::training::pairs_from_qrels;
    use rankbook::progress::{CancelFlag, NoProgress};
    use rankbook::train::{TrainConfig, fit_mnrl};

    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../data/scifact-sample");
    let ds = BeirDataset::open(&dir).unwrap();
    let pairs = pairs_from_qrels(&ds, &ds.qrels("test").unwrap()).unwrap();
    let pairs = &pairs[..12];
    let m = SentenceEncoder::load(
        MODEL,
        &ModelOptions {
            backend: Backend::Trainable,
            max_length: Some(64),
            ..Default::default()
        },
    )
    .unwrap();
    let cfg = TrainConfig {
        batch_size: 4,
        warmup_ratio: 0.34,
        dropout: false,
        ..Default::default()
    };
    let mut seen = 0;
    let history = fit_mnrl(&m, pairs, &cfg, &NoProgress, None, &mut |_| seen += 1).unwrap();
    assert_eq!(seen, 3);
    let steps: Vec<usize> = history.iter().map(|r| r.step).collect();
    assert_eq!(steps, [1, 2, 3]);
    // Two warm-up steps of three (linear): 0, half, then the peak.
    let lrs: Vec<f64> = history.iter().map(|r| r.lr).collect();
    assert_eq!(lrs, [0.0, 1e-5, 2e-5]);
    assert!(
        history
            .iter()
            .all(|r| r.loss.is_finite() && r.grad_norm > 0.0)
    );

    let cancel = CancelFlag::new();
    cancel.cancel();
    let e = fit_mnrl(&m, pairs, &cfg, &NoProgress, Some(&cancel), &mut |_| {})
        .err()
        .unwrap();
    assert!(matches!(e, rankbook::Error::Cancelled), "{e}");
}
