//! Exact late-interaction search: every document's token vectors kept, a
//! query's score for a document the sum over its tokens of the best dot product
//! with any of the document's tokens (MaxSim). Blocks of documents are scored
//! against all query tokens in one product on the compute kernels; each thread
//! keeps its own top k per query.

use std::path::Path;
use std::sync::Arc;

use crate::compute::gemm::{DOT_BLOCK, dot_products, pack_rows};
use crate::data::{Run, TextRecord, texts_of};
use crate::error::{Error, Result};
use crate::index::disk::{Manifest, recorded_model_error, verified_manifest, write_index_dir};
use crate::index::flat::{Metric, score_to_f64};
use crate::index::topk::par_top_k;
use crate::model::colbert::{ColbertEncoder, ColbertOptions, Side};
use crate::model::{EncodeOptions, EncodeStats};
use crate::progress::Progress;
use crate::shard::PartInfo;
use crate::vectors::{MultiVectors, read_multi_vectors, write_multi_vectors};

/// The factory name of an exact MaxSim index in its manifest.
pub const MAXSIM: &str = "MaxSim";
/// The file of its documents' token vectors.
pub(crate) const TOKENS_FILE: &str = "tokens.arrow";
/// Query token rows per product.
const QUERY_ROWS: usize = 1024;

/// Documents' token vectors, searched exactly with queries encoded by the
/// same ColBERT model.
pub struct MaxSimIndex {
    model: Arc<ColbertEncoder>,
    ids: Vec<String>,
    docs: MultiVectors,
}

impl MaxSimIndex {
    /// Encodes `corpus` as documents and keeps their token vectors.
    pub fn build(
        model: Arc<ColbertEncoder>,
        corpus: &[TextRecord],
        opts: &EncodeOptions,
    ) -> Result<(Self, EncodeStats)> {
        let (ids, docs, stats) = encode_corpus(&model, corpus, opts)?;
        Ok((Self { model, ids, docs }, stats))
    }

    /// Number of indexed docs.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// Whether no doc is indexed.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// The encoder.
    pub fn model(&self) -> &Arc<ColbertEncoder> {
        &self.model
    }

    /// The doc ids, in index order.
    pub fn ids(&self) -> &[String] {
        &self.ids
    }

    /// The documents' token vectors, in index order.
    pub fn docs(&self) -> &MultiVectors {
        &self.docs
    }

    /// Encodes `queries` and returns the best `k` docs of each.
    pub fn search(&self, queries: &[TextRecord], k: usize, opts: &EncodeOptions) -> Result<Run> {
        search_texts(&self.model, &self.ids, queries, opts, |q| {
            self.search_vectors(q, k, opts.progress)
        })
    }

    /// The best `k` docs per query (as token vectors), best first, as
    /// `(doc index, MaxSim score)`; ties go to the larger doc id.
    pub fn search_vectors(
        &self,
        queries: &MultiVectors,
        k: usize,
        progress: &dyn Progress,
    ) -> Result<Vec<Vec<(usize, f32)>>> {
        exact_search(&self.docs, &self.ids, queries, k, progress)
    }

    /// Writes the index folder (atomically): the token vectors and the
    /// encoder's identity.
    pub fn save(&self, dir: &Path) -> Result<()> {
        self.save_part(dir, None)
    }

    /// Writes the index folder, recording the slice of the corpus it holds if it is a part.
    pub fn save_part(&self, dir: &Path, part: Option<PartInfo>) -> Result<()> {
        let manifest = Manifest {
            model: Some(self.model.identity()?.clone()),
            part,
            ..Manifest::new(MAXSIM, Metric::Dot, self.docs.dim(), self.len())
        };
        write_index_dir(dir, manifest, |tmp| {
            write_multi_vectors(&tmp.join(TOKENS_FILE), &self.ids, &self.docs)?;
            Ok(vec![TOKENS_FILE.to_string()])
        })
    }

    /// Loads the index at `dir` with `model`, or the model it records (loaded
    /// with `options`); refuses a model whose vectors differ.
    pub fn load(
        dir: &Path,
        model: Option<Arc<ColbertEncoder>>,
        options: &ColbertOptions,
    ) -> Result<Self> {
        let m = verified_manifest(dir)?;
        let model = index_colbert(dir, &m, MAXSIM, model, options)?;
        let (ids, docs) = read_multi_vectors(&dir.join(TOKENS_FILE))?;
        if ids.len() != m.count || docs.dim() != m.dim {
            return Err(Error::InvalidArgument(format!(
                "{}: {} docs of width {} in {TOKENS_FILE}, the manifest says {} of width {}",
                dir.display(),
                ids.len(),
                docs.dim(),
                m.count,
                m.dim
            )));
        }
        Ok(Self { model, ids, docs })
    }
}

