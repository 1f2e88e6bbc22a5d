//! PLAID's search, query by query (in parallel): candidate docs from the
//! probed centroids, ranked by centroid interaction, the best re-scored by
//! MaxSim over their decompressed token vectors.

use rayon::prelude::*;

use super::PlaidIndex;
use crate::compute::gemm::{DOT_BLOCK, dot_products, pack_rows};
use crate::data::{Run, TextRecord};
use crate::error::{Error, Result};
use crate::index::maxsim::search_texts;
use crate::index::topk::TopK;
use crate::model::EncodeOptions;
use crate::progress::Progress;
use crate::vectors::MultiVectors;

/// How a PLAID index searches (PyLate's defaults).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PlaidSearch {
    /// Centroids probed per query token.
    pub n_ivf_probe: usize,
    /// Candidates kept after centroid interaction; a quarter of them (at
    /// least one) are re-scored from their decompressed vectors.
    pub n_full_scores: usize,
    /// Centroid pruning: centroids no query token scores at least this high
    /// are left out of centroid interaction (PLAID's t_cs; None: no pruning,
    /// as fast-plaid).
    pub centroid_score_threshold: Option<f32>,
}

impl Default for PlaidSearch {
    /// fast-plaid's: 8 probes per token, 8,192 candidates, no pruning.
    fn default() -> Self {
        Self {
            n_ivf_probe: 8,
            n_full_scores: 8192,
            centroid_score_threshold: None,
        }
    }
}

impl PlaidSearch {
    /// Sets one setting by name: `n_ivf_probe` (or `nprobe`), `n_full_scores`,
    /// `centroid_score_threshold` (a negative value turns pruning off).
    pub fn set(&mut self, name: &str, value: f64) -> Result<()> {
        let count = |v: f64| {
            if v >= 1.0 && v.fract() == 0.0 {
                Ok(v as usize)
            } else {
                Err(Error::InvalidArgument(format!(
                    "PLAID {name} must be a whole number >= 1, not {v}"
                )))
            }
        };
        match name {
            "n_ivf_probe" | "nprobe" => self.n_ivf_probe = count(value)?,
            "n_full_scores" => self.n_full_scores = count(value)?,
            "centroid_score_threshold" => {
                self.centroid_score_threshold = (value >= 0.0).then_some(value as f32)
            }
            other => {
                return Err(Error::InvalidArgument(format!(
                    "a PLAID index has no parameter {other} (n_ivf_probe, n_full_scores, centroid_score_threshold)"
                )));
            }
        }
        Ok(())
    }
}

/// Per-thread buffers.
#[derive(Default)]
struct Scratch {
    panels: Vec<f32>,
    /// Centroid-by-query-token scores, `centroids x width`.
    cs: Vec<f32>,
    probe: Vec<(f32, u32)>,
    /// The query number that last reached each doc / probed each centroid.
    doc_stamp: Vec<u32>,
    cell_stamp: Vec<u32>,
    candidates: Vec<u32>,
    best: Vec<f32>,
    tokens: Vec<f32>,
    scores: Vec<f32>,
}

impl PlaidIndex {
    /// Encodes `queries` and returns the best `k` docs of each.
    pub fn search(&self, queries: &[TextRecord], k: usize, opts: &EncodeOptions) -> Result<Run> {
        search_texts(&self.model, &self.docs.ids, queries, opts, |q| {
            self.search_vectors(q, k, opts.progress)
        })
    }

    /// The best `k` docs per query (as token vectors), best first, as
    /// `(doc index, score)`; ties go to the larger doc id.
    pub fn search_vectors(
        &self,
        queries: &MultiVectors,
        k: usize,
        progress: &dyn Progress,
    ) -> Result<Vec<Vec<(usize, f32)>>> {
        if queries.dim() != self.dim {
            return Err(Error::InvalidArgument(format!(
                "query token vectors have dimension {}, the index {}",
                queries.dim(),
                self.dim
            )));
        }
        if let Some(q) = (0..queries.len()).find(|&q| queries.count(q) > DOT_BLOCK) {
            return Err(Error::InvalidArgument(format!(
                "query {q} has {} token vectors; PLAID takes at most {DOT_BLOCK}",
                queries.count(q)
            )));
        }
        let settings = self.search_settings();
        progress.start("search", queries.len() as u64);
        let hits = (0..queries.len())
            .into_par_iter()
            .map_init(Scratch::default, |s, q| {
                let hits = self.search_one(queries.get(q), q as u32, k, &settings, s);
                progress.advance(1);
                hits
            })
            .collect();
        progress.finish();
        Ok(hits)
    }

