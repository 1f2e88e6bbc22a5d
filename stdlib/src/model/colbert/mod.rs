//! Late interaction (ColBERT), as PyLate runs it: a sentence-transformers
//! folder of a Transformer and bias-free Dense projections, whose token vectors
//! (L2-normalised) are the text's representation. Queries get the `[Q] ` marker
//! after `[CLS]` and are padded with `[MASK]` to `query_length` (query
//! expansion: the expansion tokens get outputs, but are not attended to unless
//! the folder says so); documents get `[D] `, are truncated at
//! `document_length`, and drop their punctuation (the skiplist) and padding.
//! Stanford checkpoints (colbert-ai's layout) load too, as PyLate loads them.

mod build;
mod stanford;
mod train;

pub use build::{BuildOptions, build_colbert};
pub use stanford::is_stanford;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use serde::{Deserialize, Serialize};

use crate::compute::Precision;
use crate::error::{Error, Result};
use crate::model::backbone::{LoadOptions, WeightSource, load_backbone};
use crate::model::backend::Backend;
use crate::model::batch::{BatchOptions, TokenBatch, for_each_batch};
use crate::model::dense::Dense;
use crate::model::device::open_device;
use crate::model::encoder::Encoder;
use crate::model::identity::EncoderIdentity;
use crate::model::resolve::resolve_model;
use crate::model::st_folder::{Module, StFolder};
use crate::model::tokenize::{TextTokenizer, TokenIds};
use crate::model::weights::{
    TrainableWeights, TrainedWeights, add_trainable_weights, trainable_weights, var_builder,
    weights_hash,
};
use crate::model::{EncodeOptions, EncodeStats, ModelOptions};
use crate::vectors::MultiVectors;

/// The pipeline name of a ColBERT encoder in its identity starts with this.
pub const COLBERT_PIPELINE: &str = "colbert";

/// PyLate's settings, from `config_sentence_transformers.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ColbertConfig {
    /// The query marker token (`[Q] `; "" for none).
    pub query_prefix: String,
    /// The document marker token (`[D] `; "" for none).
    pub document_prefix: String,
    /// Query length in tokens, markers included (queries are padded to it).
    pub query_length: usize,
    /// Longest document in tokens, markers included.
    pub document_length: usize,
    /// Whether attention reads the `[MASK]` expansion tokens of queries.
    pub attend_to_expansion_tokens: bool,
    /// Tokens dropped from documents' vectors (punctuation by default).
    pub skiplist_words: Vec<String>,
    /// Whether queries are padded with `[MASK]` to `query_length`.
    pub do_query_expansion: bool,
}

impl Default for ColbertConfig {
    /// PyLate's defaults.
    fn default() -> Self {
        Self {
            query_prefix: "[Q] ".into(),
            document_prefix: "[D] ".into(),
            query_length: 32,
            document_length: 180,
            attend_to_expansion_tokens: false,
            skiplist_words: "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"
                .chars()
                .map(String::from)
                .collect(),
            do_query_expansion: true,
        }
    }
}

/// What `config_sentence_transformers.json` says about late interaction.
#[derive(Deserialize, Default)]
struct StConfig {
    similarity_fn_name: Option<String>,
    query_length: Option<usize>,
}

/// Whether the folder is a ColBERT model (PyLate's MaxSim similarity or its
/// query length in `config_sentence_transformers.json`, or a Stanford
/// checkpoint).
pub fn is_colbert(dir: &Path) -> bool {
    if is_stanford(dir) {
        return true;
    }
    let path = dir.join("config_sentence_transformers.json");
    let Ok(text) = std::fs::read_to_string(path) else {
        return false;
    };
    serde_json::from_str::<StConfig>(&text).is_ok_and(|c| {
        c.similarity_fn_name.as_deref() == Some("MaxSim") || c.query_length.is_some()
    })
}

/// Whether the model `spec` (folder or hub id) is a ColBERT model.
pub fn is_colbert_model(spec: &str) -> Result<bool> {
    Ok(is_colbert(&resolve_model(spec)?))
}

/// Which side of the interaction a text is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// A query: `[Q] `, padded with `[MASK]`.
    Query,
    /// A document: `[D] `, skiplist dropped.
    Document,
}

