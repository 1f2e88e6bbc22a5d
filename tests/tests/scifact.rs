//! Full SciFact (../shared/data/scifact): all-MiniLM-L6-v2 must reproduce MTEB's
//! nDCG@10 of 0.64508 with exact dot-product search.

use std::sync::Arc;

use rankbook::data::BeirDataset;
use rankbook::eval::{EvalOptions, evaluate, parse_measures};
use rankbook::index::DenseIndex;
use rankbook::model::{EncodeOptions, ModelOptions, SentenceEncoder};

#[test]
fn minilm_reproduces_mteb_ndcg_at_10() {
    let Some(data) = rankbook_tests::shared_data() else {
        return;
    };
    let ds = BeirDataset::open(&data.join("scifact")).unwrap();
    let qrels = ds.qrels("test").unwrap();
    let queries = ds.judged_queries(&qrels);
    assert_eq!(queries.len(), 300);
    let model = Arc::new(
        SentenceEncoder::load(
            "sentence-transformers/all-MiniLM-L6-v2",
            &ModelOptions::default(),
        )
        .unwrap(),
    );
    let opts = EncodeOptions::default();
    let index = DenseIndex::build(model, &ds.corpus, &opts).unwrap();
    let run = index.search(&queries, 100, &opts).unwrap();
    let e = evaluate(
        &qrels,
        &run,
        &parse_measures("nDCG@10,R@100").unwrap(),
        EvalOptions::default(),
    );
    let ndcg = e.mean("nDCG@10").unwrap();
    let recall = e.mean("R@100").unwrap();
    eprintln!("SciFact test: nDCG@10 {ndcg:.5}, R@100 {recall:.5}");
    assert!((ndcg - 0.6451).abs() <= 0.001, "nDCG@10 {ndcg}");
    assert!((recall - 0.925).abs() <= 0.002, "R@100 {recall}");
}
