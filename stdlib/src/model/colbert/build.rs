//! A ColBERT made from any supported encoder, as PyLate makes one: the marker
//! tokens (`[Q] `, `[D] `) added to the tokenizer and the word embeddings (new
//! rows at the mean of the old ones, as transformers' mean resizing gives), and
//! a bias-free projection (seeded uniform, PyTorch's `Linear` bounds), saved as
//! a folder PyLate loads.

use std::collections::HashMap;
use std::path::Path;

use candle_core::{DType, Device, Tensor};
use tokenizers::{AddedToken, Tokenizer};

use crate::atomic::write_dir_atomically;
use crate::error::{Error, Result};
use crate::model::colbert::ColbertConfig;
use crate::model::resolve::resolve_model;
use crate::model::st_folder::{Module, StFolder};
use crate::model::weights::{save_tensors, weight_files};
use crate::random::SplitMix;

/// How to build.
#[derive(Debug, Clone)]
pub struct BuildOptions {
    /// Width of the token vectors (the projection's outputs).
    pub dim: usize,
    /// Seeds the projection.
    pub seed: u64,
    /// PyLate's settings written into the folder.
    pub config: ColbertConfig,
    /// Exact starting weights instead of the seeded ones: the projection
    /// `(dim, hidden)` and one embedding row per added marker (to rebuild a
    /// model PyLate made).
    pub init: Option<(Vec<f32>, Vec<f32>)>,
}

impl Default for BuildOptions {
    /// PyLate's: 128 dimensions, its default settings, seed 42.
    fn default() -> Self {
        Self {
            dim: 128,
            seed: 42,
            config: ColbertConfig::default(),
            init: None,
        }
    }
}

fn fail(dir: &Path, msg: impl std::fmt::Display) -> Error {
    Error::model_config(dir, msg.to_string())
}

