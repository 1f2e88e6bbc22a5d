//! `rankbook fit` end to end on the embedded SciFact sample, and training from
//! a Rhai script: the saved folder matches the input model's layout, the
//! history is written, and bad input is refused with a clear message.

use std::collections::BTreeSet;
use std::path::Path;

use rankbook_tests::{rankbook, sample_data, text};

const MODEL: &str = "sentence-transformers/all-MiniLM-L6-v2";

fn files(dir: &Path) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        let name = e.file_name().to_string_lossy().into_owned();
        if e.path().is_dir() {
            out.extend(files(&e.path()).into_iter().map(|n| format!("{name}/{n}")));
        } else {
            out.insert(name);
        }
    }
    out
}

fn tensors(path: &Path) -> BTreeSet<(String, String)> {
    candle_core::safetensors::load(path, &candle_core::Device::Cpu)
        .unwrap()
        .into_iter()
        .map(|(k, v)| (k, format!("{:?}{:?}", v.dtype(), v.dims())))
        .collect()
}

fn model_dir() -> std::path::PathBuf {
    rankbook::model::resolve_model(MODEL).unwrap()
}

#[test]
fn fit_saves_a_sentence_transformers_folder_and_its_history() {
    let d = tempfile::tempdir().unwrap();
    let out = d.path().join("run");
    let data = sample_data();
    let o = rankbook(&[
        "fit",
        "--model",
        MODEL,
        "--data",
        data.to_str().unwrap(),
        "--split",
        "test",
        "--batch-size",
        "8",
        "--max-length",
        "48",
        "--eval-split",
        "test",
        "--checkpoint-every",
        "4",
        "--output",
        out.to_str().unwrap(),
    ]);
    let (stdout, stderr) = text(&o);
    assert!(o.status.success(), "{stderr}");
    assert_eq!(stdout.trim(), out.join("model").display().to_string());
    assert!(
        stderr.contains("on 60 (anchor, positive) pairs"),
        "{stderr}"
    );
    assert!(stderr.contains("trained 8 of 8 steps"), "{stderr}");
    // Same files and tensors (names, dtypes, shapes) as the input model.
    let input = model_dir();
    assert_eq!(files(&out.join("model")), files(&input));
    assert_eq!(
        tensors(&out.join("model/model.safetensors")),
        tensors(&input.join("model.safetensors"))
    );
    let history = rankbook::train::read_history(&out.join("history.jsonl")).unwrap();
    let steps = history
        .iter()
        .filter(|r| matches!(r, rankbook::train::HistoryRecord::Step(_)))
        .count();
    assert_eq!(steps, 8);
    let Some(rankbook::train::HistoryRecord::Eval(e)) = history.last() else {
        panic!("no validation at the end: {history:?}");
    };
    // Validation's nDCG@10 is what encoding with the saved model, searching
    // and evaluating gives.
    let ndcg = e.measures["nDCG@10"];
    let run = d.path().join("tuned.trec");
    let queries = data.join("queries.jsonl");
    let o = rankbook(&[
        "search",
        "--model",
        out.join("model").to_str().unwrap(),
        "--corpus",
        data.to_str().unwrap(),
        "--queries",
        queries.to_str().unwrap(),
        "--split",
        "test",
        "--metric",
        "cosine",
        "--k",
        "100",
        "--max-length",
        "48",
        "--no-cache",
        "--quiet",
        "--output",
        run.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o).1);
    let o = rankbook(&[
        "eval",
        "--qrels",
        data.join("qrels/test.tsv").to_str().unwrap(),
        "--run",
        run.to_str().unwrap(),
        "--measures",
        "nDCG@10",
        "--json",
    ]);
    let json: serde_json::Value = serde_json::from_str(&text(&o).0).unwrap();
    let want = json["measures"]["nDCG@10"].as_f64().unwrap();
    assert!((ndcg - want).abs() < 1e-4, "validation {ndcg}, CLI {want}");
    assert!(
        out.join("checkpoints/step-00000004/trainer_state.json")
            .is_file()
    );
    assert!(
        out.join("checkpoints/step-00000008/weights.safetensors")
            .is_file()
    );

    // A checkpoint of this run refused for a run with other settings.
    let o = rankbook(&[
        "fit",
        "--model",
        MODEL,
        "--data",
        data.to_str().unwrap(),
        "--split",
        "test",
        "--batch-size",
        "4",
        "--max-length",
        "48",
        "--resume",
        out.join("checkpoints/step-00000004").to_str().unwrap(),
        "--output",
        d.path().join("other").to_str().unwrap(),
    ]);
    let (_, stderr) = text(&o);
    assert!(!o.status.success());
    assert!(
        stderr.contains("its settings differ (batch_size: 8 in the checkpoint, 4 now)"),
        "{stderr}"
    );
}

