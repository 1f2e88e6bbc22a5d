//! One interface over every index kind, and one way to open any index folder.

use std::path::Path;
use std::sync::Arc;

use crate::data::{Run, TextRecord};
use crate::error::{Error, Result};
use crate::index::bm25::Bm25Index;
use crate::index::dense::DenseIndex;
use crate::index::disk::read_manifest;
use crate::index::maxsim::{MAXSIM, MaxSimIndex};
use crate::index::plaid::{PLAID, PlaidBuild, PlaidIndex};
use crate::index::sparse::{SPLADE, SparseIndex};
use crate::index::vector_index::VectorIndex;
use crate::model::colbert::{COLBERT_PIPELINE, ColbertEncoder, ColbertOptions};
use crate::model::splade::SpladeEncoder;
use crate::model::{EncodeOptions, EncodeStats, EncoderIdentity, ModelOptions, SentenceEncoder};
use crate::shard::PartInfo;

/// An index that answers text queries: dense (flat or faiss), BM25, SPLADE or
/// late interaction (ColBERT: exact MaxSim or PLAID).
pub trait Retriever: Send + Sync {
    /// `dense`, `BM25`, `SPLADE`, `ColBERT` or `PLAID`.
    fn kind(&self) -> &'static str;
    /// Number of indexed docs.
    fn len(&self) -> usize;
    /// Whether no doc is indexed.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// The best `k` docs per query. A dense index encodes the queries with
    /// `opts` (cache, batch size); every kind reports to `opts.progress`.
    fn search(&self, queries: &[TextRecord], k: usize, opts: &EncodeOptions) -> Result<Run>;
    /// Writes the index folder (atomically).
    fn save(&self, dir: &Path) -> Result<()> {
        self.save_part(dir, None)
    }
    /// Writes the index folder (atomically), recording the slice of the
    /// corpus it holds if it is a part (`index --shard`).
    fn save_part(&self, dir: &Path, part: Option<PartInfo>) -> Result<()>;
    /// The encoder queries go through, as the index records it (None: BM25
    /// analyses the text itself).
    fn encoder(&self) -> Result<Option<EncoderIdentity>>;
    /// The index of a dense index's vectors (search parameters, metric).
    fn vectors(&self) -> Option<&dyn VectorIndex> {
        None
    }
    /// Sets a search parameter: a dense index's (`nprobe`, `efSearch`) or a
    /// PLAID index's (`n_ivf_probe`, `n_full_scores`, `centroid_score_threshold`).
    fn set_parameter(&self, name: &str, value: f64) -> Result<()> {
        match self.vectors() {
            Some(v) => v.set_parameter(name, whole(name, value)?),
            None => Err(Error::InvalidArgument(format!(
                "a {} index has no search parameter {name}",
                self.kind()
            ))),
        }
    }
}

/// A search parameter's value as the whole number the vector indexes take.
fn whole(name: &str, value: f64) -> Result<usize> {
    if value < 0.0 || value.fract() != 0.0 {
        return Err(Error::InvalidArgument(format!(
            "{name} must be a whole number, not {value}"
        )));
    }
    Ok(value as usize)
}

/// How to open an index folder.
#[derive(Debug, Clone, Default)]
pub struct OpenOptions {
    /// The model to encode queries with (a dense index only; it must give the
    /// vectors the index was built with). Default: the model the index records.
    pub model: Option<String>,
    /// How to load the model (device, ...); the index's recorded settings
    /// (max length, prompts) apply unless `model` is given.
    pub model_options: ModelOptions,
}

/// Opens the index folder `dir`, whatever its kind, checksums verified.
pub fn open(dir: &Path, opts: &OpenOptions) -> Result<Box<dyn Retriever>> {
    open_sharing(dir, opts, &mut None)
}

/// A loaded query encoder that several index parts share.
#[derive(Clone)]
pub(crate) enum SharedModel {
    Sentence(Arc<SentenceEncoder>),
    Colbert(Arc<ColbertEncoder>),
    Splade(Arc<SpladeEncoder>),
}

