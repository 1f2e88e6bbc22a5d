//! Qdrant as a dense index back-end (feature `qdrant`): the doc vectors in a
//! collection on a Qdrant server, the ids and the collection's address in the
//! index folder. Qdrant finds the candidates (a full scan for `qdrant`, its HNSW
//! graph for `qdrant:HNSW`) and rankbook scores them with the Flat index's
//! arithmetic, so an exact search gives the Flat ranking and scores.

use std::path::Path;

use crate::error::Result;
use crate::index::disk::{IDS_FILE, read_ids, write_ids};
use crate::index::flat::{Metric, exact_scores, stored_vectors};
use crate::index::qdrant::collection::{Collection, Docs};
use crate::index::qdrant::spec::QdrantSpec;
use crate::index::vector_index::{VectorIndex, prepare_queries};
use crate::progress::{NoProgress, Progress};
use crate::vectors::Embeddings;

/// Doc vectors in a Qdrant collection and the ids of their docs.
pub struct QdrantIndex {
    factory: String,
    metric: Metric,
    ids: Vec<String>,
    dim: usize,
    collection: Collection,
}

impl QdrantIndex {
    /// Stores `ids` and `vectors` (cosine: unit length first) in a collection
    /// on the server the factory string or `QDRANT_URL` names.
    pub fn build(
        factory: &str,
        ids: Vec<String>,
        vectors: Embeddings,
        metric: Metric,
    ) -> Result<Self> {
        let spec = QdrantSpec::parse(factory)?;
        let vectors = stored_vectors(&ids, vectors, metric)?;
        let docs = Docs {
            ids: &ids,
            vectors: vectors.as_slice(),
            dim: vectors.dim(),
            offsets: None,
        };
        let collection = Collection::build(&spec, &docs, metric, &NoProgress)?;
        Ok(Self {
            factory: collection.factory(),
            metric,
            dim: vectors.dim(),
            ids,
            collection,
        })
    }

    /// Opens the collection of an index folder written by
    /// [`VectorIndex::write_files`] (checksums are the caller's: see `load_index`).
    pub fn read(dir: &Path, factory: &str, metric: Metric, dim: usize) -> Result<Self> {
        let ids = read_ids(dir)?;
        let collection = Collection::open(dir, factory, dim, ids.len(), false)?;
        Ok(Self {
            factory: collection.factory(),
            metric,
            ids,
            dim,
            collection,
        })
    }
}

impl VectorIndex for QdrantIndex {
    fn factory(&self) -> &str {
        &self.factory
    }

    fn ids(&self) -> &[String] {
        &self.ids
    }

    fn dim(&self) -> usize {
        self.dim
    }

    fn metric(&self) -> Metric {
        self.metric
    }

    fn set_parameter(&self, name: &str, value: usize) -> Result<()> {
        self.collection.set_parameter(name, value)
    }

    fn search_vectors_with(
        &self,
        queries: &Embeddings,
        k: usize,
        progress: &dyn Progress,
    ) -> Result<Vec<Vec<(usize, f32)>>> {
        if queries.is_empty() || k == 0 {
            return Ok(vec![Vec::new(); queries.len()]);
        }
        let queries = prepare_queries(queries, self.dim, self.metric)?;
        let rows: Vec<&[f32]> = queries.rows().collect();
        self.collection
            .search(&rows, k, &self.ids, progress, |query, found| {
                let vectors: Vec<f32> = found
                    .iter()
                    .flat_map(|c| c.vectors.iter().copied())
                    .collect();
                Ok(exact_scores(query, &vectors, self.dim, self.metric))
            })
    }

    fn write_files(&self, dir: &Path) -> Result<Vec<String>> {
        write_ids(dir, &self.ids)?;
        let mut files = self.collection.write_location(dir)?;
        files.push(IDS_FILE.into());
        Ok(files)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::atomic::write_atomically;
    use crate::error::Error;
    use crate::index::disk::{Manifest, load_index, write_index_dir};
    use crate::index::qdrant::collection::LOCATION_FILE;

    /// Port 9 (discard): nothing listens there.
    const NOWHERE: &str = "http://127.0.0.1:9";

    #[test]
    fn without_a_server_building_and_opening_fail_naming_it() {
        let ids: Vec<String> = vec!["a".into(), "b".into()];
        let vectors = Embeddings::new(2, vec![1.0, 0.0, 0.0, 1.0]);
        let factory = format!("qdrant:url={NOWHERE}");
        let err = QdrantIndex::build(&factory, ids.clone(), vectors, Metric::Dot)
            .err()
            .unwrap()
            .to_string();
        assert!(
            err.contains(&format!("Qdrant at {NOWHERE}: connecting")),
            "{err}"
        );
        assert!(err.contains("hint: start a Qdrant server"), "{err}");

        // An index folder whose server is gone: a clear error, not a panic.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("idx");
        write_index_dir(&path, Manifest::new("qdrant", Metric::Dot, 2, 2), |tmp| {
            write_ids(tmp, &ids)?;
            let at = tmp.join(LOCATION_FILE);
            write_atomically(&at, |w| {
                use std::io::Write;
                write!(w, r#"{{"url": "{NOWHERE}", "collection": "c"}}"#)
                    .map_err(|e| Error::io(&at, e))
            })?;
            Ok(vec![IDS_FILE.into(), LOCATION_FILE.into()])
        })
        .unwrap();
        let err = load_index(&path).err().unwrap().to_string();
        if std::env::var_os("QDRANT_URL").is_none() {
            assert!(
                err.contains(&format!("Qdrant at {NOWHERE}: connecting")),
                "{err}"
            );
        } else {
            assert!(err.contains("Qdrant"), "{err}");
        }
    }
}
