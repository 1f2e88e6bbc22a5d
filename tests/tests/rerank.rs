//! Re-ranking on the embedded SciFact sample: a bi-encoder re-ranking a BM25
//! run gives each doc exactly its dense-index score; a cross-encoder's scores
//! are its predictions for the pairs; missing docs are an error or skipped and
//! counted; a long doc is truncated, never the query; `rankbook rerank` writes
//! the same run.

use std::sync::Arc;

use rankbook::analysis::AnalyzerSpec;
use rankbook::data::{Qrels, TextRecord, read_texts};
use rankbook::index::{Bm25Index, Bm25Params, DenseIndex, Metric};
use rankbook::model::cross_encoder::{CrossEncoder, CrossEncoderOptions};
use rankbook::model::{EncodeOptions, ModelOptions, SentenceEncoder};
use rankbook::progress::NoProgress;
use rankbook::rerank::{RerankOptions, Reranker, rerank};
use rankbook_tests::{rankbook, sample_data, text};

const MINILM: &str = "sentence-transformers/all-MiniLM-L6-v2";

fn sample() -> (Vec<TextRecord>, Vec<TextRecord>) {
    let data = sample_data();
    let corpus = read_texts(&data.join("corpus.jsonl")).unwrap();
    let qrels = Qrels::read(&data.join("qrels/test.tsv")).unwrap();
    let queries = read_texts(&data.join("queries.jsonl"))
        .unwrap()
        .into_iter()
        .filter(|q| qrels.get(&q.id).is_some())
        .take(20)
        .collect();
    (corpus, queries)
}

fn options(k: usize) -> RerankOptions<'static> {
    RerankOptions {
        k,
        batch_size: 16,
        skip_missing: false,
        encode: EncodeOptions::default(),
    }
}

#[test]
fn bi_encoder_reranking_reproduces_dense_scores() {
    let (corpus, queries) = sample();
    let bm25 = Bm25Index::build(
        &corpus,
        &AnalyzerSpec::default(),
        Bm25Params::default(),
        &NoProgress,
    )
    .unwrap();
    let first = bm25.search(&queries, 20, &NoProgress).unwrap();
    let model = Arc::new(SentenceEncoder::load(MINILM, &ModelOptions::default()).unwrap());
    let (reranked, stats) = rerank(
        Reranker::Bi(&model),
        &first,
        &queries,
        &corpus,
        &options(10),
    )
    .unwrap();
    assert_eq!(stats.queries, first.len());
    assert_eq!(
        stats.pairs,
        first.ranked().map(|(_, r)| r.len().min(10)).sum::<usize>()
    );

    let (dense, _) = DenseIndex::build(
        model,
        &corpus,
        "Flat",
        Metric::Dot,
        &EncodeOptions::default(),
    )
    .unwrap();
    let all = dense
        .search(
            &queries,
            corpus.len(),
            &EncodeOptions::default(),
            &NoProgress,
        )
        .unwrap();
    let mut checked = 0;
    for (qid, ranked) in reranked.ranked() {
        let exact = all.get(qid).unwrap();
        let top10: Vec<&str> = first
            .top_of(qid, 10)
            .iter()
            .map(|s| s.doc.as_str())
            .collect();
        let mut docs: Vec<&str> = ranked.iter().map(|s| s.doc.as_str()).collect();
        docs.sort();
        let mut want = top10.clone();
        want.sort();
        assert_eq!(docs, want, "{qid}: the BM25 top 10, re-ordered");
        for s in &ranked {
            let d = exact.iter().find(|e| e.doc == s.doc).unwrap();
            assert!(
                (d.score - s.score).abs() < 1e-5,
                "{qid} {}: {} vs {}",
                s.doc,
                s.score,
                d.score
            );
            checked += 1;
        }
        assert!(ranked.windows(2).all(|w| w[0].score >= w[1].score));
    }
    assert!(checked >= 100, "{checked}");
}

