//! Exact (brute-force) search: blocks of docs against batches of queries as
//! matrix products, each query's top k kept per thread and merged. Vectors live
//! in memory or in a memory-mapped vector file.

use std::path::Path;

#[cfg(any(feature = "lancedb", feature = "qdrant"))]
use crate::compute::gemm::DOT_BLOCK;
use crate::compute::gemm::{dot_products, pack_rows};
use crate::error::{Error, Result};
use crate::index::topk::{TopK, par_top_k};
use crate::index::vector_index::{VectorIndex, prepare_queries};
use crate::progress::{NoProgress, Progress};
use crate::vectors::{Embeddings, VectorFile, write_vectors};

/// How query and doc vectors are compared (higher score is better).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Metric {
    /// Inner product (the default: sentence-transformers' models mostly
    /// normalise, so it equals cosine for them).
    #[default]
    Dot,
    /// Cosine similarity.
    Cosine,
    /// Negative squared Euclidean distance.
    L2,
}

impl Metric {
    /// Parses `dot`/`ip`, `cosine`/`cos`, `l2`.
    pub fn parse(s: &str) -> Result<Self> {
        match s {
            "dot" | "ip" => Ok(Self::Dot),
            "cosine" | "cos" => Ok(Self::Cosine),
            "l2" => Ok(Self::L2),
            _ => Err(Error::InvalidArgument(format!(
                "unknown metric \"{s}\" (known: dot, cosine, l2)"
            ))),
        }
    }

    /// The name [`Metric::parse`] reads.
    pub fn name(self) -> &'static str {
        match self {
            Self::Dot => "dot",
            Self::Cosine => "cosine",
            Self::L2 => "l2",
        }
    }
}

/// Docs per block: one block's packed vectors (2048 x 384 floats, 3 MiB) stay in
/// the L2/L3 caches while every query batch passes.
const DOC_BLOCK: usize = 512;
/// Queries per product.
const QUERY_BATCH: usize = 256;

/// Where an index's ids and vectors are.
enum Store {
    Memory(Vec<String>, Embeddings),
    /// The file holds the ids too (a million of them is not copied twice).
    Mapped(VectorFile),
}

/// An exact index: doc ids and their vectors.
pub struct FlatIndex {
    store: Store,
    dim: usize,
    metric: Metric,
    /// Squared norms of the docs (L2 only).
    norms: Vec<f32>,
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// The vectors an index stores for `ids`: one per id, unit length for cosine.
pub(crate) fn stored_vectors(
    ids: &[String],
    vectors: Embeddings,
    metric: Metric,
) -> Result<Embeddings> {
    if ids.len() != vectors.len() {
        return Err(Error::InvalidArgument(format!(
            "{} ids for {} vectors",
            ids.len(),
            vectors.len()
        )));
    }
    Ok(if metric == Metric::Cosine {
        normalized(&vectors)
    } else {
        vectors
    })
}

pub(crate) fn normalized(e: &Embeddings) -> Embeddings {
    let mut data = e.as_slice().to_vec();
    for row in data.chunks_exact_mut(e.dim()) {
        let n = dot(row, row).sqrt();
        if n > 0.0 {
            row.iter_mut().for_each(|x| *x /= n);
        }
    }
    Embeddings::new(e.dim(), data)
}

impl FlatIndex {
    /// Builds an index in memory; ids must match the vectors. Cosine normalises
    /// the vectors here, so the stored vectors are unit length.
    pub fn new(ids: Vec<String>, vectors: Embeddings, metric: Metric) -> Result<Self> {
        let vectors = stored_vectors(&ids, vectors, metric)?;
        Ok(Self::with_store(
            vectors.dim(),
            Store::Memory(ids, vectors),
            metric,
        ))
    }

    /// An index over a memory-mapped vector file (written by [`FlatIndex::vectors`]
    /// through `write_vectors`, so cosine vectors are already unit length).
    pub fn mapped(file: VectorFile, metric: Metric) -> Self {
        Self::with_store(file.dim(), Store::Mapped(file), metric)
    }

