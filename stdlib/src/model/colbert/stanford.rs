//! Stanford ColBERT checkpoints (colbert-ai's layout, e.g. colbert-ir/colbertv2.0):
//! a Hugging Face folder whose `config.json` names the `HF_ColBERT`
//! architecture, with the encoder under its task prefix (`bert.`) and the
//! bias-free projection `linear.weight` in the same weights, and colbert-ai's
//! settings in `artifact.metadata`. Read as PyLate reads them; the settings
//! map onto PyLate's.

use std::path::Path;

use serde::Deserialize;

use super::ColbertConfig;
use crate::error::{Error, Result};

/// The weights name of a Stanford checkpoint's projection.
pub(super) const PROJECTION: &str = "linear";

/// The settings file colbert-ai writes beside the weights.
const METADATA: &str = "artifact.metadata";

/// Whether `dir` is a Stanford ColBERT checkpoint (`config.json` names the
/// `HF_ColBERT` architecture, as PyLate checks).
pub fn is_stanford(dir: &Path) -> bool {
    #[derive(Deserialize)]
    struct HfConfig {
        #[serde(default)]
        architectures: Vec<String>,
    }
    std::fs::read_to_string(dir.join("config.json"))
        .ok()
        .and_then(|t| serde_json::from_str::<HfConfig>(&t).ok())
        .is_some_and(|c| c.architectures.first().is_some_and(|a| a == "HF_ColBERT"))
}

/// colbert-ai's settings that encoding depends on (the rest are training and
/// indexing settings).
#[derive(Deserialize, Default)]
struct Metadata {
    query_token_id: Option<String>,
    doc_token_id: Option<String>,
    query_maxlen: Option<usize>,
    doc_maxlen: Option<usize>,
    attend_to_mask_tokens: Option<bool>,
    mask_punctuation: Option<bool>,
    similarity: Option<String>,
    interaction: Option<String>,
    dim: Option<usize>,
}

/// colbert-ai's default width of the token vectors.
const DEFAULT_DIM: usize = 128;

/// The late-interaction settings of a Stanford checkpoint: its markers
/// (`[unused0]`/`[unused1]` unless the metadata names others), lengths and
/// expansion from `artifact.metadata`, PyLate's defaults for what it leaves
/// out (as PyLate loads it), and no skiplist when colbert-ai's
/// `mask_punctuation` is off; with the projection's width (`dim`).
pub(super) fn config(dir: &Path) -> Result<(ColbertConfig, usize)> {
    let path = dir.join(METADATA);
    let meta: Metadata = if path.is_file() {
        crate::data::json_file::read_json(&path)?
    } else {
        Metadata::default()
    };
    if let Some(s) = meta.similarity.as_deref().filter(|s| *s != "cosine") {
        return Err(Error::model_config(
            &path,
            format!(
                "similarity \"{s}\" is not supported: rankbook scores ColBERT by cosine MaxSim"
            ),
        ));
    }
    if let Some(i) = meta.interaction.as_deref().filter(|i| *i != "colbert") {
        return Err(Error::model_config(
            &path,
            format!("interaction \"{i}\" is not supported (only \"colbert\")"),
        ));
    }
    let defaults = ColbertConfig::default();
    let config = ColbertConfig {
        query_prefix: meta.query_token_id.unwrap_or_else(|| "[unused0]".into()),
        document_prefix: meta.doc_token_id.unwrap_or_else(|| "[unused1]".into()),
        query_length: meta.query_maxlen.unwrap_or(defaults.query_length),
        document_length: meta.doc_maxlen.unwrap_or(defaults.document_length),
        attend_to_expansion_tokens: meta
            .attend_to_mask_tokens
            .unwrap_or(defaults.attend_to_expansion_tokens),
        skiplist_words: if meta.mask_punctuation.unwrap_or(true) {
            defaults.skiplist_words
        } else {
            Vec::new()
        },
        do_query_expansion: true,
    };
    Ok((config, meta.dim.unwrap_or(DEFAULT_DIM)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn folder(config: &str, metadata: Option<&str>) -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("config.json"), config).unwrap();
        if let Some(m) = metadata {
            std::fs::write(d.path().join(METADATA), m).unwrap();
        }
        d
    }

    #[test]
    fn the_architecture_names_a_stanford_checkpoint() {
        let yes = folder(r#"{"architectures": ["HF_ColBERT"]}"#, None);
        let no = folder(r#"{"architectures": ["BertModel"]}"#, None);
        assert!(is_stanford(yes.path()));
        assert!(!is_stanford(no.path()));
        assert!(!is_stanford(Path::new("/nonexistent")));
    }

    #[test]
    fn metadata_maps_onto_pylates_settings() {
        let d = folder(
            "{}",
            Some(
                r#"{"query_token_id": "[unused3]", "doc_token_id": "[unused4]", "query_maxlen": 24,
                    "doc_maxlen": 300, "attend_to_mask_tokens": true, "mask_punctuation": false,
                    "similarity": "cosine", "dim": 96, "lr": 3e-06}"#,
            ),
        );
        let (c, dim) = config(d.path()).unwrap();
        assert_eq!(dim, 96);
        assert_eq!(
            (c.query_prefix.as_str(), c.document_prefix.as_str()),
            ("[unused3]", "[unused4]")
        );
        assert_eq!((c.query_length, c.document_length), (24, 300));
        assert!(c.attend_to_expansion_tokens && c.do_query_expansion);
        assert!(c.skiplist_words.is_empty());
        // Without metadata: Stanford's markers, PyLate's defaults.
        let (bare, dim) = config(folder("{}", None).path()).unwrap();
        assert_eq!(dim, DEFAULT_DIM);
        let defaults = ColbertConfig::default();
        assert_eq!(bare.query_prefix, "[unused0]");
        assert_eq!(bare.document_prefix, "[unused1]");
        assert_eq!(bare.document_length, defaults.document_length);
        assert_eq!(bare.skiplist_words, defaults.skiplist_words);
    }

    #[test]
    fn other_similarities_and_damaged_metadata_are_refused_naming_the_file() {
        let l2 = folder("{}", Some(r#"{"similarity": "l2"}"#));
        let e = config(l2.path()).unwrap_err().to_string();
        assert!(
            e.contains("artifact.metadata") && e.contains("\"l2\""),
            "{e}"
        );
        let bad = folder("{}", Some("{\"query_maxlen\": \"long\"}"));
        let e = config(bad.path()).unwrap_err().to_string();
        assert!(e.contains("artifact.metadata:1:"), "{e}");
    }
}