impl Side {
    /// `query` or `document`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Query => "query",
            Self::Document => "document",
        }
    }

    /// `query` or `document`.
    pub fn parse(s: &str) -> Result<Self> {
        match s {
            "query" | "queries" => Ok(Self::Query),
            "document" | "documents" | "doc" => Ok(Self::Document),
            other => Err(Error::InvalidArgument(format!(
                "unknown side `{other}` (query or document)"
            ))),
        }
    }
}

/// How to load a ColBERT model.
#[derive(Debug, Clone, Default)]
pub struct ColbertOptions {
    /// `cpu`, or `cuda[:N]` with a `cuda` build.
    pub device: String,
    /// Which implementation runs the transformer.
    pub backend: Backend,
    /// The number format of the transformer's linear layers (default f32).
    pub precision: Option<Precision>,
}

impl From<&ModelOptions> for ColbertOptions {
    /// The device and back-end of a bi-encoder's options (a ColBERT's lengths
    /// and prefixes come from its folder).
    fn from(o: &ModelOptions) -> Self {
        Self {
            device: o.device.clone(),
            backend: o.backend,
            precision: o.precision,
        }
    }
}

/// Where a ColBERT encoder's weights come from.
enum Weights {
    /// Its folder's files (memory-mapped, or as variables when trainable).
    Folder,
    /// Weights trained in memory (an inference copy); projection weights under
    /// their folder's name (`1_Dense.linear.weight`).
    Trained(Arc<TrainedWeights>),
}

/// A ColBERT encoder: texts to token vectors.
pub struct ColbertEncoder {
    name: String,
    dir: PathBuf,
    options: ColbertOptions,
    weights: Weights,
    /// The trainable variables (`Backend::Trainable`), projections included.
    trainable: Option<TrainableWeights>,
    /// The hash of weights that are not the folder's (a trained copy).
    weights_sha256: Option<String>,
    config: ColbertConfig,
    encoder: Box<dyn Encoder>,
    query_tokenizer: TextTokenizer,
    document_tokenizer: TextTokenizer,
    projections: Vec<Dense>,
    transformer_dir: PathBuf,
    projection_dirs: Vec<PathBuf>,
    device: Device,
    dim: usize,
    query_prefix_id: Option<u32>,
    document_prefix_id: Option<u32>,
    mask_id: u32,
    skiplist: HashSet<u32>,
    identity: OnceLock<EncoderIdentity>,
}

/// The tokenizer's id of a special token named in `tokenizer_config.json`
/// (`mask_token`, `unk_token`), else of the first of `fallbacks` it knows.
fn special_id(tok: &TextTokenizer, dir: &Path, key: &str, fallbacks: &[&str]) -> Option<u32> {
    let named = std::fs::read_to_string(dir.join("tokenizer_config.json"))
        .ok()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        .and_then(|v| match v.get(key)? {
            serde_json::Value::String(s) => Some(s.clone()),
            serde_json::Value::Object(o) => o.get("content")?.as_str().map(String::from),
            _ => None,
        });
    named
        .iter()
        .map(String::as_str)
        .chain(fallbacks.iter().copied())
        .find_map(|t| tok.inner().token_to_id(t))
}

impl ColbertEncoder {
    /// Resolves `spec` (folder or hub id) and loads it.
    pub fn load(spec: &str, options: &ColbertOptions) -> Result<Self> {
        let dir = resolve_model(spec)?;
        let mut model = Self::from_dir(&dir, options)?;
        model.name = spec.to_string();
        Ok(model)
    }

    /// Loads a PyLate folder.
    pub fn from_dir(dir: &Path, options: &ColbertOptions) -> Result<Self> {
        Self::build(dir, options, Weights::Folder)
    }

