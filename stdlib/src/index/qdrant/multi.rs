//! Late interaction on Qdrant (feature `qdrant`): each document's ColBERT token
//! vectors one multi-vector point, compared by Qdrant's MaxSim. Qdrant finds the
//! candidates; rankbook scores them with the exact MaxSim index's arithmetic,
//! so an exact search gives [`MaxSimIndex`](crate::index::MaxSimIndex)'s ranking
//! and scores.

use std::path::Path;
use std::sync::Arc;

use crate::data::{Run, TextRecord};
use crate::error::{Error, Result};
use crate::index::disk::{
    IDS_FILE, Manifest, read_ids, verified_manifest, write_ids, write_index_dir,
};
use crate::index::flat::Metric;
use crate::index::maxsim::{encode_corpus, index_colbert, maxsim_scores, search_texts};
use crate::index::qdrant::collection::{Collection, Docs};
use crate::index::qdrant::spec::QdrantSpec;
use crate::model::colbert::{ColbertEncoder, ColbertOptions};
use crate::model::{EncodeOptions, EncodeStats};
use crate::progress::Progress;
use crate::shard::PartInfo;
use crate::vectors::MultiVectors;

/// Documents' token vectors in a Qdrant collection, searched with queries
/// encoded by the same ColBERT model.
pub struct QdrantColbertIndex {
    model: Arc<ColbertEncoder>,
    ids: Vec<String>,
    dim: usize,
    collection: Collection,
}

impl QdrantColbertIndex {
    /// Encodes `corpus` as documents and stores their token vectors in a
    /// collection on the server the factory string or `QDRANT_URL` names.
    pub fn build(
        model: Arc<ColbertEncoder>,
        corpus: &[TextRecord],
        opts: &EncodeOptions,
        factory: &str,
    ) -> Result<(Self, EncodeStats)> {
        let spec = QdrantSpec::parse(factory)?;
        crate::index::qdrant::preflight(factory)?;
        let (ids, docs, stats) = encode_corpus(&model, corpus, opts)?;
        let collection = Collection::build(
            &spec,
            &Docs {
                ids: &ids,
                vectors: docs.as_slice(),
                dim: docs.dim(),
                offsets: Some(docs.offsets()),
            },
            Metric::Dot,
            opts.progress,
        )?;
        let dim = docs.dim();
        Ok((
            Self {
                model,
                ids,
                dim,
                collection,
            },
            stats,
        ))
    }

    /// Opens the index at `dir` with `model`, or the model it records (loaded
    /// with `options`); refuses a model whose vectors differ.
    pub fn load(
        dir: &Path,
        model: Option<Arc<ColbertEncoder>>,
        options: &ColbertOptions,
    ) -> Result<Self> {
        let m = verified_manifest(dir)?;
        let model = index_colbert(dir, &m, &m.factory, model, options)?;
        let ids = read_ids(dir)?;
        if ids.len() != m.count {
            return Err(Error::InvalidArgument(format!(
                "{}: {} ids in {IDS_FILE}, the manifest says {}",
                dir.display(),
                ids.len(),
                m.count
            )));
        }
        let collection = Collection::open(dir, &m.factory, m.dim, m.count, true)?;
        Ok(Self {
            model,
            ids,
            dim: m.dim,
            collection,
        })
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

    /// The canonical factory string (`qdrant`, `qdrant:HNSW,...`).
    pub fn factory(&self) -> String {
        self.collection.factory()
    }

    /// Sets `efSearch` (HNSW only).
    pub fn set_parameter(&self, name: &str, value: usize) -> Result<()> {
        self.collection.set_parameter(name, value)
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
        if queries.dim() != self.dim {
            return Err(Error::InvalidArgument(format!(
                "query token vectors have dimension {}, the index {}",
                queries.dim(),
                self.dim
            )));
        }
        if k == 0 {
            return Ok(vec![Vec::new(); queries.len()]);
        }
        let rows: Vec<&[f32]> = (0..queries.len()).map(|q| queries.get(q)).collect();
        self.collection
            .search(&rows, k, &self.ids, progress, |query, found| {
                let one =
                    MultiVectors::new(self.dim, vec![0, query.len() / self.dim], query.to_vec())?;
                let mut docs = MultiVectors::empty(self.dim);
                for c in found {
                    // A doc without tokens is stored as one zero vector.
                    if c.vectors.iter().all(|&v| v == 0.0) {
                        docs.push(&[]);
                    } else {
                        docs.push(&c.vectors);
                    }
                }
                Ok(maxsim_scores(&one, &docs))
            })
    }

    /// Writes the index folder (atomically), recording the slice of the corpus
    /// it holds if it is a part.
    pub fn save_part(&self, dir: &Path, part: Option<PartInfo>) -> Result<()> {
        let manifest = Manifest {
            model: Some(self.model.identity()?.clone()),
            part,
            ..Manifest::new(&self.factory(), Metric::Dot, self.dim, self.len())
        };
        write_index_dir(dir, manifest, |tmp| {
            write_ids(tmp, &self.ids)?;
            let mut files = self.collection.write_location(tmp)?;
            files.push(IDS_FILE.into());
            Ok(files)
        })
    }
}
