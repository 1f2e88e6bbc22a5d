//! Tokenisation with sentence-transformers' semantics.
//!
//! Why the overrides: `tokenizer.json` files often carry the settings they were
//! exported with (all-MiniLM-L6-v2's says truncate at 128 and pad to a fixed 128),
//! while sentence-transformers truncates at `max_seq_length` and pads each batch to
//! its longest text. Using the file as-is changes every long text's embedding.

use std::path::Path;

use tokenizers::{Tokenizer, TruncationParams, TruncationStrategy};

use crate::error::{Error, Result};

/// Token ids of one text (no padding).
#[derive(Debug, Clone, PartialEq)]
pub struct TokenIds {
    /// Vocabulary ids, with the special tokens.
    pub ids: Vec<u32>,
    /// Segment (token type) ids.
    pub type_ids: Vec<u32>,
    /// Tokens attention reads as keys: the first `keys` (None: all). A ColBERT
    /// query's expansion tokens come after them.
    pub keys: Option<usize>,
}

/// A tokenizer configured like sentence-transformers' `Transformer` module.
pub struct TextTokenizer {
    inner: Tokenizer,
    /// The same tokenizer truncating only a pair's second text.
    pairs: Tokenizer,
    max_length: usize,
    lowercase: bool,
    /// Whether texts are stripped of surrounding white space first.
    strip: bool,
    pad_id: u32,
}

impl TextTokenizer {
    /// Loads `tokenizer.json` from `dir`, truncating at `max_length`, padding off;
    /// `pad_id` is the padding id unless the file names one.
    pub fn from_dir(dir: &Path, max_length: usize, lowercase: bool, pad_id: u32) -> Result<Self> {
        let path = dir.join("tokenizer.json");
        if !path.is_file() {
            return Err(Error::model_config(
                dir,
                "no tokenizer.json (tokenizers saved with `save_pretrained` by a fast tokenizer are needed)",
            ));
        }
        // The tokenizers library panics on some syntax errors (inside its
        // decoder section); a plain JSON parse first reports them with line
        // and column.
        let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
        let json: serde_json::Value = crate::data::json_file::parse_json(&path, &text)?;
        // Nor does it check, when reading a template, that the special tokens
        // it names exist: encoding would panic.
        check_post_processor(&json["post_processor"])
            .map_err(|e| Error::model_config(&path, format!("post_processor: {e}")))?;
        let mut inner: Tokenizer = text
            .parse()
            .map_err(|e| Error::Tokenizer(format!("{}: {e}", path.display())))?;
        let pad_id = inner.get_padding().map_or(pad_id, |p| p.pad_id);
        inner.with_padding(None);
        let mut t = Self {
            pairs: inner.clone(),
            inner,
            max_length,
            lowercase,
            strip: true,
            pad_id,
        };
        t.set_max_length(max_length)?;
        Ok(t)
    }

    /// Changes the truncation length (in tokens, special tokens included).
    pub fn set_max_length(&mut self, max_length: usize) -> Result<()> {
        if max_length < 2 {
            return Err(Error::InvalidArgument(format!(
                "max length {max_length} is too small (it must hold [CLS] and [SEP])"
            )));
        }
        self.inner
            .with_truncation(Some(TruncationParams {
                max_length,
                strategy: TruncationStrategy::LongestFirst,
                stride: 0,
                ..Default::default()
            }))
            .map_err(|e| Error::Tokenizer(e.to_string()))?;
        self.pairs = self.inner.clone();
        self.pairs
            .with_truncation(Some(TruncationParams {
                max_length,
                strategy: TruncationStrategy::OnlySecond,
                stride: 0,
                ..Default::default()
            }))
            .map_err(|e| Error::Tokenizer(e.to_string()))?;
        self.max_length = max_length;
        Ok(())
    }

    /// The truncation length in tokens.
    pub fn max_length(&self) -> usize {
        self.max_length
    }

    /// The id used for padding.
    pub fn pad_id(&self) -> u32 {
        self.pad_id
    }

    /// Refuses a tokenizer whose ids (vocabulary, padding, special tokens,
    /// segments) do not all fit the model's embedding tables: reading past
    /// them would fail mid-encoding, or give garbage. `dir` is the folder of
    /// its tokenizer.json.
    pub fn check_fits(&self, dir: &Path, vocab_size: usize, type_vocab_size: usize) -> Result<()> {
        let path = dir.join("tokenizer.json");
        let too_big = |what: &str, id: u32, limit: usize| {
            Error::model_config(
                &path,
                format!("{what} {id} is outside the model's {limit} embeddings (config.json)"),
            )
        };
        let vocab = self.inner.get_vocab(true);
        if let Some((token, id)) = vocab.iter().max_by_key(|(_, id)| **id)
            && *id as usize >= vocab_size
        {
            return Err(too_big(&format!("token {token:?} has id"), *id, vocab_size));
        }
        if self.pad_id as usize >= vocab_size {
            return Err(too_big("the padding id", self.pad_id, vocab_size));
        }
        // Special tokens and segment ids come from the post-processor's
        // templates: one pair shows them all.
        for t in self.encode_pairs(&[("a", "b")])? {
            if let Some(id) = t.ids.iter().find(|id| **id as usize >= vocab_size) {
                return Err(too_big("the special token id", *id, vocab_size));
            }
            if type_vocab_size > 0
                && let Some(id) = t
                    .type_ids
                    .iter()
                    .find(|id| **id as usize >= type_vocab_size)
            {
                return Err(too_big("the segment id", *id, type_vocab_size));
            }
        }
        Ok(())
    }

