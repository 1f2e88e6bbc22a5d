//! `index::open` opens every index kind from its folder and searches it: the
//! same run as the index it was saved from, whichever kind.

use std::path::PathBuf;
use std::sync::Arc;

use rankbook::analysis::AnalyzerSpec;
use rankbook::data::{BeirDataset, TextRecord};
use rankbook::index::{
    Bm25Index, Bm25Params, DenseIndex, MaxSimIndex, Metric, OpenOptions, Retriever, SparseIndex,
    open,
};
use rankbook::model::colbert::{BuildOptions, ColbertEncoder, ColbertOptions, build_colbert};
use rankbook::model::splade::{SpladeEncoder, SpladeOptions};
use rankbook::model::{EncodeOptions, ModelOptions, SentenceEncoder};
use rankbook::progress::NoProgress;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn fixture(name: &str) -> String {
    root()
        .join("stdlib/tests/fixtures/tiny")
        .join(name)
        .display()
        .to_string()
}

fn sample() -> (Vec<TextRecord>, Vec<TextRecord>) {
    let data = BeirDataset::open(&root().join("data/scifact-sample")).unwrap();
    let queries = data.queries.iter().take(10).cloned().collect();
    (data.corpus, queries)
}

/// Saves `index`, opens the folder through `open` and checks kind, size and run.
fn round_trip(index: &dyn Retriever, kind: &str, queries: &[TextRecord]) {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path().join("idx");
    index.save(&dir).unwrap();
    let opened = open(&dir, &OpenOptions::default()).unwrap();
    assert_eq!(opened.kind(), kind);
    // The encoder the folder records is the one the index was built with.
    assert_eq!(opened.encoder().unwrap(), index.encoder().unwrap());
    let pipeline = opened.encoder().unwrap().map(|e| e.pipeline);
    match kind {
        "BM25" => assert_eq!(pipeline, None),
        "SPLADE" => assert_eq!(pipeline.as_deref(), Some("splade")),
        "ColBERT" => assert!(pipeline.unwrap().starts_with("colbert+dense8+q32:expand")),
        _ => assert_eq!(pipeline.as_deref(), Some("mean+dense16+normalize")),
    }
    assert_eq!(opened.len(), index.len());
    let opts = EncodeOptions::default();
    let want = index.search(queries, 10, &opts).unwrap();
    let got = opened.search(queries, 10, &opts).unwrap();
    assert_eq!(got, want, "{kind}: the opened index gives another run");
    assert_eq!(got.len(), queries.len(), "{kind}: every query has results");
}

#[test]
fn every_index_kind_opens_and_searches() {
    let (corpus, queries) = sample();
    let bm25 = Bm25Index::build(
        &corpus,
        &AnalyzerSpec::default(),
        Bm25Params::default(),
        &NoProgress,
    )
    .unwrap();
    round_trip(&bm25, "BM25", &queries);

    let splade =
        SpladeEncoder::load(&fixture("distilbert-mlm"), &SpladeOptions::default()).unwrap();
    let sparse = SparseIndex::build(Arc::new(splade), &corpus, &NoProgress).unwrap();
    round_trip(&sparse, "SPLADE", &queries);

    // A ColBERT made from the tiny XLM-RoBERTa, searched exactly (MaxSim).
    let d = tempfile::tempdir().unwrap();
    let colbert_dir = d.path().join("colbert");
    let build = BuildOptions {
        dim: 8,
        ..Default::default()
    };
    build_colbert(&fixture("xlm-roberta-st"), &colbert_dir, &build).unwrap();
    let colbert = ColbertEncoder::from_dir(&colbert_dir, &ColbertOptions::default()).unwrap();
    let (late, _) =
        MaxSimIndex::build(Arc::new(colbert), &corpus, &EncodeOptions::default()).unwrap();
    round_trip(&late, "ColBERT", &queries);

    let model = Arc::new(
        SentenceEncoder::load(&fixture("xlm-roberta-st"), &ModelOptions::default()).unwrap(),
    );
    let opts = EncodeOptions::default();
    let mut factories = vec!["Flat"];
    if cfg!(feature = "faiss") {
        factories.push("HNSW8");
    }
    for factory in factories {
        let (dense, _) =
            DenseIndex::build(model.clone(), &corpus, factory, Metric::Dot, &opts).unwrap();
        round_trip(&dense, "dense", &queries);
    }
}

#[test]
fn a_model_given_for_a_term_index_is_refused() {
    let (corpus, _) = sample();
    let bm25 = Bm25Index::build(
        &corpus,
        &AnalyzerSpec::default(),
        Bm25Params::default(),
        &NoProgress,
    )
    .unwrap();
    let d = tempfile::tempdir().unwrap();
    let dir = d.path().join("bm25");
    bm25.save(&dir).unwrap();
    let opts = OpenOptions {
        model: Some("sentence-transformers/all-MiniLM-L6-v2".into()),
        ..Default::default()
    };
    let e = open(&dir, &opts).err().unwrap().to_string();
    assert!(
        e.contains("is a BM25 index: it records its own analyser or model"),
        "{e}"
    );
}
