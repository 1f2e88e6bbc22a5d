//! The analyser: a text in, index terms out.

use std::collections::HashMap;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use unicode_segmentation::UnicodeSegmentation;

use crate::analysis::stemmer::Stemmer;
use crate::analysis::stopwords::StopWords;
use crate::error::Result;

/// What an analyser does, as recorded in an index's manifest so queries are
/// analysed the way the documents were.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AnalyzerSpec {
    /// Lower-case every token.
    pub lowercase: bool,
    /// Stop-word list: `english` (Lucene's 33 words) or `none`.
    pub stopwords: String,
    /// Stemmer: `porter` (Lucene's), a Snowball language, or `none`.
    pub stemmer: String,
}

impl Default for AnalyzerSpec {
    /// Lucene's English analyser, as Anserini's BM25 baselines use it.
    fn default() -> Self {
        Self {
            lowercase: true,
            stopwords: "english".into(),
            stemmer: "porter".into(),
        }
    }
}

/// Splits text into words (Unicode word boundaries, UAX #29, as Lucene's
/// `StandardTokenizer`), drops English possessives, lower-cases, removes stop
/// words and stems.
pub struct Analyzer {
    spec: AnalyzerSpec,
    stopwords: StopWords,
    stemmer: Stemmer,
}

/// Texts analysed per parallel task (each task keeps its own stem cache).
const CHUNK: usize = 256;

impl Analyzer {
    /// Builds the analyser `spec` describes; unknown stop-word lists or stemmers
    /// are refused by name.
    pub fn new(spec: &AnalyzerSpec) -> Result<Self> {
        Ok(Self {
            stopwords: StopWords::named(&spec.stopwords)?,
            stemmer: Stemmer::named(&spec.stemmer)?,
            spec: spec.clone(),
        })
    }

    /// What it does.
    pub fn spec(&self) -> &AnalyzerSpec {
        &self.spec
    }

    /// The terms of `text`, in order (repeats kept).
    pub fn analyze(&self, text: &str) -> Vec<String> {
        self.analyze_cached(text, &mut HashMap::new())
    }

    /// The terms of each text, analysed in parallel, in input order.
    pub fn analyze_all(&self, texts: &[&str]) -> Vec<Vec<String>> {
        texts
            .par_chunks(CHUNK)
            .flat_map_iter(|chunk| {
                // Stemming is the costly step and words repeat: stem each once.
                let mut cache = HashMap::new();
                chunk
                    .iter()
                    .map(|t| self.analyze_cached(t, &mut cache))
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    fn analyze_cached(
        &self,
        text: &str,
        cache: &mut HashMap<String, Option<String>>,
    ) -> Vec<String> {
        let mut out = Vec::new();
        for word in text.unicode_words() {
            let word = strip_possessive(word);
            let lowered;
            let word = if self.spec.lowercase {
                lowered = word.to_lowercase();
                lowered.as_str()
            } else {
                word
            };
            let term = match cache.get(word) {
                Some(t) => t.clone(),
                None => {
                    let t = (!self.stopwords.contains(word)).then(|| self.stemmer.stem(word));
                    cache.insert(word.to_string(), t.clone());
                    t
                }
            };
            if let Some(t) = term.filter(|t| !t.is_empty()) {
                out.push(t);
            }
        }
        out
    }
}

/// Drops a trailing `'s` (Lucene's `EnglishPossessiveFilter`: straight, right
/// single and full-width apostrophes).
fn strip_possessive(word: &str) -> &str {
    for apostrophe in ["'", "\u{2019}", "\u{FF07}"] {
        for s in ["s", "S"] {
            if let Some(stem) = word
                .strip_suffix(s)
                .and_then(|w| w.strip_suffix(apostrophe))
            {
                return stem;
            }
        }
    }
    word
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lucene_english_pipeline() {
        let a = Analyzer::new(&AnalyzerSpec::default()).unwrap();
        assert_eq!(
            a.analyze("The Children's Hospitals are RUNNING tests, in 3.5 days; U.S.A. isn't it?"),
            [
                "children", "hospit", "run", "test", "3.5", "dai", "u.s.a", "isn't"
            ]
        );
        // No word at all: no terms (and no error).
        assert!(a.analyze("  ... !!! ").is_empty());
        assert!(a.analyze("").is_empty());
        let texts = ["Running fast", "the runner ran"];
        assert_eq!(
            a.analyze_all(&texts),
            vec![a.analyze(texts[0]), a.analyze(texts[1])]
        );
    }

    #[test]
    fn other_settings_and_unknown_names() {
        let spec = AnalyzerSpec {
            lowercase: false,
            stopwords: "none".into(),
            stemmer: "none".into(),
        };
        let a = Analyzer::new(&spec).unwrap();
        assert_eq!(a.analyze("The Cats"), ["The", "Cats"]);
        let bad = AnalyzerSpec {
            stopwords: "elvish".into(),
            ..AnalyzerSpec::default()
        };
        let err = Analyzer::new(&bad).err().unwrap().to_string();
        assert!(err.contains("unknown stop-word list `elvish`"), "{err}");
    }
}
