//! Loading an encoder with its tokenizer, once for every model kind (sentence
//! encoder, cross-encoder, SPLADE): the family from `config.json`, the weights,
//! the task prefix, the back-end and one max-length rule.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use candle_nn::{VarBuilder, VarMap};

use crate::compute::Precision;
use crate::error::{Error, Result};
use crate::model::arch::{Arch, detect};
use crate::model::backend::{Backend, build_encoder};
use crate::model::encoder::Encoder;
use crate::model::tokenize::TextTokenizer;
use crate::model::weights::{var_builder, weights_named};

/// Where the weights come from.
pub enum WeightSource<'a> {
    /// The folder's weight files (memory-mapped).
    Folder,
    /// Tensors held in memory, by file name (a trained copy).
    Tensors(HashMap<String, Tensor>),
    /// Trainable variables, by file name.
    Vars(&'a VarMap),
}

/// How to load a backbone.
pub struct LoadOptions<'a> {
    /// Which implementation runs the encoder.
    pub backend: Backend,
    /// The number format of its linear layers (not f32: the packed CPU path only).
    pub precision: Precision,
    /// Where it runs.
    pub device: Device,
    /// Truncation length asked for; longer than the model's positions is an error.
    pub max_length: Option<usize>,
    /// The folder's own truncation length (clipped to the positions), used
    /// when none is asked for; 512 (or the positions) without one.
    pub default_max_length: Option<usize>,
    /// Whether texts are lower-cased before tokenising.
    pub lowercase: bool,
    /// The weights.
    pub weights: WeightSource<'a>,
}

/// An encoder, its tokenizer and the weights its heads read.
pub struct Backbone {
    /// The family and its layer description.
    pub arch: Arch,
    /// The encoder.
    pub encoder: Box<dyn Encoder>,
    /// The tokenizer, truncating at the resolved max length.
    pub tokenizer: TextTokenizer,
    /// The weights at their root (heads are found here by full name).
    pub weights: VarBuilder<'static>,
    /// The encoder's prefix in the weights: "" or the family's task prefix.
    pub prefix: &'static str,
}

/// The truncation length: `asked` when the positions allow it (an error
/// otherwise), else the folder's default clipped to them, else 512 or less.
pub fn resolve_max_length(
    asked: Option<usize>,
    default: Option<usize>,
    usable: usize,
) -> Result<usize> {
    match asked {
        Some(n) if n > usable => Err(Error::InvalidArgument(format!(
            "max length {n} exceeds the model's {usable} positions"
        ))),
        Some(n) => Ok(n),
        None => Ok(default.unwrap_or(512).min(usable)),
    }
}

/// Loads the encoder of the Hugging Face folder `dir`.
pub fn load_backbone(dir: &Path, opts: LoadOptions) -> Result<Backbone> {
    load_backbone_of(detect(dir)?, dir, opts)
}

/// [`load_backbone`] for a family already read from `dir` (a caller that
/// needed it first, e.g. to name the weights of a new head).
pub fn load_backbone_of(arch: Arch, dir: &Path, opts: LoadOptions) -> Result<Backbone> {
    let device = &opts.device;
    let weights = match opts.weights {
        WeightSource::Folder => var_builder(dir, DType::F32, device)?,
        WeightSource::Tensors(t) => VarBuilder::from_tensors(t, DType::F32, device),
        WeightSource::Vars(v) => VarBuilder::from_varmap(v, DType::F32, device),
    };
    let word = format!("{}.{}.weight", arch.task_prefix, arch.names.word);
    let prefix = if weights.contains_tensor(&word) {
        arch.task_prefix
    } else {
        ""
    };
    if !weights.contains_tensor(&format!("{}.weight", arch.names.word)) && prefix.is_empty() {
        return Err(Error::model_config(
            dir,
            format!(
                "no {} weights in {} (neither `{}.weight` nor `{word}`)",
                arch.model_type,
                weights_named(dir),
                arch.names.word
            ),
        ));
    }
    let vb = if prefix.is_empty() {
        weights.clone()
    } else {
        weights.pp(prefix)
    };
    // A config.json that disagrees with the weights (a layer count, a width)
    // shows as a tensor of the wrong shape.
    let encoder = build_encoder(&arch, opts.backend, opts.precision, vb).map_err(|e| match e {
        Error::Candle(e) => Error::model_config(
            dir.join("config.json"),
            format!("does not match {}: {e}", weights_named(dir)),
        ),
        e => e,
    })?;
    let max_length = resolve_max_length(
        opts.max_length,
        opts.default_max_length,
        arch.spec.usable_positions(),
    )?;
    let tokenizer =
        TextTokenizer::from_dir(dir, max_length, opts.lowercase, arch.spec.pad_token_id)?;
    tokenizer.check_fits(dir, arch.spec.vocab_size, arch.spec.type_vocab_size)?;
    Ok(Backbone {
        arch,
        encoder,
        tokenizer,
        weights,
        prefix,
    })
}

/// The folder holding a model's encoder: the Transformer module of a
/// sentence-transformers folder, or the folder itself.
pub fn encoder_dir(root: &Path) -> Result<PathBuf> {
    Ok(crate::model::st_folder::StFolder::read(root)?
        .transformer_dir()
        .to_path_buf())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_max_length_rule() {
        assert_eq!(resolve_max_length(Some(128), Some(256), 512).unwrap(), 128);
        assert_eq!(resolve_max_length(None, Some(256), 512).unwrap(), 256);
        assert_eq!(resolve_max_length(None, Some(100_000), 512).unwrap(), 512);
        assert_eq!(resolve_max_length(None, None, 512).unwrap(), 512);
        assert_eq!(resolve_max_length(None, None, 128).unwrap(), 128);
        let e = resolve_max_length(Some(600), None, 512)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("max length 600 exceeds the model's 512 positions"),
            "{e}"
        );
    }
}
