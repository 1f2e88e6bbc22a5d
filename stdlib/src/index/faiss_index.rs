//! faiss index types (feature `faiss`): any `index_factory` string (`IVF1024,Flat`,
//! `HNSW32`, `PQ32`, `IVF1024,PQ32`, …), trained on the vectors when the type
//! needs it, searched with `nprobe` / `efSearch`. Files are faiss's own format, so
//! Python's `faiss.read_index` opens them; the doc ids are kept beside them.

use std::path::Path;
use std::sync::Mutex;

use faiss::index::IndexImpl;
use faiss::index::autotune::ParameterSpace;
use faiss::{Index, MetricType, index_factory, read_index, write_index};

use crate::error::{Error, Result};
use crate::index::disk::{IDS_FILE, read_ids, write_ids};
use crate::index::flat::{Metric, normalized};
use crate::index::vector_index::{VectorIndex, prepare_queries};
use crate::progress::Progress;
use crate::vectors::Embeddings;

/// faiss's index file.
const INDEX_FILE: &str = "index.faiss";

/// A faiss index and the ids of its docs.
pub struct FaissIndex {
    factory: String,
    metric: Metric,
    ids: Vec<String>,
    dim: usize,
    /// faiss's Rust search takes `&mut`; searches take turns.
    index: Mutex<IndexImpl>,
}

fn faiss_error(what: &str) -> impl Fn(faiss::error::Error) -> Error + '_ {
    move |e| Error::InvalidArgument(format!("faiss: {what}: {e}"))
}

fn metric_type(metric: Metric) -> MetricType {
    match metric {
        Metric::L2 => MetricType::L2,
        Metric::Dot | Metric::Cosine => MetricType::InnerProduct,
    }
}

impl FaissIndex {
    /// Builds an index of type `factory`: trains it on `vectors` if it needs
    /// training, then adds them (cosine: unit length first).
    pub fn build(
        factory: &str,
        ids: Vec<String>,
        vectors: &Embeddings,
        metric: Metric,
    ) -> Result<Self> {
        let dim = vectors.dim();
        let mut index = index_factory(dim as u32, factory, metric_type(metric)).map_err(|e| {
            Error::InvalidArgument(format!(
                "unknown or invalid index factory string \"{factory}\" ({e}); examples: Flat, IVF1024,Flat, HNSW32, PQ32, IVF1024,PQ32"
            ))
        })?;
        let vectors = if metric == Metric::Cosine {
            normalized(vectors)
        } else {
            vectors.clone()
        };
        if !index.is_trained() {
            index
                .train(vectors.as_slice())
                .map_err(faiss_error("training"))?;
        }
        index
            .add(vectors.as_slice())
            .map_err(faiss_error("adding vectors"))?;
        Ok(Self {
            factory: factory.to_string(),
            metric,
            ids,
            dim,
            index: Mutex::new(index),
        })
    }

    /// Reads an index written by [`VectorIndex::write_files`] (checksums are the
    /// caller's: see `load_index`).
    pub fn read(dir: &Path, factory: &str, metric: Metric) -> Result<Self> {
        let path = dir.join(INDEX_FILE);
        let index = read_index(path.to_string_lossy()).map_err(faiss_error("reading the index"))?;
        let ids = read_ids(dir)?;
        if ids.len() as u64 != index.ntotal() {
            return Err(Error::InvalidArgument(format!(
                "{}: {} ids for {} vectors",
                dir.display(),
                ids.len(),
                index.ntotal()
            )));
        }
        Ok(Self {
            factory: factory.to_string(),
            metric,
            ids,
            dim: index.d() as usize,
            index: Mutex::new(index),
        })
    }
}

