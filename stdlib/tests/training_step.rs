//! Fine-tuning foundations with the real model: the trainable path embeds like
//! the inference path, a few MNRL + AdamW steps lower the loss, and the saved
//! folder has the input's files and tensor names and reloads with the same
//! embeddings.

use std::collections::BTreeSet;

use rankbook::data::BeirDataset;
use rankbook::data::training::{TrainingData, pairs_from_qrels};
use rankbook::loss::{MultipleNegativesRankingLoss, loss_by_name};
use rankbook::model::{Backend, EncodeOptions, ModelOptions, SentenceEncoder};
use rankbook::progress::{CancelFlag, NoProgress};
use rankbook::train::{
    FitOptions, GroupedAdamW, HistoryRecord, NoCallback, StepRecord, StopReason, TrainCallback,
    TrainConfig, Trainee, fit, read_history,
};

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
    let e = m.embed_t(&anchors, None, None).unwrap();
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
        let a = m.embed_t(&anchors, None, None).unwrap();
        let p = m.embed_t(&positives, None, None).unwrap();
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
        .embed_t(&anchors, None, None)
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

    // The inference copy keeps the trained weights: it saves the same tensors,
    // and a trainable copy of it starts from them (to train further).
    let copy = m.inference_copy().unwrap();
    let out2 = d.path().join("copy");
    copy.save(&out2).unwrap();
    let read = |p: &std::path::Path| {
        candle_core::safetensors::load(p.join("model.safetensors"), &candle_core::Device::Cpu)
            .unwrap()
    };
    let (a, b) = (read(&out), read(&out2));
    assert_eq!(a.len(), b.len());
    for (name, t) in &a {
        let x: Vec<f32> = t
            .flatten_all()
            .unwrap()
            .to_dtype(candle_core::DType::F32)
            .unwrap()
            .to_vec1()
            .unwrap();
        let y: Vec<f32> = b[name]
            .flatten_all()
            .unwrap()
            .to_dtype(candle_core::DType::F32)
            .unwrap()
            .to_vec1()
            .unwrap();
        assert_eq!(x, y, "{name}");
    }
    let again = copy.trainable_copy(None).unwrap();
    let e: Vec<f32> = again
        .embed_t(&anchors, None, None)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1()
        .unwrap();
    assert!(max_diff(&tuned, &e) < 1e-6);
    // A model never trained saves as a plain copy of its folder.
    let out3 = d.path().join("plain");
    fast.save(&out3).unwrap();
    assert_eq!(names(&out3), names(fast.dir()));
}

fn sample_pairs(n: usize) -> TrainingData {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../data/scifact-sample");
    let ds = BeirDataset::open(&dir).unwrap();
    let pairs = pairs_from_qrels(&ds, &ds.qrels("test").unwrap()).unwrap();
    TrainingData::Examples(pairs[..n].to_vec())
}

fn trainable() -> SentenceEncoder {
    SentenceEncoder::load(
        MODEL,
        &ModelOptions {
            backend: Backend::Trainable,
            max_length: Some(48),
            ..Default::default()
        },
    )
    .unwrap()
}

fn weights(m: &SentenceEncoder) -> Vec<(String, Vec<f32>)> {
    let mut w: Vec<(String, Vec<f32>)> = m
        .current_weights()
        .unwrap()
        .into_iter()
        .map(|(k, t)| (k, t.flatten_all().unwrap().to_vec1().unwrap()))
        .collect();
    w.sort_by(|a, b| a.0.cmp(&b.0));
    w
}

fn step_losses(h: &[HistoryRecord]) -> Vec<(usize, f64)> {
    h.iter()
        .filter_map(|r| match r {
            HistoryRecord::Step(s) => Some((s.step, s.loss)),
            _ => None,
        })
        .collect()
}

/// Cancels the run after `at` steps.
struct CancelAt(CancelFlag, usize);
impl TrainCallback for CancelAt {
    fn on_step(&mut self, r: &StepRecord) -> rankbook::Result<()> {
        if r.step == self.1 {
            self.0.cancel();
        }
        Ok(())
    }
}

