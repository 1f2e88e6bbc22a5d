//! The code of notebooks/evcxr/rust_evcxr.ipynb (which evcxr_jupyter runs; CI
//! does not have it): it compiles, and its values show through evcxr's
//! display convention.

use rankbook::analysis::AnalyzerSpec;
use rankbook::data::{Qrels, Run, read_texts};
use rankbook::eval::{CompareOptions, EvalOptions, compare, evaluate, parse_measures};
use rankbook::index::{Bm25Index, Bm25Params};
use rankbook::progress::NoProgress;

#[test]
fn the_rust_notebook_runs() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../data/scifact-sample");
    let qrels = Qrels::read(&dir.join("qrels/test.tsv")).unwrap();
    let dense = Run::read(&dir.join("runs/all-MiniLM-L6-v2.trec")).unwrap();
    let corpus = read_texts(&dir.join("corpus.jsonl")).unwrap();
    let queries: Vec<_> = read_texts(&dir.join("queries.jsonl"))
        .unwrap()
        .into_iter()
        .filter(|q| qrels.get(&q.id).is_some())
        .collect();
    let bm25 = Bm25Index::build(
        &corpus,
        &AnalyzerSpec::default(),
        Bm25Params::default(),
        &NoProgress,
    )
    .unwrap()
    .search(&queries, 100, &NoProgress)
    .unwrap();
    let measures = parse_measures("nDCG@10,R@100").unwrap();
    let e = evaluate(&qrels, &dense, &measures, EvalOptions::default());
    assert!((e.mean("nDCG@10").unwrap() - 0.9311).abs() < 1e-4);
    e.evcxr_display();
    let runs = vec![("bm25".to_string(), bm25), ("minilm".to_string(), dense)];
    let c = compare(
        &qrels,
        &runs,
        0,
        &measures,
        EvalOptions::default(),
        CompareOptions::default(),
    )
    .unwrap();
    c.evcxr_display();
    let p = rankbook::plot::recall_curves(&qrels, &runs, 20);
    assert!(
        p.evcxr_content()
            .contains("EVCXR_BEGIN_CONTENT image/svg+xml")
    );
}
