//! A sentence-transformers bi-encoder: text in, one vector out, with the same
//! numbers as the Python library.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use candle_core::{DType, Device, Tensor, Var};

use crate::cache::EmbeddingCache;
use crate::compute::Precision;
use crate::compute::dropout::Dropout;
use crate::error::{Error, Result};
use crate::model::backbone::{LoadOptions, WeightSource, load_backbone};
pub use crate::model::backend::Backend;
use crate::model::batch::{BatchOptions, TokenBatch, for_each_batch};
use crate::model::dense::Dense;
use crate::model::device::open_device;
use crate::model::encoder::Encoder;
use crate::model::identity::EncoderIdentity;
use crate::model::pooling::{Pooling, l2_normalize};
use crate::model::resolve::resolve_model;
use crate::model::st_folder::{Module, StFolder};
use crate::model::tokenize::{TextTokenizer, TokenIds};
use crate::model::weights::{
    TrainableWeights, TrainedWeights, copy_weights, tensors_hash, trainable_weights, vars_of,
    weights_hash, write_folder_with_weights,
};
use crate::progress::{CancelFlag, NoProgress, Progress};
use crate::vectors::Embeddings;

/// How to load a model.
#[derive(Debug, Clone)]
pub struct ModelOptions {
    /// Which implementation runs the transformer.
    pub backend: Backend,
    /// `cpu`, `cuda` or `cuda:N`.
    pub device: String,
    /// Truncation length in tokens (default: the folder's `max_seq_length`).
    pub max_length: Option<usize>,
    /// Prefix for queries (default: the folder's "query" prompt, if any).
    pub query_prompt: Option<String>,
    /// Prefix for documents (default: the folder's "document" or "passage" prompt).
    pub document_prompt: Option<String>,
    /// The number format of the linear layers (default f32; an index's own
    /// precision when it loads its model).
    pub precision: Option<Precision>,
}

impl Default for ModelOptions {
    fn default() -> Self {
        Self {
            backend: Backend::Auto,
            device: "cpu".into(),
            max_length: None,
            query_prompt: None,
            document_prompt: None,
            precision: None,
        }
    }
}

/// Per-call encoding settings.
#[derive(Clone)]
pub struct EncodeOptions<'a> {
    /// Texts per forward pass.
    pub batch_size: usize,
    /// A prefix added to every text (e.g. "query: ").
    pub prompt: Option<&'a str>,
    /// Receives one unit per text encoded.
    pub progress: &'a dyn Progress,
    /// Checked between batches.
    pub cancel: Option<&'a CancelFlag>,
    /// Where vectors are looked up before encoding and stored after.
    pub cache: Option<&'a EmbeddingCache>,
}

impl Default for EncodeOptions<'_> {
    fn default() -> Self {
        Self {
            batch_size: 32,
            prompt: None,
            progress: &NoProgress,
            cancel: None,
            cache: None,
        }
    }
}

/// What an encoding run did.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct EncodeStats {
    /// Texts encoded.
    pub texts: usize,
    /// Real tokens (special tokens included, padding excluded).
    pub tokens: usize,
    /// Tokens fed to the model, padding included.
    pub padded_tokens: usize,
    /// Wall-clock seconds.
    pub seconds: f64,
    /// Texts whose vectors came from the cache.
    pub cached: usize,
    /// Cache files found damaged (dropped; their texts encoded again).
    pub damaged_cache_files: usize,
}

enum Stage {
    Pooling(Pooling),
    Dense(Dense),
    Normalize,
}

/// A loaded bi-encoder.
pub struct SentenceEncoder {
    /// The name it was loaded by (hub id or folder).
    name: String,
    dir: PathBuf,
    /// Computed on first use (hashing the weights takes a moment).
    identity: std::sync::OnceLock<EncoderIdentity>,
    /// The hash of weights that are not the folder's (a trained copy).
    weights_sha256: Option<String>,
    /// How it was loaded.
    options: ModelOptions,
    /// The trainable weights and their stored dtypes (Backend::Trainable).
    trainable: Option<TrainableWeights>,
    /// Weights trained in memory (an inference copy), kept so the model can be
    /// saved or trained further; with their stored dtypes.
    trained: Option<Arc<TrainedWeights>>,
    /// A temporary folder the model lives in, removed with the model.
    owned_dir: Option<Arc<tempfile::TempDir>>,
    folder: StFolder,
    tokenizer: TextTokenizer,
    encoder: Box<dyn Encoder>,
    stages: Vec<Stage>,
    device: Device,
    dim: usize,
    query_prompt: Option<String>,
    document_prompt: Option<String>,
}

