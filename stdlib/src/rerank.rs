//! Re-ranking a first-stage run: the top `k` docs of each query scored again by
//! a cross-encoder (query and doc read together), a bi-encoder (the dot
//! product of their vectors, as its dense index would score them) or a ColBERT
//! (MaxSim of their token vectors, as its index would).

use std::collections::{BTreeSet, HashMap};

use crate::data::negatives::TextLookup;
use crate::data::{Run, TextRecord};
use crate::error::{Error, Result};
use crate::index::score_to_f64;
use crate::model::colbert::{ColbertEncoder, Side, maxsim};
use crate::model::cross_encoder::CrossEncoder;
use crate::model::{EncodeOptions, SentenceEncoder};
use crate::progress::Progress;

/// The model that scores again.
pub enum Reranker<'a> {
    /// Scores each (query, doc) pair jointly.
    Cross(&'a CrossEncoder),
    /// Scores by the dot product of query and doc vectors.
    Bi(&'a SentenceEncoder),
    /// Scores by late interaction (MaxSim of query and doc token vectors).
    Colbert(&'a ColbertEncoder),
}

/// How to re-rank.
pub struct RerankOptions<'a> {
    /// Docs re-scored per query (the run's best `k`); the output keeps only them.
    pub k: usize,
    /// Pairs (or texts) per forward pass.
    pub batch_size: usize,
    /// Drop run entries whose doc is not in the corpus (counted) instead of failing.
    pub skip_missing: bool,
    /// Encoding settings for a bi-encoder (cache, progress); the progress also
    /// counts a cross-encoder's pairs.
    pub encode: EncodeOptions<'a>,
}

impl Default for RerankOptions<'_> {
    /// The best 100 of each query, in batches of the encoder's default size.
    fn default() -> Self {
        let encode = EncodeOptions::default();
        Self {
            k: 100,
            batch_size: encode.batch_size,
            skip_missing: false,
            encode,
        }
    }
}

/// What re-ranking did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RerankStats {
    /// Queries re-ranked.
    pub queries: usize,
    /// (query, doc) pairs scored.
    pub pairs: usize,
    /// Run entries skipped because the corpus lacks their doc.
    pub missing_docs: usize,
}

/// Re-scores the best `opts.k` docs of each query of `run`. Every query of the
/// run must be in `queries`; a doc missing from `corpus` is an error naming it,
/// unless `skip_missing`.
pub fn rerank(
    reranker: Reranker,
    run: &Run,
    queries: &[TextRecord],
    corpus: &[TextRecord],
    opts: &RerankOptions,
) -> Result<(Run, RerankStats)> {
    let texts = TextLookup::from_records(queries, corpus);
    let mut stats = RerankStats::default();
    // (query id, doc id) pairs to score, by query.
    let mut work: Vec<(&str, Vec<&str>)> = Vec::new();
    for (qid, ranked) in run.ranked() {
        if texts.query(qid).is_none() {
            return Err(Error::InvalidArgument(format!(
                "the run has query {qid}, which is not among the queries given"
            )));
        }
        let mut docs = Vec::new();
        for s in ranked.into_iter().take(opts.k) {
            if texts.doc(&s.doc).is_some() {
                docs.push(s.doc.as_str());
            } else if opts.skip_missing {
                stats.missing_docs += 1;
            } else {
                return Err(Error::InvalidArgument(format!(
                    "the run ranks doc {} for query {qid}, which is not in the corpus (use skip-missing to drop such entries)",
                    s.doc
                )));
            }
        }
        work.push((qid, docs));
    }
    stats.queries = work.len();
    stats.pairs = work.iter().map(|(_, d)| d.len()).sum();
    let scores = match reranker {
        Reranker::Cross(model) => cross_scores(model, &work, &texts, opts)?,
        other => encoder_scores(other, &work, &texts, opts)?,
    };
    let mut out = Run::new();
    for ((qid, docs), scores) in work.iter().zip(scores) {
        for (doc, score) in docs.iter().zip(scores) {
            out.push(qid, doc, score_to_f64(score));
        }
    }
    Ok((out, stats))
}

