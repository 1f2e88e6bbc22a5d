//! Stop-word lists.

use std::collections::HashSet;

use crate::error::{Error, Result};

/// Lucene's `EnglishAnalyzer.ENGLISH_STOP_WORDS_SET` (33 words), the list
/// Anserini's BM25 baselines remove.
const LUCENE_ENGLISH: &[&str] = &[
    "a", "an", "and", "are", "as", "at", "be", "but", "by", "for", "if", "in", "into", "is", "it",
    "no", "not", "of", "on", "or", "such", "that", "the", "their", "then", "there", "these",
    "they", "this", "to", "was", "will", "with",
];

/// A set of words dropped before indexing and searching.
#[derive(Debug, Clone)]
pub struct StopWords {
    name: String,
    words: HashSet<String>,
}

impl StopWords {
    /// The list called `name`: `english` (Lucene's) or `none`.
    pub fn named(name: &str) -> Result<Self> {
        let words: &[&str] = match name {
            "english" | "lucene" => LUCENE_ENGLISH,
            "none" => &[],
            other => {
                return Err(Error::InvalidArgument(format!(
                    "unknown stop-word list `{other}` (known: english, none)"
                )));
            }
        };
        Ok(Self {
            name: name.to_string(),
            words: words.iter().map(|w| w.to_string()).collect(),
        })
    }

    /// The list's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether `word` (lower-cased) is a stop word.
    pub fn contains(&self, word: &str) -> bool {
        self.words.contains(word)
    }
}