#[test]
fn fit_follows_the_schedule_and_stops_when_cancelled() {
    let data = sample_pairs(12);
    let m = trainable();
    let cfg = TrainConfig {
        batch_size: 4,
        warmup_ratio: 0.34,
        dropout: false,
        ..Default::default()
    };
    let loss = loss_by_name("mnrl").unwrap();
    let opts = FitOptions {
        output: None,
        resume: None,
        validation: None,
        progress: &NoProgress,
        cancel: None,
    };
    let out = fit(&m, &data, loss.as_ref(), &cfg, &opts, &mut NoCallback).unwrap();
    assert_eq!(out.stopped, StopReason::Finished);
    let steps: Vec<&StepRecord> = out
        .history
        .iter()
        .filter_map(|r| match r {
            HistoryRecord::Step(s) => Some(s),
            _ => None,
        })
        .collect();
    assert_eq!(steps.iter().map(|r| r.step).collect::<Vec<_>>(), [1, 2, 3]);
    // Two warm-up steps of three (linear): 0, half, then the peak.
    let lrs: Vec<f64> = steps.iter().map(|r| r.lr).collect();
    assert_eq!(lrs, [0.0, 1e-5, 2e-5]);
    assert!(
        steps
            .iter()
            .all(|r| r.loss.is_finite() && r.grad_norm > 0.0)
    );

    // Cancelled before the first step: nothing done, the model still usable.
    let cancel = CancelFlag::new();
    cancel.cancel();
    let opts = FitOptions {
        cancel: Some(&cancel),
        ..opts
    };
    let out = fit(&m, &data, loss.as_ref(), &cfg, &opts, &mut NoCallback).unwrap();
    assert_eq!((out.stopped, out.steps), (StopReason::Cancelled, 0));
    assert_eq!(
        m.embed_t(&["still works"], None, None).unwrap().dims(),
        [1, 384]
    );

    // Wrong shapes and sizes are refused up front.
    let e = fit(
        &m,
        &data,
        loss_by_name("triplet").unwrap().as_ref(),
        &cfg,
        &opts,
        &mut NoCallback,
    )
    .unwrap_err()
    .to_string();
    assert_eq!(
        e,
        "triplet loss needs (anchor, positive, negative) triples; this dataset yields (anchor, positive) pairs"
    );
    let big = TrainConfig {
        batch_size: 13,
        ..cfg.clone()
    };
    let e = fit(&m, &data, loss.as_ref(), &big, &opts, &mut NoCallback)
        .unwrap_err()
        .to_string();
    assert_eq!(
        e,
        "batch size 13 for 12 examples: choose a batch size between 1 and 12"
    );
    let e = loss_by_name("hinge").err().unwrap().to_string();
    assert!(
        e.starts_with("unknown loss `hinge`; known losses: mnrl, cached-mnrl, triplet"),
        "{e}"
    );
}