/// Copies the files under `from` into `to`, except those `skip` names.
pub(crate) fn copy_tree(from: &Path, to: &Path, skip: &dyn Fn(&Path) -> bool) -> Result<()> {
    for entry in std::fs::read_dir(from).map_err(|e| Error::io(from, e))? {
        let entry = entry.map_err(|e| Error::io(from, e))?;
        let path = entry.path();
        let target = to.join(entry.file_name());
        // Hub snapshots are symlinks into blobs: follow them.
        if path.is_dir() {
            std::fs::create_dir_all(&target).map_err(|e| Error::io(&target, e))?;
            copy_tree(&path, &target, skip)?;
        } else if !skip(&path) {
            std::fs::copy(&path, &target).map_err(|e| Error::io(&path, e))?;
        }
    }
    Ok(())
}

impl SentenceEncoder {
    /// Resolves `spec` (folder or hub id) and loads it.
    pub fn load(spec: &str, options: &ModelOptions) -> Result<Self> {
        let dir = resolve_model(spec)?;
        let mut model = Self::from_dir(&dir, options)?;
        model.name = spec.to_string();
        Ok(model)
    }

    /// Loads a model folder.
    pub fn from_dir(dir: &Path, options: &ModelOptions) -> Result<Self> {
        Self::build(dir, options, None)
    }

    /// Loads the model folder `sub` inside the temporary folder `tmp`, which
    /// lives as long as the model (a model written only to be loaded again).
    pub fn from_temp_dir(
        tmp: tempfile::TempDir,
        sub: &str,
        options: &ModelOptions,
    ) -> Result<Self> {
        let mut model = Self::from_dir(&tmp.path().join(sub), options)?;
        model.owned_dir = Some(Arc::new(tmp));
        Ok(model)
    }

    /// Loads a model folder, with `weights` (by tensor name) in place of the
    /// folder's when given.
    fn build(
        dir: &Path,
        options: &ModelOptions,
        weights: Option<std::collections::HashMap<String, Tensor>>,
    ) -> Result<Self> {
        let folder = StFolder::read(dir)?;
        let device = open_device(&options.device)?;
        let tdir = folder.transformer_dir().to_path_buf();
        let trainable = options
            .backend
            .is_trainable()
            .then(|| trainable_weights(&tdir, &device))
            .transpose()?;
        let backbone = load_backbone(
            &tdir,
            LoadOptions {
                backend: options.backend,
                precision: options.precision.unwrap_or_default(),
                device: device.clone(),
                max_length: options.max_length,
                default_max_length: folder.max_seq_length,
                lowercase: folder.do_lower_case,
                weights: match (&trainable, weights) {
                    (Some((varmap, _)), _) => WeightSource::Vars(varmap),
                    (None, Some(w)) => WeightSource::Tensors(w),
                    (None, None) => WeightSource::Folder,
                },
            },
        )?;
        let (encoder, mut tokenizer) = (backbone.encoder, backbone.tokenizer);
        tokenizer.keep_surrounding_spaces();

        let mut stages = Vec::new();
        let mut dim = encoder.hidden_size();
        for m in &folder.modules[1..] {
            stages.push(match m {
                Module::Pooling(p) => {
                    dim = p.output_dim(dim);
                    Stage::Pooling(p.clone())
                }
                Module::Dense(d) => {
                    let dense = Dense::load(d, &device)?;
                    dim = dense.out_features();
                    Stage::Dense(dense)
                }
                Module::Normalize => Stage::Normalize,
                Module::Transformer(_) => {
                    return Err(Error::model_config(dir, "a second Transformer module"));
                }
            });
        }
        if !stages.iter().any(|s| matches!(s, Stage::Pooling(_))) {
            return Err(Error::model_config(
                dir,
                "no Pooling module in modules.json",
            ));
        }
        let prompt = |explicit: &Option<String>, names: &[&str]| {
            explicit.clone().or_else(|| {
                names
                    .iter()
                    .find_map(|n| folder.prompts.get(*n).filter(|p| !p.is_empty()).cloned())
            })
        };
        let query_prompt = prompt(&options.query_prompt, &["query"]);
        let document_prompt = prompt(&options.document_prompt, &["document", "passage", "doc"]);
        Ok(Self {
            name: dir.display().to_string(),
            dir: dir.to_path_buf(),
            identity: Default::default(),
            weights_sha256: None,
            options: options.clone(),
            trainable,
            trained: None,
            owned_dir: None,
            tokenizer,
            encoder,
            stages,
            device,
            dim,
            query_prompt,
            document_prompt,
            folder,
        })
    }