/// Writes a ColBERT folder at `out` built from the encoder `spec` (folder or
/// hub id; a sentence-transformers folder keeps its Dense modules, drops its
/// pooling and normalisation). Atomic.
pub fn build_colbert(spec: &str, out: &Path, opts: &BuildOptions) -> Result<()> {
    let dir = resolve_model(spec)?;
    let folder = StFolder::read(&dir)?;
    let tdir = folder.transformer_dir().to_path_buf();
    let dense_dirs: Vec<&Path> = folder.modules[1..]
        .iter()
        .filter_map(|m| match m {
            Module::Dense(d) => Some(d.as_path()),
            _ => None,
        })
        .collect();
    let arch = crate::model::arch::detect(&tdir)?;
    let word_name = format!("{}.weight", arch.names.word);
    // Lengths beyond the encoder's positions are clipped to them.
    let positions = arch.spec.usable_positions();
    let mut settings = opts.config.clone();
    settings.document_length = settings.document_length.min(positions);
    settings.query_length = settings.query_length.min(positions);

    let tok_path = tdir.join("tokenizer.json");
    let mut tokenizer =
        Tokenizer::from_file(&tok_path).map_err(|e| fail(&tok_path, format!("tokenizer: {e}")))?;
    let markers: Vec<&str> = [&opts.config.query_prefix, &opts.config.document_prefix]
        .into_iter()
        .filter(|p| !p.is_empty() && tokenizer.token_to_id(p).is_none())
        .map(String::as_str)
        .collect();
    let vocab = tokenizer.get_vocab_size(true);
    let added: Vec<AddedToken> = markers
        .iter()
        .map(|m| AddedToken::from(m.to_string(), false))
        .collect();
    tokenizer
        .add_tokens(added)
        .map_err(|e| fail(&tok_path, format!("cannot add the markers: {e}")))?;

    // The weights, the word embeddings resized to the tokenizer and grown by the markers.
    let files = weight_files(&tdir)?;
    if files.len() != 1 || files[0].extension().is_none_or(|e| e != "safetensors") {
        return Err(fail(
            &tdir,
            "building a ColBERT needs the weights in one model.safetensors",
        ));
    }
    let mut tensors: HashMap<String, Tensor> =
        candle_core::safetensors::load(&files[0], &Device::Cpu)?;
    let key = tensors
        .keys()
        .find(|k| *k == &word_name || k.ends_with(&format!(".{word_name}")))
        .cloned()
        .ok_or_else(|| fail(&files[0], format!("no tensor {word_name}")))?;
    let words = tensors[&key].to_dtype(DType::F32)?;
    let (rows, hidden) = words.dims2()?;
    let kept = words.narrow(0, 0, rows.min(vocab))?;
    let mean = kept.mean_keepdim(0)?;
    let mut parts = vec![kept];
    if vocab > rows {
        parts.push(mean.repeat((vocab - rows, 1))?);
    }
    let new_rows = match &opts.init {
        Some((_, m)) if m.len() != markers.len() * hidden => {
            return Err(Error::InvalidArgument(format!(
                "{} marker rows given for {} added markers of width {hidden}",
                m.len() / hidden.max(1),
                markers.len()
            )));
        }
        Some((_, m)) => Tensor::from_vec(m.clone(), (markers.len(), hidden), &Device::Cpu)?,
        None => mean.repeat((markers.len(), 1))?,
    };
    parts.push(new_rows);
    let dtype = tensors[&key].dtype();
    tensors.insert(key, Tensor::cat(&parts, 0)?.to_dtype(dtype)?);
    let new_vocab = vocab + markers.len();

    // The projection after the kept Dense modules.
    let mut width = hidden;
    for d in &dense_dirs {
        width = crate::model::dense::Dense::load(d, &Device::Cpu)?.out_features();
    }
    let projection = match &opts.init {
        Some((p, _)) if p.len() != opts.dim * width => {
            return Err(Error::InvalidArgument(format!(
                "projection of {} floats given, {} x {width} expected",
                p.len(),
                opts.dim
            )));
        }
        Some((p, _)) => p.clone(),
        None => {
            let bound = 1.0 / (width as f64).sqrt();
            let mut rng = SplitMix::new(opts.seed);
            (0..opts.dim * width)
                .map(|_| {
                    (((rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0) * bound)
                        as f32
                })
                .collect()
        }
    };

    let mut config: serde_json::Value =
        crate::data::json_file::read_json(&tdir.join("config.json"))?;
    config["vocab_size"] = new_vocab.into();
    let is_model = |p: &Path| p.join("modules.json").is_file();
    write_dir_atomically(out, "model folder", is_model, |tmp| {
        // The transformer's own files, then what changes.
        for entry in std::fs::read_dir(&tdir).map_err(|e| Error::io(&tdir, e))? {
            let path = entry.map_err(|e| Error::io(&tdir, e))?.path();
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            let replaced = [
                "model.safetensors",
                "tokenizer.json",
                "config.json",
                "modules.json",
                "config_sentence_transformers.json",
                "README.md",
            ];
            if path.is_file() && !replaced.contains(&name) {
                std::fs::copy(&path, tmp.join(name)).map_err(|e| Error::io(&path, e))?;
            }
        }
        let write_json = |path: &Path, v: &serde_json::Value| -> Result<()> {
            let text = serde_json::to_string_pretty(v).map_err(|e| Error::io(path, e.into()))?;
            std::fs::write(path, text).map_err(|e| Error::io(path, e))
        };
        write_json(&tmp.join("config.json"), &config)?;
        let weights = tmp.join("model.safetensors");
        save_tensors(&tensors, &weights)?;
        tokenizer
            .save(tmp.join("tokenizer.json"), true)
            .map_err(|e| fail(tmp, format!("cannot write tokenizer.json: {e}")))?;
        let mut modules = vec![serde_json::json!({
            "idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"
        })];
        let mut dense_config = |i: usize, from: Option<&Path>| -> Result<()> {
            let sub = format!("{i}_Dense");
            let to = tmp.join(&sub);
            std::fs::create_dir_all(&to).map_err(|e| Error::io(&to, e))?;
            match from {
                Some(d) => crate::model::sentence::copy_tree(d, &to, &|_: &Path| false)?,
                None => {
                    write_json(
                        &to.join("config.json"),
                        &serde_json::json!({
                            "in_features": width, "out_features": opts.dim, "bias": false,
                            "activation_function": "torch.nn.modules.linear.Identity",
                            "use_residual": false
                        }),
                    )?;
                    let w = Tensor::from_vec(projection.clone(), (opts.dim, width), &Device::Cpu)?;
                    let path = to.join("model.safetensors");
                    save_tensors(&HashMap::from([("linear.weight", w)]), &path)?;
                }
            }
            modules.push(serde_json::json!({
                "idx": i, "name": i.to_string(), "path": sub, "type": "pylate.models.Dense.Dense"
            }));
            Ok(())
        };
        for (i, d) in dense_dirs.iter().enumerate() {
            dense_config(i + 1, Some(d))?;
        }
        dense_config(dense_dirs.len() + 1, None)?;
        write_json(&tmp.join("modules.json"), &serde_json::Value::from(modules))?;
        let mut st = serde_json::to_value(&settings).map_err(|e| Error::io(tmp, e.into()))?;
        st["similarity_fn_name"] = "MaxSim".into();
        st["prompts"] = serde_json::json!({"query": "", "document": ""});
        write_json(&tmp.join("config_sentence_transformers.json"), &st)?;
        if !tmp.join("sentence_bert_config.json").is_file() {
            write_json(
                &tmp.join("sentence_bert_config.json"),
                &serde_json::json!({"max_seq_length": folder.max_seq_length.unwrap_or(512),
                                    "do_lower_case": folder.do_lower_case}),
            )?;
        }
        Ok(())
    })
}