#[test]
fn cross_encoder_scores_are_its_predictions_and_missing_docs_are_named() {
    let (corpus, queries) = sample();
    let queries = &queries[..3];
    let ce = CrossEncoder::load(MINILM, &CrossEncoderOptions::default()).unwrap();
    let bm25 = Bm25Index::build(
        &corpus,
        &AnalyzerSpec::default(),
        Bm25Params::default(),
        &NoProgress,
    )
    .unwrap();
    let mut first = bm25.search(queries, 5, &NoProgress).unwrap();
    let (reranked, _) =
        rerank(Reranker::Cross(&ce), &first, queries, &corpus, &options(5)).unwrap();
    for q in queries {
        let ranked = reranked.get(&q.id).unwrap();
        let doc_text = |id: &str| corpus.iter().find(|d| d.id == id).unwrap().text.as_str();
        let pairs: Vec<(&str, &str)> = ranked
            .iter()
            .map(|s| (q.text.as_str(), doc_text(&s.doc)))
            .collect();
        let want = ce.predict(&pairs, 1).unwrap();
        for (s, w) in ranked.iter().zip(want) {
            assert!(
                (s.score - w as f64).abs() < 1e-5,
                "{}: {} vs {w}",
                s.doc,
                s.score
            );
        }
    }

    first.push(&queries[0].id, "no-such-doc", 1e9);
    let err = rerank(Reranker::Cross(&ce), &first, queries, &corpus, &options(5))
        .err()
        .unwrap();
    assert!(
        err.to_string().contains("doc no-such-doc for query"),
        "{err}"
    );
    let skip = RerankOptions {
        skip_missing: true,
        ..options(5)
    };
    let (_, stats) = rerank(Reranker::Cross(&ce), &first, queries, &corpus, &skip).unwrap();
    assert_eq!(stats.missing_docs, 1);

    // Truncation keeps the whole query and cuts the doc.
    let long = "protein ".repeat(1000);
    let ids = ce
        .tokenize(&[("what does the p53 protein do", &long)])
        .unwrap();
    let q = ce
        .tokenize(&[("what does the p53 protein do", "x")])
        .unwrap();
    let q_len = q[0].type_ids.iter().filter(|&&t| t == 0).count();
    assert_eq!(ids[0].ids.len(), 512);
    assert_eq!(ids[0].type_ids.iter().filter(|&&t| t == 0).count(), q_len);
}

#[test]
fn rerank_command_writes_the_reranked_run() {
    let data = sample_data();
    let dir = tempfile::tempdir().unwrap();
    let p = |n: &str| dir.path().join(n).to_str().unwrap().to_string();
    let run = |args: &[&str]| {
        let o = rankbook(args);
        assert!(o.status.success(), "{:?}: {}", args, text(&o).1);
        text(&o).1
    };
    let (c, q) = (
        data.to_str().unwrap().to_string(),
        data.join("queries.jsonl"),
    );
    run(&[
        "index",
        "--bm25",
        "--corpus",
        &c,
        "--output",
        &p("bm25"),
        "--quiet",
    ]);
    run(&[
        "search",
        "--index",
        &p("bm25"),
        "--queries",
        q.to_str().unwrap(),
        "--split",
        "test",
        "--k",
        "50",
        "--output",
        &p("bm25.trec"),
        "--quiet",
    ]);
    let log = run(&[
        "rerank",
        "--model",
        MINILM,
        "--run",
        &p("bm25.trec"),
        "--corpus",
        &c,
        "--queries",
        q.to_str().unwrap(),
        "--k",
        "20",
        "--output",
        &p("bi.trec"),
        "--quiet",
    ]);
    assert!(log.contains("bi-encoder"), "{log}");
    let out = rankbook::data::Run::read(&dir.path().join("bi.trec")).unwrap();
    assert!(out.ranked().all(|(_, r)| r.len() <= 20));
    let o = rankbook(&[
        "rerank",
        "--model",
        MINILM,
        "--run",
        &p("bm25.trec"),
        "--corpus",
        &c,
        "--queries",
        q.to_str().unwrap(),
        "--output",
        &p("x.trec"),
        "--kind",
        "sideways",
    ]);
    assert!(!o.status.success());
}