    /// The name the model was loaded by (hub id or folder).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The number format of its linear layers.
    pub fn precision(&self) -> Precision {
        self.options.precision.unwrap_or_default()
    }

    /// The settings that decide this model's vectors. A model being trained has
    /// no fixed fingerprint: its weights change at every step.
    pub fn identity(&self) -> Result<&EncoderIdentity> {
        if self.trainable.is_some() {
            return Err(Error::InvalidArgument(
                "a model being trained has no fixed fingerprint; take `inference_copy()` of it to encode with a cache or build an index".into(),
            ));
        }
        if let Some(f) = self.identity.get() {
            return Ok(f);
        }
        let pipeline: Vec<String> = self
            .stages
            .iter()
            .map(|s| match s {
                Stage::Pooling(p) => p
                    .modes
                    .iter()
                    .map(|m| format!("{m:?}").to_lowercase())
                    .collect::<Vec<_>>()
                    .join("+"),
                Stage::Dense(d) => format!("dense{}", d.out_features()),
                Stage::Normalize => "normalize".to_string(),
            })
            .collect();
        let f = EncoderIdentity {
            model: self.name.clone(),
            weights_sha256: match &self.weights_sha256 {
                Some(h) => h.clone(),
                None => weights_hash(self.folder.transformer_dir())?,
            },
            pipeline: pipeline.join("+"),
            max_length: self.max_length(),
            query_prompt: self.query_prompt.clone(),
            document_prompt: self.document_prompt.clone(),
            dim: self.dim,
            top_k: None,
            precision: self.precision(),
        };
        Ok(self.identity.get_or_init(|| f))
    }

    /// Embeddings of `texts` (with `prompt`) as one padded batch, keeping the
    /// autograd graph: the training forward pass (dropout masks from `train`).
    pub fn embed_t(
        &self,
        texts: &[&str],
        prompt: Option<&str>,
        train: Option<&Dropout>,
    ) -> Result<Tensor> {
        let ids = self.tokenize(texts, prompt)?;
        let rows: Vec<&TokenIds> = ids.iter().collect();
        self.forward_batch_t(&TokenBatch::pad(&rows, self.tokenizer.pad_id()), train)
    }

    /// A copy for inference (the fast CPU path on CPU) with the current weights
    /// of a model being trained; its fingerprint hashes those weights.
    pub fn inference_copy(&self) -> Result<SentenceEncoder> {
        let weights = copy_weights(&self.trainable_vars())?;
        let hash = tensors_hash(&weights)?;
        let options = ModelOptions {
            backend: Backend::Auto,
            max_length: Some(self.max_length()),
            query_prompt: self.query_prompt.clone(),
            document_prompt: self.document_prompt.clone(),
            ..self.options.clone()
        };
        let mut copy = Self::build(&self.dir, &options, Some(weights.clone()))?;
        copy.name = format!("{}@{}", self.name, &hash[..12]);
        copy.weights_sha256 = Some(hash);
        copy.trained = Some(Arc::new(TrainedWeights {
            tensors: weights,
            dtypes: self
                .trainable
                .as_ref()
                .map(|t| t.1.clone())
                .unwrap_or_default(),
        }));
        Ok(copy)
    }

