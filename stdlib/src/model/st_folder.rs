//! The layout of a sentence-transformers model folder: `modules.json` and the
//! configuration files of each module.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::data::json_file::read_json;
use crate::error::{Error, Result};
use crate::model::pooling::{Pooling, PoolingMode};

/// One step of the sentence-transformers pipeline, in `modules.json` order.
#[derive(Debug, Clone, PartialEq)]
pub enum Module {
    /// The transformer, in this folder.
    Transformer(PathBuf),
    /// Pooling of token embeddings.
    Pooling(Pooling),
    /// A `Dense` layer stored in this folder.
    Dense(PathBuf),
    /// L2 normalisation.
    Normalize,
}

/// What a model folder says about how to turn text into one vector.
#[derive(Debug, Clone)]
pub struct StFolder {
    /// The folder itself.
    pub root: PathBuf,
    /// The pipeline; the first module is always the transformer.
    pub modules: Vec<Module>,
    /// Truncation length: `max_seq_length` of `sentence_bert_config.json` (before
    /// sentence-transformers 6), else the tokenizer's `model_max_length` (6.x keeps
    /// it there); None: the model's limit.
    pub max_seq_length: Option<usize>,
    /// Whether texts are lower-cased before tokenising.
    pub do_lower_case: bool,
    /// Named prompts from `config_sentence_transformers.json` (e.g. "query").
    pub prompts: BTreeMap<String, String>,
    /// Whether `modules.json` was present (otherwise a plain Hugging Face folder
    /// with the default mean pooling, as sentence-transformers does).
    pub is_sentence_transformer: bool,
}

#[derive(Deserialize)]
struct ModuleEntry {
    #[serde(default)]
    path: String,
    #[serde(rename = "type")]
    kind: String,
}

#[derive(Deserialize, Default)]
struct SbertConfig {
    max_seq_length: Option<usize>,
    #[serde(default)]
    do_lower_case: bool,
}

#[derive(Deserialize, Default)]
struct TokenizerConfig {
    model_max_length: Option<f64>,
}

/// `model_max_length` from the tokenizer's config, unless it is the "no limit"
/// sentinel (about 1e30) that transformers writes for tokenizers without one.
fn tokenizer_max_length(dir: &Path) -> Result<Option<usize>> {
    let path = dir.join("tokenizer_config.json");
    if !path.is_file() {
        return Ok(None);
    }
    let c: TokenizerConfig = read_json(&path)?;
    Ok(c.model_max_length
        .filter(|n| (1.0..1e9).contains(n))
        .map(|n| n as usize))
}

#[derive(Deserialize, Default)]
struct StConfig {
    #[serde(default)]
    prompts: BTreeMap<String, String>,
}

impl StFolder {
    /// Reads the folder's module list and settings.
    pub fn read(root: &Path) -> Result<Self> {
        let modules_path = root.join("modules.json");
        if !modules_path.is_file() {
            if !root.join("config.json").is_file() {
                return Err(Error::model_config(
                    root,
                    "neither modules.json (sentence-transformers) nor config.json (Hugging Face) found",
                ));
            }
            return Ok(Self {
                root: root.to_path_buf(),
                modules: vec![
                    Module::Transformer(root.to_path_buf()),
                    Module::Pooling(Pooling::new(PoolingMode::Mean)),
                ],
                max_seq_length: tokenizer_max_length(root)?,
                do_lower_case: false,
                prompts: BTreeMap::new(),
                is_sentence_transformer: false,
            });
        }
        let entries: Vec<ModuleEntry> = read_json(&modules_path)?;
        let mut modules = Vec::new();
        let mut sbert = SbertConfig::default();
        for e in &entries {
            let dir = root.join(&e.path);
            // A Pooling module's settings are in its folder (a Normalize
            // module's folder is empty, and the hub drops empty folders).
            let kind = e.kind.rsplit('.').next().unwrap_or(&e.kind);
            if kind == "Pooling" && !dir.is_dir() {
                return Err(Error::model_config(
                    &modules_path,
                    format!(
                        "module \"{}\" is in the folder \"{}\", which does not exist",
                        e.kind, e.path
                    ),
                ));
            }
            let module = match kind {
                "Transformer" => {
                    let cfg = dir.join("sentence_bert_config.json");
                    if cfg.is_file() {
                        sbert = read_json(&cfg)?;
                    }
                    Module::Transformer(dir)
                }
                "Pooling" => Module::Pooling(Pooling::from_file(&dir.join("config.json"))?),
                "Dense" => Module::Dense(dir),
                "Normalize" => Module::Normalize,
                _ => {
                    return Err(Error::model_config(
                        &modules_path,
                        format!(
                            "module type \"{}\" is not supported (supported: Transformer, Pooling, Dense, Normalize)",
                            e.kind
                        ),
                    ));
                }
            };
            modules.push(module);
        }
        if !matches!(modules.first(), Some(Module::Transformer(_))) {
            return Err(Error::model_config(
                &modules_path,
                "the first module must be a Transformer",
            ));
        }
        let st_cfg_path = root.join("config_sentence_transformers.json");
        let st_cfg: StConfig = if st_cfg_path.is_file() {
            read_json(&st_cfg_path)?
        } else {
            StConfig::default()
        };
        let max_seq_length = match sbert.max_seq_length {
            Some(n) => Some(n),
            None => match &modules[0] {
                Module::Transformer(dir) => tokenizer_max_length(dir)?,
                _ => None,
            },
        };
        Ok(Self {
            root: root.to_path_buf(),
            modules,
            max_seq_length,
            do_lower_case: sbert.do_lower_case,
            prompts: st_cfg.prompts,
            is_sentence_transformer: true,
        })
    }

