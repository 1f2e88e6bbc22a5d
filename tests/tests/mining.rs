//! Hard-negative mining on the embedded SciFact sample: over many settings and
//! seeds no judged positive is ever a negative, margins hold, samples repeat
//! with their seed; `rankbook mine` writes byte-identical files for one seed,
//! which the training reader accepts.

use rankbook::cache::EmbeddingCache;
use rankbook::data::BeirDataset;
use rankbook::data::negatives::read_negatives;
use rankbook::mining::{MarginKind, Mined, MiningOptions, Sampling, mine};
use rankbook::model::{EncodeOptions, ModelOptions, SentenceEncoder};
use rankbook::random::SplitMix;
use rankbook_tests::{rankbook, sample_data, text};

const MINILM: &str = "sentence-transformers/all-MiniLM-L6-v2";

#[test]
fn never_a_judged_positive_margins_hold_and_seeds_repeat() {
    let data = BeirDataset::open(&sample_data()).unwrap();
    let qrels = data.qrels("test").unwrap();
    let model =
        std::sync::Arc::new(SentenceEncoder::load(MINILM, &ModelOptions::default()).unwrap());
    let dir = tempfile::tempdir().unwrap();
    let cache = EmbeddingCache::new(dir.path().to_path_buf());
    let run = |depth, margin, sampling, seed| -> Vec<Mined> {
        let opts = MiningOptions {
            depth,
            negatives: 4,
            margin,
            cross_encoder: None,
            sampling,
            seed,
            shard: None,
            encode: EncodeOptions {
                cache: Some(&cache),
                ..Default::default()
            },
        };
        mine(model.clone(), &data, &qrels, &opts).unwrap()
    };
    let mut rng = SplitMix::new(7);
    let mut judged_dropped = 0;
    for case in 0..12 {
        let lo = 1 + rng.below(5);
        let depth = (lo, lo + rng.below(40));
        let margin = match rng.below(3) {
            0 => None,
            1 => Some((rng.below(10) as f32 / 100.0, MarginKind::Absolute)),
            _ => Some((rng.below(10) as f32 / 100.0, MarginKind::Relative)),
        };
        let sampling = if rng.below(2) == 0 {
            Sampling::Top
        } else {
            Sampling::Random
        };
        let seed = rng.next_u64();
        let mined = run(depth, margin, sampling, seed);
        assert!(!mined.is_empty());
        for m in &mined {
            let judged = qrels.get(&m.query_id).unwrap();
            assert!(judged.get(&m.positive_id).is_some_and(|&g| g > 0));
            for (n, s) in m.negative_ids.iter().zip(&m.retriever_scores.negatives) {
                assert!(
                    judged.get(n).is_none_or(|&g| g <= 0),
                    "case {case}: {n} is judged relevant to {}",
                    m.query_id
                );
                let p = m.retriever_scores.positive;
                match margin {
                    Some((x, MarginKind::Absolute)) => assert!(*s < p - x),
                    Some((x, MarginKind::Relative)) => assert!(*s < p * (1.0 - x)),
                    None => {}
                }
            }
            assert!(m.negative_ids.len() <= 4 && m.negative_ids.len() == m.kept.min(4));
            judged_dropped += m.dropped.judged_positive;
        }
        // The same seed, the same negatives.
        assert_eq!(mined, run(depth, margin, sampling, seed), "case {case}");
    }
    assert!(
        judged_dropped > 0,
        "the positives were among the candidates and were dropped"
    );
    let a = run((1, 40), None, Sampling::Random, 1);
    let b = run((1, 40), None, Sampling::Random, 2);
    assert_ne!(a, b, "another seed, another sample");
}

#[test]
fn mine_command_is_reproducible_and_its_output_trains() {
    let data = sample_data();
    let dir = tempfile::tempdir().unwrap();
    let mine_to = |name: &str| {
        let out = dir.path().join(name);
        let o = rankbook(&[
            "mine",
            "--model",
            MINILM,
            "--data",
            data.to_str().unwrap(),
            "--split",
            "test",
            "--depth",
            "2..50",
            "--negatives",
            "3",
            "--margin",
            "0.05",
            "--sampling",
            "random",
            "--seed",
            "9",
            "--output",
            out.to_str().unwrap(),
            "--quiet",
        ]);
        let (_, stderr) = text(&o);
        assert!(o.status.success(), "{stderr}");
        assert!(stderr.contains("judged positive"), "{stderr}");
        std::fs::read(out).unwrap()
    };
    let first = mine_to("a.jsonl");
    assert_eq!(first, mine_to("b.jsonl"));
    let ds = BeirDataset::open(&data).unwrap();
    let examples = read_negatives(&dir.path().join("a.jsonl"), Some(&ds)).unwrap();
    assert!(!examples.is_empty() && examples.iter().all(|e| e.teacher.is_none()));
    let o = rankbook(&[
        "mine",
        "--model",
        MINILM,
        "--data",
        data.to_str().unwrap(),
        "--split",
        "test",
        "--depth",
        "0..5",
        "--output",
        dir.path().join("c.jsonl").to_str().unwrap(),
    ]);
    assert!(text(&o).1.contains("ranks start at 1"), "{}", text(&o).1);
    assert!(!dir.path().join("c.jsonl").exists());
}
