//! One interface over every index kind, and one way to open any index folder.

use std::path::Path;
use std::sync::Arc;

use crate::data::{Run, TextRecord};
use crate::error::{Error, Result};
use crate::index::bm25::Bm25Index;
use crate::index::dense::DenseIndex;
use crate::index::disk::read_manifest;
use crate::index::maxsim::{MAXSIM, MaxSimIndex};
use crate::index::plaid::{PLAID, PlaidIndex};
use crate::index::sparse::{SPLADE, SparseIndex};
use crate::index::vector_index::VectorIndex;
use crate::model::colbert::{ColbertEncoder, ColbertOptions};
use crate::model::{EncodeOptions, EncoderIdentity, ModelOptions, SentenceEncoder};

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
    fn save(&self, dir: &Path) -> Result<()>;
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
            Some(v) if value >= 0.0 && value.fract() == 0.0 => {
                v.set_parameter(name, value as usize)
            }
            Some(_) => Err(Error::InvalidArgument(format!(
                "{name} must be a whole number, not {value}"
            ))),
            None => Err(Error::InvalidArgument(format!(
                "a {} index has no search parameter {name}",
                self.kind()
            ))),
        }
    }
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
    if manifest.factory == MAXSIM || manifest.factory == PLAID {
        let colbert = ColbertOptions::from(&opts.model_options);
        let model = match &opts.model {
            Some(name) => Some(Arc::new(ColbertEncoder::load(name, &colbert)?)),
            None => None,
        };
        return Ok(if manifest.factory == PLAID {
            Box::new(PlaidIndex::load(dir, model, &colbert)?)
        } else {
            Box::new(MaxSimIndex::load(dir, model, &colbert)?)
        });
    }
    Ok(match lexical {
        Some("BM25") => Box::new(Bm25Index::load(dir)?),
        Some(_) => Box::new(SparseIndex::load(dir, None, &opts.model_options.device)?),
        None => {
            let model = match &opts.model {
                Some(name) => Some(Arc::new(SentenceEncoder::load(name, &opts.model_options)?)),
                None => None,
            };
            Box::new(DenseIndex::load(dir, model, &opts.model_options)?)
        }
    })
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
    fn save(&self, dir: &Path) -> Result<()> {
        DenseIndex::save(self, dir)
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
    fn save(&self, dir: &Path) -> Result<()> {
        MaxSimIndex::save(self, dir)
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
    fn save(&self, dir: &Path) -> Result<()> {
        PlaidIndex::save(self, dir)
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
    fn save(&self, dir: &Path) -> Result<()> {
        Bm25Index::save(self, dir)
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
    fn save(&self, dir: &Path) -> Result<()> {
        SparseIndex::save(self, dir)
    }
    fn encoder(&self) -> Result<Option<EncoderIdentity>> {
        Ok(Some(self.model().identity()?))
    }
}
