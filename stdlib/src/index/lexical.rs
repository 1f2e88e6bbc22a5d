//! Either kind of term index, opened from its directory by what the manifest says.

use std::path::Path;

use crate::data::{Run, TextRecord};
use crate::error::Result;
use crate::index::bm25::Bm25Index;
use crate::index::disk::read_manifest;
use crate::index::sparse::SparseIndex;
use crate::progress::Progress;

/// A BM25 or a SPLADE index.
pub enum LexicalIndex {
    /// BM25 over analysed terms.
    Bm25(Box<Bm25Index>),
    /// SPLADE-weighted vocabulary terms.
    Sparse(SparseIndex),
}

impl LexicalIndex {
    /// Loads the index at `dir` if it holds terms (None for a vector index); a
    /// SPLADE model is loaded on `device`.
    pub fn open(dir: &Path, device: &str) -> Result<Option<Self>> {
        let m = read_manifest(dir)?;
        Ok(if m.analyzer.is_some() {
            Some(Self::Bm25(Box::new(Bm25Index::load(dir)?)))
        } else if m.sparse_model.is_some() {
            Some(Self::Sparse(SparseIndex::load(dir, None, device)?))
        } else {
            None
        })
    }

    /// `BM25` or `SPLADE`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Bm25(_) => "BM25",
            Self::Sparse(_) => "SPLADE",
        }
    }

    /// Number of docs.
    pub fn len(&self) -> usize {
        match self {
            Self::Bm25(i) => i.inverted().len(),
            Self::Sparse(i) => i.inverted().len(),
        }
    }

    /// Whether no doc is indexed.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The best `k` docs per query.
    pub fn search(&self, queries: &[TextRecord], k: usize, progress: &dyn Progress) -> Result<Run> {
        match self {
            Self::Bm25(i) => i.search(queries, k, progress),
            Self::Sparse(i) => i.search(queries, k, progress),
        }
    }

    /// Writes the index directory (atomically).
    pub fn save(&self, dir: &Path) -> Result<()> {
        match self {
            Self::Bm25(i) => i.save(dir),
            Self::Sparse(i) => i.save(dir),
        }
    }
}
