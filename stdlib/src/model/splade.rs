//! SPLADE: a masked-language model (`BertForMaskedLM`, `DistilBertForMaskedLM`,
//! ...) read as a sparse
//! encoder. A text's weight for vocabulary term `v` is the maximum over its
//! tokens of `log(1 + relu(logit_v))`; most weights are 0.

use std::path::PathBuf;

use candle_core::{D, Device, Tensor};

use crate::compute::Precision;
use crate::error::{Error, Result};
use crate::model::backbone::{Backbone, LoadOptions, WeightSource, encoder_dir, load_backbone};
use crate::model::backend::Backend;
use crate::model::batch::{BatchOptions, for_each_batch};
use crate::model::device::open_device;
use crate::model::identity::EncoderIdentity;
use crate::model::resolve::resolve_model;
use crate::model::task_head::{MlmHead, PackedMlmHead};
use crate::model::weights::{in_weights, weights_hash, weights_named};
use crate::progress::Progress;

/// The pipeline name of a SPLADE encoder in its identity.
pub const SPLADE_PIPELINE: &str = "splade";

/// A sparse vector: `(vocabulary id, weight)`, weights > 0, by id.
pub type SparseVector = Vec<(u32, f32)>;

/// How to load a SPLADE model.
#[derive(Debug, Clone)]
pub struct SpladeOptions {
    /// `cpu`, `cuda` or `cuda:N`.
    pub device: String,
    /// Truncation length in tokens (default 512, or the model's limit).
    pub max_length: Option<usize>,
    /// Keep only the `top_k` largest weights of each vector (default: all).
    pub top_k: Option<usize>,
    /// The number format of the linear layers (f32: candle's reference path,
    /// which SPLADE's pinned numbers were measured on; bf16 and int8: the
    /// packed CPU path, head included).
    pub precision: Precision,
}

impl Default for SpladeOptions {
    fn default() -> Self {
        Self {
            device: "cpu".into(),
            max_length: None,
            top_k: None,
            precision: Precision::F32,
        }
    }
}

/// A SPLADE encoder.
pub struct SpladeEncoder {
    name: String,
    dir: PathBuf,
    backbone: Backbone,
    head: MlmHead,
    /// The head on the packed path (bf16, int8).
    packed_head: Option<PackedMlmHead>,
    precision: Precision,
    vocab: Vec<String>,
    top_k: Option<usize>,
    device: Device,
}

impl SpladeEncoder {
    /// Resolves `spec` (folder or hub id) and loads it.
    pub fn load(spec: &str, opts: &SpladeOptions) -> Result<Self> {
        let dir = encoder_dir(&resolve_model(spec)?)?;
        let device = open_device(&opts.device)?;
        // candle's reference path: SPLADE's pinned numbers were measured on it.
        let backbone = load_backbone(
            &dir,
            LoadOptions {
                backend: if opts.precision == Precision::F32 {
                    Backend::Candle
                } else {
                    Backend::Packed
                },
                precision: opts.precision,
                device: device.clone(),
                max_length: opts.max_length,
                default_max_length: None,
                lowercase: false,
                weights: WeightSource::Folder,
            },
        )?;
        let arch = &backbone.arch;
        let (v, h) = (arch.spec.vocab_size, arch.spec.hidden_size);
        let word_name = match backbone.prefix {
            "" => format!("{}.weight", arch.names.word),
            p => format!("{p}.{}.weight", arch.names.word),
        };
        let word = in_weights(
            &dir,
            backbone
                .weights
                .get((v, h), &word_name)
                .map_err(Error::from),
        )?;
        let head = in_weights(&dir, MlmHead::load(arch, &backbone.weights, &word))?.ok_or_else(|| {
            Error::model_config(
                &dir,
                format!(
                    "no masked-language-model head ({}.*) in {}: SPLADE needs a *ForMaskedLM checkpoint",
                    arch.mlm.transform,
                    weights_named(&dir)
                ),
            )
        })?;
        let inner = backbone.tokenizer.inner();
        let vocab = (0..v as u32)
            .map(|i| inner.id_to_token(i).unwrap_or_else(|| format!("[{i}]")))
            .collect();
        let packed_head = (opts.precision != Precision::F32)
            .then(|| head.packed(opts.precision))
            .transpose()?;
        Ok(Self {
            name: spec.to_string(),
            dir,
            backbone,
            head,
            packed_head,
            precision: opts.precision,
            vocab,
            top_k: opts.top_k,
            device,
        })
    }

