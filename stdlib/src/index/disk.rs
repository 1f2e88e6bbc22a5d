//! The on-disk index: a directory holding `manifest.json` (format, index type,
//! the model's fingerprint, metric, size and the SHA-256 of every file) and the
//! index type's files (Flat: `vectors.arrow`, ids and vectors, memory-mapped when
//! loaded; faiss types: faiss's own index file and the ids). Written atomically;
//! loading verifies every checksum, so a stale or altered index is refused, never
//! searched.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::analysis::AnalyzerSpec;
use crate::atomic::{write_atomically, write_dir_atomically};
use crate::checksum::sha256_file;
use crate::error::{Error, Result};
use crate::index::bm25::Bm25Params;
use crate::index::flat::{FLAT_VECTORS, FlatIndex, Metric};
use crate::index::plaid::PlaidSpec;
use crate::index::sparse::SPLADE;
use crate::index::vector_index::VectorIndex;
#[cfg(not(feature = "faiss"))]
use crate::index::vector_index::without_faiss;
use crate::model::EncoderIdentity;
use crate::model::splade::SPLADE_PIPELINE;
use crate::shard::PartInfo;
use crate::vectors::VectorFile;

const FORMAT: &str = "rankbook-index";
const VERSION: u32 = 1;
const MANIFEST: &str = "manifest.json";

/// What `manifest.json` records.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// Always `rankbook-index`.
    pub format: String,
    /// Layout version.
    pub version: u32,
    /// The index type (`Flat`).
    pub factory: String,
    /// `dot`, `cosine` or `l2`.
    pub metric: String,
    /// Vector width.
    pub dim: usize,
    /// Number of docs.
    pub count: usize,
    /// The encoder that made the docs' vectors (dense or SPLADE), when known.
    pub model: Option<EncoderIdentity>,
    /// SHA-256 of each file, by name.
    pub files: BTreeMap<String, String>,
    /// Lexical indexes: how texts were analysed into terms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub analyzer: Option<AnalyzerSpec>,
    /// BM25 indexes: the parameters the stored scores were computed with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bm25: Option<Bm25Params>,
    /// PLAID indexes: the number of centroids and the residual codec.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plaid: Option<PlaidSpec>,
    /// An index part (`rankbook index --shard i/N`): the slice of the corpus it holds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub part: Option<PartInfo>,
    /// BM25 parts: the postings hold term frequencies, scored when the parts
    /// are opened together (BM25 needs the statistics of the whole corpus).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub term_counts: bool,
    /// SPLADE indexes written before the encoder identity was shared: read
    /// into `model`, never written.
    #[serde(default, rename = "sparse_model", skip_serializing)]
    pub(crate) legacy_sparse_model: Option<LegacySparseModel>,
}

/// How SPLADE indexes recorded their encoder before [`EncoderIdentity`].
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub(crate) struct LegacySparseModel {
    model: String,
    weights_sha256: String,
    max_length: usize,
    top_k: Option<usize>,
}

impl Manifest {
    /// A manifest with no files, model or lexical settings yet.
    pub fn new(factory: &str, metric: Metric, dim: usize, count: usize) -> Self {
        Self {
            format: FORMAT.into(),
            version: VERSION,
            factory: factory.into(),
            metric: metric.name().into(),
            dim,
            count,
            model: None,
            files: BTreeMap::new(),
            analyzer: None,
            bm25: None,
            plaid: None,
            part: None,
            term_counts: false,
            legacy_sparse_model: None,
        }
    }

    /// Whether the index holds terms (BM25, SPLADE) rather than vectors.
    pub fn is_lexical(&self) -> bool {
        self.analyzer.is_some() || self.factory == SPLADE
    }

    /// Moves an old SPLADE record into `model`: its vocabulary size is the
    /// manifest's `dim`.
    fn upgrade(mut self) -> Self {
        if let (None, Some(old)) = (&self.model, self.legacy_sparse_model.take()) {
            self.model = Some(EncoderIdentity {
                model: old.model,
                weights_sha256: old.weights_sha256,
                pipeline: SPLADE_PIPELINE.into(),
                max_length: old.max_length,
                query_prompt: None,
                document_prompt: None,
                dim: self.dim,
                top_k: old.top_k,
                precision: Default::default(),
            });
        }
        self
    }
}

/// A failure to load the model an index folder records, naming the folder
/// (the model may have moved since the index was built).
pub(crate) fn recorded_model_error(dir: &Path, model: &str, e: Error) -> Error {
    invalid(
        dir,
        format!("the model it was built with ({model}) cannot be loaded: {e}"),
    )
}

/// The file of the doc ids of an index whose vectors are kept elsewhere
/// (a faiss file, a Qdrant collection): a JSON list in index order.
#[cfg(any(feature = "faiss", feature = "qdrant"))]
pub(crate) const IDS_FILE: &str = "ids.json";

