//! An inverted index of weighted terms: for each term, the docs that hold it and
//! a weight. Search is an exact sum over the query's terms of query weight times
//! posting weight (BM25 stores each posting's BM25 score, SPLADE its term
//! weight), so both kinds of lexical retrieval share it.

use std::collections::HashMap;
use std::path::Path;

use rayon::prelude::*;

use crate::error::{Error, Result};
use crate::index::topk::TopK;
use crate::progress::Progress;

/// One doc's terms: `(term id, weight)`.
pub type TermWeights = Vec<(u32, f32)>;

/// Terms to postings lists of `(doc, weight)`.
pub struct InvertedIndex {
    ids: Vec<String>,
    terms: Vec<String>,
    lookup: HashMap<String, u32>,
    /// Postings of term `t` are `offsets[t]..offsets[t + 1]`.
    offsets: Vec<u64>,
    docs: Vec<u32>,
    weights: Vec<f32>,
}

const IDS: &str = "ids.txt";
const TERMS: &str = "terms.txt";
const POSTINGS: &str = "postings.bin";
const MAGIC: &[u8; 8] = b"RBINV001";

/// Queries searched per progress report.
const QUERY_CHUNK: usize = 64;

fn lookup_of(terms: &[String]) -> HashMap<String, u32> {
    terms
        .iter()
        .enumerate()
        .map(|(i, t)| (t.clone(), i as u32))
        .collect()
}

fn bad(path: &Path, msg: impl std::fmt::Display) -> Error {
    Error::InvalidArgument(format!("{}: {msg}; rebuild the index", path.display()))
}

impl InvertedIndex {
    /// Inverts `docs[i]` (the terms of doc `ids[i]`, ids into `terms`). Zero
    /// weights are not stored.
    pub fn new(ids: Vec<String>, terms: Vec<String>, docs: &[TermWeights]) -> Result<Self> {
        Self::invert(ids, terms, docs.len(), |d| &docs[d])
    }

    /// Inverts docs held flat: doc `d`'s terms are `pairs[ends[d - 1]..ends[d]]`
    /// (no per-doc allocation while a large corpus is analysed).
    pub fn from_flat(
        ids: Vec<String>,
        terms: Vec<String>,
        pairs: &[(u32, f32)],
        ends: &[usize],
    ) -> Result<Self> {
        Self::invert(ids, terms, ends.len(), |d| {
            &pairs[if d == 0 { 0 } else { ends[d - 1] }..ends[d]]
        })
    }

