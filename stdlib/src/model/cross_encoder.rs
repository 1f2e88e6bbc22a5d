//! A cross-encoder (`*ForSequenceClassification`): a (query, document) pair in,
//! relevance logits out. Loads Hugging Face sequence-classification folders of
//! every supported family, or a plain encoder / sentence-transformers folder
//! with a new classifier head (initialised from a seed, as transformers does:
//! normal, std `initializer_range`), and saves as a sequence-classification
//! folder that sentence-transformers' `CrossEncoder` and transformers load.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor, Var};
use candle_nn::VarMap;

use crate::atomic::write_dir_atomically;
use crate::compute::Precision;
use crate::compute::dropout::Dropout;
use crate::error::{Error, Result};
use crate::model::arch::{Arch, detect};
use crate::model::backbone::{Backbone, LoadOptions, WeightSource, encoder_dir, load_backbone_of};
use crate::model::backend::Backend;
use crate::model::batch::TokenBatch;
use crate::model::device::open_device;
use crate::model::resolve::resolve_model;
use crate::model::task_head::ClassifierHead;
use crate::model::tokenize::TokenIds;
use crate::model::weights::{in_weights, save_tensors, trainable_weights, weights_hash};
use crate::random::SplitMix;

/// How to load a cross-encoder.
#[derive(Debug, Clone)]
pub struct CrossEncoderOptions {
    /// `cpu`, `cuda` or `cuda:N`.
    pub device: String,
    /// Truncation length of a pair in tokens (default: 512 or the model's limit).
    pub max_length: Option<usize>,
    /// Outputs of a new classifier head (1: one relevance score).
    pub num_labels: usize,
    /// Seeds a new classifier (and pooler) head.
    pub seed: u64,
    /// The number format of the encoder's linear layers; not f32: inference
    /// only, on the packed CPU path.
    pub precision: Precision,
}

impl Default for CrossEncoderOptions {
    fn default() -> Self {
        Self {
            device: "cpu".into(),
            max_length: None,
            num_labels: 1,
            seed: 42,
            precision: Precision::F32,
        }
    }
}

/// Relevance scores from logit rows: see [`CrossEncoder::predict`].
fn relevance(rows: &[Vec<f32>]) -> impl Iterator<Item = f32> + '_ {
    rows.iter().map(|r| match r[..] {
        [a, b] => {
            // softmax(r)[1], stable for any logits.
            let m = a.max(b);
            let (ea, eb) = ((a - m).exp(), (b - m).exp());
            eb / (ea + eb)
        }
        _ => r.first().copied().unwrap_or(f32::NAN),
    })
}

/// Whether the model `spec` names is a sequence-classification checkpoint
/// (a cross-encoder) rather than a bi-encoder.
pub fn is_cross_encoder(spec: &str) -> Result<bool> {
    let dir = encoder_dir(&resolve_model(spec)?)?;
    let path = dir.join("config.json");
    let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
    let config: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| Error::parse(&path, e.line(), Some(e.column()), e.to_string()))?;
    Ok(config["architectures"].as_array().is_some_and(|a| {
        a.iter().any(|x| {
            x.as_str()
                .is_some_and(|s| s.ends_with("ForSequenceClassification"))
        })
    }))
}

/// A trainable cross-encoder.
pub struct CrossEncoder {
    name: String,
    /// The folder with the encoder's config and tokenizer.
    dir: PathBuf,
    config: serde_json::Value,
    varmap: VarMap,
    dtypes: BTreeMap<String, DType>,
    backbone: Backbone,
    head: ClassifierHead,
    device: Device,
    options: CrossEncoderOptions,
}

