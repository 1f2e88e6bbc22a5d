//! A head trained on a frozen encoder, as Quaterion does: every distinct text
//! is encoded once (through the embedding cache, so a second run encodes
//! nothing), and each step costs one small matrix product. The result is the
//! encoder's folder plus a `Dense` module.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Mutex;

use candle_core::{Device, Tensor, Var};

use crate::atomic::write_dir_atomically;
use crate::data::training::TrainingData;
use crate::error::{Error, Result};
use crate::loss::{Embedder, Role};
use crate::model::head::{Head, HeadKind};
use crate::model::sentence::copy_tree;
use crate::model::{EncodeOptions, ModelOptions, SentenceEncoder};
use crate::train::trainee::{Scoring, Trainee};

/// Frozen vectors by role and text.
type Frozen = HashMap<(Role, String), Vec<f32>>;

/// A head on a frozen encoder, with the encoder's vectors of the training texts.
pub struct FrozenEncoderHead<'a> {
    encoder: &'a SentenceEncoder,
    head: Head,
    vectors: Mutex<Frozen>,
    /// How texts missing from `vectors` (validation examples) are encoded.
    batch_size: usize,
}

/// The texts of `data` by the role the losses embed them in.
fn texts_by_role(data: &TrainingData) -> [Vec<&str>; 2] {
    let mut queries = Vec::new();
    let mut docs = Vec::new();
    match data {
        TrainingData::Examples(v) => {
            for e in v {
                queries.push(e.anchor.as_str());
                docs.push(e.positive.as_str());
                docs.extend(e.negatives.iter().map(String::as_str));
            }
        }
        TrainingData::Pairs(v) => {
            for p in v {
                queries.push(p.text_a.as_str());
                docs.push(p.text_b.as_str());
            }
        }
        TrainingData::Groups(v) => queries.extend(v.iter().map(|g| g.text.as_str())),
    }
    for t in [&mut queries, &mut docs] {
        t.sort_unstable();
        t.dedup();
    }
    [queries, docs]
}

impl<'a> FrozenEncoderHead<'a> {
    /// A new head (initialised from `seed`) on `encoder`, whose vectors of
    /// every text in `data` are computed now with `opts` (cache, progress).
    pub fn new(
        encoder: &'a SentenceEncoder,
        kind: HeadKind,
        data: &TrainingData,
        seed: u64,
        opts: &EncodeOptions,
    ) -> Result<Self> {
        if !encoder.folder().is_sentence_transformer {
            return Err(Error::InvalidArgument(format!(
                "{}: a head needs a sentence-transformers folder (modules.json)",
                encoder.dir().display()
            )));
        }
        let h = Self {
            encoder,
            head: Head::new(kind, encoder.dim(), seed, encoder.device())?,
            vectors: Mutex::new(HashMap::new()),
            batch_size: opts.batch_size,
        };
        let [queries, docs] = texts_by_role(data);
        h.encode_missing(&queries, Role::Query, opts)?;
        h.encode_missing(&docs, Role::Document, opts)?;
        Ok(h)
    }

    /// The head being trained.
    pub fn head(&self) -> &Head {
        &self.head
    }

    fn encode_missing(&self, texts: &[&str], role: Role, opts: &EncodeOptions) -> Result<()> {
        let mut map = self.vectors.lock().unwrap_or_else(|e| e.into_inner());
        let todo: Vec<&str> = texts
            .iter()
            .copied()
            .filter(|t| !map.contains_key(&(role, t.to_string())))
            .collect();
        if todo.is_empty() {
            return Ok(());
        }
        let v = match role {
            Role::Query => self.encoder.encode_queries(&todo, opts)?,
            Role::Document => self.encoder.encode_documents(&todo, opts)?,
        };
        for (i, t) in todo.iter().enumerate() {
            map.insert((role, t.to_string()), v.row(i).to_vec());
        }
        Ok(())
    }
}

