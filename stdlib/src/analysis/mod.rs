//! Text analysis for lexical retrieval: tokenising, lower-casing, stop words and
//! stemming, configured like Lucene's English analyser (what Anserini's BM25
//! baselines use) by default.

mod analyzer;
mod stemmer;
mod stopwords;

pub use analyzer::{Analyzer, AnalyzerSpec};
pub use stemmer::Stemmer;
pub use stopwords::StopWords;