    fn with_store(dim: usize, store: Store, metric: Metric) -> Self {
        let mut index = Self {
            store,
            dim,
            metric,
            norms: vec![],
        };
        if metric == Metric::L2 {
            index.norms = index
                .segments()
                .iter()
                .flat_map(|s| s.chunks_exact(dim).map(|r| dot(r, r)))
                .collect();
        }
        index
    }

    /// The vectors as contiguous row-major pieces.
    fn segments(&self) -> Vec<&[f32]> {
        match &self.store {
            Store::Memory(_, e) => vec![e.as_slice()],
            Store::Mapped(f) => f.segments(),
        }
    }

    /// The stored vectors (borrowed in memory, a copy when memory-mapped).
    pub fn vectors(&self) -> std::borrow::Cow<'_, Embeddings> {
        match &self.store {
            Store::Memory(_, e) => std::borrow::Cow::Borrowed(e),
            Store::Mapped(f) => std::borrow::Cow::Owned(f.to_embeddings()),
        }
    }

    /// The best `k` docs for each query vector, best first, as `(doc index, score)`;
    /// ties go to the larger doc id, as the evaluator orders them.
    pub fn search_vectors(&self, queries: &Embeddings, k: usize) -> Result<Vec<Vec<(usize, f32)>>> {
        self.search_vectors_with(queries, k, &NoProgress)
    }

    /// [`FlatIndex::search_vectors`], reporting blocks of docs done to `progress`.
    pub fn search_vectors_with(
        &self,
        queries: &Embeddings,
        k: usize,
        progress: &dyn Progress,
    ) -> Result<Vec<Vec<(usize, f32)>>> {
        if queries.is_empty() {
            return Ok(vec![]);
        }
        let queries = prepare_queries(queries, self.dim, self.metric)?;
        let q_norms: Vec<f32> = queries.rows().map(|q| dot(q, q)).collect();
        let nq = queries.len();
        let d = self.dim;
        // Blocks of docs: (first doc, rows).
        let mut blocks: Vec<(usize, &[f32])> = Vec::new();
        let mut first = 0;
        for seg in self.segments() {
            for rows in seg.chunks(DOC_BLOCK * d) {
                blocks.push((first, rows));
                first += rows.len() / d;
            }
        }
        progress.start("search", self.len() as u64);
        let tops = par_top_k(&blocks, nq, k, |run, tops| {
            let (mut panels, mut scores) = (Vec::new(), Vec::new());
            for &(first, rows) in run {
                let n = rows.len() / d;
                let width = pack_rows(rows, n, d, &mut panels);
                for (b, batch) in queries.as_slice().chunks(QUERY_BATCH * d).enumerate() {
                    let m = batch.len() / d;
                    dot_products(batch, m, d, &panels, width, &mut scores);
                    for i in 0..m {
                        let qi = b * QUERY_BATCH + i;
                        let row = &scores[i * width..i * width + n];
                        self.select(&mut tops[qi], row, first, q_norms[qi]);
                    }
                }
                progress.advance(n as u64);
            }
        });
        progress.finish();
        Ok(tops)
    }

    /// Offers one query's scores against docs `first..` to its top k.
    #[inline]
    fn select<'a>(&'a self, top: &mut TopK<'a>, row: &[f32], first: usize, q_norm: f32) {
        let mut bar = top.threshold();
        if self.metric == Metric::L2 {
            for (j, &s) in row.iter().enumerate() {
                let doc = first + j;
                let s = l2_score(s, self.norms[doc], q_norm);
                if s >= bar {
                    top.push(s, doc, &self.ids()[doc]);
                    bar = top.threshold();
                }
            }
            return;
        }
        // Most scores fail the bar: test 16 at a time by their maximum (a loop
        // the compiler vectorises) and look closer only at blocks that pass.
        for (c, chunk) in row.chunks(16).enumerate() {
            if below(chunk, bar) {
                continue;
            }
            for (j, &s) in chunk.iter().enumerate() {
                if s >= bar {
                    let doc = first + c * 16 + j;
                    top.push(s, doc, &self.ids()[doc]);
                    bar = top.threshold();
                }
            }
        }
    }
}