    /// Loads a PyLate folder, its weights from `weights`.
    fn build(dir: &Path, options: &ColbertOptions, weights: Weights) -> Result<Self> {
        if !is_colbert(dir) {
            return Err(Error::model_config(
                dir,
                "not a ColBERT model (config_sentence_transformers.json has no MaxSim similarity or query_length, and config.json does not name HF_ColBERT); `rankbook colbert --model M --output DIR` builds one from an encoder",
            ));
        }
        // A Stanford checkpoint: its settings, and its projection's width.
        let (config, stanford_dim): (ColbertConfig, Option<usize>) = if is_stanford(dir) {
            let (config, dim) = stanford::config(dir)?;
            (config, Some(dim))
        } else {
            let path = dir.join("config_sentence_transformers.json");
            (crate::data::json_file::read_json(&path)?, None)
        };
        if config.query_length < 3 || config.document_length < 3 {
            return Err(Error::model_config(
                dir,
                "query_length and document_length must be at least 3",
            ));
        }
        let folder = StFolder::read(dir)?;
        let device = open_device(if options.device.is_empty() {
            "cpu"
        } else {
            &options.device
        })?;
        let tdir = folder.transformer_dir().to_path_buf();
        let mut dense_dirs = Vec::new();
        // A Stanford checkpoint's projection is in the transformer's weights.
        let modules = match stanford_dim {
            Some(_) => &[][..],
            None => &folder.modules[1..],
        };
        for m in modules {
            match m {
                Module::Dense(d) => dense_dirs.push(d.clone()),
                other => {
                    return Err(Error::model_config(
                        dir,
                        format!(
                            "a ColBERT folder has only Transformer and Dense modules, found {other:?}"
                        ),
                    ));
                }
            }
        }
        let trainable = if options.backend.is_trainable() {
            let mut w = trainable_weights(&tdir, &device)?;
            for d in &dense_dirs {
                add_trainable_weights(&mut w, d, &projection_prefix(dir, d), &device)?;
            }
            Some(w)
        } else {
            None
        };
        let marker = |p: &str| usize::from(!p.is_empty());
        let doc_max = config.document_length - marker(&config.document_prefix);
        let backbone = load_backbone(
            &tdir,
            LoadOptions {
                backend: options.backend,
                precision: options.precision.unwrap_or_default(),
                device: device.clone(),
                max_length: Some(doc_max),
                default_max_length: None,
                lowercase: folder.do_lower_case,
                weights: match (&trainable, &weights) {
                    (Some((varmap, _)), _) => WeightSource::Vars(varmap),
                    (None, Weights::Trained(t)) => WeightSource::Tensors(t.tensors.clone()),
                    (None, Weights::Folder) => WeightSource::Folder,
                },
            },
        )?;
        let document_tokenizer = backbone.tokenizer;
        let pad = document_tokenizer.pad_id();
        let query_tokenizer = TextTokenizer::from_dir(
            &tdir,
            config.query_length - marker(&config.query_prefix),
            folder.do_lower_case,
            pad,
        )?;
        let mut projections = Vec::new();
        let mut dim = backbone.encoder.hidden_size();
        if let Some(out) = stanford_dim {
            let from = backbone.weights.pp(stanford::PROJECTION);
            // A missing tensor would be created afresh by trainable variables.
            if !from.contains_tensor("weight") {
                return Err(Error::model_config(
                    dir,
                    "a Stanford ColBERT checkpoint needs its projection `linear.weight` in its weights",
                ));
            }
            let dense = Dense::bias_free(from, dim, out).map_err(|e| {
                Error::model_config(dir, format!("projection `linear.weight`: {e}"))
            })?;
            dim = out;
            projections.push(dense);
        }
        for d in &dense_dirs {
            let from = match (&trainable, &weights) {
                (None, Weights::Folder) => var_builder(d, DType::F32, &device)?,
                (Some((varmap, _)), _) => VarBuilder::from_varmap(varmap, DType::F32, &device)
                    .pp(projection_prefix(dir, d).trim_end_matches('.')),
                (None, Weights::Trained(t)) => {
                    VarBuilder::from_tensors(t.tensors.clone(), DType::F32, &device)
                        .pp(projection_prefix(dir, d).trim_end_matches('.'))
                }
            };
            let dense = Dense::load_from(d, from)?;
            dim = dense.out_features();
            projections.push(dense);
        }
        let tok = &document_tokenizer;
        let prefix_id = |p: &str| -> Result<Option<u32>> {
            if p.is_empty() {
                return Ok(None);
            }
            tok.inner().token_to_id(p).map(Some).ok_or_else(|| {
                Error::model_config(dir, format!("the marker {p:?} is not in the tokenizer"))
            })
        };
        let mask_id = special_id(tok, &tdir, "mask_token", &["[MASK]", "<mask>"])
            .ok_or_else(|| Error::model_config(dir, "no mask token for query expansion"))?;
        // PyLate maps a skiplist word outside the vocabulary to the unknown token.
        let unk = special_id(tok, &tdir, "unk_token", &["[UNK]", "<unk>"]);
        let skiplist = config
            .skiplist_words
            .iter()
            .filter_map(|w| tok.inner().token_to_id(w).or(unk))
            .collect();
        Ok(Self {
            name: dir.display().to_string(),
            dir: dir.to_path_buf(),
            options: options.clone(),
            weights,
            trainable,
            weights_sha256: None,
            query_prefix_id: prefix_id(&config.query_prefix)?,
            document_prefix_id: prefix_id(&config.document_prefix)?,
            config,
            encoder: backbone.encoder,
            query_tokenizer,
            document_tokenizer,
            projections,
            transformer_dir: tdir,
            projection_dirs: dense_dirs,
            device,
            dim,
            mask_id,
            skiplist,
            identity: OnceLock::new(),
        })
    }