impl VectorIndex for FaissIndex {
    fn set_parameter(&self, name: &str, value: usize) -> Result<()> {
        let index = self.index.lock().unwrap_or_else(|p| p.into_inner());
        ParameterSpace::new()
            .and_then(|ps| ps.set_index_parameter(&*index, name, value as f64))
            .map_err(|e| {
                Error::InvalidArgument(format!(
                    "index type \"{}\" has no parameter {name} ({e})",
                    self.factory
                ))
            })
    }

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
        progress.start("search", queries.len() as u64);
        let result = {
            let mut index = self.index.lock().unwrap_or_else(|p| p.into_inner());
            index
                .search(queries.as_slice(), k)
                .map_err(faiss_error("searching"))?
        };
        progress.advance(queries.len() as u64);
        progress.finish();
        let hits = result
            .labels
            .chunks(k)
            .zip(result.distances.chunks(k))
            .map(|(labels, distances)| {
                let mut hits: Vec<(usize, f32)> = labels
                    .iter()
                    .zip(distances)
                    .filter_map(|(l, &d)| {
                        let doc = l.get()? as usize;
                        // Higher is better everywhere in rankbook: L2 distances negate.
                        let score = if self.metric == Metric::L2 { -d } else { d };
                        Some((doc, score))
                    })
                    .collect();
                // Equal scores in the evaluator's order (larger id first).
                hits.sort_by(|a, b| {
                    b.1.total_cmp(&a.1)
                        .then_with(|| self.ids[b.0].cmp(&self.ids[a.0]))
                });
                hits
            })
            .collect();
        Ok(hits)
    }

    fn write_files(&self, dir: &Path) -> Result<Vec<String>> {
        let path = dir.join(INDEX_FILE);
        {
            let index = self.index.lock().unwrap_or_else(|p| p.into_inner());
            write_index(&*index, path.to_string_lossy())
                .map_err(faiss_error("writing the index"))?;
        }
        write_ids(dir, &self.ids)?;
        Ok(vec![INDEX_FILE.to_string(), IDS_FILE.to_string()])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::disk::{load_index, save_index};
    use crate::index::flat::FlatIndex;
    use crate::progress::NoProgress;

    #[test]
    fn factory_types_search_save_and_load() {
        let (n, dim) = (2000, 32);
        let docs = Embeddings::random(n, dim, 11);
        let ids: Vec<String> = (0..n).map(|i| format!("d{i}")).collect();
        let queries = Embeddings::random(20, dim, 5);
        let exact = FlatIndex::new(ids.clone(), docs.clone(), Metric::Cosine)
            .unwrap()
            .search_vectors(&queries, 10)
            .unwrap();
        // Flat through faiss equals rankbook's exact search.
        let flat = FaissIndex::build("Flat", ids.clone(), &docs, Metric::Cosine).unwrap();
        let got = flat.search_vectors_with(&queries, 10, &NoProgress).unwrap();
        for (g, e) in got.iter().zip(&exact) {
            let (gi, ei): (Vec<usize>, Vec<usize>) = (
                g.iter().map(|h| h.0).collect(),
                e.iter().map(|h| h.0).collect(),
            );
            assert_eq!(gi, ei);
        }
        // IVF with every list probed is exact too; HNSW finds most neighbours.
        let ivf = FaissIndex::build("IVF16,Flat", ids.clone(), &docs, Metric::Cosine).unwrap();
        ivf.set_parameter("nprobe", 16).unwrap();
        assert_eq!(
            ivf.search_vectors_with(&queries, 10, &NoProgress).unwrap()[0]
                .iter()
                .map(|h| h.0)
                .collect::<Vec<_>>(),
            exact[0].iter().map(|h| h.0).collect::<Vec<_>>()
        );
        let hnsw = FaissIndex::build("HNSW32", ids.clone(), &docs, Metric::L2).unwrap();
        hnsw.set_parameter("efSearch", 64).unwrap();
        assert!(hnsw.set_parameter("nprobe", 4).is_err());
        // Saved and loaded through the index directory: same results.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("idx");
        save_index(&path, &hnsw, None, None).unwrap();
        let (loaded, m) = load_index(&path).unwrap();
        assert_eq!((m.factory.as_str(), loaded.len()), ("HNSW32", n));
        assert_eq!(
            loaded
                .search_vectors_with(&queries, 5, &NoProgress)
                .unwrap(),
            hnsw.search_vectors_with(&queries, 5, &NoProgress).unwrap()
        );
        let err = FaissIndex::build("NoSuchThing99", ids, &docs, Metric::Dot)
            .err()
            .unwrap()
            .to_string();
        assert!(
            err.contains("unknown or invalid index factory string"),
            "{err}"
        );
    }
}
