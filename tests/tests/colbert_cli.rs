//! ColBERT from the command line: build one from an encoder, index a corpus
//! (exact MaxSim), search the index and in memory (the same run), encode
//! queries as token vectors, refuse queries encoded by another model, mine
//! negatives and teach a bi-encoder; search with and fine-tune a Stanford
//! (colbert-ai) checkpoint.

use rankbook_tests::{rankbook, repo_root, sample_data, text};

fn ok(args: &[&str]) -> String {
    let o = rankbook(args);
    let (out, err) = text(&o);
    assert!(o.status.success(), "rankbook {args:?} failed:\n{err}");
    out
}

/// The tiny XLM-R encoder, the sample corpus and its queries.
fn inputs() -> (String, String, String) {
    let tiny = repo_root().join("stdlib/tests/fixtures/tiny/xlm-roberta-st");
    let sample = sample_data();
    let queries = sample.join("queries.jsonl");
    let s = |p: std::path::PathBuf| p.display().to_string();
    (s(tiny), s(sample), s(queries))
}

/// Builds a 16-dimensional ColBERT from `encoder` into `out` with `seed`.
fn colbert_of(encoder: &str, out: &str, seed: &str) -> String {
    ok(&[
        "colbert", "--model", encoder, "--output", out, "--dim", "16", "--seed", seed,
    ]);
    out.to_string()
}

#[test]
fn build_index_search_and_encode_a_colbert() {
    let d = tempfile::tempdir().unwrap();
    let p = |name: &str| d.path().join(name).display().to_string();
    let (tiny, sample, queries) = inputs();
    let (tiny, sample, queries) = (tiny.as_str(), sample.as_str(), queries.as_str());
    let model = colbert_of(tiny, &p("colbert"), "42");
    ok(&[
        "index",
        "--model",
        &model,
        "--corpus",
        sample,
        "--output",
        &p("idx"),
        "--quiet",
    ]);
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(d.path().join("idx/manifest.json")).unwrap())
            .unwrap();
    assert_eq!(manifest["factory"], "MaxSim");
    assert_eq!(manifest["dim"], 16);

    let search = |extra: &[&str], out: &str| {
        let mut args = vec![
            "search",
            "--queries",
            queries,
            "--split",
            "test",
            "--k",
            "10",
        ];
        args.extend_from_slice(extra);
        args.extend_from_slice(&["--output", out, "--quiet"]);
        ok(&args);
        std::fs::read_to_string(out).unwrap()
    };
    let from_index = search(&["--index", &p("idx")], &p("a.trec"));
    let in_memory = search(&["--model", &model, "--corpus", sample], &p("b.trec"));
    assert_eq!(from_index, in_memory);
    assert_eq!(from_index.lines().count(), 50 * 10);

    ok(&[
        "encode",
        "--model",
        &model,
        "--kind",
        "query",
        "--input",
        queries,
        "--output",
        &p("q.jsonl"),
        "--quiet",
    ]);
    let first: serde_json::Value = serde_json::from_str(
        std::fs::read_to_string(d.path().join("q.jsonl"))
            .unwrap()
            .lines()
            .next()
            .unwrap(),
    )
    .unwrap();
    let rows = first["embedding"].as_array().unwrap();
    assert_eq!((rows.len(), rows[0].as_array().unwrap().len()), (32, 16));

    // Re-ranking a run's top 10 by MaxSim.
    let first = sample_data().join("runs/all-MiniLM-L6-v2.trec");
    ok(&[
        "rerank",
        "--model",
        &model,
        "--run",
        first.to_str().unwrap(),
        "--corpus",
        sample,
        "--k",
        "10",
        "--output",
        &p("r.trec"),
        "--quiet",
    ]);
    let reranked = std::fs::read_to_string(d.path().join("r.trec")).unwrap();
    assert_eq!(reranked.lines().count(), 50 * 10);

    // Another ColBERT (another seed) must not search this index.
    let other = colbert_of(tiny, &p("other"), "1");
    let o = rankbook(&[
        "search",
        "--index",
        &p("idx"),
        "--model",
        &other,
        "--queries",
        queries,
        "--output",
        &p("c.trec"),
    ]);
    let (_, err) = text(&o);
    assert!(!o.status.success());
    assert!(err.contains("index built with"), "{err}");
    assert!(!d.path().join("c.trec").exists(), "nothing written");
}