    /// One query's best `k`; `stamp` marks what this query has visited.
    fn search_one(
        &self,
        query: &[f32],
        stamp: u32,
        k: usize,
        p: &PlaidSearch,
        s: &mut Scratch,
    ) -> Vec<(usize, f32)> {
        let (dim, nc) = (self.dim, self.centroids());
        let nq = query.len() / dim;
        if nq == 0 || k == 0 {
            return Vec::new();
        }
        // Centroid interaction scores: each centroid against each query token.
        let width = pack_rows(query, nq, dim, &mut s.panels);
        dot_products(&self.centroids, nc, dim, &s.panels, width, &mut s.cs);
        let cs = &s.cs;
        // Candidates: the docs of each token's n_ivf_probe best centroids.
        if s.doc_stamp.len() != self.len() {
            s.doc_stamp = vec![u32::MAX; self.len()];
            s.cell_stamp = vec![u32::MAX; nc];
        }
        s.candidates.clear();
        let probes = p.n_ivf_probe.min(nc);
        for qi in 0..nq {
            s.probe.clear();
            s.probe
                .extend((0..nc).map(|c| (cs[c * width + qi], c as u32)));
            if probes < nc {
                s.probe.select_nth_unstable_by(probes - 1, |a, b| {
                    b.0.total_cmp(&a.0).then(a.1.cmp(&b.1))
                });
            }
            for &(_, c) in &s.probe[..probes] {
                let c = c as usize;
                if s.cell_stamp[c] == stamp {
                    continue;
                }
                s.cell_stamp[c] = stamp;
                for &d in &self.ivf_docs[self.ivf_offsets[c]..self.ivf_offsets[c + 1]] {
                    if s.doc_stamp[d as usize] != stamp {
                        s.doc_stamp[d as usize] = stamp;
                        s.candidates.push(d);
                    }
                }
            }
        }
        // Centroid interaction: each doc token replaced by its centroid.
        let kept = |c: usize| match p.centroid_score_threshold {
            None => true,
            Some(t) => cs[c * width..c * width + nq].iter().any(|&x| x >= t),
        };
        let mut approx = TopK::new(p.n_full_scores.max(1));
        for &d in &s.candidates {
            let d = d as usize;
            s.best.clear();
            s.best.resize(nq, f32::NEG_INFINITY);
            for &c in &self.docs.codes[self.docs.offsets[d]..self.docs.offsets[d + 1]] {
                let c = c as usize;
                if !kept(c) {
                    continue;
                }
                for (b, &x) in s.best.iter_mut().zip(&cs[c * width..c * width + nq]) {
                    *b = b.max(x);
                }
            }
            let score: f32 = s.best.iter().filter(|b| b.is_finite()).sum();
            approx.push(score, d, &self.docs.ids[d]);
        }
        let mut chosen = approx.into_sorted();
        chosen.truncate((p.n_full_scores / 4).max(1));
        // MaxSim over the decompressed tokens, in blocks of whole docs.
        chosen.sort_unstable_by_key(|&(d, _)| d);
        let mut top = TopK::new(k);
        let mut i = 0;
        while i < chosen.len() {
            let first = i;
            let mut rows = 0;
            while i < chosen.len() {
                let d = chosen[i].0;
                let n = self.docs.offsets[d + 1] - self.docs.offsets[d];
                if rows > 0 && rows + n > DOT_BLOCK {
                    break;
                }
                rows += n;
                i += 1;
            }
            self.score_block(query, nq, &chosen[first..i], rows, &mut top, s);
        }
        top.into_sorted()
    }

    /// Exact MaxSim of the docs `block` (`rows` tokens in all) from their
    /// decompressed vectors, offered to `top`.
    fn score_block<'a>(
        &'a self,
        query: &[f32],
        nq: usize,
        block: &[(usize, f32)],
        rows: usize,
        top: &mut TopK<'a>,
        s: &mut Scratch,
    ) {
        let dim = self.dim;
        s.tokens.clear();
        s.tokens.resize(rows * dim, 0.0);
        let mut at = 0;
        for &(d, _) in block {
            let (a, b) = (self.docs.offsets[d], self.docs.offsets[d + 1]);
            self.decompress_into(a, b, &mut s.tokens[at * dim..(at + b - a) * dim]);
            at += b - a;
        }
        // A doc longer than DOT_BLOCK tokens is scored in pieces.
        s.best.clear();
        s.best.resize(nq * block.len(), f32::NEG_INFINITY);
        for piece in (0..rows.max(1)).step_by(DOT_BLOCK) {
            let n = (rows - piece).min(DOT_BLOCK);
            if n == 0 {
                break;
            }
            let width = pack_rows(&s.tokens[piece * dim..], n, dim, &mut s.panels);
            dot_products(query, nq, dim, &s.panels, width, &mut s.scores);
            let mut start = 0;
            for (j, &(d, _)) in block.iter().enumerate() {
                let len = self.docs.offsets[d + 1] - self.docs.offsets[d];
                let (lo, hi) = (start.max(piece), (start + len).min(piece + n));
                start += len;
                if lo >= hi {
                    continue;
                }
                for qi in 0..nq {
                    let row = &s.scores[qi * width + lo - piece..qi * width + hi - piece];
                    let m = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                    let slot = &mut s.best[j * nq + qi];
                    *slot = slot.max(m);
                }
            }
        }
        for (j, &(d, _)) in block.iter().enumerate() {
            let score: f32 = s.best[j * nq..(j + 1) * nq]
                .iter()
                .filter(|b| b.is_finite())
                .sum();
            top.push(score, d, &self.docs.ids[d]);
        }
    }
}