    fn invert<'a>(
        ids: Vec<String>,
        terms: Vec<String>,
        n: usize,
        doc: impl Fn(usize) -> &'a [(u32, f32)],
    ) -> Result<Self> {
        if ids.len() != n || ids.len() > u32::MAX as usize {
            return Err(Error::InvalidArgument(format!(
                "{} ids for {n} docs",
                ids.len(),
            )));
        }
        if let Some(id) = ids.iter().find(|i| i.contains(['\n', '\r'])) {
            return Err(Error::InvalidArgument(format!(
                "doc id {id:?} contains a line break"
            )));
        }
        // Counting sort by term: postings come out in doc order.
        let mut counts = vec![0u64; terms.len() + 1];
        for d in (0..n).map(&doc) {
            for &(t, w) in d {
                if t as usize >= terms.len() {
                    return Err(Error::InvalidArgument(format!(
                        "term id {t} outside a vocabulary of {}",
                        terms.len()
                    )));
                }
                if w != 0.0 {
                    counts[t as usize + 1] += 1;
                }
            }
        }
        for i in 1..counts.len() {
            counts[i] += counts[i - 1];
        }
        let total = counts[terms.len()] as usize;
        let mut next = counts.clone();
        let (mut post_docs, mut post_weights) = (vec![0u32; total], vec![0f32; total]);
        for (d, terms_of_doc) in (0..n).map(&doc).enumerate() {
            for &(t, w) in terms_of_doc {
                if w != 0.0 {
                    let at = &mut next[t as usize];
                    post_docs[*at as usize] = d as u32;
                    post_weights[*at as usize] = w;
                    *at += 1;
                }
            }
        }
        Ok(Self {
            lookup: lookup_of(&terms),
            ids,
            terms,
            offsets: counts,
            docs: post_docs,
            weights: post_weights,
        })
    }

    /// Doc ids in index order.
    pub fn ids(&self) -> &[String] {
        &self.ids
    }

    /// Number of docs.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// Whether no doc is indexed.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// Number of distinct terms.
    pub fn vocabulary_size(&self) -> usize {
        self.terms.len()
    }

    /// Number of stored (term, doc) postings.
    pub fn postings_count(&self) -> usize {
        self.docs.len()
    }

    /// The id of `term`, if any doc holds it.
    pub fn term_id(&self, term: &str) -> Option<u32> {
        self.lookup.get(term).copied()
    }

    /// The postings of term `t`: docs and weights.
    pub fn postings(&self, t: u32) -> (&[u32], &[f32]) {
        let r = self.offsets[t as usize] as usize..self.offsets[t as usize + 1] as usize;
        (&self.docs[r.clone()], &self.weights[r])
    }

    /// The `k` best docs for a query of `(term id, weight)`: `(doc, score)`, best
    /// first, ties by the larger doc id; docs sharing no term are not returned.
    pub fn search_one(&self, query: &[(u32, f32)], k: usize) -> Vec<(usize, f32)> {
        let mut scores = vec![0f32; self.len()];
        let mut touched = Vec::new();
        self.search_into(query, k, &mut scores, &mut touched)
    }

    fn search_into(
        &self,
        query: &[(u32, f32)],
        k: usize,
        scores: &mut [f32],
        touched: &mut Vec<u32>,
    ) -> Vec<(usize, f32)> {
        for &(t, qw) in query {
            let (docs, weights) = self.postings(t);
            for (&d, &w) in docs.iter().zip(weights) {
                let s = &mut scores[d as usize];
                if *s == 0.0 {
                    touched.push(d);
                }
                *s += qw * w;
            }
        }
        let mut top = TopK::new(k);
        // A doc whose sum returned to exactly 0 may be listed twice: seen once.
        for &d in touched.iter() {
            let s = std::mem::take(&mut scores[d as usize]);
            if s != 0.0 {
                top.push(s, d as usize, &self.ids[d as usize]);
            }
        }
        touched.clear();
        top.into_sorted()
    }

    /// Searches every query in parallel (input order kept); `progress` counts queries.
    pub fn search(
        &self,
        queries: &[TermWeights],
        k: usize,
        progress: &dyn Progress,
    ) -> Vec<Vec<(usize, f32)>> {
        progress.start("search", queries.len() as u64);
        let out = queries
            .par_chunks(QUERY_CHUNK)
            .flat_map_iter(|chunk| {
                let mut scores = vec![0f32; self.len()];
                let mut touched = Vec::new();
                let hits: Vec<_> = chunk
                    .iter()
                    .map(|q| self.search_into(q, k, &mut scores, &mut touched))
                    .collect();
                progress.advance(chunk.len() as u64);
                hits
            })
            .collect();
        progress.finish();
        out
    }

    /// The terms, by id.
    pub fn terms(&self) -> &[String] {
        &self.terms
    }

    /// Each doc's sum of posting weights (with term-frequency weights: its length).
    pub(crate) fn doc_weight_sums(&self) -> Vec<f64> {
        let mut sums = vec![0f64; self.len()];
        for (&d, &w) in self.docs.iter().zip(&self.weights) {
            sums[d as usize] += w as f64;
        }
        sums
    }

    /// Number of docs holding term `t`.
    pub(crate) fn doc_frequency(&self, t: u32) -> usize {
        (self.offsets[t as usize + 1] - self.offsets[t as usize]) as usize
    }

    /// Replaces each posting's weight by `f(term, doc, weight)`.
    pub(crate) fn map_weights(&mut self, f: impl Fn(u32, u32, f32) -> f32) {
        for t in 0..self.terms.len() {
            let r = self.offsets[t] as usize..self.offsets[t + 1] as usize;
            for (d, w) in self.docs[r.clone()].iter().zip(&mut self.weights[r]) {
                *w = f(t as u32, *d, *w);
            }
        }
    }

    /// The index of the docs of `parts`, in order: terms numbered as first
    /// seen across the parts, postings in doc order (what indexing the
    /// concatenated corpus at once gives).
    pub fn concat(parts: Vec<InvertedIndex>) -> Result<Self> {
        let mut terms: Vec<String> = Vec::new();
        let mut lookup: HashMap<String, u32> = HashMap::new();
        let mut global: Vec<Vec<u32>> = Vec::with_capacity(parts.len());
        for p in &parts {
            global.push(
                p.terms
                    .iter()
                    .map(|t| {
                        *lookup.entry(t.clone()).or_insert_with(|| {
                            terms.push(t.clone());
                            terms.len() as u32 - 1
                        })
                    })
                    .collect(),
            );
        }
        let mut counts = vec![0u64; terms.len() + 1];
        for (p, g) in parts.iter().zip(&global) {
            for (t, &gt) in g.iter().enumerate() {
                counts[gt as usize + 1] += p.doc_frequency(t as u32) as u64;
            }
        }
        for i in 1..counts.len() {
            counts[i] += counts[i - 1];
        }
        let total = counts[terms.len()] as usize;
        let mut next = counts.clone();
        let (mut docs, mut weights) = (vec![0u32; total], vec![0f32; total]);
        let mut ids = Vec::new();
        let mut base = 0u64;
        for (p, g) in parts.into_iter().zip(&global) {
            for (t, &gt) in g.iter().enumerate() {
                let (pd, pw) = p.postings(t as u32);
                let at = next[gt as usize] as usize;
                for (i, (&d, &w)) in pd.iter().zip(pw).enumerate() {
                    docs[at + i] = (d as u64 + base) as u32;
                    weights[at + i] = w;
                }
                next[gt as usize] += pd.len() as u64;
            }
            base += p.ids.len() as u64;
            ids.extend(p.ids);
        }
        if base > u32::MAX as u64 {
            return Err(Error::InvalidArgument(format!(
                "{base} docs: an inverted index holds at most {}",
                u32::MAX
            )));
        }
        Ok(Self {
            lookup,
            ids,
            terms,
            offsets: counts,
            docs,
            weights,
        })
    }

    /// Writes `ids.txt`, `terms.txt` and `postings.bin` into `dir`; returns their names.
    pub fn write_files(&self, dir: &Path) -> Result<Vec<String>> {
        if let Some(t) = self.terms.iter().find(|t| t.contains(['\n', '\r'])) {
            return Err(Error::InvalidArgument(format!(
                "term {t:?} contains a line break"
            )));
        }
        let write = |name: &str, bytes: &[u8]| -> Result<()> {
            let path = dir.join(name);
            std::fs::write(&path, bytes).map_err(|e| Error::io(&path, e))
        };
        write(IDS, lines(&self.ids).as_bytes())?;
        write(TERMS, lines(&self.terms).as_bytes())?;
        let mut bin = Vec::with_capacity(32 + 8 * self.offsets.len() + 8 * self.docs.len());
        bin.extend_from_slice(MAGIC);
        for n in [self.ids.len(), self.terms.len(), self.docs.len()] {
            bin.extend_from_slice(&(n as u64).to_le_bytes());
        }
        self.offsets
            .iter()
            .for_each(|o| bin.extend_from_slice(&o.to_le_bytes()));
        self.docs
            .iter()
            .for_each(|d| bin.extend_from_slice(&d.to_le_bytes()));
        self.weights
            .iter()
            .for_each(|w| bin.extend_from_slice(&w.to_le_bytes()));
        write(POSTINGS, &bin)?;
        Ok(vec![IDS.into(), TERMS.into(), POSTINGS.into()])
    }

    /// Reads what [`InvertedIndex::write_files`] wrote (checksums are the
    /// manifest's business; this checks the layout).
    pub fn read_files(dir: &Path) -> Result<Self> {
        let read_lines = |name: &str| -> Result<Vec<String>> {
            let path = dir.join(name);
            let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
            Ok(text.lines().map(str::to_string).collect())
        };
        let ids = read_lines(IDS)?;
        let terms = read_lines(TERMS)?;
        let path = dir.join(POSTINGS);
        let bin = std::fs::read(&path).map_err(|e| Error::io(&path, e))?;
        if bin.len() < 32 || &bin[..8] != MAGIC {
            return Err(bad(&path, "not a rankbook postings file"));
        }
        let count = |i: usize| {
            u64::from_le_bytes(bin[8 + 8 * i..16 + 8 * i].try_into().unwrap_or_default()) as usize
        };
        let (n_docs, n_terms, n_post) = (count(0), count(1), count(2));
        if n_docs != ids.len() || n_terms != terms.len() {
            return Err(bad(
                &path,
                format!(
                    "holds {n_docs} docs and {n_terms} terms, {IDS} and {TERMS} {} and {}",
                    ids.len(),
                    terms.len()
                ),
            ));
        }
        let want = 32 + 8 * (n_terms + 1) + 8 * n_post;
        if bin.len() != want {
            return Err(bad(&path, format!("{} bytes, expected {want}", bin.len())));
        }
        let body = &bin[32..];
        let (off, rest) = body.split_at(8 * (n_terms + 1));
        let (docs, weights) = rest.split_at(4 * n_post);
        let offsets: Vec<u64> = off
            .chunks_exact(8)
            .map(|c| u64::from_le_bytes(c.try_into().unwrap_or_default()))
            .collect();
        let docs: Vec<u32> = docs
            .chunks_exact(4)
            .map(|c| u32::from_le_bytes(c.try_into().unwrap_or_default()))
            .collect();
        let weights: Vec<f32> = weights
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes(c.try_into().unwrap_or_default()))
            .collect();
        let monotone = offsets.windows(2).all(|w| w[0] <= w[1]);
        if offsets.first() != Some(&0) || offsets.last() != Some(&(n_post as u64)) || !monotone {
            return Err(bad(&path, "postings offsets are inconsistent"));
        }
        if docs.iter().any(|&d| d as usize >= n_docs) {
            return Err(bad(&path, "a posting names a doc outside the index"));
        }
        Ok(Self {
            lookup: lookup_of(&terms),
            ids,
            terms,
            offsets,
            docs,
            weights,
        })
    }
}