/// Writes `ids` to the ids file of the index folder `dir`.
#[cfg(any(feature = "faiss", feature = "qdrant"))]
pub(crate) fn write_ids(dir: &Path, ids: &[String]) -> Result<()> {
    let path = dir.join(IDS_FILE);
    write_atomically(&path, |w| {
        serde_json::to_writer(w, ids).map_err(|e| Error::io(&path, e.into()))
    })
}

/// Reads the ids file of the index folder `dir`.
#[cfg(any(feature = "faiss", feature = "qdrant"))]
pub(crate) fn read_ids(dir: &Path) -> Result<Vec<String>> {
    let path = dir.join(IDS_FILE);
    let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
    serde_json::from_str(&text)
        .map_err(|e| Error::parse(&path, e.line(), Some(e.column()), e.to_string()))
}

fn invalid(dir: &Path, msg: impl std::fmt::Display) -> Error {
    Error::InvalidArgument(format!("{}: {msg}", dir.display()))
}

/// Whether `dir` holds an index (so it may be replaced by a new one).
pub fn is_index(dir: &Path) -> bool {
    dir.join(MANIFEST).is_file()
}

/// Writes `index` (and the model that made its vectors, and the slice of the
/// corpus a part holds) to the directory `dir`.
pub fn save_index(
    dir: &Path,
    index: &dyn VectorIndex,
    model: Option<&EncoderIdentity>,
    part: Option<PartInfo>,
) -> Result<()> {
    let manifest = Manifest {
        model: model.cloned(),
        part,
        ..Manifest::new(index.factory(), index.metric(), index.dim(), index.len())
    };
    write_index_dir(dir, manifest, |tmp| index.write_files(tmp))
}

/// Writes an index directory atomically: `fill` writes the index type's files
/// into a temporary directory and returns their names; the manifest gets their
/// checksums.
pub fn write_index_dir(
    dir: &Path,
    mut manifest: Manifest,
    fill: impl FnOnce(&Path) -> Result<Vec<String>>,
) -> Result<()> {
    write_dir_atomically(dir, "rankbook index", is_index, |tmp| {
        for name in fill(tmp)? {
            manifest
                .files
                .insert(name.clone(), sha256_file(&tmp.join(&name))?);
        }
        let path = tmp.join(MANIFEST);
        write_atomically(&path, |w| {
            serde_json::to_writer_pretty(w, &manifest).map_err(|e| Error::io(&path, e.into()))
        })
    })
}

/// Reads the manifest of the index at `dir` (checks format and version only).
pub fn read_manifest(dir: &Path) -> Result<Manifest> {
    let path = dir.join(MANIFEST);
    let text = std::fs::read_to_string(&path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => invalid(dir, "not a rankbook index (no manifest.json)"),
        _ => Error::io(&path, e),
    })?;
    let m: Manifest = serde_json::from_str(&text)
        .map_err(|e| invalid(&path, format!("unreadable manifest: {e}")))?;
    if m.format != FORMAT || m.version != VERSION {
        return Err(invalid(
            dir,
            format!(
                "index format {} version {} (this rankbook reads {FORMAT} version {VERSION})",
                m.format, m.version
            ),
        ));
    }
    Ok(m.upgrade())
}

/// Reads the manifest of the index at `dir` and verifies every file's checksum.
pub fn verified_manifest(dir: &Path) -> Result<Manifest> {
    let m = read_manifest(dir)?;
    for (name, want) in &m.files {
        let path = dir.join(name);
        if !path.is_file() {
            return Err(invalid(
                dir,
                format!("{name} is missing; rebuild the index"),
            ));
        }
        if sha256_file(&path)? != *want {
            return Err(invalid(
                dir,
                format!(
                    "{name} does not match its checksum (altered or incomplete); rebuild the index"
                ),
            ));
        }
    }
    Ok(m)
}

/// Loads the vector index at `dir`, every checksum verified (Flat vectors are
/// memory-mapped).
pub fn load_index(dir: &Path) -> Result<(Box<dyn VectorIndex>, Manifest)> {
    let m = verified_manifest(dir)?;
    if m.is_lexical() {
        return Err(invalid(
            dir,
            format!("a {} index holds terms, not vectors", m.factory),
        ));
    }
    let metric = Metric::parse(&m.metric).map_err(|e| invalid(dir, e))?;
    let index: Box<dyn VectorIndex> = if m.factory == "Flat" {
        Box::new(FlatIndex::mapped(
            VectorFile::open(&dir.join(FLAT_VECTORS))?,
            metric,
        ))
    } else if crate::index::lance::is_lance(&m.factory) {
        load_lance(dir, &m, metric)?
    } else if crate::index::qdrant::is_qdrant(&m.factory) {
        load_qdrant(dir, &m, metric)?
    } else {
        load_faiss(dir, &m, metric)?
    };
    if index.dim() != m.dim || index.len() != m.count {
        return Err(invalid(
            dir,
            format!(
                "the index holds {} x {}, the manifest says {} x {}",
                index.len(),
                index.dim(),
                m.count,
                m.dim
            ),
        ));
    }
    Ok((index, m))
}