    /// A copy loaded for training (`Backend::Trainable`) that starts from this
    /// model's weights, trained ones included; `max_length` as given or this model's.
    pub fn trainable_copy(&self, max_length: Option<usize>) -> Result<SentenceEncoder> {
        let options = ModelOptions {
            backend: Backend::Trainable,
            precision: None,
            max_length: max_length.or(Some(self.max_length())),
            query_prompt: self.query_prompt.clone(),
            document_prompt: self.document_prompt.clone(),
            ..self.options.clone()
        };
        let mut copy = Self::build(&self.dir, &options, None)?;
        copy.name = self.name.clone();
        if let (Some(t), Some((varmap, _))) = (&self.trained, &copy.trainable) {
            let data = varmap.data().lock().unwrap_or_else(|p| p.into_inner());
            for (name, var) in data.iter() {
                let w = t.tensors.get(name).ok_or_else(|| {
                    Error::InvalidArgument(format!("trained weights lack tensor {name}"))
                })?;
                var.set(w)?;
            }
        }
        Ok(copy)
    }

    /// The trainable weights by name (empty unless loaded with `Backend::Trainable`).
    pub fn trainable_vars(&self) -> Vec<(String, Var)> {
        self.trainable.as_ref().map(vars_of).unwrap_or_default()
    }

    /// Writes the model as a sentence-transformers folder at `out`: every file of
    /// the input folder, with the weights replaced by the current ones (same
    /// tensor names and dtypes, `model.safetensors`). Atomic.
    pub fn save(&self, out: &Path) -> Result<()> {
        // The weights to write, in their stored dtypes (None: the folder's own).
        let weights = match (&self.trainable, &self.trained) {
            (Some(t), _) => Some(TrainedWeights::of(t)?.stored()?),
            (None, Some(t)) => Some(t.stored()?),
            (None, None) => None,
        };
        let tdir = self.folder.transformer_dir().to_path_buf();
        let replaced: Vec<_> = weights.into_iter().map(|w| (tdir.clone(), w)).collect();
        write_folder_with_weights(&self.dir, out, &replaced)
    }

    /// SHA-256 of the weight files the model was loaded from (not of weights
    /// trained since).
    pub fn base_weights_sha256(&self) -> Result<String> {
        weights_hash(self.folder.transformer_dir())
    }

    /// The device it runs on.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// The folder the model was loaded from.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Output vector width.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Truncation length in tokens.
    pub fn max_length(&self) -> usize {
        self.tokenizer.max_length()
    }

    /// Whether output vectors are unit length (a Normalize module is present).
    pub fn normalizes(&self) -> bool {
        self.stages.iter().any(|s| matches!(s, Stage::Normalize))
    }

    /// The prefix used for queries, if any.
    pub fn query_prompt(&self) -> Option<&str> {
        self.query_prompt.as_deref()
    }

    /// The prefix used for documents, if any.
    pub fn document_prompt(&self) -> Option<&str> {
        self.document_prompt.as_deref()
    }

    /// The folder's settings.
    pub fn folder(&self) -> &StFolder {
        &self.folder
    }

    /// Token ids exactly as they are fed to the model (truncated, unpadded).
    pub fn tokenize(&self, texts: &[&str], prompt: Option<&str>) -> Result<Vec<TokenIds>> {
        match prompt {
            Some(p) => {
                let prefixed: Vec<String> = texts.iter().map(|t| format!("{p}{t}")).collect();
                let refs: Vec<&str> = prefixed.iter().map(String::as_str).collect();
                self.tokenizer.encode_batch(&refs)
            }
            None => self.tokenizer.encode_batch(texts),
        }
    }

    /// Encodes one padded batch to `(batch, dim)` vectors.
    pub fn forward_batch(&self, batch: &TokenBatch) -> Result<Tensor> {
        self.forward_batch_t(batch, None)
    }

    /// [`SentenceEncoder::forward_batch`] with dropout masks from `train` (the
    /// tensors keep their graph for backpropagation with `Backend::Trainable`).
    pub fn forward_batch_t(&self, batch: &TokenBatch, train: Option<&Dropout>) -> Result<Tensor> {
        let mut stages = self.stages.iter().peekable();
        // Pooling straight from packed tokens skips building (and faulting in)
        // a padded (batch, seq, hidden) tensor and its masked copies.
        let packed = match stages.peek() {
            Some(Stage::Pooling(p)) if train.is_none() => {
                self.encoder.forward_packed(batch).map(|t| (p, t))
            }
            _ => None,
        };
        let mut x = match packed {
            Some((p, tokens)) => {
                stages.next();
                let h = self.encoder.hidden_size();
                let pooled = p.forward_packed(&tokens?, &batch.lengths, h);
                Tensor::from_vec(pooled, (batch.batch, p.output_dim(h)), &self.device)?
            }
            None => {
                let tokens = self.encoder.forward_t(batch, train)?;
                let mask = batch.mask_tensor(&self.device)?;
                match stages.peek() {
                    Some(Stage::Pooling(p)) => {
                        stages.next();
                        p.forward(&tokens, &mask)?
                    }
                    _ => tokens,
                }
            }
        };
        for s in stages {
            x = match s {
                Stage::Pooling(_) => {
                    return Err(Error::model_config(
                        &self.dir,
                        "a Pooling module after the first",
                    ));
                }
                Stage::Dense(d) => d.forward(&x)?,
                Stage::Normalize => l2_normalize(&x)?,
            };
        }
        Ok(x)
    }