fn lines(items: &[String]) -> String {
    let mut s = String::with_capacity(items.iter().map(|i| i.len() + 1).sum());
    for i in items {
        s.push_str(i);
        s.push('\n');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::progress::NoProgress;

    fn tiny() -> InvertedIndex {
        let ids = ["d0", "d1", "d2"].map(String::from).to_vec();
        let terms = ["apple", "pear", "fig"].map(String::from).to_vec();
        let docs = vec![
            vec![(0, 1.0), (1, 2.0)],
            vec![(1, 0.5)],
            vec![], // an empty doc is valid
        ];
        InvertedIndex::new(ids, terms, &docs).unwrap()
    }

    #[test]
    fn exact_dot_products_and_round_trip() {
        let idx = tiny();
        // q = 2·apple + 1·pear: d0 = 2 + 2 = 4, d1 = 0.5; d2 shares nothing.
        let q = vec![(0, 2.0), (1, 1.0)];
        assert_eq!(idx.search_one(&q, 10), vec![(0, 4.0), (1, 0.5)]);
        assert_eq!(idx.search_one(&q, 1), vec![(0, 4.0)]);
        // A query with no known term: an empty result.
        assert!(idx.search_one(&[], 10).is_empty());
        assert_eq!(idx.search_one(&[(2, 1.0)], 10), vec![]);

        let dir = tempfile::tempdir().unwrap();
        let names = idx.write_files(dir.path()).unwrap();
        assert_eq!(names.len(), 3);
        let back = InvertedIndex::read_files(dir.path()).unwrap();
        assert_eq!(back.ids(), idx.ids());
        assert_eq!(back.term_id("pear"), Some(1));
        assert_eq!(
            back.search(&[q.clone(), q], 10, &NoProgress)[1],
            vec![(0, 4.0), (1, 0.5)]
        );

        // A truncated postings file is refused by name.
        let p = dir.path().join(POSTINGS);
        let bytes = std::fs::read(&p).unwrap();
        std::fs::write(&p, &bytes[..bytes.len() - 4]).unwrap();
        let err = InvertedIndex::read_files(dir.path())
            .err()
            .unwrap()
            .to_string();
        assert!(
            err.contains("postings.bin") && err.contains("bytes, expected"),
            "{err}"
        );
    }
}