/// Opens `dir` with the model in `shared` if there is one (the parts of one
/// index load it once), and leaves the index's model there.
pub(crate) fn open_sharing(
    dir: &Path,
    opts: &OpenOptions,
    shared: &mut Option<SharedModel>,
) -> Result<Box<dyn Retriever>> {
    let manifest = read_manifest(dir)?;
    let lexical = if manifest.analyzer.is_some() {
        Some("BM25")
    } else if manifest.factory == SPLADE {
        Some("SPLADE")
    } else {
        None
    };
    if let (Some(kind), Some(_)) = (lexical, &opts.model) {
        return Err(Error::InvalidArgument(format!(
            "{} is a {kind} index: it records its own analyser or model",
            dir.display()
        )));
    }
    let colbert_on_qdrant = crate::index::qdrant::is_qdrant(&manifest.factory)
        && manifest
            .model
            .as_ref()
            .is_some_and(|m| m.pipeline.starts_with(COLBERT_PIPELINE));
    if manifest.factory == MAXSIM || manifest.factory == PLAID || colbert_on_qdrant {
        let colbert = ColbertOptions::from(&opts.model_options);
        let model = match (&*shared, &opts.model) {
            (Some(SharedModel::Colbert(m)), _) => Some(m.clone()),
            (_, Some(name)) => Some(Arc::new(ColbertEncoder::load(name, &colbert)?)),
            _ => None,
        };
        return Ok(if manifest.factory == PLAID {
            let index = PlaidIndex::load(dir, model, &colbert)?;
            *shared = Some(SharedModel::Colbert(index.model().clone()));
            Box::new(index)
        } else if colbert_on_qdrant {
            open_colbert_on_qdrant(dir, &manifest.factory, model, &colbert, shared)?
        } else {
            let index = MaxSimIndex::load(dir, model, &colbert)?;
            *shared = Some(SharedModel::Colbert(index.model().clone()));
            Box::new(index)
        });
    }
    Ok(match lexical {
        Some("BM25") => Box::new(Bm25Index::load(dir)?),
        Some(_) => {
            let model = match &*shared {
                Some(SharedModel::Splade(m)) => Some(m.clone()),
                _ => None,
            };
            let index = SparseIndex::load(dir, model, &opts.model_options.device)?;
            *shared = Some(SharedModel::Splade(index.model().clone()));
            Box::new(index)
        }
        None => {
            let model = match (&*shared, &opts.model) {
                (Some(SharedModel::Sentence(m)), _) => Some(m.clone()),
                (_, Some(name)) => {
                    Some(Arc::new(SentenceEncoder::load(name, &opts.model_options)?))
                }
                _ => None,
            };
            let index = DenseIndex::load(dir, model, &opts.model_options)?;
            *shared = Some(SharedModel::Sentence(index.model().clone()));
            Box::new(index)
        }
    })
}

/// Builds a ColBERT index of type `factory` over `corpus`: `MaxSim` (exact),
/// `PLAID` (compressed, with `plaid`'s settings) or a Qdrant type (`qdrant`,
/// `qdrant:HNSW`, with the `qdrant` feature).
pub fn build_colbert_index(
    model: Arc<ColbertEncoder>,
    corpus: &[TextRecord],
    factory: &str,
    plaid: &PlaidBuild,
    opts: &EncodeOptions,
) -> Result<(Box<dyn Retriever>, EncodeStats)> {
    fn boxed<R: Retriever + 'static>(
        (r, s): (R, EncodeStats),
    ) -> (Box<dyn Retriever>, EncodeStats) {
        (Box::new(r), s)
    }
    match factory {
        MAXSIM => MaxSimIndex::build(model, corpus, opts).map(boxed),
        PLAID => PlaidIndex::build(model, corpus, opts, plaid).map(boxed),
        #[cfg(feature = "qdrant")]
        f if crate::index::qdrant::is_qdrant(f) => {
            crate::index::qdrant::QdrantColbertIndex::build(model, corpus, opts, f).map(boxed)
        }
        #[cfg(not(feature = "qdrant"))]
        f if crate::index::qdrant::is_qdrant(f) => Err(crate::index::qdrant::without_qdrant(f)),
        other => Err(Error::InvalidArgument(format!(
            "a ColBERT index is {MAXSIM} (exact), {PLAID} or a Qdrant type (qdrant, qdrant:HNSW), not {other}"
        ))),
    }
}

#[cfg(feature = "qdrant")]
fn open_colbert_on_qdrant(
    dir: &Path,
    _: &str,
    model: Option<Arc<ColbertEncoder>>,
    options: &ColbertOptions,
    shared: &mut Option<SharedModel>,
) -> Result<Box<dyn Retriever>> {
    let index = crate::index::qdrant::QdrantColbertIndex::load(dir, model, options)?;
    *shared = Some(SharedModel::Colbert(index.model().clone()));
    Ok(Box::new(index))
}

#[cfg(not(feature = "qdrant"))]
fn open_colbert_on_qdrant(
    dir: &Path,
    factory: &str,
    _: Option<Arc<ColbertEncoder>>,
    _: &ColbertOptions,
    _: &mut Option<SharedModel>,
) -> Result<Box<dyn Retriever>> {
    Err(Error::InvalidArgument(format!(
        "{}: {}",
        dir.display(),
        crate::index::qdrant::without_qdrant(factory)
    )))
}