impl VectorIndex for FlatIndex {
    fn factory(&self) -> &str {
        "Flat"
    }

    fn ids(&self) -> &[String] {
        match &self.store {
            Store::Memory(ids, _) => ids,
            Store::Mapped(f) => f.ids(),
        }
    }

    fn dim(&self) -> usize {
        self.dim
    }

    fn metric(&self) -> Metric {
        self.metric
    }

    fn search_vectors_with(
        &self,
        queries: &Embeddings,
        k: usize,
        progress: &dyn Progress,
    ) -> Result<Vec<Vec<(usize, f32)>>> {
        FlatIndex::search_vectors_with(self, queries, k, progress)
    }

    fn vector(&self, mut row: usize) -> Option<Vec<f32>> {
        let d = self.dim;
        for seg in self.segments() {
            let n = seg.len() / d;
            if row < n {
                return Some(seg[row * d..(row + 1) * d].to_vec());
            }
            row -= n;
        }
        None
    }

    fn write_files(&self, dir: &Path) -> Result<Vec<String>> {
        write_vectors(&dir.join(FLAT_VECTORS), self.ids(), &self.vectors())?;
        Ok(vec![FLAT_VECTORS.to_string()])
    }
}

/// Negated squared L2 distance from a dot product and the two squared norms.
#[inline(always)]
fn l2_score(dot: f32, doc_norm: f32, q_norm: f32) -> f32 {
    2.0 * dot - doc_norm - q_norm
}

/// The scores of `query` against `rows` (each `dim` wide) with the arithmetic of a
/// Flat search (its kernel, its L2 formula): an index that finds candidates
/// another way ranks them, and scores them, as the Flat index would. The query
/// is ready to search (cosine: unit length, as the rows are).
#[cfg(any(feature = "lancedb", feature = "qdrant"))]
pub(crate) fn exact_scores(query: &[f32], rows: &[f32], dim: usize, metric: Metric) -> Vec<f32> {
    let q_norm = dot(query, query);
    let (mut panels, mut scores, mut out) = (Vec::new(), Vec::new(), Vec::new());
    for block in rows.chunks(DOT_BLOCK * dim) {
        let n = block.len() / dim;
        let width = pack_rows(block, n, dim, &mut panels);
        dot_products(query, 1, dim, &panels, width, &mut scores);
        for (j, &s) in scores[..n].iter().enumerate() {
            out.push(match metric {
                Metric::L2 => {
                    let r = &block[j * dim..(j + 1) * dim];
                    l2_score(s, dot(r, r), q_norm)
                }
                Metric::Dot | Metric::Cosine => s,
            });
        }
    }
    out
}

/// The file of a Flat index's ids and vectors.
pub(crate) const FLAT_VECTORS: &str = "vectors.arrow";

/// Whether every score in `chunk` is below `bar` (explicit lanes, so the
/// comparison vectorises).
#[inline(always)]
fn below(chunk: &[f32], bar: f32) -> bool {
    let Ok(c) = <&[f32; 16]>::try_from(chunk) else {
        return chunk.iter().all(|&s| s < bar);
    };
    let mut any = [false; 16];
    for i in 0..16 {
        any[i] = c[i] >= bar;
    }
    !any.iter().any(|&a| a)
}