#[cfg(feature = "faiss")]
fn load_faiss(dir: &Path, m: &Manifest, metric: Metric) -> Result<Box<dyn VectorIndex>> {
    Ok(Box::new(crate::index::faiss_index::FaissIndex::read(
        dir, &m.factory, metric,
    )?))
}

#[cfg(not(feature = "faiss"))]
fn load_faiss(dir: &Path, m: &Manifest, _: Metric) -> Result<Box<dyn VectorIndex>> {
    Err(invalid(dir, without_faiss(&m.factory)))
}

#[cfg(feature = "lancedb")]
fn load_lance(dir: &Path, m: &Manifest, metric: Metric) -> Result<Box<dyn VectorIndex>> {
    Ok(Box::new(crate::index::lance::LanceIndex::read(
        dir, &m.factory, metric,
    )?))
}

#[cfg(not(feature = "lancedb"))]
fn load_lance(dir: &Path, m: &Manifest, _: Metric) -> Result<Box<dyn VectorIndex>> {
    Err(invalid(
        dir,
        crate::index::lance::without_lancedb(&m.factory),
    ))
}

#[cfg(feature = "qdrant")]
fn load_qdrant(dir: &Path, m: &Manifest, metric: Metric) -> Result<Box<dyn VectorIndex>> {
    Ok(Box::new(crate::index::qdrant::QdrantIndex::read(
        dir, &m.factory, metric, m.dim,
    )?))
}

#[cfg(not(feature = "qdrant"))]
fn load_qdrant(dir: &Path, m: &Manifest, _: Metric) -> Result<Box<dyn VectorIndex>> {
    Err(invalid(
        dir,
        crate::index::qdrant::without_qdrant(&m.factory),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::progress::NoProgress;
    use crate::vectors::Embeddings;

    #[test]
    fn round_trip_and_refusals() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("idx");
        let ids: Vec<String> = ["a", "b", "c"].iter().map(|s| s.to_string()).collect();
        let e = Embeddings::new(2, vec![3.0, 4.0, 1.0, 0.0, 0.0, 2.0]);
        let index = FlatIndex::new(ids.clone(), e, Metric::Cosine).unwrap();
        save_index(&path, &index, None, None).unwrap();
        let (loaded, m) = load_index(&path).unwrap();
        assert_eq!((m.count, m.dim, m.metric.as_str()), (3, 2, "cosine"));
        assert_eq!(loaded.ids(), ids.as_slice());
        // Cosine vectors were stored unit length.
        assert_eq!(loaded.factory(), "Flat");
        let q = Embeddings::new(2, vec![0.0, 5.0]);
        assert_eq!(
            loaded.search_vectors_with(&q, 2, &NoProgress).unwrap(),
            index.search_vectors(&q, 2).unwrap()
        );

        // One flipped byte in the vectors: refused by name.
        let v = path.join(FLAT_VECTORS);
        let mut bytes = std::fs::read(&v).unwrap();
        let at = bytes.len() / 2;
        bytes[at] ^= 1;
        std::fs::write(&v, bytes).unwrap();
        let err = load_index(&path).err().unwrap().to_string();
        assert!(
            err.contains("vectors.arrow does not match its checksum"),
            "{err}"
        );
        std::fs::remove_file(&v).unwrap();
        let err = load_index(&path).err().unwrap().to_string();
        assert!(err.contains("vectors.arrow is missing"), "{err}");
        let err = load_index(dir.path()).err().unwrap().to_string();
        assert!(err.contains("not a rankbook index"), "{err}");
    }

    #[test]
    fn an_old_splade_manifest_reads_into_the_shared_identity() {
        let old = r#"{"format": "rankbook-index", "version": 1, "factory": "SPLADE",
            "metric": "dot", "dim": 30522, "count": 3, "model": null, "files": {},
            "sparse_model": {"model": "splade-tiny", "weights_sha256": "ab",
                             "max_length": 256, "top_k": 64}}"#;
        let m: Manifest = serde_json::from_str(old).unwrap();
        let m = m.upgrade();
        assert!(m.is_lexical());
        let id = m.model.clone().unwrap();
        assert_eq!(
            id.to_string(),
            "splade-tiny (weights ab, splade, max length 256, dim 30522, top-k 64, query prompt none, document prompt none)"
        );
        // Written back, the old key is gone and the identity is under `model`.
        let text = serde_json::to_string(&m).unwrap();
        assert!(!text.contains("sparse_model") && text.contains("\"pipeline\":\"splade\""));
    }
}