/// The ids and document token vectors of a corpus to index (not empty).
pub(crate) fn encode_corpus(
    model: &ColbertEncoder,
    corpus: &[TextRecord],
    opts: &EncodeOptions,
) -> Result<(Vec<String>, MultiVectors, EncodeStats)> {
    if corpus.is_empty() {
        return Err(Error::InvalidArgument(
            "cannot index an empty corpus".into(),
        ));
    }
    let (docs, stats) = model.encode(&texts_of(corpus), Side::Document, opts)?;
    Ok((corpus.iter().map(|r| r.id.clone()).collect(), docs, stats))
}

/// Encodes `queries` and turns the hits `search` finds for their token
/// vectors (doc numbers of `ids`, scores) into a run.
pub(crate) fn search_texts(
    model: &ColbertEncoder,
    ids: &[String],
    queries: &[TextRecord],
    opts: &EncodeOptions,
    search: impl FnOnce(&MultiVectors) -> Result<Vec<Vec<(usize, f32)>>>,
) -> Result<Run> {
    let (q, _) = model.encode(&texts_of(queries), Side::Query, opts)?;
    let mut run = Run::new();
    for (query, hits) in queries.iter().zip(search(&q)?) {
        for (doc, score) in hits {
            run.push(&query.id, &ids[doc], score_to_f64(score));
        }
    }
    Ok(run)
}

/// The ColBERT that encodes queries for the `factory` index at `dir`: `model`
/// or the one its manifest records (loaded with `options`); refused when its
/// vectors differ from the index's.
pub(crate) fn index_colbert(
    dir: &Path,
    manifest: &Manifest,
    factory: &str,
    model: Option<Arc<ColbertEncoder>>,
    options: &ColbertOptions,
) -> Result<Arc<ColbertEncoder>> {
    let built = match &manifest.model {
        Some(built) if manifest.factory == factory => built,
        _ => {
            return Err(Error::InvalidArgument(format!(
                "{}: a {} index, not a ColBERT ({factory}) one",
                dir.display(),
                manifest.factory
            )));
        }
    };
    let model = match model {
        Some(m) => m,
        None => Arc::new(
            ColbertEncoder::load(
                &built.model,
                &ColbertOptions {
                    precision: options.precision.or(Some(built.precision)),
                    ..options.clone()
                },
            )
            .map_err(|e| recorded_model_error(dir, &built.model, e))?,
        ),
    };
    let now = model.identity()?;
    if !now.same_vectors(built) {
        return Err(Error::InvalidArgument(format!(
            "{}: index built with {built}, queries encoded with {now}",
            dir.display()
        )));
    }
    Ok(model)
}

/// Per-thread buffers of the block products.
#[derive(Default)]
struct Scratch {
    panels: Vec<f32>,
    scores: Vec<f32>,
    /// For each query token row of the group and each doc of the block, the
    /// best dot product with the doc's tokens.
    maxes: Vec<f32>,
}

/// The best `k` of `docs` (ids `ids`) per query, best first, as `(doc index,
/// MaxSim score)`; ties go to the larger doc id.
fn exact_search(
    docs: &MultiVectors,
    ids: &[String],
    queries: &MultiVectors,
    k: usize,
    progress: &dyn Progress,
) -> Result<Vec<Vec<(usize, f32)>>> {
    let d = docs.dim();
    if queries.dim() != d {
        return Err(Error::InvalidArgument(format!(
            "query token vectors have dimension {}, the index {d}",
            queries.dim()
        )));
    }
    let nq = queries.len();
    let offsets = docs.offsets();
    let blocks = doc_blocks(docs);
    // Queries in groups of whole queries of at most QUERY_ROWS token rows.
    let q_off = queries.offsets();
    let mut groups: Vec<(usize, usize)> = Vec::new();
    let mut qa = 0;
    while qa < nq {
        let mut qb = qa + 1;
        while qb < nq && q_off[qb + 1] - q_off[qa] <= QUERY_ROWS {
            qb += 1;
        }
        groups.push((qa, qb));
        qa = qb;
    }
    progress.start("search", docs.len() as u64);
    let tops = par_top_k(&blocks, nq, k, |run, tops| {
        let mut scratch = Scratch::default();
        for &(a, b) in run {
            for &(qa, qb) in &groups {
                score_block(docs, queries, (qa, qb), (a, b), &mut scratch);
                let nd = b - a;
                let ra = q_off[qa];
                for (qi, top) in tops.iter_mut().enumerate().take(qb).skip(qa) {
                    for doc in a..b {
                        // An empty doc (every token skipped) scores 0.
                        let total: f32 = if offsets[doc] == offsets[doc + 1] {
                            0.0
                        } else {
                            (q_off[qi] - ra..q_off[qi + 1] - ra)
                                .map(|r| scratch.maxes[r * nd + doc - a])
                                .sum()
                        };
                        if total >= top.threshold() {
                            top.push(total, doc, &ids[doc]);
                        }
                    }
                }
            }
            progress.advance((b - a) as u64);
        }
    });
    progress.finish();
    Ok(tops)
}