    /// The name it was loaded by.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The folder it was loaded from.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Token vector width.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// PyLate's settings.
    pub fn config(&self) -> &ColbertConfig {
        &self.config
    }

    /// The settings that decide its vectors, as an index records them.
    pub fn identity(&self) -> Result<&EncoderIdentity> {
        if let Some(i) = self.identity.get() {
            return Ok(i);
        }
        let c = &self.config;
        let pipeline = format!(
            "{COLBERT_PIPELINE}+dense{}+q{}{}+d{}+skip{}",
            self.dim,
            c.query_length,
            match (c.do_query_expansion, c.attend_to_expansion_tokens) {
                (false, _) => "",
                (true, false) => ":expand",
                (true, true) => ":expand-attended",
            },
            c.document_length,
            self.skiplist.len()
        );
        let id = EncoderIdentity {
            model: self.name.clone(),
            weights_sha256: self.weights_sha256()?,
            pipeline,
            max_length: c.document_length,
            query_prompt: Some(c.query_prefix.clone()),
            document_prompt: Some(c.document_prefix.clone()),
            dim: self.dim,
            top_k: None,
            precision: self.options.precision.unwrap_or_default(),
        };
        Ok(self.identity.get_or_init(|| id))
    }

    /// SHA-256 over the transformer's and the projections' weight files (a
    /// new projection is a new model).
    pub fn weights_sha256(&self) -> Result<String> {
        use sha2::{Digest, Sha256};
        if let Some(h) = &self.weights_sha256 {
            return Ok(h.clone());
        }
        let mut h = Sha256::new();
        h.update(weights_hash(&self.transformer_dir)?);
        for d in &self.projection_dirs {
            h.update(weights_hash(d)?);
        }
        Ok(hex::encode(h.finalize()))
    }

    /// Token ids as the model reads them: marker inserted after the first
    /// token; queries padded with the mask token (expansion).
    pub fn tokenize(&self, texts: &[&str], side: Side) -> Result<Vec<TokenIds>> {
        let (tok, prefix) = match side {
            Side::Query => (&self.query_tokenizer, self.query_prefix_id),
            Side::Document => (&self.document_tokenizer, self.document_prefix_id),
        };
        let expand = side == Side::Query && self.config.do_query_expansion;
        let mut out = tok.encode_batch(texts)?;
        for t in &mut out {
            let real = t.ids.len();
            if expand {
                let to = tok.max_length();
                t.ids.resize(to.max(real), self.mask_id);
                t.type_ids.resize(to.max(real), 0);
                if !self.config.attend_to_expansion_tokens {
                    t.keys = Some(real + usize::from(prefix.is_some()));
                }
            }
            if let Some(p) = prefix {
                let at = usize::from(!t.ids.is_empty());
                t.ids.insert(at, p);
                t.type_ids.insert(at, 0);
            }
        }
        Ok(out)
    }

    /// Token vectors of `texts` as `side`, in input order, L2-normalised; a
    /// document's skiplist tokens are dropped. Taken from `opts.cache` where it
    /// has them (filed under the model's identity and the side), and added to it.
    pub fn encode(
        &self,
        texts: &[&str],
        side: Side,
        opts: &EncodeOptions,
    ) -> Result<(MultiVectors, EncodeStats)> {
        let Some(cache) = opts.cache else {
            return self.encode_all(texts, side, opts);
        };
        let start = Instant::now();
        let key = self.identity()?.cache_key(Some(side.name()));
        let lookup = cache.lookup(&key, self.dim, texts)?;
        let (fresh, mut stats) = self.encode_all(&lookup.missing_texts(texts), side, opts)?;
        cache.store_multi(&key, &lookup.missing_hashes(), &fresh)?;
        let mut out = MultiVectors::empty(self.dim);
        for v in lookup.merged(|j| fresh.get(j)) {
            out.push(v);
        }
        stats.texts = texts.len();
        stats.cached = texts.len() - lookup.missing.len();
        stats.damaged_cache_files = lookup.damaged_files();
        stats.seconds = start.elapsed().as_secs_f64();
        Ok((out, stats))
    }