fn cross_scores(
    model: &CrossEncoder,
    work: &[(&str, Vec<&str>)],
    texts: &TextLookup,
    opts: &RerankOptions,
) -> Result<Vec<Vec<f32>>> {
    let progress: &dyn Progress = opts.encode.progress;
    let total: usize = work.iter().map(|(_, d)| d.len()).sum();
    progress.start("rerank", total as u64);
    let mut out = Vec::with_capacity(work.len());
    for (qid, docs) in work {
        if let Some(c) = opts.encode.cancel {
            c.check()?;
        }
        let q = texts.query(qid).unwrap_or_default();
        let pairs: Vec<(&str, &str)> = docs
            .iter()
            .map(|d| (q, texts.doc(d).unwrap_or_default()))
            .collect();
        out.push(model.predict(&pairs, opts.batch_size)?);
        progress.advance(docs.len() as u64);
    }
    progress.finish();
    Ok(out)
}

/// The texts a bi-encoder or ColBERT encodes to re-rank `work`: each distinct
/// doc once (however many queries rank it), with its row, and the queries.
struct Encodable<'t> {
    doc_texts: Vec<&'t str>,
    row: HashMap<&'t str, usize>,
    query_texts: Vec<&'t str>,
}

fn encodable<'t>(work: &[(&'t str, Vec<&'t str>)], texts: &TextLookup<'t>) -> Encodable<'t> {
    let unique: BTreeSet<&str> = work.iter().flat_map(|(_, d)| d.iter().copied()).collect();
    let doc_ids: Vec<&str> = unique.into_iter().collect();
    Encodable {
        row: doc_ids.iter().enumerate().map(|(i, d)| (*d, i)).collect(),
        doc_texts: doc_ids
            .iter()
            .map(|d| texts.doc(d).unwrap_or_default())
            .collect(),
        query_texts: work
            .iter()
            .map(|(q, _)| texts.query(q).unwrap_or_default())
            .collect(),
    }
}

/// Scores by encoding: each distinct doc and each query encoded once, then a
/// bi-encoder's dot products or a ColBERT's MaxSim.
fn encoder_scores(
    reranker: Reranker,
    work: &[(&str, Vec<&str>)],
    texts: &TextLookup,
    opts: &RerankOptions,
) -> Result<Vec<Vec<f32>>> {
    let e = encodable(work, texts);
    let o = EncodeOptions {
        batch_size: opts.batch_size,
        ..opts.encode
    };
    let score: Box<dyn Fn(usize, usize) -> f32> = match reranker {
        Reranker::Bi(model) => {
            let docs = model.encode_documents(&e.doc_texts, &o)?;
            let queries = model.encode_queries(&e.query_texts, &o)?;
            Box::new(move |q, d| dot(queries.row(q), docs.row(d)))
        }
        Reranker::Colbert(model) => {
            let (docs, _) = model.encode(&e.doc_texts, Side::Document, &o)?;
            let (queries, _) = model.encode(&e.query_texts, Side::Query, &o)?;
            let dim = model.dim();
            Box::new(move |q, d| maxsim(queries.get(q), docs.get(d), dim))
        }
        Reranker::Cross(model) => return cross_scores(model, work, texts, opts),
    };
    Ok(work
        .iter()
        .enumerate()
        .map(|(qi, (_, ds))| ds.iter().map(|d| score(qi, e.row[d])).collect())
        .collect())
}

/// A bi-encoder's scores of `docs` for one query: the dot product of the
/// query's vector (query prompt) with each doc's (document prompt), as
/// re-ranking computes them.
pub fn bi_encoder_scores(
    model: &SentenceEncoder,
    query: &str,
    docs: &[&str],
    opts: &EncodeOptions,
) -> Result<Vec<f32>> {
    let q = model.encode_queries(&[query], opts)?;
    let d = model.encode_documents(docs, opts)?;
    Ok((0..docs.len()).map(|i| dot(q.row(0), d.row(i))).collect())
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}