#[test]
fn resumed_run_is_bit_identical_to_an_uninterrupted_one() {
    let data = sample_pairs(12);
    let loss = loss_by_name("mnrl").unwrap();
    // Dropout on: the seeded masks must be reproduced after resuming too.
    let cfg = TrainConfig {
        epochs: 2,
        batch_size: 4,
        checkpoint_every: Some(2),
        keep_checkpoints: 5,
        ..Default::default()
    };
    let d = tempfile::tempdir().unwrap();
    let run =
        |out: &std::path::Path, resume: Option<&std::path::Path>, cancel_at: Option<usize>| {
            let m = trainable();
            let flag = CancelFlag::new();
            let opts = FitOptions {
                output: Some(out),
                resume,
                validation: None,
                progress: &NoProgress,
                cancel: Some(&flag),
            };
            let mut cb = CancelAt(flag.clone(), cancel_at.unwrap_or(usize::MAX));
            let outcome = fit(&m, &data, loss.as_ref(), &cfg, &opts, &mut cb).unwrap();
            (m, outcome)
        };
    let (whole, a) = run(&d.path().join("a"), None, None);
    assert_eq!((a.steps, a.stopped), (6, StopReason::Finished));

    // Stopped after step 3 (checkpoints at 2 and, on cancelling, 3) ...
    let b_dir = d.path().join("b");
    let (_, b) = run(&b_dir, None, Some(3));
    assert_eq!((b.steps, b.stopped), (3, StopReason::Cancelled));
    let ckpt = b_dir.join("checkpoints/step-00000002");
    assert!(ckpt.join("trainer_state.json").is_file());
    // ... and resumed from step 2: the same losses from step 3 on, the same weights.
    let (resumed, c) = run(&b_dir, Some(&ckpt), None);
    assert_eq!((c.steps, c.stopped), (6, StopReason::Finished));
    assert_eq!(step_losses(&c.history), step_losses(&a.history));
    assert!(
        weights(&resumed) == weights(&whole),
        "weights differ after resuming"
    );
    // The history file holds each step once.
    let file = read_history(&b_dir.join("history.jsonl")).unwrap();
    assert_eq!(step_losses(&file), step_losses(&a.history));

    // The saved model reloads with the trained weights' embeddings.
    let saved = SentenceEncoder::load(
        b_dir.join("model").to_str().unwrap(),
        &ModelOptions::default(),
    )
    .unwrap();
    let texts = ["a query about cells"];
    let got = saved.encode(&texts, &EncodeOptions::default()).unwrap().0;
    let want: Vec<f32> = resumed
        .embed_t(&texts, None, None)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1()
        .unwrap();
    assert!(max_diff(&want, got.as_slice()) < 1e-5);

    // A checkpoint of other settings or another model is refused.
    let other = TrainConfig {
        lr: 1e-4,
        ..cfg.clone()
    };
    let m = trainable();
    let opts = FitOptions {
        output: None,
        resume: Some(&ckpt),
        validation: None,
        progress: &NoProgress,
        cancel: None,
    };
    let e = fit(&m, &data, loss.as_ref(), &other, &opts, &mut NoCallback)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("its settings differ (lr: 0.00002 in the checkpoint, 0.0001 now)"),
        "{e}"
    );
    let e = fit(
        &m,
        &sample_pairs(11),
        loss.as_ref(),
        &cfg,
        &opts,
        &mut NoCallback,
    )
    .unwrap_err()
    .to_string();
    assert!(e.ends_with("it was trained on other data"), "{e}");
}

#[test]
fn a_head_on_the_frozen_encoder_trains_saves_and_reloads() {
    use rankbook::model::head::HeadKind;
    use rankbook::train::FrozenEncoderHead;

    let data = sample_pairs(24);
    let frozen = SentenceEncoder::load(
        MODEL,
        &ModelOptions {
            max_length: Some(48),
            ..Default::default()
        },
    )
    .unwrap();
    let cfg = TrainConfig {
        epochs: 3,
        batch_size: 8,
        lr: 1e-3,
        ..Default::default()
    };
    let d = tempfile::tempdir().unwrap();
    for kind in [HeadKind::Linear, HeadKind::SkipConnection] {
        let head =
            FrozenEncoderHead::new(&frozen, kind, &data, 42, &EncodeOptions::default()).unwrap();
        let out_dir = d.path().join(kind.name());
        let opts = FitOptions {
            output: Some(&out_dir),
            resume: None,
            validation: None,
            progress: &NoProgress,
            cancel: None,
        };
        let loss = loss_by_name("mnrl").unwrap();
        let out = fit(&head, &data, loss.as_ref(), &cfg, &opts, &mut NoCallback).unwrap();
        // Epoch means fall: the head learns the pairs.
        let epoch_mean = |e: usize| {
            let l: Vec<f64> = out
                .history
                .iter()
                .filter_map(|r| match r {
                    HistoryRecord::Step(s) if s.epoch == e => Some(s.loss),
                    _ => None,
                })
                .collect();
            l.iter().sum::<f64>() / l.len() as f64
        };
        assert!(
            epoch_mean(2) < epoch_mean(0),
            "{:?}",
            step_losses(&out.history)
        );
        // The saved folder is the encoder's plus a Dense module, and reloads
        // with the head's vectors.
        let saved = out_dir.join("model");
        let mut want_files = names(frozen.dir());
        want_files.extend([
            "3_Dense/config.json".to_string(),
            "3_Dense/model.safetensors".to_string(),
        ]);
        assert_eq!(names(&saved), want_files);
        let reloaded =
            SentenceEncoder::load(saved.to_str().unwrap(), &ModelOptions::default()).unwrap();
        let texts = ["a query about cells", "another text"];
        let got = reloaded
            .encode_queries(&texts, &EncodeOptions::default())
            .unwrap();
        let want: Vec<f32> =
            rankbook::loss::Embedder::embed(&head, &texts, rankbook::loss::Role::Query, 0, false)
                .unwrap()
                .flatten_all()
                .unwrap()
                .to_vec1()
                .unwrap();
        assert!(max_diff(&want, got.as_slice()) < 1e-5);
    }
}

