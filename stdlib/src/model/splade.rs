//! SPLADE: a masked-language-model BERT (`BertForMaskedLM`) read as a sparse
//! encoder. A text's weight for vocabulary term `v` is the maximum over its
//! tokens of `log(1 + relu(logit_v))`; most weights are 0.

use std::path::PathBuf;

use candle_core::{D, DType, Device, Module, Tensor};
use candle_nn::Linear;

use crate::error::{Error, Result};
use crate::model::batch::TokenBatch;
use crate::model::bert::{Bert, LayerNorm, activate, layer_norm, weight_prefix};
use crate::model::bert_config::{BertConfig, HiddenAct};
use crate::model::device::open_device;
use crate::model::resolve::resolve_model;
use crate::model::st_folder::StFolder;
use crate::model::tokenize::TextTokenizer;
use crate::model::weights::{var_builder, weights_hash};
use crate::progress::Progress;

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
}

impl Default for SpladeOptions {
    fn default() -> Self {
        Self {
            device: "cpu".into(),
            max_length: None,
            top_k: None,
        }
    }
}

/// The masked-LM head: transform (dense, activation, LayerNorm), then the
/// decoder, whose weight is tied to the word embeddings unless stored.
struct MlmHead {
    dense: Linear,
    norm: LayerNorm,
    decoder: Linear,
}

/// A SPLADE encoder.
pub struct SpladeEncoder {
    name: String,
    dir: PathBuf,
    bert: Bert,
    head: MlmHead,
    hidden_act: HiddenAct,
    tokenizer: TextTokenizer,
    vocab: Vec<String>,
    top_k: Option<usize>,
    device: Device,
}

impl SpladeEncoder {
    /// Resolves `spec` (folder or hub id) and loads it.
    pub fn load(spec: &str, opts: &SpladeOptions) -> Result<Self> {
        let root = resolve_model(spec)?;
        let dir = StFolder::read(&root)?.transformer_dir().to_path_buf();
        let config = BertConfig::from_dir(&dir)?;
        let device = open_device(&opts.device)?;
        let vb = var_builder(&dir, DType::F32, &device)?;
        if !vb.contains_tensor("cls.predictions.transform.dense.weight") {
            return Err(Error::model_config(
                &dir,
                "no masked-language-model head (cls.predictions.*): SPLADE needs a BertForMaskedLM checkpoint",
            ));
        }
        let prefix = weight_prefix(&vb);
        let bert = Bert::load(vb.pp(prefix), &config)?;
        let (h, v) = (config.hidden_size, config.vocab_size);
        let p = vb.pp("cls.predictions");
        let decoder_weight = if p.contains_tensor("decoder.weight") {
            p.get((v, h), "decoder.weight")?
        } else {
            vb.pp(prefix)
                .get((v, h), "embeddings.word_embeddings.weight")?
        };
        let bias = if p.contains_tensor("bias") {
            p.get(v, "bias")?
        } else {
            p.get(v, "decoder.bias")?
        };
        let head = MlmHead {
            dense: candle_nn::linear(h, h, p.pp("transform.dense"))?,
            norm: layer_norm(h, config.layer_norm_eps, p.pp("transform.LayerNorm"))?,
            decoder: Linear::new(decoder_weight, Some(bias)),
        };
        let max_length = opts
            .max_length
            .unwrap_or(512)
            .min(config.max_position_embeddings);
        let tokenizer = TextTokenizer::from_dir(&dir, max_length, false)?;
        let inner = tokenizer.inner();
        let vocab = (0..v as u32)
            .map(|i| inner.id_to_token(i).unwrap_or_else(|| format!("[{i}]")))
            .collect();
        Ok(Self {
            name: spec.to_string(),
            dir,
            bert,
            head,
            hidden_act: config.hidden_act,
            tokenizer,
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
        self.tokenizer.max_length()
    }

    /// How many weights each vector keeps (None: all).
    pub fn top_k(&self) -> Option<usize> {
        self.top_k
    }

    /// SHA-256 of the weight files.
    pub fn weights_sha256(&self) -> Result<String> {
        weights_hash(&self.dir)
    }

    /// The sparse vectors of `texts`, `batch_size` texts per forward pass;
    /// `progress` counts texts.
    pub fn encode(
        &self,
        texts: &[&str],
        batch_size: usize,
        progress: &dyn Progress,
    ) -> Result<Vec<SparseVector>> {
        progress.start("encode", texts.len() as u64);
        let ids = self.tokenizer.encode_batch(texts)?;
        // Longest first so batches pad little; results go back to input order.
        let mut order: Vec<usize> = (0..texts.len()).collect();
        order.sort_by_key(|&i| std::cmp::Reverse(ids[i].ids.len()));
        let mut out = vec![Vec::new(); texts.len()];
        for chunk in order.chunks(batch_size.max(1)) {
            let rows: Vec<_> = chunk.iter().map(|&i| &ids[i]).collect();
            let batch = TokenBatch::pad(&rows, self.tokenizer.pad_id());
            let hidden = self.bert.forward_t(&batch, None)?;
            for (row, &i) in chunk.iter().enumerate() {
                let len = batch.lengths[row];
                let tokens = hidden.get(row)?.narrow(0, 0, len)?;
                out[i] = self.sparse_of(&tokens)?;
            }
            progress.advance(chunk.len() as u64);
        }
        progress.finish();
        Ok(out)
    }

    /// One text's sparse vector from its `(tokens, hidden)` states. The maximum
    /// is taken over logits: `log(1 + relu(x))` is monotone, so this equals the
    /// maximum of the weights, without a (tokens x vocabulary) pass of logs.
    fn sparse_of(&self, tokens: &Tensor) -> Result<SparseVector> {
        let h = self.head.dense.forward(tokens)?;
        let h = activate(&h, self.hidden_act)?;
        let h = self.head.norm.forward(&h)?;
        let logits = self.head.decoder.forward(&h)?;
        let max = logits.max(D::Minus2)?.to_vec1::<f32>()?;
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
        Ok(v)
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