    /// The transformer's folder.
    pub fn transformer_dir(&self) -> &Path {
        match &self.modules[0] {
            Module::Transformer(p) => p,
            _ => unreachable!("checked in read()"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, rel: &str, text: &str) {
        let p = dir.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }

    #[test]
    fn reads_modules_in_order_with_settings() {
        let d = tempfile::tempdir().unwrap();
        write(
            d.path(),
            "modules.json",
            r#"[{"idx":0,"name":"0","path":"","type":"sentence_transformers.models.Transformer"},
                {"idx":1,"name":"1","path":"1_Pooling","type":"sentence_transformers.models.Pooling"},
                {"idx":2,"name":"2","path":"2_Dense","type":"sentence_transformers.models.Dense"},
                {"idx":3,"name":"3","path":"3_Normalize","type":"sentence_transformers.models.Normalize"}]"#,
        );
        write(
            d.path(),
            "sentence_bert_config.json",
            r#"{"max_seq_length": 256, "do_lower_case": true}"#,
        );
        write(
            d.path(),
            "1_Pooling/config.json",
            r#"{"word_embedding_dimension": 4, "pooling_mode_cls_token": true, "pooling_mode_mean_tokens": true}"#,
        );
        write(
            d.path(),
            "config_sentence_transformers.json",
            r#"{"prompts": {"query": "query: "}}"#,
        );
        let f = StFolder::read(d.path()).unwrap();
        assert_eq!(f.max_seq_length, Some(256));
        assert!(f.do_lower_case);
        assert_eq!(f.prompts["query"], "query: ");
        assert_eq!(f.modules.len(), 4);
        match &f.modules[1] {
            Module::Pooling(p) => assert_eq!(p.modes, vec![PoolingMode::Cls, PoolingMode::Mean]),
            m => panic!("unexpected {m:?}"),
        }
        assert_eq!(f.modules[2], Module::Dense(d.path().join("2_Dense")));
        assert_eq!(f.modules[3], Module::Normalize);
    }

    #[test]
    fn unknown_module_is_a_clear_error() {
        let d = tempfile::tempdir().unwrap();
        write(
            d.path(),
            "modules.json",
            r#"[{"path":"","type":"sentence_transformers.models.Transformer"},{"path":"x","type":"my.Weird"}]"#,
        );
        let e = StFolder::read(d.path()).unwrap_err().to_string();
        assert!(e.contains("my.Weird"), "{e}");
    }

    #[test]
    fn malformed_json_names_file_line_and_column() {
        let d = tempfile::tempdir().unwrap();
        write(d.path(), "modules.json", "[\n{\"path\": }]");
        let e = StFolder::read(d.path()).unwrap_err().to_string();
        assert!(e.contains("modules.json:2:"), "{e}");
    }

    #[test]
    fn reads_a_sentence_transformers_6_folder() {
        // As `SentenceTransformer.save` of 6.2 writes all-MiniLM-L6-v2.
        let d = tempfile::tempdir().unwrap();
        write(
            d.path(),
            "modules.json",
            r#"[{"idx":0,"name":"0","path":"","type":"sentence_transformers.base.modules.transformer.Transformer"},
                {"idx":1,"name":"1","path":"1_Pooling","type":"sentence_transformers.sentence_transformer.modules.pooling.Pooling"},
                {"idx":2,"name":"2","path":"2_Normalize","type":"sentence_transformers.base.modules.normalize.Normalize"}]"#,
        );
        write(
            d.path(),
            "sentence_bert_config.json",
            r#"{"transformer_task": "feature-extraction", "module_output_name": "token_embeddings"}"#,
        );
        write(
            d.path(),
            "tokenizer_config.json",
            r#"{"do_lower_case": true, "max_length": 128, "model_max_length": 256}"#,
        );
        write(
            d.path(),
            "1_Pooling/config.json",
            r#"{"embedding_dimension": 384, "pooling_mode": "mean", "include_prompt": true}"#,
        );
        write(
            d.path(),
            "config_sentence_transformers.json",
            r#"{"model_type": "SentenceTransformer", "prompts": {"document": "", "query": ""}, "similarity_fn_name": "cosine"}"#,
        );
        let f = StFolder::read(d.path()).unwrap();
        assert_eq!(f.max_seq_length, Some(256));
        assert_eq!(f.modules.len(), 3);
        assert_eq!(
            f.modules[1],
            Module::Pooling(Pooling::new(PoolingMode::Mean))
        );
        assert_eq!(f.modules[2], Module::Normalize);
        assert_eq!(f.prompts["query"], "");
        // transformers' "no limit" sentinel leaves the model's own limit.
        write(
            d.path(),
            "tokenizer_config.json",
            r#"{"model_max_length": 1000000000000000019884624838656}"#,
        );
        assert_eq!(StFolder::read(d.path()).unwrap().max_seq_length, None);
    }
}
