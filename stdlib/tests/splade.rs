//! SPLADE-tiny (installed by scripts/setup.sh) against the published output of
//! its model card: the heaviest terms of the first sentence and the dot-product
//! matrix of the three sentences (values in ../shared/data/SOURCES.md).

use std::sync::Arc;

use rankbook::data::TextRecord;
use rankbook::index::SparseIndex;
use rankbook::model::splade::{SpladeEncoder, SpladeOptions, sparse_dot};
use rankbook::progress::NoProgress;

const SENTENCES: [&str; 3] = [
    "The weather is lovely today.",
    "It's so sunny outside!",
    "He drove to the stadium.",
];

#[test]
fn splade_tiny_reproduces_the_model_card() {
    let model = SpladeEncoder::load("rasyosef/splade-tiny", &SpladeOptions::default()).unwrap();
    let v = model.encode(&SENTENCES, 3, &NoProgress).unwrap();
    let top = model.top_terms(&v[0], 3);
    let want = [("today", 2.5437), ("lovely", 2.1207), ("weather", 2.0432)];
    for ((term, w), (want_term, want_w)) in top.iter().zip(want) {
        assert_eq!(term, want_term);
        assert!((w - want_w).abs() < 1e-3, "{term}: {w} vs {want_w}");
    }
    let matrix = [
        [39.7253, 7.1662, 0.0],
        [7.1662, 27.0255, 0.1385],
        [0.0, 0.1385, 26.3539],
    ];
    for i in 0..3 {
        for j in 0..3 {
            let got = sparse_dot(&v[i], &v[j]);
            assert!(
                (got - matrix[i][j]).abs() < 1e-3,
                "({i},{j}): {got} vs {}",
                matrix[i][j]
            );
        }
    }
    // Encoded one at a time (no padding), the vectors are the same.
    let alone = model.encode(&SENTENCES[1..2], 1, &NoProgress).unwrap();
    assert!((sparse_dot(&alone[0], &v[1]) - 27.0255).abs() < 1e-3);

    // The index's exact search gives the same scores, and survives a save.
    let corpus: Vec<TextRecord> = SENTENCES
        .iter()
        .enumerate()
        .map(|(i, t)| TextRecord {
            id: format!("s{i}"),
            text: t.to_string(),
        })
        .collect();
    let model = Arc::new(model);
    let index = SparseIndex::build(model.clone(), &corpus, &NoProgress).unwrap();
    let dir = tempfile::tempdir().unwrap();
    index.save(&dir.path().join("idx")).unwrap();
    let index = SparseIndex::load(&dir.path().join("idx"), Some(model), "cpu").unwrap();
    let run = index.search(&corpus[..1], 10, &NoProgress).unwrap();
    let hits = run.get("s0").unwrap();
    assert_eq!(hits.len(), 2, "s2 shares no term with s0");
    assert_eq!((hits[0].doc.as_str(), hits[1].doc.as_str()), ("s0", "s1"));
    assert!((hits[0].score - 39.7253).abs() < 1e-3 && (hits[1].score - 7.1662).abs() < 1e-3);
}