/// Blocks of whole docs of at most [`DOT_BLOCK`] tokens (a longer doc alone).
fn doc_blocks(docs: &MultiVectors) -> Vec<(usize, usize)> {
    let offsets = docs.offsets();
    let mut blocks = Vec::new();
    let mut first = 0;
    while first < docs.len() {
        let mut end = first + 1;
        while end < docs.len() && offsets[end + 1] - offsets[first] <= DOT_BLOCK {
            end += 1;
        }
        blocks.push((first, end));
        first = end;
    }
    blocks
}

/// The MaxSim score of one query (its token vectors, the only entry of
/// `query`) for each of `docs`, with the exact search's arithmetic: an index
/// that finds candidates another way scores them as [`MaxSimIndex`] would.
#[cfg(feature = "qdrant")]
pub(crate) fn maxsim_scores(query: &MultiVectors, docs: &MultiVectors) -> Vec<f32> {
    let offsets = docs.offsets();
    let mut scratch = Scratch::default();
    let mut out = Vec::with_capacity(docs.len());
    for (a, b) in doc_blocks(docs) {
        score_block(docs, query, (0, 1), (a, b), &mut scratch);
        let nd = b - a;
        for doc in a..b {
            out.push(if offsets[doc] == offsets[doc + 1] {
                0.0
            } else {
                (0..query.count(0))
                    .map(|r| scratch.maxes[r * nd + doc - a])
                    .sum()
            });
        }
    }
    out
}

/// Fills `scratch.maxes` for query group `qa..qb` and docs `a..b`: the
/// block's tokens in pieces of at most [`DOT_BLOCK`] rows (one long doc
/// may span several), each piece one product with all the group's rows.
fn score_block(
    docs: &MultiVectors,
    queries: &MultiVectors,
    (qa, qb): (usize, usize),
    (a, b): (usize, usize),
    s: &mut Scratch,
) {
    let d = docs.dim();
    let offsets = docs.offsets();
    let q_off = queries.offsets();
    let (ra, rb) = (q_off[qa], q_off[qb]);
    let (ta, tb) = (offsets[a], offsets[b]);
    let (m, nd) = (rb - ra, b - a);
    s.maxes.clear();
    s.maxes.resize(m * nd, f32::NEG_INFINITY);
    let qrows = &queries.as_slice()[ra * d..rb * d];
    for piece in (ta..tb).step_by(DOT_BLOCK) {
        let n = (tb - piece).min(DOT_BLOCK);
        let width = pack_rows(&docs.as_slice()[piece * d..], n, d, &mut s.panels);
        dot_products(qrows, m, d, &s.panels, width, &mut s.scores);
        for doc in a..b {
            // The doc's tokens within this piece, as columns of the product.
            let lo = offsets[doc].max(piece);
            let hi = offsets[doc + 1].min(piece + n);
            if lo >= hi {
                continue;
            }
            for r in 0..m {
                let row = &s.scores[r * width + lo - piece..r * width + hi - piece];
                let best = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                let slot = &mut s.maxes[r * nd + doc - a];
                *slot = slot.max(best);
            }
        }
    }
}

#[cfg(all(test, feature = "qdrant"))]
mod tests {
    use super::*;
    use crate::progress::NoProgress;
    use crate::vectors::Embeddings;

    /// `n` docs of 0..`max` token vectors (some empty) of width `dim`.
    fn docs(n: usize, max: usize, dim: usize, seed: u64) -> MultiVectors {
        let rows = Embeddings::random(n * max, dim, seed);
        let mut docs = MultiVectors::empty(dim);
        for i in 0..n {
            let t = (i * 7 + 3) % (max + 1);
            docs.push(&rows.as_slice()[i * max * dim..(i * max + t) * dim]);
        }
        docs
    }

    #[test]
    fn candidates_scored_alone_score_as_in_the_exact_search() {
        let all = docs(300, 40, 16, 5);
        let ids: Vec<String> = (0..all.len()).map(|i| format!("d{i:03}")).collect();
        let queries = docs(9, 32, 16, 8);
        let found = exact_search(&all, &ids, &queries, 20, &NoProgress).unwrap();
        for (q, hits) in found.iter().enumerate() {
            let one =
                MultiVectors::new(16, vec![0, queries.count(q)], queries.get(q).to_vec()).unwrap();
            // The top docs in another order, among others, as a server returns them.
            let mut subset = MultiVectors::empty(16);
            let mut order: Vec<usize> = hits.iter().rev().map(|&(d, _)| d).collect();
            order.extend([0, 150, 299]);
            for &d in &order {
                subset.push(all.get(d));
            }
            let scores = maxsim_scores(&one, &subset);
            for (&(doc, want), got) in hits.iter().rev().zip(&scores) {
                assert_eq!(got.to_bits(), want.to_bits(), "query {q} doc {doc}");
            }
        }
    }
}