#[test]
fn a_cross_encoder_trains_saves_as_sequence_classification_and_reloads() {
    use rankbook::data::training::Example;
    use rankbook::model::cross_encoder::{CrossEncoder, CrossEncoderOptions};

    let TrainingData::Examples(pairs) = sample_pairs(8) else {
        unreachable!()
    };
    // Each query's positive, and the next pair's positive as its negative.
    let data = TrainingData::Examples(
        (0..pairs.len())
            .map(|i| Example {
                negatives: vec![pairs[(i + 1) % pairs.len()].positive.clone()],
                ..pairs[i].clone()
            })
            .collect(),
    );
    let opts = CrossEncoderOptions {
        max_length: Some(64),
        ..Default::default()
    };
    let m = CrossEncoder::load(MODEL, &opts).unwrap();
    let cfg = TrainConfig {
        epochs: 4,
        batch_size: 4,
        lr: 5e-5,
        warmup_ratio: 0.0,
        ..Default::default()
    };
    let d = tempfile::tempdir().unwrap();
    let out_dir = d.path().join("ce");
    let fit_opts = FitOptions {
        output: Some(&out_dir),
        resume: None,
        validation: None,
        progress: &NoProgress,
        cancel: None,
    };
    let loss = loss_by_name("bce").unwrap();
    let out = fit(&m, &data, loss.as_ref(), &cfg, &fit_opts, &mut NoCallback).unwrap();
    let losses = step_losses(&out.history);
    assert_eq!(losses.len(), 8);
    let first: f64 = losses[..2].iter().map(|(_, l)| l).sum();
    let last: f64 = losses[6..].iter().map(|(_, l)| l).sum();
    assert!(last < first, "{losses:?}");
    // A bi-encoder loss is refused for a cross-encoder.
    let e = fit(
        &m,
        &data,
        loss_by_name("mnrl").unwrap().as_ref(),
        &cfg,
        &FitOptions {
            output: None,
            ..fit_opts
        },
        &mut NoCallback,
    )
    .unwrap_err()
    .to_string();
    assert!(e.starts_with("mnrl loss trains bi-encoders"), "{e}");

    // The folder transformers and sentence-transformers' CrossEncoder load.
    let saved = out_dir.join("model");
    let files = names(&saved);
    assert!(
        files.contains("config.json")
            && files.contains("tokenizer.json")
            && files.contains("model.safetensors"),
        "{files:?}"
    );
    assert!(!files.contains("modules.json"), "{files:?}");
    let config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(saved.join("config.json")).unwrap()).unwrap();
    assert_eq!(config["architectures"][0], "BertForSequenceClassification");
    assert_eq!(config["id2label"]["0"], "LABEL_0");
    let tensors = tensor_names(&saved.join("model.safetensors"));
    assert!(
        tensors
            .iter()
            .all(|(n, _)| n.starts_with("bert.") || n.starts_with("classifier."))
    );
    assert!(tensors.contains(&("classifier.weight".to_string(), "F32".to_string())));
    assert!(tensors.contains(&("bert.pooler.dense.weight".to_string(), "F32".to_string())));
    // Reloaded, it scores exactly as the trained model does.
    let reloaded = CrossEncoder::load(saved.to_str().unwrap(), &opts).unwrap();
    let probe = [
        ("how do cells divide", "Mitosis is how cells divide."),
        ("tides", "The moon pulls the sea."),
    ];
    assert_eq!(
        m.predict(&probe, 8).unwrap(),
        reloaded.predict(&probe, 8).unwrap()
    );
}