#[test]
fn fit_refuses_bad_input_before_training() {
    let d = tempfile::tempdir().unwrap();
    let data = sample_data();
    let out = d.path().join("never");
    let fit = |extra: &[&str]| {
        let mut args = vec![
            "fit",
            "--model",
            MODEL,
            "--data",
            data.to_str().unwrap(),
            "--split",
            "test",
            "--output",
            out.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        let o = rankbook(&args);
        assert!(!o.status.success());
        text(&o).1
    };
    let e = fit(&["--loss", "hinge"]);
    assert!(
        e.contains(
            "error: unknown loss `hinge`; known losses: mnrl, cached-mnrl, triplet, batch-hard-triplet, contrastive"
        ),
        "{e}"
    );
    let e = fit(&["--loss", "triplet"]);
    assert!(e.contains("error: triplet loss needs (anchor, positive, negative) triples; this dataset yields (anchor, positive) pairs"), "{e}");
    let e = fit(&["--batch-sampler", "bucket"]);
    assert!(
        e.contains("unknown batch sampler \"bucket\" (expected auto, no-duplicates or random)"),
        "{e}"
    );
    let e = fit(&["--batch-size", "100"]);
    assert!(e.contains("batch size 100 for 60 examples"), "{e}");
    let bad = d.path().join("pairs.jsonl");
    std::fs::write(
        &bad,
        "{\"text_a\": \"a\", \"text_b\": \"b\", \"score\": 1}\n{\"text_a\": \"a\", \"score\": 0}\n",
    )
    .unwrap();
    let e = fit(&["--pairs", bad.to_str().unwrap(), "--loss", "contrastive"]);
    assert!(e.contains("pairs.jsonl:2: no \"text_b\" or \"sentence2\" or \"positive\" field (fields: score, text_a)"), "{e}");
    let groups = d.path().join("groups.jsonl");
    std::fs::write(
        &groups,
        "{\"text\": \"a\", \"group\": \"x\"}\n{\"text\": \"b\", \"group\": \"x\"}\n",
    )
    .unwrap();
    let e = fit(&["--groups", groups.to_str().unwrap()]);
    assert!(
        e.contains("this dataset yields (text, group) samples"),
        "{e}"
    );
    let e = fit(&[
        "--groups",
        groups.to_str().unwrap(),
        "--loss",
        "batch-hard-triplet",
        "--batch-size",
        "2",
    ]);
    assert!(
        e.contains("batch-hard-triplet loss needs at least two groups; the data have 1"),
        "{e}"
    );
    assert!(!out.exists(), "nothing written on bad input");
}

#[test]
fn a_script_trains_with_a_step_hook_and_reads_the_history() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("train.rhai");
    std::fs::write(
        &p,
        format!(
            r#"let d = beir("{}");
let pairs = training_pairs(d, "test");
print(pairs);
let t = trainer(#{{loss: "mnrl", epochs: 1, lr: 2e-5, batch_size: 20, max_length: 32, dropout: false}});
t.on_step(|s| print(`step ${{s.step}} lr ${{(s.lr * 1e6).round().to_int()}}e-6`));
let tuned = t.fit(model("{MODEL}"), pairs);
let h = t.history();
print(h.len());
print(h[0].type);
print(tuned.encode(["a query"]).dim);
"#,
            sample_data().display()
        ),
    )
    .unwrap();
    let o = rankbook(&["run", p.to_str().unwrap()]);
    let (stdout, stderr) = text(&o);
    assert!(o.status.success(), "{stderr}");
    // 60 pairs in batches of at most 20 without a repeated text: five steps,
    // one of warm-up from 0, then linear decay.
    assert_eq!(
        stdout,
        "TrainingData(60 (anchor, positive) pairs)\nstep 1 lr 0e-6\nstep 2 lr 20e-6\nstep 3 lr 15e-6\nstep 4 lr 10e-6\nstep 5 lr 5e-6\n5\nstep\n384\n"
    );
    // Plain shuffled batches (sentence-transformers' default sampler): 60 / 20 = three steps.
    let script = std::fs::read_to_string(&p).unwrap().replace(
        "dropout: false",
        "dropout: false, batch_sampler: \"random\"",
    );
    std::fs::write(&p, script).unwrap();
    let o = rankbook(&["run", p.to_str().unwrap()]);
    let (stdout, stderr) = text(&o);
    assert!(o.status.success(), "{stderr}");
    assert!(stdout.contains("step 3 lr 10e-6\n3\nstep\n"), "{stdout}");
    std::fs::write(&p, "trainer(#{batch_sampler: \"bucket\"});\n").unwrap();
    let (_, stderr) = text(&rankbook(&["run", p.to_str().unwrap()]));
    assert!(
        stderr.contains("option batch_sampler: unknown batch sampler \"bucket\""),
        "{stderr}"
    );
}
