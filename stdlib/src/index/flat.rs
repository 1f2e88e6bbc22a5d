//! Exact (brute-force) search over vectors in memory.

use rayon::prelude::*;

use crate::data::Run;
use crate::error::{Error, Result};
use crate::index::topk::TopK;
use crate::vectors::Embeddings;

/// How query and doc vectors are compared (higher score is better).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    /// Inner product.
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
}

/// An exact index: doc ids and their vectors.
pub struct FlatIndex {
    ids: Vec<String>,
    vectors: Embeddings,
    metric: Metric,
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn normalized(e: &Embeddings) -> Embeddings {
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
    /// Builds an index; ids must be unique and match the vectors.
    pub fn new(ids: Vec<String>, vectors: Embeddings, metric: Metric) -> Result<Self> {
        if ids.len() != vectors.len() {
            return Err(Error::InvalidArgument(format!(
                "{} ids for {} vectors",
                ids.len(),
                vectors.len()
            )));
        }
        let vectors = if metric == Metric::Cosine {
            normalized(&vectors)
        } else {
            vectors
        };
        Ok(Self {
            ids,
            vectors,
            metric,
        })
    }

    /// Number of docs.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// Whether the index holds no doc.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// Doc ids in index order.
    pub fn ids(&self) -> &[String] {
        &self.ids
    }

    /// The best `k` docs for each query vector, best first, as `(doc index, score)`.
    pub fn search_vectors(&self, queries: &Embeddings, k: usize) -> Result<Vec<Vec<(usize, f32)>>> {
        if queries.dim() != self.vectors.dim() && !queries.is_empty() {
            return Err(Error::InvalidArgument(format!(
                "query vectors have dimension {}, the index {}",
                queries.dim(),
                self.vectors.dim()
            )));
        }
        let queries = if self.metric == Metric::Cosine {
            normalized(queries)
        } else {
            queries.clone()
        };
        let norms: Vec<f32> = if self.metric == Metric::L2 {
            self.vectors.rows().map(|r| dot(r, r)).collect()
        } else {
            vec![]
        };
        Ok(queries
            .rows()
            .collect::<Vec<_>>()
            .par_iter()
            .map(|q| {
                let mut top = TopK::new(k);
                for (i, d) in self.vectors.rows().enumerate() {
                    let s = match self.metric {
                        Metric::L2 => 2.0 * dot(q, d) - norms[i] - dot(q, q),
                        _ => dot(q, d),
                    };
                    top.push(s, i, &self.ids[i]);
                }
                top.into_sorted()
            })
            .collect())
    }

    /// Searches and returns a run keyed by `query_ids`.
    pub fn search(&self, query_ids: &[String], queries: &Embeddings, k: usize) -> Result<Run> {
        let hits = self.search_vectors(queries, k)?;
        let mut run = Run::new();
        for (qid, hits) in query_ids.iter().zip(hits) {
            for (doc, score) in hits {
                run.push(qid, &self.ids[doc], score_to_f64(score));
            }
        }
        Ok(run)
    }
}

/// An f32 score as the f64 with the same shortest decimal form, so run files show
/// `0.8` rather than `0.800000011920929`; distinct f32 scores stay distinct and ordered.
pub fn score_to_f64(s: f32) -> f64 {
    s.to_string().parse().unwrap_or(s as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn brute(ids: &[String], docs: &Embeddings, q: &[f32], k: usize) -> Vec<(usize, f32)> {
        let mut all: Vec<(usize, f32)> = docs
            .rows()
            .enumerate()
            .map(|(i, d)| (i, dot(q, d)))
            .collect();
        all.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| ids[b.0].cmp(&ids[a.0])));
        all.truncate(k);
        all
    }

    #[test]
    fn equals_brute_force_on_random_data() {
        // A small deterministic generator keeps the test self-contained.
        let mut state = 0x2545F4914F6CDD1Du64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            ((state >> 40) as f32 / (1u64 << 24) as f32) - 0.5
        };
        let (n, dim) = (500, 16);
        let docs = Embeddings::new(dim, (0..n * dim).map(|_| next()).collect());
        let ids: Vec<String> = (0..n).map(|i| format!("d{i}")).collect();
        let queries = Embeddings::new(dim, (0..20 * dim).map(|_| next()).collect());
        let idx = FlatIndex::new(ids.clone(), docs.clone(), Metric::Dot).unwrap();
        let got = idx.search_vectors(&queries, 10).unwrap();
        for (qi, q) in queries.rows().enumerate() {
            assert_eq!(got[qi], brute(&ids, &docs, q, 10));
        }
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
