//! Training data from the real collections in ../shared/data (skipped without it):
//! SciFact's train qrels give the 919 pairs of 809 queries that the fine-tuning
//! benchmark uses; the MS MARCO sample holds 100 triples.

use std::collections::HashSet;

use rankbook::data::BeirDataset;
use rankbook::data::training::{
    TrainingData, no_duplicate_batches, pairs_from_qrels, read_triples,
};

#[test]
fn scifact_train_pairs_and_msmarco_triples() {
    let Some(data) = rankbook_tests::shared_data() else {
        return;
    };
    let ds = BeirDataset::open(&data.join("scifact")).unwrap();
    let qrels = ds.qrels("train").unwrap();
    assert_eq!(qrels.len(), 809);
    let pairs = pairs_from_qrels(&ds, &qrels).unwrap();
    assert_eq!(pairs.len(), 919);
    // A few train queries share their text: 807 distinct anchors.
    let queries: HashSet<&str> = pairs.iter().map(|p| p.anchor.as_str()).collect();
    assert_eq!(queries.len(), 807);
    // Batches of 32 without a repeated text: every pair once, 29 or a few more batches.
    let batches = no_duplicate_batches(&TrainingData::Examples(pairs), 32, 42).unwrap();
    assert_eq!(batches.iter().map(Vec::len).sum::<usize>(), 919);
    assert!((29..=32).contains(&batches.len()), "{}", batches.len());

    let triples =
        read_triples(&data.join("msmarco-triples-sample/triples.train.small.head100.tsv")).unwrap();
    assert_eq!(triples.len(), 100);
    assert!(triples.iter().all(|t| t.negatives.len() == 1));
}