    /// The wrapped `tokenizers` tokenizer.
    pub fn inner(&self) -> &Tokenizer {
        &self.inner
    }

    /// Keeps the white space around texts (sentence-transformers 6's sentence
    /// encoders no longer strip it; a byte-level BPE such as ModernBERT's
    /// tokenises it). Cross-encoders, SPLADE and ColBERT strip, as their
    /// references do.
    pub fn keep_surrounding_spaces(&mut self) {
        self.strip = false;
    }

    fn prepare(&self, text: &str) -> String {
        let t = if self.strip { text.trim() } else { text };
        if self.lowercase {
            t.to_lowercase()
        } else {
            t.to_string()
        }
    }

    /// Tokenises texts in parallel, in input order.
    pub fn encode_batch(&self, texts: &[&str]) -> Result<Vec<TokenIds>> {
        let prepared: Vec<String> = texts.iter().map(|t| self.prepare(t)).collect();
        let encodings = self
            .inner
            .encode_batch(prepared, true)
            .map_err(|e| Error::Tokenizer(e.to_string()))?;
        Ok(token_ids(encodings))
    }

    /// Tokenises (first, second) text pairs in parallel, in input order, with
    /// segment ids 0 and 1. Only the second text (the document) is truncated, as
    /// sentence-transformers' CrossEncoder does; a first text too long for that
    /// alone falls back to truncating the longer text first.
    pub fn encode_pairs(&self, pairs: &[(&str, &str)]) -> Result<Vec<TokenIds>> {
        let prepared: Vec<(String, String)> = pairs
            .iter()
            .map(|(a, b)| (self.prepare(a), self.prepare(b)))
            .collect();
        let inputs = |p: &[(String, String)]| -> Vec<tokenizers::EncodeInput> {
            p.iter()
                .map(|(a, b)| (a.clone(), b.clone()).into())
                .collect()
        };
        if let Ok(encodings) = self.pairs.encode_batch(inputs(&prepared), true) {
            return Ok(token_ids(encodings));
        }
        let mut out = Vec::with_capacity(pairs.len());
        for p in &prepared {
            let one = inputs(std::slice::from_ref(p));
            let e = match self.pairs.encode_batch(one.clone(), true) {
                Ok(e) => e,
                Err(_) => self
                    .inner
                    .encode_batch(one, true)
                    .map_err(|e| Error::Tokenizer(e.to_string()))?,
            };
            out.extend(token_ids(e));
        }
        Ok(out)
    }
}

/// The ids and segment ids of encodings.
fn token_ids(encodings: Vec<tokenizers::Encoding>) -> Vec<TokenIds> {
    encodings
        .into_iter()
        .map(|e| TokenIds {
            ids: e.get_ids().to_vec(),
            type_ids: e.get_type_ids().to_vec(),
            keys: None,
        })
        .collect()
}

/// What the tokenizers library assumes of a template post-processor without
/// checking when it reads one: every special token a template names is
/// defined, with as many ids as tokens.
fn check_post_processor(p: &serde_json::Value) -> std::result::Result<(), String> {
    match p["type"].as_str() {
        Some("Sequence") => p["processors"]
            .as_array()
            .into_iter()
            .flatten()
            .try_for_each(check_post_processor),
        Some("TemplateProcessing") => {
            let tokens = p["special_tokens"].as_object();
            for (id, t) in tokens.into_iter().flatten() {
                let (ids, names) = (t["ids"].as_array(), t["tokens"].as_array());
                if ids.map(Vec::len) != names.map(Vec::len) {
                    return Err(format!(
                        "special token {id:?} has not as many ids as tokens"
                    ));
                }
            }
            for template in ["single", "pair"] {
                for piece in p[template].as_array().into_iter().flatten() {
                    if let Some(id) = piece["SpecialToken"]["id"].as_str()
                        && !tokens.is_some_and(|t| t.contains_key(id))
                    {
                        return Err(format!(
                            "the {template} template names the special token {id:?}, which is not defined"
                        ));
                    }
                }
            }
            Ok(())
        }
        _ => Ok(()),
    }
}