/// `fit --colbert` turns an encoder into a ColBERT and trains it with PyLate's
/// contrastive loss; validation's nDCG@10 is what searching with the saved
/// model gives; a saved ColBERT trains on as one.
#[test]
fn fit_turns_an_encoder_into_a_colbert_and_trains_it() {
    let d = tempfile::tempdir().unwrap();
    let p = |name: &str| d.path().join(name).display().to_string();
    let (tiny, sample, queries) = inputs();
    let (tiny, sample, queries) = (tiny.as_str(), sample.as_str(), queries.as_str());
    let fit = |model: &str, out: &str, extra: &[&str]| {
        let mut args = vec![
            "fit",
            "--model",
            model,
            "--data",
            sample,
            "--split",
            "test",
            "--batch-size",
            "8",
            "--max-steps",
            "3",
            "--lr",
            "1e-3",
            "--output",
            out,
            "--quiet",
        ];
        args.extend_from_slice(extra);
        let o = rankbook(&args);
        let (stdout, stderr) = text(&o);
        assert!(o.status.success(), "rankbook {args:?} failed:\n{stderr}");
        (stdout, stderr)
    };
    let (stdout, stderr) = fit(
        tiny,
        &p("run"),
        &["--colbert", "--colbert-dim", "16", "--eval-split", "test"],
    );
    assert_eq!(stdout.trim(), p("run/model"));
    assert!(
        stderr.contains("with the colbert-contrastive loss"),
        "{stderr}"
    );
    assert!(stderr.contains("trained 3 of 3 steps"), "{stderr}");
    // Both the transformer and the projection were trained and saved.
    let bytes = |dir: &str, file: &str| std::fs::read(d.path().join(dir).join(file)).unwrap();
    for file in ["model.safetensors", "1_Dense/model.safetensors"] {
        assert_ne!(
            bytes("run/model", file),
            bytes("run/colbert-start", file),
            "{file}"
        );
    }
    let history = rankbook::train::read_history(&d.path().join("run/history.jsonl")).unwrap();
    let Some(rankbook::train::HistoryRecord::Eval(e)) = history.last() else {
        panic!("no validation at the end: {history:?}");
    };
    let run = p("tuned.trec");
    ok(&[
        "search",
        "--model",
        &p("run/model"),
        "--corpus",
        sample,
        "--queries",
        queries,
        "--split",
        "test",
        "--k",
        "100",
        "--no-cache",
        "--quiet",
        "--output",
        &run,
    ]);
    let eval = ok(&[
        "eval",
        "--qrels",
        &format!("{sample}/qrels/test.tsv"),
        "--run",
        &run,
        "--measures",
        "nDCG@10",
        "--json",
    ]);
    let v: serde_json::Value = serde_json::from_str(&eval).unwrap();
    let searched = v["measures"]["nDCG@10"].as_f64().unwrap();
    assert!(
        (searched - e.measures["nDCG@10"]).abs() < 1e-4,
        "validation {} vs search {searched}",
        e.measures["nDCG@10"]
    );
    // A saved ColBERT trains as one; a single-vector loss is refused.
    let (_, stderr) = fit(&p("run/model"), &p("again"), &[]);
    assert!(
        stderr.contains("with the colbert-contrastive loss"),
        "{stderr}"
    );
    let o = rankbook(&[
        "fit",
        "--model",
        &p("run/model"),
        "--data",
        sample,
        "--split",
        "test",
        "--loss",
        "cached-mnrl",
        "--output",
        &p("bad"),
    ]);
    let (_, stderr) = text(&o);
    assert!(!o.status.success());
    assert!(stderr.contains("colbert-contrastive"), "{stderr}");
    assert!(
        !d.path().join("bad").exists(),
        "a refused run wrote its output"
    );
}