#[cfg(feature = "qdrant")]
impl Retriever for crate::index::qdrant::QdrantColbertIndex {
    fn kind(&self) -> &'static str {
        "ColBERT"
    }
    fn len(&self) -> usize {
        Self::len(self)
    }
    fn search(&self, queries: &[TextRecord], k: usize, opts: &EncodeOptions) -> Result<Run> {
        Self::search(self, queries, k, opts)
    }
    fn save_part(&self, dir: &Path, part: Option<PartInfo>) -> Result<()> {
        Self::save_part(self, dir, part)
    }
    fn encoder(&self) -> Result<Option<EncoderIdentity>> {
        Ok(Some(self.model().identity()?.clone()))
    }
    fn set_parameter(&self, name: &str, value: f64) -> Result<()> {
        Self::set_parameter(self, name, whole(name, value)?)
    }
}

impl Retriever for DenseIndex {
    fn kind(&self) -> &'static str {
        "dense"
    }
    fn len(&self) -> usize {
        DenseIndex::len(self)
    }
    fn search(&self, queries: &[TextRecord], k: usize, opts: &EncodeOptions) -> Result<Run> {
        DenseIndex::search(self, queries, k, opts, opts.progress)
    }
    fn save_part(&self, dir: &Path, part: Option<PartInfo>) -> Result<()> {
        DenseIndex::save_part(self, dir, part)
    }
    fn encoder(&self) -> Result<Option<EncoderIdentity>> {
        Ok(Some(self.model().identity()?.clone()))
    }
    fn vectors(&self) -> Option<&dyn VectorIndex> {
        Some(self.vector_index())
    }
}

impl Retriever for MaxSimIndex {
    fn kind(&self) -> &'static str {
        "ColBERT"
    }
    fn len(&self) -> usize {
        MaxSimIndex::len(self)
    }
    fn search(&self, queries: &[TextRecord], k: usize, opts: &EncodeOptions) -> Result<Run> {
        MaxSimIndex::search(self, queries, k, opts)
    }
    fn save_part(&self, dir: &Path, part: Option<PartInfo>) -> Result<()> {
        MaxSimIndex::save_part(self, dir, part)
    }
    fn encoder(&self) -> Result<Option<EncoderIdentity>> {
        Ok(Some(self.model().identity()?.clone()))
    }
}

impl Retriever for PlaidIndex {
    fn kind(&self) -> &'static str {
        "PLAID"
    }
    fn len(&self) -> usize {
        PlaidIndex::len(self)
    }
    fn search(&self, queries: &[TextRecord], k: usize, opts: &EncodeOptions) -> Result<Run> {
        PlaidIndex::search(self, queries, k, opts)
    }
    fn save_part(&self, dir: &Path, part: Option<PartInfo>) -> Result<()> {
        PlaidIndex::save_part(self, dir, part)
    }
    fn encoder(&self) -> Result<Option<EncoderIdentity>> {
        Ok(Some(self.model().identity()?.clone()))
    }
    fn set_parameter(&self, name: &str, value: f64) -> Result<()> {
        let mut settings = self.search_settings();
        settings.set(name, value)?;
        self.set_search(settings);
        Ok(())
    }
}

impl Retriever for Bm25Index {
    fn kind(&self) -> &'static str {
        "BM25"
    }
    fn len(&self) -> usize {
        self.inverted().len()
    }
    fn search(&self, queries: &[TextRecord], k: usize, opts: &EncodeOptions) -> Result<Run> {
        Bm25Index::search(self, queries, k, opts.progress)
    }
    fn save_part(&self, dir: &Path, part: Option<PartInfo>) -> Result<()> {
        Bm25Index::save_part(self, dir, part)
    }
    fn encoder(&self) -> Result<Option<EncoderIdentity>> {
        Ok(None)
    }
}

impl Retriever for SparseIndex {
    fn kind(&self) -> &'static str {
        "SPLADE"
    }
    fn len(&self) -> usize {
        self.inverted().len()
    }
    fn search(&self, queries: &[TextRecord], k: usize, opts: &EncodeOptions) -> Result<Run> {
        SparseIndex::search(self, queries, k, opts.progress)
    }
    fn save_part(&self, dir: &Path, part: Option<PartInfo>) -> Result<()> {
        SparseIndex::save_part(self, dir, part)
    }
    fn encoder(&self) -> Result<Option<EncoderIdentity>> {
        Ok(Some(self.model().identity()?))
    }
}
