//! Every `examples/*.rhai` runs on the embedded sample with its numbers checked.

use rankbook_tests::{rankbook, text};

/// Runs an example with its outputs in a temporary folder; stdout on success.
fn run_example(name: &str) -> (tempfile::TempDir, String) {
    let out = tempfile::tempdir().unwrap();
    let set = format!("out={}", out.path().display());
    let o = rankbook(&["run", &format!("examples/{name}.rhai"), "--set", &set]);
    let (stdout, stderr) = text(&o);
    assert!(o.status.success(), "{name}: {stderr}");
    (out, stdout)
}

fn assert_has(stdout: &str, lines: &[&str]) {
    for l in lines {
        assert!(stdout.contains(l), "no `{l}` in:\n{stdout}");
    }
}

fn assert_png(path: &std::path::Path) {
    let bytes = std::fs::read(path).unwrap();
    assert!(
        bytes.starts_with(b"\x89PNG") && bytes.len() > 5_000,
        "{path:?}"
    );
}

#[test]
fn quickstart_ranks_the_judged_doc_first_and_reports_ndcg() {
    let (out, stdout) = run_example("quickstart");
    // Query 1's only relevant doc (31715818) comes first, as with sentence-transformers.
    assert_has(
        &stdout,
        &[
            "query 1: 0-dimensional biomaterials show inductive properties.\n  0.2916  doc 31715818",
            "nDCG@10  0.9311",
            "R@100    1.0000",
            "queries  50",
        ],
    );
    let svg = std::fs::read_to_string(out.path().join("quickstart_recall.svg")).unwrap();
    for label in ["minilm", "recall"] {
        assert!(svg.to_lowercase().contains(label), "no {label} in the plot");
    }
}

#[test]
fn bm25_vs_dense_example_compares_and_plots() {
    let out = tempfile::tempdir().unwrap();
    let set = format!("out={}", out.path().display());
    let o = rankbook(&["run", "examples/bm25_vs_dense.rhai", "--set", &set]);
    let (stdout, stderr) = text(&o);
    assert!(o.status.success(), "{stderr}");
    assert!(stdout.contains("bm25    0.9370 (baseline)"), "{stdout}");
    assert!(
        stdout.contains("minilm  0.9311 -0.0058 p=0.8533"),
        "{stdout}"
    );
    let svg = std::fs::read_to_string(out.path().join("bm25_vs_dense.svg")).unwrap();
    for label in ["nDCG@10", "R@100", "bm25", "minilm", "95% bootstrap"] {
        assert!(svg.contains(label), "no {label} in the bar chart");
    }
    for png in ["bm25_vs_dense_deltas.png", "recall.png"] {
        let bytes = std::fs::read(out.path().join(png)).unwrap();
        assert!(
            bytes.starts_with(b"\x89PNG") && bytes.len() > 5_000,
            "{png}"
        );
    }
}

#[test]
fn fine_tune_improves_the_sample_and_saves_a_model_that_reloads() {
    let (out, stdout) = run_example("fine_tune");
    assert_has(
        &stdout,
        &[
            "step 1: loss 0.0650\n",
            "base    0.9311 (baseline)",
            "tuned   0.9926 +0.0615 p=0.0237 ▲",
            "reloads with the same vectors: true",
        ],
    );
    let svg = std::fs::read_to_string(out.path().join("fine_tune_curves.svg")).unwrap();
    assert!(svg.contains("loss"), "no loss curve");
    let model = out.path().join("fine_tuned_model");
    for f in [
        "model.safetensors",
        "modules.json",
        "tokenizer.json",
        "1_Pooling/config.json",
    ] {
        assert!(model.join(f).is_file(), "no {f} in the saved model");
    }
}

#[test]
fn mining_then_retraining_improves_the_sample() {
    let (out, stdout) = run_example("mine_retrain");
    assert_has(
        &stdout,
        &[
            "60 negatives for 60 (query, positive) pairs",
            "trained 5 steps",
            "base       0.9311 (baseline)             0.9102 (baseline)",
            "retrained  0.9752 +0.0441 p=0.0361 ▲     0.9667 +0.0564 p=0.0395 ▲",
        ],
    );
    let negatives = std::fs::read_to_string(out.path().join("negatives.jsonl")).unwrap();
    assert_eq!(negatives.lines().count(), 60);
}

#[test]
fn a_head_on_the_frozen_encoder_trains_from_cached_outputs() {
    let (out, stdout) = run_example("frozen_head");
    assert_has(
        &stdout,
        &[
            "epoch 5: loss 0.0012",
            "epoch 10: loss 0.0000",
            "51 steps; first loss 0.0641",
            "frozen  0.9311 (baseline)",
            "head    0.9507 +0.0196 p=0.1362",
        ],
    );
    assert_png(&out.path().join("frozen_head_map.png"));
}

#[test]
fn a_cross_encoder_trained_offline_reranks_bm25() {
    let (out, stdout) = run_example("cross_encoder_rerank");
    assert_has(
        &stdout,
        &[
            "trained a cross-encoder: 128 steps, last loss 0.0059",
            "bm25      0.9370 (baseline)             0.9295 (baseline)",
            "reranked  0.9178 -0.0192 p=0.4863       0.8940 -0.0355 p=0.3523",
        ],
    );
    let svg = std::fs::read_to_string(out.path().join("cross_encoder_rerank.svg")).unwrap();
    assert!(svg.contains("reranked") && svg.contains("RR@10"));
}