/// Box-Muller normal draws with standard deviation `std`.
fn normal(rng: &mut SplitMix, n: usize, std: f32) -> Vec<f32> {
    (0..n)
        .map(|_| {
            let u1 = ((rng.next_u64() >> 11) as f64 + 1.0) / (1u64 << 53) as f64;
            let u2 = (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
            ((-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()) as f32 * std
        })
        .collect()
}

impl CrossEncoder {
    /// Resolves `spec` (folder or hub id) and loads it.
    pub fn load(spec: &str, opts: &CrossEncoderOptions) -> Result<Self> {
        let dir = encoder_dir(&resolve_model(spec)?)?;
        let arch = detect(&dir)?;
        let config_json: serde_json::Value =
            crate::data::json_file::read_json(&dir.join("config.json"))?;
        let device = open_device(&opts.device)?;
        let (varmap, dtypes, num_labels) = head_weights(&arch, &dir, &device, opts)?;
        let backbone = load_backbone_of(
            arch,
            &dir,
            LoadOptions {
                // Another precision has no backward pass: the packed path.
                backend: if opts.precision == Precision::F32 {
                    Backend::Trainable
                } else {
                    Backend::Packed
                },
                precision: opts.precision,
                device: device.clone(),
                max_length: opts.max_length,
                default_max_length: None,
                lowercase: false,
                weights: WeightSource::Vars(&varmap),
            },
        )?;
        let head = in_weights(
            &dir,
            ClassifierHead::load(&backbone.arch, &backbone.weights, num_labels),
        )?;
        Ok(Self {
            name: spec.to_string(),
            dir,
            config: config_json,
            varmap,
            dtypes,
            backbone,
            head,
            device,
            options: opts.clone(),
        })
    }

    /// The options it was loaded with.
    pub fn options(&self) -> &CrossEncoderOptions {
        &self.options
    }

    /// The name it was loaded by.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Truncation length of a pair in tokens.
    pub fn max_length(&self) -> usize {
        self.backbone.tokenizer.max_length()
    }

    /// The device it runs on.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// SHA-256 of the weight files it was loaded from.
    pub fn base_weights_sha256(&self) -> Result<String> {
        weights_hash(&self.dir)
    }

    /// The parameters by name, sorted.
    pub fn vars(&self) -> Vec<(String, Var)> {
        let data = self.varmap.data().lock().unwrap_or_else(|p| p.into_inner());
        let mut v: Vec<(String, Var)> = data.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    }

    /// Token ids of pairs as fed to the model (truncated longest-first).
    pub fn tokenize(&self, pairs: &[(&str, &str)]) -> Result<Vec<TokenIds>> {
        self.backbone.tokenizer.encode_pairs(pairs)
    }

    /// Logits `(pairs, labels)` of one padded batch; dropout from `train`.
    pub fn forward_t(&self, pairs: &[(&str, &str)], train: Option<&Dropout>) -> Result<Tensor> {
        if train.is_some() && self.options.precision != Precision::F32 {
            return Err(Error::InvalidArgument(format!(
                "a cross-encoder loaded in {} does not train; load it in f32",
                self.options.precision
            )));
        }
        let ids = self.tokenize(pairs)?;
        let rows: Vec<&TokenIds> = ids.iter().collect();
        let batch = TokenBatch::pad(&rows, self.backbone.tokenizer.pad_id());
        let tokens = self.backbone.encoder.forward_t(&batch, train)?;
        let mask = batch.mask_tensor(tokens.device())?;
        self.head.forward_t(&tokens, &mask, train)
    }

    /// The relevance score of each pair, `batch_size` pairs per pass: the logit
    /// of a one-output model, the probability of label 1 of a two-output one
    /// (softmax, as sentence-transformers' CrossEncoder), else the first logit.
    pub fn predict(&self, pairs: &[(&str, &str)], batch_size: usize) -> Result<Vec<f32>> {
        let mut out = Vec::with_capacity(pairs.len());
        for chunk in pairs.chunks(batch_size.max(1)) {
            let logits = self.forward_t(chunk, None)?.detach();
            out.extend(relevance(&logits.to_vec2::<f32>()?));
        }
        Ok(out)
    }

    /// Writes a Hugging Face sequence-classification folder: `config.json`
    /// (architectures, labels), `model.safetensors` (stored dtypes) and the
    /// tokenizer files. Atomic.
    pub fn save(&self, out: &Path) -> Result<()> {
        let mut config = self.config.clone();
        let labels = self.head.labels()?;
        if let Some(obj) = config.as_object_mut() {
            obj.insert(
                "architectures".into(),
                serde_json::json!([self.backbone.arch.classifier.architecture]),
            );
            let id2label: serde_json::Map<String, serde_json::Value> = (0..labels)
                .map(|i| (i.to_string(), format!("LABEL_{i}").into()))
                .collect();
            let label2id: serde_json::Map<String, serde_json::Value> = (0..labels)
                .map(|i| (format!("LABEL_{i}"), i.into()))
                .collect();
            obj.insert("id2label".into(), id2label.into());
            obj.insert("label2id".into(), label2id.into());
        }
        let is_model = |p: &Path| p.join("config.json").is_file();
        write_dir_atomically(out, "model folder", is_model, |tmp| {
            for entry in std::fs::read_dir(&self.dir).map_err(|e| Error::io(&self.dir, e))? {
                let entry = entry.map_err(|e| Error::io(&self.dir, e))?;
                let name = entry.file_name().to_string_lossy().into_owned();
                let tokenizer_file = [
                    "tokenizer",
                    "vocab",
                    "special_tokens_map",
                    "added_tokens",
                    "merges",
                    "sentencepiece",
                ]
                .iter()
                .any(|p| name.starts_with(p));
                if tokenizer_file && entry.path().is_file() {
                    let to = tmp.join(&name);
                    std::fs::copy(entry.path(), &to).map_err(|e| Error::io(&to, e))?;
                }
            }
            let path = tmp.join("config.json");
            let text = serde_json::to_string_pretty(&config).unwrap_or_default();
            std::fs::write(&path, text).map_err(|e| Error::io(&path, e))?;
            let mut tensors = std::collections::HashMap::new();
            for (name, var) in self.vars() {
                let dtype = self.dtypes.get(&name).copied().unwrap_or(DType::F32);
                tensors.insert(name, var.as_tensor().to_dtype(dtype)?);
            }
            let path = tmp.join("model.safetensors");
            save_tensors(&tensors, &path)
        })
    }
}

/// The checkpoint's weights as trainable variables under a task checkpoint's
/// names (`{task prefix}.` on the encoder, other task heads dropped), with a new
/// seeded head where the checkpoint has none; also the stored dtypes and the
/// number of labels.
fn head_weights(
    arch: &Arch,
    dir: &Path,
    device: &Device,
    opts: &CrossEncoderOptions,
) -> Result<(VarMap, BTreeMap<String, DType>, usize)> {
    let (varmap, mut dtypes) = trainable_weights(dir, device)?;
    let h = arch.spec.hidden_size;
    let prefix = format!("{}.", arch.task_prefix);
    let names = arch.classifier;
    let is_head = |k: &str| {
        [Some(names.pre), names.norm, Some(names.out)]
            .iter()
            .flatten()
            .any(|n| k.strip_prefix(n).is_some_and(|rest| rest.starts_with('.')))
    };
    let num_labels;
    {
        let mut data = varmap.data().lock().unwrap_or_else(|p| p.into_inner());
        if !data.keys().any(|k| k.starts_with(&prefix)) {
            let names: Vec<String> = data.keys().cloned().collect();
            for n in names {
                if let Some(v) = data.remove(&n) {
                    let dtype = dtypes.remove(&n).unwrap_or(DType::F32);
                    dtypes.insert(format!("{prefix}{n}"), dtype);
                    data.insert(format!("{prefix}{n}"), v);
                }
            }
        }
        // Other task heads (masked LM, ...) are not part of this model.
        // A bare encoder's pooler is not part of the model either, unless it is
        // the head (BERT's).
        let pooler = format!("{prefix}pooler.");
        data.retain(|k, _| is_head(k) || (k.starts_with(&prefix) && !k.starts_with(&pooler)));
        dtypes.retain(|k, _| data.contains_key(k));
        num_labels = data
            .get(&format!("{}.weight", names.out))
            .map_or(opts.num_labels, |v| v.dims()[0]);
        let std = arch.spec.initializer_range as f32;
        let mut rng = SplitMix::new(opts.seed);
        for (name, out) in [(names.pre, h), (names.out, num_labels)] {
            let w = format!("{name}.weight");
            if !data.contains_key(&w) {
                data.insert(
                    w,
                    Var::from_vec(normal(&mut rng, out * h, std), (out, h), device)?,
                );
                if name != names.pre || arch.head_bias {
                    data.insert(format!("{name}.bias"), Var::zeros(out, DType::F32, device)?);
                }
            }
        }
        if let Some(norm) = names.norm
            && !data.contains_key(&format!("{norm}.weight"))
        {
            data.insert(format!("{norm}.weight"), Var::ones(h, DType::F32, device)?);
            if arch.spec.norm_bias() {
                data.insert(format!("{norm}.bias"), Var::zeros(h, DType::F32, device)?);
            }
        }
    }
    Ok((varmap, dtypes, num_labels))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_logit_is_the_score_two_are_a_softmax() {
        let rows = vec![
            vec![1.5],
            vec![0.0, 0.0],
            vec![1.0, 3.0],
            vec![-200.0, 200.0],
        ];
        let got: Vec<f32> = relevance(&rows).collect();
        // e^3 / (e^1 + e^3) = 1 / (1 + e^-2) = 0.880797…
        assert_eq!(got[0], 1.5);
        assert_eq!(got[1], 0.5);
        assert!((got[2] - 0.880_797).abs() < 1e-6, "{}", got[2]);
        assert_eq!(got[3], 1.0);
    }
}