#[test]
fn group_samples_train_a_head_with_the_batch_hard_triplet_loss() {
    use rankbook::data::training::GroupSample;
    use rankbook::model::head::HeadKind;
    use rankbook::train::FrozenEncoderHead;

    // Quaterion's setting: texts labelled with their group, here three topics.
    let topics = [
        (
            "sport",
            [
                "football match tonight",
                "the tennis final",
                "a marathon runner",
                "cycling race results",
            ],
        ),
        (
            "food",
            [
                "a recipe for bread",
                "pasta with tomato sauce",
                "grilled vegetables",
                "chocolate cake baking",
            ],
        ),
        (
            "code",
            [
                "a rust compiler error",
                "python list comprehension",
                "debugging a segfault",
                "git merge conflict",
            ],
        ),
    ];
    let data = TrainingData::Groups(
        topics
            .iter()
            .flat_map(|(g, texts)| {
                texts.iter().map(|t| GroupSample {
                    text: t.to_string(),
                    group: g.to_string(),
                })
            })
            .collect(),
    );
    let frozen = SentenceEncoder::load(MODEL, &ModelOptions::default()).unwrap();
    let head = FrozenEncoderHead::new(
        &frozen,
        HeadKind::Linear,
        &data,
        42,
        &EncodeOptions::default(),
    )
    .unwrap();
    let loss = loss_by_name("batch-hard-triplet").unwrap();
    let cfg = TrainConfig {
        epochs: 30,
        batch_size: 6,
        lr: 1e-2,
        ..Default::default()
    };
    let opts = FitOptions {
        output: None,
        resume: None,
        validation: None,
        progress: &NoProgress,
        cancel: None,
    };
    let out = fit(&head, &data, loss.as_ref(), &cfg, &opts, &mut NoCallback).unwrap();
    let losses = step_losses(&out.history);
    let mean = |s: &[(usize, f64)]| s.iter().map(|x| x.1).sum::<f64>() / s.len() as f64;
    let (first, last) = (mean(&losses[..6]), mean(&losses[losses.len() - 6..]));
    assert!(last < 0.5 * first, "{first} -> {last}");
    // Pairs data are refused with what the loss needs.
    let e = fit(
        &head,
        &sample_pairs(4),
        loss.as_ref(),
        &cfg,
        &opts,
        &mut NoCallback,
    )
    .err()
    .unwrap()
    .to_string();
    assert!(e.contains("needs (text, group) samples"), "{e}");
}

#[test]
fn a_cross_encoder_is_validated_by_reranking_a_bm25_run() {
    use rankbook::eval::{EvalOptions, evaluate, parse_measures};
    use rankbook::model::cross_encoder::{CrossEncoder, CrossEncoderOptions};
    use rankbook::rerank::{RerankOptions, Reranker, rerank};
    use rankbook::train::Validation;

    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../data/scifact-sample");
    let data = BeirDataset::open(&dir).unwrap();
    let measures = parse_measures("nDCG@10").unwrap();
    let mut v = Validation::from_beir(&data, "test", measures.clone()).unwrap();
    v.rerank_depth = 3;
    // The first stage is the sample's BM25 run (as `rankbook search` gives it).
    let first = v.first_stage().unwrap().clone();
    let bm25 = evaluate(&v.qrels, &first, &measures, EvalOptions::default()).means[0];
    assert!((bm25 - 0.9370).abs() < 5e-5, "{bm25}");
    let m = CrossEncoder::load(
        MODEL,
        &CrossEncoderOptions {
            max_length: Some(64),
            ..Default::default()
        },
    )
    .unwrap();
    let (got, _) = v.run(&m, loss_by_name("bce").unwrap().as_ref()).unwrap();
    // The same as re-ranking the top 3 by hand and evaluating.
    let opts = RerankOptions {
        k: 3,
        batch_size: 32,
        skip_missing: false,
        encode: EncodeOptions::default(),
    };
    let (by_hand, _) = rerank(Reranker::Cross(&m), &first, &v.queries, &v.corpus, &opts).unwrap();
    let want = evaluate(&v.qrels, &by_hand, &measures, EvalOptions::default()).means[0];
    assert_eq!(got["nDCG@10"], want);
    assert!(by_hand.top_of(&v.queries[0].id, 10).len() == 3);
}