    /// [`ColbertEncoder::encode`] without the cache.
    fn encode_all(
        &self,
        texts: &[&str],
        side: Side,
        opts: &EncodeOptions,
    ) -> Result<(MultiVectors, EncodeStats)> {
        let start = Instant::now();
        let mut stats = EncodeStats {
            texts: texts.len(),
            ..Default::default()
        };
        let mut per_text: Vec<Vec<f32>> = vec![Vec::new(); texts.len()];
        let tokenize = |block: &[&str]| self.tokenize(block, side);
        let batches = BatchOptions {
            batch_size: opts.batch_size,
            pad_id: self.mask_id,
            label: "encode",
            progress: opts.progress,
            cancel: opts.cancel,
        };
        for_each_batch(texts, &tokenize, &batches, |batch, rows| {
            stats.tokens += batch.tokens();
            stats.padded_tokens += batch.batch * batch.seq_len;
            let vectors = self.token_vectors(batch)?;
            let mut row = 0;
            for (b, &i) in rows.iter().enumerate() {
                let n = batch.lengths[b];
                let ids = &batch.ids[b * batch.seq_len..b * batch.seq_len + n];
                let out = &mut per_text[i];
                for (p, id) in ids.iter().enumerate() {
                    let keep = match side {
                        Side::Query => true,
                        Side::Document => !self.skiplist.contains(id),
                    };
                    if keep {
                        out.extend(normalized(&vectors[(row + p) * self.dim..][..self.dim]));
                    }
                }
                row += n;
            }
            Ok(())
        })?;
        let mut out = MultiVectors::empty(self.dim);
        for v in &per_text {
            out.push(v);
        }
        stats.seconds = start.elapsed().as_secs_f64();
        Ok((out, stats))
    }

    /// The projected token vectors of a batch's real tokens, text after text,
    /// `(tokens, dim)` row-major (not yet normalised).
    fn token_vectors(&self, batch: &TokenBatch) -> Result<Vec<f32>> {
        let h = self.encoder.hidden_size();
        let packed = match self.encoder.forward_packed(batch) {
            Some(p) => p?,
            None => {
                let padded: Vec<f32> = self
                    .encoder
                    .forward(batch)?
                    .to_dtype(DType::F32)?
                    .flatten_all()?
                    .to_vec1()?;
                let mut rows = Vec::with_capacity(batch.tokens() * h);
                for (b, &n) in batch.lengths.iter().enumerate() {
                    let at = b * batch.seq_len * h;
                    rows.extend_from_slice(&padded[at..at + n * h]);
                }
                rows
            }
        };
        let tokens = packed.len() / h;
        let mut x = Tensor::from_vec(packed, (tokens, h), &self.device)?;
        for p in &self.projections {
            x = p.forward(&x)?;
        }
        Ok(x.to_dtype(DType::F32)?.flatten_all()?.to_vec1()?)
    }
}

/// The names of a projection's weights among a ColBERT's trainable ones:
/// its folder relative to the model's, then a dot (`1_Dense.`).
fn projection_prefix(model_dir: &Path, dense_dir: &Path) -> String {
    let rel = dense_dir.strip_prefix(model_dir).unwrap_or(dense_dir);
    format!("{}.", rel.display())
}

/// Late interaction's score of a document for a query: over the query's token
/// vectors (rows of `dim`), the sum of each one's best dot product with the
/// document's (an empty document scores 0).
pub fn maxsim(query: &[f32], doc: &[f32], dim: usize) -> f32 {
    if doc.is_empty() {
        return 0.0;
    }
    query
        .chunks_exact(dim)
        .map(|q| {
            doc.chunks_exact(dim)
                .map(|d| q.iter().zip(d).map(|(a, b)| a * b).sum::<f32>())
                .fold(f32::NEG_INFINITY, f32::max)
        })
        .sum()
}

/// `v` scaled to unit length (PyLate's `normalize`, eps 1e-12).
fn normalized(v: &[f32]) -> impl Iterator<Item = f32> + '_ {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
    v.iter().map(move |x| x / norm)
}