impl Embedder for FrozenEncoderHead<'_> {
    fn embed(&self, texts: &[&str], role: Role, _part: u64, track: bool) -> Result<Tensor> {
        let opts = EncodeOptions {
            batch_size: self.batch_size,
            ..Default::default()
        };
        self.encode_missing(texts, role, &opts)?;
        let map = self.vectors.lock().unwrap_or_else(|e| e.into_inner());
        let dim = self.encoder.dim();
        let mut flat = Vec::with_capacity(texts.len() * dim);
        for t in texts {
            let v = map
                .get(&(role, t.to_string()))
                .ok_or_else(|| Error::InvalidArgument(format!("no frozen vector for \"{t}\"")))?;
            flat.extend_from_slice(v);
        }
        let x = Tensor::from_vec(flat, (texts.len(), dim), self.encoder.device())?;
        let y = self.head.forward(&x)?;
        Ok(if track { y } else { y.detach() })
    }
}

impl Trainee for FrozenEncoderHead<'_> {
    fn vars(&self) -> Vec<(String, Var)> {
        self.head.vars()
    }
    fn scoring(&self, _dropout_seed: Option<u64>) -> Scoring<'_> {
        Scoring::Bi(Box::new(self))
    }
    fn identity(&self) -> Result<(String, String)> {
        let f = self.encoder.identity()?;
        Ok((
            format!("{} + {} head", self.encoder.name(), self.head.kind().name()),
            format!("{}+{}", f.weights_sha256, self.head.kind().name()),
        ))
    }
    fn device(&self) -> Device {
        self.encoder.device().clone()
    }
    fn inference_model(&self) -> Result<SentenceEncoder> {
        let tmp = tempfile::tempdir().map_err(|e| Error::io(std::env::temp_dir(), e))?;
        let dir = tmp.path().join("model");
        self.save(&dir)?;
        SentenceEncoder::from_temp_dir(
            tmp,
            "model",
            &ModelOptions {
                max_length: Some(self.encoder.max_length()),
                ..Default::default()
            },
        )
    }
    fn save(&self, out: &Path) -> Result<()> {
        let src = self.encoder.dir();
        let modules_path = src.join("modules.json");
        let text =
            std::fs::read_to_string(&modules_path).map_err(|e| Error::io(&modules_path, e))?;
        let mut modules: Vec<serde_json::Value> = serde_json::from_str(&text)
            .map_err(|e| Error::parse(&modules_path, e.line(), Some(e.column()), e.to_string()))?;
        let idx = modules.len();
        let name = format!("{idx}_Dense");
        modules.push(serde_json::json!({
            "idx": idx, "name": idx.to_string(), "path": name,
            "type": "sentence_transformers.models.Dense"
        }));
        let (weight, bias) = self.head.as_linear()?;
        let dim = self.encoder.dim();
        let is_model = |p: &Path| p.join("modules.json").is_file();
        write_dir_atomically(out, "model folder", is_model, |tmp| {
            copy_tree(src, tmp, &|_| false)?;
            let write = |p: std::path::PathBuf, s: String| {
                std::fs::write(&p, s).map_err(|e| Error::io(&p, e))
            };
            write(
                tmp.join("modules.json"),
                serde_json::to_string_pretty(&modules).unwrap_or_default(),
            )?;
            let d = tmp.join(&name);
            std::fs::create_dir_all(&d).map_err(|e| Error::io(&d, e))?;
            write(
                d.join("config.json"),
                serde_json::json!({
                    "in_features": dim, "out_features": dim, "bias": true,
                    "activation_function": "torch.nn.modules.linear.Identity"
                })
                .to_string(),
            )?;
            let tensors: HashMap<String, Tensor> = [
                ("linear.weight".to_string(), weight),
                ("linear.bias".to_string(), bias),
            ]
            .into();
            let path = d.join("model.safetensors");
            crate::model::weights::save_tensors(&tensors, &path)
        })
    }
}
