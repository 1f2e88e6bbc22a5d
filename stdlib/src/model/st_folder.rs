//! The layout of a sentence-transformers model folder: `modules.json` and the
//! configuration files of each module.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

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
    /// Truncation length from `sentence_bert_config.json` (None: the model's limit).
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
struct StConfig {
    #[serde(default)]
    prompts: BTreeMap<String, String>,
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    serde_json::from_str(&text)
        .map_err(|e| Error::parse(path, e.line(), Some(e.column()), e.to_string()))
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
                max_seq_length: None,
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
            let kind = e.kind.rsplit('.').next().unwrap_or(&e.kind);
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
                        root,
                        format!(
                            "module type \"{}\" in modules.json is not supported (supported: Transformer, Pooling, Dense, Normalize)",
                            e.kind
                        ),
                    ));
                }
            };
            modules.push(module);
        }
        if !matches!(modules.first(), Some(Module::Transformer(_))) {
            return Err(Error::model_config(
                root,
                "modules.json must start with a Transformer module",
            ));
        }
        let st_cfg_path = root.join("config_sentence_transformers.json");
        let st_cfg: StConfig = if st_cfg_path.is_file() {
            read_json(&st_cfg_path)?
        } else {
            StConfig::default()
        };
        Ok(Self {
            root: root.to_path_buf(),
            modules,
            max_seq_length: sbert.max_seq_length,
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
}
