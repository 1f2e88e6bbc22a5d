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
        let mut inner = Tokenizer::from_file(&path)
            .map_err(|e| Error::Tokenizer(format!("{}: {e}", path.display())))?;
        let pad_id = inner.get_padding().map_or(pad_id, |p| p.pad_id);
        inner.with_padding(None);
        let mut t = Self {
            pairs: inner.clone(),
            inner,
            max_length,
            lowercase,
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

    /// The wrapped `tokenizers` tokenizer.
    pub fn inner(&self) -> &Tokenizer {
        &self.inner
    }

    fn prepare(&self, text: &str) -> String {
        // sentence-transformers strips each text, then lower-cases if configured.
        let t = text.trim();
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