#[test]
fn a_colbert_mines_negatives_and_teaches_a_bi_encoder() {
    let d = tempfile::tempdir().unwrap();
    let p = |name: &str| d.path().join(name).display().to_string();
    let (tiny, sample, queries) = inputs();
    let (tiny, sample, queries) = (tiny.as_str(), sample.as_str(), queries.as_str());
    let model = colbert_of(tiny, &p("colbert"), "42");
    // The whole ranking, to check the miner's scores against.
    let all = p("all.trec");
    ok(&[
        "search",
        "--model",
        &model,
        "--corpus",
        sample,
        "--queries",
        queries,
        "--split",
        "test",
        "--k",
        "1000",
        "--no-cache",
        "--quiet",
        "--output",
        &all,
    ]);
    let run = rankbook::data::Run::read(std::path::Path::new(&all)).unwrap();
    ok(&[
        "mine",
        "--model",
        &model,
        "--data",
        sample,
        "--split",
        "test",
        "--depth",
        "1..20",
        "--negatives",
        "3",
        "--output",
        &p("negatives.jsonl"),
        "--no-cache",
        "--quiet",
    ]);
    let qrels =
        rankbook::data::Qrels::read(&std::path::Path::new(sample).join("qrels/test.tsv")).unwrap();
    let mined = std::fs::read_to_string(p("negatives.jsonl")).unwrap();
    let mut records = 0;
    for line in mined.lines() {
        let m: serde_json::Value = serde_json::from_str(line).unwrap();
        let q = m["query_id"].as_str().unwrap();
        let ranked = run.get(q).unwrap();
        let score_of = |doc: &str| ranked.iter().find(|r| r.doc == doc).unwrap().score;
        let rank_of = |doc: &str| ranked.iter().position(|r| r.doc == doc).unwrap();
        let positive = m["positive_id"].as_str().unwrap();
        let got = m["retriever_scores"]["positive"].as_f64().unwrap();
        assert!((got - score_of(positive)).abs() < 1e-4, "{q} {positive}");
        let negatives = m["negative_ids"].as_array().unwrap();
        assert_eq!(negatives.len(), 3, "{line}");
        let mut last = 0;
        for (n, s) in negatives
            .iter()
            .zip(m["retriever_scores"]["negatives"].as_array().unwrap())
        {
            let n = n.as_str().unwrap();
            // Not judged relevant, within the depth, in rank order, MaxSim scores.
            assert!(qrels.get(q).unwrap().get(n).is_none_or(|g| *g <= 0));
            let rank = rank_of(n);
            assert!(rank < 20 && rank >= last, "{line}");
            last = rank;
            assert!((s.as_f64().unwrap() - score_of(n)).abs() < 1e-4, "{q} {n}");
        }
        records += 1;
    }
    // One record per judged (query, positive) pair whose doc is in the corpus.
    let pairs: usize = qrels
        .iter()
        .map(|(q, j)| {
            let ranked = run.get(q).unwrap_or_default();
            j.iter()
                .filter(|(doc, g)| **g > 0 && ranked.iter().any(|r| &r.doc == *doc))
                .count()
        })
        .sum();
    assert_eq!(records, pairs);
    // Its re-ranking of a first-stage run is a teacher for a bi-encoder.
    let teacher = p("teacher.trec");
    ok(&[
        "rerank",
        "--model",
        &model,
        "--run",
        &format!("{sample}/runs/all-MiniLM-L6-v2.trec"),
        "--queries",
        queries,
        "--corpus",
        sample,
        "--k",
        "20",
        "--no-cache",
        "--quiet",
        "--output",
        &teacher,
    ]);
    let o = rankbook(&[
        "fit",
        "--model",
        tiny,
        "--data",
        sample,
        "--split",
        "test",
        "--teacher-run",
        &teacher,
        "--teacher-negatives",
        "3",
        "--loss",
        "kl",
        "--batch-size",
        "4",
        "--max-steps",
        "2",
        "--output",
        &p("student"),
        "--quiet",
    ]);
    let (_, stderr) = text(&o);
    assert!(o.status.success(), "{stderr}");
    assert!(stderr.contains("trained 2 of 2 steps"), "{stderr}");
}