/// An f32 score as the f64 with the same shortest decimal form, so run files show
/// `0.8` rather than `0.800000011920929`; distinct f32 scores stay distinct and ordered.
pub fn score_to_f64(s: f32) -> f64 {
    s.to_string().parse().unwrap_or(s as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every score in f64, sorted by the evaluator's order.
    fn brute(
        ids: &[String],
        docs: &Embeddings,
        q: &[f32],
        k: usize,
        metric: Metric,
    ) -> Vec<(usize, f64)> {
        let f = |a: &[f32], b: &[f32]| {
            a.iter()
                .zip(b)
                .map(|(x, y)| *x as f64 * *y as f64)
                .sum::<f64>()
        };
        let mut all: Vec<(usize, f64)> = docs
            .rows()
            .enumerate()
            .map(|(i, d)| {
                let s = match metric {
                    Metric::Dot => f(q, d),
                    Metric::Cosine => f(q, d) / (f(q, q) * f(d, d)).sqrt(),
                    Metric::L2 => -(f(q, q) - 2.0 * f(q, d) + f(d, d)),
                };
                (i, s)
            })
            .collect();
        all.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| ids[b.0].cmp(&ids[a.0])));
        all.truncate(k);
        all
    }

    #[test]
    fn equals_brute_force_on_random_data() {
        // More docs than one block and more queries than one batch; a width that
        // is not a multiple of the kernel's 32 columns.
        let (n, dim) = (DOC_BLOCK * 2 + 77, 48);
        let docs = Embeddings::random(n, dim, 0x2545F4914F6CDD1D);
        let ids: Vec<String> = (0..n).map(|i| format!("d{i}")).collect();
        let queries = Embeddings::random(QUERY_BATCH + 9, dim, 7);
        for metric in [Metric::Dot, Metric::Cosine, Metric::L2] {
            let idx = FlatIndex::new(ids.clone(), docs.clone(), metric).unwrap();
            let got = idx.search_vectors(&queries, 10).unwrap();
            for (qi, q) in queries.rows().enumerate() {
                let wider = brute(&ids, &docs, q, 11, metric);
                let want = &wider[..10];
                let got_ids: Vec<usize> = got[qi].iter().map(|h| h.0).collect();
                let want_ids: Vec<usize> = want.iter().map(|h| h.0).collect();
                // Same docs, except where two true scores are closer than f32
                // rounding can separate.
                let near_tie = |i: usize| {
                    let close = |j: usize| (wider[i].1 - wider[j].1).abs() < 1e-5;
                    (i > 0 && close(i - 1)) || close(i + 1)
                };
                for i in 0..want.len() {
                    assert!(
                        got_ids[i] == want_ids[i] || near_tie(i),
                        "{metric:?} query {qi}: {got_ids:?} vs {want_ids:?}"
                    );
                }
                for (g, w) in got[qi].iter().zip(want) {
                    assert!(
                        (g.1 as f64 - w.1).abs() < 1e-4,
                        "{metric:?}: {} vs {}",
                        g.1,
                        w.1
                    );
                }
            }
        }
    }

    #[test]
    fn ties_go_to_the_larger_id_and_k_can_exceed_the_corpus() {
        let docs = Embeddings::new(2, vec![1.0, 0.0, 1.0, 0.0, 0.0, 1.0]);
        let ids: Vec<String> = ["a", "c", "b"].iter().map(|s| s.to_string()).collect();
        let idx = FlatIndex::new(ids, docs, Metric::Dot).unwrap();
        let got = idx
            .search_vectors(&Embeddings::new(2, vec![1.0, 0.0]), 10)
            .unwrap();
        assert_eq!(got[0], vec![(1, 1.0), (0, 1.0), (2, 0.0)]);
    }

    #[test]
    fn dimension_mismatch_is_an_error() {
        let idx = FlatIndex::new(
            vec!["a".into()],
            Embeddings::new(2, vec![1.0, 0.0]),
            Metric::Dot,
        )
        .unwrap();
        assert!(
            idx.search_vectors(&Embeddings::new(3, vec![0.0; 3]), 1)
                .is_err()
        );
    }
}