    /// The name it was loaded by.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The vocabulary (term of each id).
    pub fn vocab(&self) -> &[String] {
        &self.vocab
    }

    /// Truncation length in tokens.
    pub fn max_length(&self) -> usize {
        self.backbone.tokenizer.max_length()
    }

    /// How many weights each vector keeps (None: all).
    pub fn top_k(&self) -> Option<usize> {
        self.top_k
    }

    /// SHA-256 of the weight files.
    pub fn weights_sha256(&self) -> Result<String> {
        weights_hash(&self.dir)
    }

    /// The settings that decide its vectors, as an index records them.
    pub fn identity(&self) -> Result<EncoderIdentity> {
        Ok(EncoderIdentity {
            model: self.name.clone(),
            weights_sha256: self.weights_sha256()?,
            pipeline: SPLADE_PIPELINE.into(),
            max_length: self.max_length(),
            query_prompt: None,
            document_prompt: None,
            dim: self.vocab.len(),
            top_k: self.top_k,
            precision: self.precision,
        })
    }

    /// The sparse vectors of `texts`, `batch_size` texts per forward pass;
    /// `progress` counts texts.
    pub fn encode(
        &self,
        texts: &[&str],
        batch_size: usize,
        progress: &dyn Progress,
    ) -> Result<Vec<SparseVector>> {
        let mut out = vec![Vec::new(); texts.len()];
        let tokenize = |block: &[&str]| self.backbone.tokenizer.encode_batch(block);
        let batches = BatchOptions {
            batch_size: batch_size.max(1),
            pad_id: self.backbone.tokenizer.pad_id(),
            label: "encode",
            progress,
            cancel: None,
        };
        let h = self.backbone.arch.spec.hidden_size;
        for_each_batch(texts, &tokenize, &batches, |batch, rows| {
            if let (Some(head), Some(packed)) = (
                &self.packed_head,
                self.backbone.encoder.forward_packed(batch),
            ) {
                let packed = packed?;
                let mut start = 0;
                for (row, &i) in rows.iter().enumerate() {
                    let len = batch.lengths[row];
                    let max = head.max_logits(&packed[start * h..(start + len) * h], len);
                    out[i] = self.sparse_of_max(&max);
                    start += len;
                }
                return Ok(());
            }
            let hidden = self.backbone.encoder.forward(batch)?;
            for (row, &i) in rows.iter().enumerate() {
                let len = batch.lengths[row];
                let tokens = hidden.get(row)?.narrow(0, 0, len)?;
                out[i] = self.sparse_of(&tokens)?;
            }
            Ok(())
        })?;
        Ok(out)
    }

    /// One text's sparse vector from its `(tokens, hidden)` states. The maximum
    /// is taken over logits: `log(1 + relu(x))` is monotone, so this equals the
    /// maximum of the weights, without a (tokens x vocabulary) pass of logs.
    fn sparse_of(&self, tokens: &Tensor) -> Result<SparseVector> {
        let logits = self.head.forward(tokens)?;
        let max = logits.max(D::Minus2)?.to_vec1::<f32>()?;
        Ok(self.sparse_of_max(&max))
    }

    /// The sparse vector of a text from its largest logit per term.
    fn sparse_of_max(&self, max: &[f32]) -> SparseVector {
        let mut v: SparseVector = max
            .iter()
            .enumerate()
            .filter(|(_, x)| **x > 0.0)
            .map(|(i, x)| (i as u32, x.ln_1p()))
            .collect();
        if let Some(k) = self.top_k.filter(|&k| k < v.len()) {
            v.select_nth_unstable_by(k, |a, b| b.1.total_cmp(&a.1));
            v.truncate(k);
            v.sort_by_key(|e| e.0);
        }
        v
    }

    /// The `n` heaviest terms of a vector, heaviest first.
    pub fn top_terms(&self, v: &SparseVector, n: usize) -> Vec<(String, f32)> {
        let mut sorted = v.clone();
        sorted.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        sorted
            .into_iter()
            .take(n)
            .map(|(i, w)| (self.vocab[i as usize].clone(), w))
            .collect()
    }

    /// The device it runs on.
    pub fn device(&self) -> &Device {
        &self.device
    }
}

/// The dot product of two sparse vectors (both sorted by id).
pub fn sparse_dot(a: &SparseVector, b: &SparseVector) -> f32 {
    let (mut i, mut j, mut s) = (0, 0, 0.0);
    while i < a.len() && j < b.len() {
        match a[i].0.cmp(&b[j].0) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                s += a[i].1 * b[j].1;
                i += 1;
                j += 1;
            }
        }
    }
    s
}
