//! Every family through the command line on its tiny random checkpoint
//! (`stdlib/tests/fixtures/tiny/`): `rankbook fit` trains and saves a folder
//! with the input's tensors, a cross-encoder of each family trains and
//! re-ranks, and a DistilBERT masked-LM model builds a SPLADE index.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use rankbook_tests::{rankbook, repo_root, sample_data, text};

fn fixture(name: &str) -> PathBuf {
    repo_root().join("stdlib/tests/fixtures/tiny").join(name)
}

fn tensors(path: &Path) -> BTreeSet<(String, String)> {
    candle_core::safetensors::load(path, &candle_core::Device::Cpu)
        .unwrap()
        .into_iter()
        .map(|(k, v)| (k, format!("{:?}{:?}", v.dtype(), v.dims())))
        .collect()
}

fn run_ok(args: &[&str]) -> String {
    let o = rankbook(args);
    let (stdout, stderr) = text(&o);
    assert!(o.status.success(), "rankbook {args:?}\n{stderr}");
    stderr + &stdout
}

#[test]
fn fit_trains_and_saves_every_family() {
    let data = sample_data();
    for family in ["distilbert", "xlm-roberta", "mpnet", "modernbert", "qwen3"] {
        let d = tempfile::tempdir().unwrap();
        let out = d.path().join("run");
        let model = fixture(&format!("{family}-st"));
        let log = run_ok(&[
            "fit",
            "--model",
            model.to_str().unwrap(),
            "--data",
            data.to_str().unwrap(),
            "--split",
            "test",
            "--batch-size",
            "16",
            "--max-length",
            "32",
            "--output",
            out.to_str().unwrap(),
        ]);
        assert!(log.contains("trained 5 of 5 steps"), "{family}: {log}");
        assert_eq!(
            tensors(&out.join("model/model.safetensors")),
            tensors(&model.join("model.safetensors")),
            "{family}"
        );
        // The trained folder encodes.
        let vectors = d.path().join("q.jsonl");
        run_ok(&[
            "encode",
            "--model",
            out.join("model").to_str().unwrap(),
            "--input",
            data.join("queries.jsonl").to_str().unwrap(),
            "--output",
            vectors.to_str().unwrap(),
            "--quiet",
        ]);
        let lines = std::fs::read_to_string(&vectors).unwrap().lines().count();
        assert_eq!(lines, 50, "{family}");
    }
}

#[test]
fn cross_encoders_of_every_family_train_and_save() {
    let data = sample_data();
    for family in ["distilbert", "xlm-roberta", "mpnet", "modernbert"] {
        let d = tempfile::tempdir().unwrap();
        let out = d.path().join("ce");
        let model = fixture(&format!("{family}-ce"));
        let log = run_ok(&[
            "fit",
            "--cross-encoder",
            "--model",
            model.to_str().unwrap(),
            "--data",
            data.to_str().unwrap(),
            "--split",
            "test",
            "--loss",
            "bce",
            "--batch-size",
            "16",
            "--max-length",
            "48",
            "--output",
            out.to_str().unwrap(),
        ]);
        assert!(log.contains("steps"), "{family}: {log}");
        let config: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(out.join("model/config.json")).unwrap())
                .unwrap();
        let arch = config["architectures"][0].as_str().unwrap().to_string();
        let want = match family {
            "distilbert" => "DistilBertForSequenceClassification",
            "xlm-roberta" => "XLMRobertaForSequenceClassification",
            "modernbert" => "ModernBertForSequenceClassification",
            _ => "MPNetForSequenceClassification",
        };
        assert_eq!(arch, want);
        assert_eq!(
            tensors(&out.join("model/model.safetensors")),
            tensors(&model.join("model.safetensors")),
            "{family}"
        );
    }
}

#[test]
fn a_distilbert_masked_lm_builds_a_splade_index() {
    let d = tempfile::tempdir().unwrap();
    let index = d.path().join("splade");
    let data = sample_data();
    let model = fixture("distilbert-mlm");
    run_ok(&[
        "index",
        "--sparse",
        "--model",
        model.to_str().unwrap(),
        "--corpus",
        data.to_str().unwrap(),
        "--output",
        index.to_str().unwrap(),
        "--quiet",
    ]);
    let run = d.path().join("run.trec");
    run_ok(&[
        "search",
        "--index",
        index.to_str().unwrap(),
        "--queries",
        data.join("queries.jsonl").to_str().unwrap(),
        "--split",
        "test",
        "--k",
        "10",
        "--output",
        run.to_str().unwrap(),
        "--quiet",
    ]);
    let lines = std::fs::read_to_string(&run).unwrap().lines().count();
    assert_eq!(lines, 500);
}

#[test]
fn an_unknown_model_type_is_one_clear_line() {
    let d = tempfile::tempdir().unwrap();
    std::fs::write(d.path().join("config.json"), r#"{"model_type": "gpt2"}"#).unwrap();
    let o = rankbook(&[
        "encode",
        "--model",
        d.path().to_str().unwrap(),
        "--input",
        sample_data().join("queries.jsonl").to_str().unwrap(),
        "--output",
        d.path().join("q.jsonl").to_str().unwrap(),
    ]);
    let (_, stderr) = text(&o);
    assert!(!o.status.success());
    assert!(
        stderr.contains("model_type \"gpt2\" is not supported (supported: bert, distilbert, modernbert, mpnet, qwen3, roberta, xlm-roberta)"),
        "{stderr}"
    );
}