#[test]
fn a_plaid_index_is_built_searched_and_tuned_from_the_command_line() {
    let d = tempfile::tempdir().unwrap();
    let p = |name: &str| d.path().join(name).display().to_string();
    let (tiny, sample, queries) = inputs();
    let (tiny, sample, queries) = (tiny.as_str(), sample.as_str(), queries.as_str());
    let model = colbert_of(tiny, &p("colbert"), "42");
    let index = |factory: &str, out: &str| {
        ok(&[
            "index",
            "--model",
            &model,
            "--corpus",
            sample,
            "--factory",
            factory,
            "--nbits",
            "8",
            "--output",
            out,
            "--no-cache",
            "--quiet",
        ])
    };
    index("PLAID", &p("plaid"));
    let manifest: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(d.path().join("plaid/manifest.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(manifest["factory"], "PLAID");
    assert_eq!(manifest["plaid"]["codec"]["nbits"], 8);
    let search = |extra: &[&str], out: &str| {
        let mut args = vec![
            "search",
            "--queries",
            queries,
            "--split",
            "test",
            "--k",
            "10",
            "--quiet",
            "--no-cache",
            "--output",
            out,
        ];
        args.extend_from_slice(extra);
        ok(&args);
        rankbook::data::Run::read(std::path::Path::new(out)).unwrap()
    };
    let exact = search(&["--model", &model, "--corpus", sample], &p("exact.trec"));
    let plaid = search(&["--index", &p("plaid")], &p("plaid.trec"));
    // With 8-bit residuals the compressed search finds what the exact one does.
    let (mut shared, mut total) = (0, 0);
    for q in exact.query_ids() {
        let want = exact.get(q).unwrap();
        let got = plaid.get(q).unwrap_or_default();
        shared += got
            .iter()
            .filter(|g| want.iter().any(|w| w.doc == g.doc))
            .count();
        total += want.len();
    }
    let overlap = shared as f64 / total as f64;
    assert!(overlap >= 0.8, "overlap@10 {overlap}");
    // Search settings apply to PLAID; a setting it lacks is refused.
    let probed = search(
        &[
            "--index",
            &p("plaid"),
            "--nprobe",
            "1",
            "--n-full-scores",
            "40",
        ],
        &p("probed.trec"),
    );
    assert!(!probed.is_empty());
    let o = rankbook(&[
        "search",
        "--index",
        &p("plaid"),
        "--queries",
        queries,
        "--ef-search",
        "16",
        "--output",
        &p("bad.trec"),
        "--quiet",
    ]);
    let (_, stderr) = text(&o);
    assert!(
        !o.status.success() && stderr.contains("no parameter efSearch"),
        "{stderr}"
    );
    assert!(!d.path().join("bad.trec").exists());
    // PLAID settings need a ColBERT; an unknown ColBERT factory is refused.
    let o = rankbook(&[
        "index",
        "--model",
        tiny,
        "--corpus",
        sample,
        "--nbits",
        "2",
        "--output",
        &p("dense"),
    ]);
    assert!(text(&o).1.contains("PLAID settings"), "{}", text(&o).1);
    let o = rankbook(&[
        "index",
        "--model",
        &model,
        "--corpus",
        sample,
        "--factory",
        "HNSW32",
        "--output",
        &p("hnsw"),
        "--quiet",
    ]);
    assert!(
        text(&o)
            .1
            .contains("MaxSim (exact), PLAID or a Qdrant type"),
        "{}",
        text(&o).1
    );
    assert!(!d.path().join("hnsw").exists() && !d.path().join("dense").exists());
}

#[test]
fn a_stanford_checkpoint_searches_and_fine_tunes_into_its_own_layout() {
    let d = tempfile::tempdir().unwrap();
    let p = |name: &str| d.path().join(name).display().to_string();
    let stanford = repo_root().join("stdlib/tests/fixtures/tiny/bert-stanford-colbert");
    let stanford = stanford.display().to_string();
    let (_, sample, queries) = inputs();
    let search = |model: &str, out: &str| {
        ok(&[
            "search",
            "--model",
            model,
            "--corpus",
            &sample,
            "--queries",
            &queries,
            "--split",
            "test",
            "--k",
            "10",
            "--no-cache",
            "--quiet",
            "--output",
            out,
        ]);
        std::fs::read_to_string(out).unwrap()
    };
    let before = search(&stanford, &p("before.trec"));
    assert_eq!(before.lines().count(), 50 * 10, "{before}");
    let o = rankbook(&[
        "fit",
        "--model",
        &stanford,
        "--data",
        &sample,
        "--split",
        "test",
        "--batch-size",
        "8",
        "--max-steps",
        "2",
        "--lr",
        "1e-3",
        "--output",
        &p("run"),
        "--quiet",
    ]);
    let (_, stderr) = text(&o);
    assert!(o.status.success(), "{stderr}");
    assert!(
        stderr.contains("with the colbert-contrastive loss"),
        "{stderr}"
    );
    // Saved as colbert-ai saves: metadata kept, encoder and projection trained
    // in the one weights file.
    let saved = d.path().join("run/model");
    for file in ["artifact.metadata", "config.json", "tokenizer.json"] {
        assert_eq!(
            std::fs::read(saved.join(file)).unwrap(),
            std::fs::read(std::path::Path::new(&stanford).join(file)).unwrap(),
            "{file}"
        );
    }
    let weights = |dir: &std::path::Path| {
        candle_core::safetensors::load(dir.join("model.safetensors"), &candle_core::Device::Cpu)
            .unwrap()
    };
    let (old, new) = (weights(std::path::Path::new(&stanford)), weights(&saved));
    assert_eq!(
        old.keys().collect::<std::collections::BTreeSet<_>>(),
        new.keys().collect()
    );
    for name in [
        "linear.weight",
        "bert.encoder.layer.0.attention.self.query.weight",
    ] {
        let diff = (&old[name] - &new[name]).unwrap().abs().unwrap();
        let diff = diff.max_all().unwrap().to_scalar::<f32>().unwrap();
        assert!(diff > 0.0, "{name} did not train");
    }
    let after = search(&saved.display().to_string(), &p("after.trec"));
    assert_ne!(after, before);
}