    /// Encodes texts (in input order), taking what it can from `opts.cache` and
    /// adding what it had to encode.
    pub fn encode(
        &self,
        texts: &[&str],
        opts: &EncodeOptions,
    ) -> Result<(Embeddings, EncodeStats)> {
        let Some(cache) = opts.cache else {
            return self.encode_all(texts, opts);
        };
        let start = Instant::now();
        let key = self.identity()?.cache_key(opts.prompt);
        let lookup = cache.lookup(&key, self.dim, texts)?;
        let (fresh, mut stats) = self.encode_all(&lookup.missing_texts(texts), opts)?;
        cache.store(&key, self.dim, &lookup.missing_hashes(), fresh.as_slice())?;
        let out: Vec<f32> = lookup.merged(|j| fresh.row(j)).flatten().copied().collect();
        stats.texts = texts.len();
        stats.cached = texts.len() - lookup.missing.len();
        stats.damaged_cache_files = lookup.damaged_files();
        stats.seconds = start.elapsed().as_secs_f64();
        Ok((Embeddings::new(self.dim, out), stats))
    }

    /// Encodes texts: sorted by length, batched, padded per batch, returned in input order.
    fn encode_all(
        &self,
        texts: &[&str],
        opts: &EncodeOptions,
    ) -> Result<(Embeddings, EncodeStats)> {
        if let Some(p) = self.stages.iter().find_map(|s| match s {
            Stage::Pooling(p) => Some(p),
            _ => None,
        }) && !p.include_prompt
            && opts.prompt.is_some_and(|p| !p.is_empty())
        {
            return Err(Error::InvalidArgument(
                "this model's pooling excludes prompt tokens (include_prompt=false), which rankbook does not support yet".into(),
            ));
        }
        let start = Instant::now();
        let mut out = vec![0f32; texts.len() * self.dim];
        let mut stats = EncodeStats {
            texts: texts.len(),
            ..Default::default()
        };
        let tokenize = |block: &[&str]| self.tokenize(block, opts.prompt);
        let batches = BatchOptions {
            batch_size: opts.batch_size,
            pad_id: self.tokenizer.pad_id(),
            label: "encode",
            progress: opts.progress,
            cancel: opts.cancel,
        };
        for_each_batch(texts, &tokenize, &batches, |batch, rows| {
            stats.tokens += batch.tokens();
            stats.padded_tokens += batch.batch * batch.seq_len;
            let v = self.forward_batch(batch)?.to_dtype(DType::F32)?;
            let v: Vec<f32> = v.flatten_all()?.to_vec1()?;
            for (j, &i) in rows.iter().enumerate() {
                let dst = i * self.dim;
                out[dst..dst + self.dim].copy_from_slice(&v[j * self.dim..(j + 1) * self.dim]);
            }
            Ok(())
        })?;
        stats.seconds = start.elapsed().as_secs_f64();
        Ok((Embeddings::new(self.dim, out), stats))
    }

    /// Encodes queries with the model's query prompt.
    pub fn encode_queries(&self, texts: &[&str], opts: &EncodeOptions) -> Result<Embeddings> {
        let o = EncodeOptions {
            prompt: opts.prompt.or(self.query_prompt()),
            ..*opts
        };
        Ok(self.encode(texts, &o)?.0)
    }

    /// Encodes documents with the model's document prompt.
    pub fn encode_documents(&self, texts: &[&str], opts: &EncodeOptions) -> Result<Embeddings> {
        let o = EncodeOptions {
            prompt: opts.prompt.or(self.document_prompt()),
            ..*opts
        };
        Ok(self.encode(texts, &o)?.0)
    }
}
