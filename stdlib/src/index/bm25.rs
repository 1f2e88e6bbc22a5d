//! BM25 as Lucene (and so Anserini) computes it: idf
//! `ln(1 + (N - df + 0.5) / (df + 0.5))`, term frequency saturated by `k1`,
//! length normalised by `b` against the average length, with Lucene's one-byte
//! length encoding. Each posting stores its score, so search is a sum.

use std::collections::HashMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::analysis::{Analyzer, AnalyzerSpec};
use crate::data::{Run, TextRecord};
use crate::error::{Error, Result};
use crate::index::disk::{Manifest, verified_manifest, write_index_dir};
use crate::index::flat::{Metric, score_to_f64};
use crate::index::inverted::{InvertedIndex, TermWeights};
use crate::index::lucene_norm::{decode_length, encode_length};
use crate::progress::Progress;

/// BM25's free parameters.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Bm25Params {
    /// Term-frequency saturation.
    pub k1: f32,
    /// Length normalisation (0: none, 1: full).
    pub b: f32,
}

impl Default for Bm25Params {
    /// Anserini's BEIR setting (k1 0.9, b 0.4).
    fn default() -> Self {
        Self { k1: 0.9, b: 0.4 }
    }
}

impl Bm25Params {
    fn check(&self) -> Result<()> {
        if !(self.k1.is_finite() && self.k1 >= 0.0 && (0.0..=1.0).contains(&self.b)) {
            return Err(Error::InvalidArgument(format!(
                "BM25 needs k1 >= 0 and b in [0, 1] (got k1 {}, b {})",
                self.k1, self.b
            )));
        }
        Ok(())
    }
}

/// A BM25 index: the analyser, the parameters and the scored postings.
pub struct Bm25Index {
    analyzer: Analyzer,
    params: Bm25Params,
    inverted: InvertedIndex,
}

/// Texts analysed per progress report while indexing.
const DOC_CHUNK: usize = 4096;

/// Term frequencies of one analysed text, in first-seen order.
fn term_counts(
    terms: &[String],
    vocab: &mut HashMap<String, u32>,
    names: &mut Vec<String>,
) -> Vec<(u32, u32)> {
    let mut counts: Vec<(u32, u32)> = Vec::new();
    let mut at: HashMap<u32, usize> = HashMap::new();
    for t in terms {
        let id = match vocab.get(t.as_str()) {
            Some(&id) => id,
            None => {
                let id = names.len() as u32;
                vocab.insert(t.clone(), id);
                names.push(t.clone());
                id
            }
        };
        match at.get(&id) {
            Some(&i) => counts[i].1 += 1,
            None => {
                at.insert(id, counts.len());
                counts.push((id, 1));
            }
        }
    }
    counts
}

impl Bm25Index {
    /// Analyses and indexes `corpus`; `progress` counts docs.
    pub fn build(
        corpus: &[TextRecord],
        analyzer: &AnalyzerSpec,
        params: Bm25Params,
        progress: &dyn Progress,
    ) -> Result<Self> {
        params.check()?;
        let analyzer = Analyzer::new(analyzer)?;
        let mut vocab = HashMap::new();
        let mut names = Vec::new();
        let mut docs: Vec<Vec<(u32, u32)>> = Vec::with_capacity(corpus.len());
        progress.start("index", corpus.len() as u64);
        for chunk in corpus.chunks(DOC_CHUNK) {
            let texts: Vec<&str> = chunk.iter().map(|r| r.text.as_str()).collect();
            for terms in analyzer.analyze_all(&texts) {
                docs.push(term_counts(&terms, &mut vocab, &mut names));
            }
            progress.advance(chunk.len() as u64);
        }
        progress.finish();
        let lengths: Vec<u32> = docs.iter().map(|d| d.iter().map(|c| c.1).sum()).collect();
        // Lucene counts only docs that have the field (a non-empty text).
        let n = lengths.iter().filter(|&&l| l > 0).count();
        let total: u64 = lengths.iter().map(|&l| l as u64).sum();
        let avgdl = if n == 0 {
            1.0
        } else {
            (total as f64 / n as f64) as f32
        };
        let mut df = vec![0u32; names.len()];
        for d in &docs {
            for &(t, _) in d {
                df[t as usize] += 1;
            }
        }
        let idf: Vec<f32> = df
            .iter()
            .map(|&df| (1.0 + (n as f64 - df as f64 + 0.5) / (df as f64 + 0.5)).ln() as f32)
            .collect();
        let Bm25Params { k1, b } = params;
        let norm_inverse: Vec<f32> = (0..=255u8)
            .map(|i| 1.0 / (k1 * ((1.0 - b) + b * decode_length(i) as f32 / avgdl)))
            .collect();
        let weighted: Vec<TermWeights> = docs
            .iter()
            .zip(&lengths)
            .map(|(d, &len)| {
                let ni = norm_inverse[encode_length(len) as usize] as f64;
                d.iter()
                    .map(|&(t, tf)| {
                        // Lucene's expression and precisions: w - w / (1 + tf·ni).
                        let w = idf[t as usize];
                        (t, (w as f64 - w as f64 / (1.0 + tf as f64 * ni)) as f32)
                    })
                    .collect()
            })
            .collect();
        let ids = corpus.iter().map(|r| r.id.clone()).collect();
        Ok(Self {
            analyzer,
            params,
            inverted: InvertedIndex::new(ids, names, &weighted)?,
        })
    }

    /// The parameters its scores were computed with.
    pub fn params(&self) -> Bm25Params {
        self.params
    }

    /// The analyser of its docs (and queries).
    pub fn analyzer(&self) -> &Analyzer {
        &self.analyzer
    }

    /// The postings.
    pub fn inverted(&self) -> &InvertedIndex {
        &self.inverted
    }

    /// A query's known terms, each weighted by how often it occurs in the query
    /// (as Lucene scores a repeated term once per occurrence).
    pub fn query_terms(&self, text: &str) -> TermWeights {
        let mut out: TermWeights = Vec::new();
        for t in self.analyzer.analyze(text) {
            if let Some(id) = self.inverted.term_id(&t) {
                match out.iter_mut().find(|(i, _)| *i == id) {
                    Some((_, w)) => *w += 1.0,
                    None => out.push((id, 1.0)),
                }
            }
        }
        out
    }

    /// The best `k` docs per query; a query with no known term gets no results.
    pub fn search(&self, queries: &[TextRecord], k: usize, progress: &dyn Progress) -> Result<Run> {
        let terms: Vec<TermWeights> = queries.iter().map(|q| self.query_terms(&q.text)).collect();
        Ok(to_run(
            &self.inverted,
            queries,
            self.inverted.search(&terms, k, progress),
        ))
    }

    /// Writes the index directory (atomically).
    pub fn save(&self, dir: &Path) -> Result<()> {
        let manifest = Manifest {
            analyzer: Some(self.analyzer.spec().clone()),
            bm25: Some(self.params),
            ..Manifest::new(
                "BM25",
                Metric::Dot,
                self.inverted.vocabulary_size(),
                self.inverted.len(),
            )
        };
        write_index_dir(dir, manifest, |tmp| self.inverted.write_files(tmp))
    }

    /// Loads a BM25 index directory, checksums verified.
    pub fn load(dir: &Path) -> Result<Self> {
        let m = verified_manifest(dir)?;
        let (Some(spec), Some(params)) = (&m.analyzer, m.bm25) else {
            return Err(Error::InvalidArgument(format!(
                "{}: a {} index, not a BM25 one",
                dir.display(),
                m.factory
            )));
        };
        Ok(Self {
            analyzer: Analyzer::new(spec).map_err(|e| {
                Error::InvalidArgument(format!("{}: its analyser: {e}", dir.display()))
            })?,
            params,
            inverted: InvertedIndex::read_files(dir)?,
        })
    }
}

/// Hits of an inverted index as a run keyed by the queries' ids.
pub(crate) fn to_run(
    index: &InvertedIndex,
    queries: &[TextRecord],
    hits: Vec<Vec<(usize, f32)>>,
) -> Run {
    let mut run = Run::new();
    for (q, hits) in queries.iter().zip(hits) {
        for (doc, score) in hits {
            run.push(&q.id, &index.ids()[doc], score_to_f64(score));
        }
    }
    run
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::progress::NoProgress;

    fn rec(id: &str, text: &str) -> TextRecord {
        TextRecord {
            id: id.into(),
            text: text.into(),
        }
    }

    #[test]
    fn scores_equal_the_formula_by_hand() {
        let corpus = [
            rec("d1", "cats chase mice"),
            rec("d2", "the cat sleeps and the cat purrs"),
            rec("d3", "dogs chase cats and cats run"),
            rec("d4", ""),
        ];
        let p = Bm25Params { k1: 1.2, b: 0.75 };
        let idx = Bm25Index::build(&corpus, &AnalyzerSpec::default(), p, &NoProgress).unwrap();
        // Terms after analysis: d1 [cat chase mice] dl 3, d2 [cat sleep cat purr] dl 4,
        // d3 [dog chase cat cat run] dl 5; N 3 (the empty doc has no field), avgdl 4.
        let bm25 = |tf: f64, df: f64, dl: f64| {
            let idf = (1.0 + (3.0 - df + 0.5) / (df + 0.5)).ln();
            idf * tf / (tf + 1.2 * (0.25 + 0.75 * dl / 4.0))
        };
        let run = idx
            .search(&[rec("q", "cat chasing")], 10, &NoProgress)
            .unwrap();
        let got: Vec<(&str, f64)> = run
            .get("q")
            .unwrap()
            .iter()
            .map(|s| (s.doc.as_str(), s.score))
            .collect();
        let mut want = [
            ("d3", bm25(2.0, 3.0, 5.0) + bm25(1.0, 2.0, 5.0)),
            ("d1", bm25(1.0, 3.0, 3.0) + bm25(1.0, 2.0, 3.0)),
            ("d2", bm25(2.0, 3.0, 4.0)),
        ];
        want.sort_by(|a, b| b.1.total_cmp(&a.1));
        assert_eq!(got.len(), 3);
        for ((gd, gs), (wd, ws)) in got.iter().zip(want) {
            assert_eq!(*gd, wd);
            assert!((gs - ws).abs() < 1e-5, "{gd}: {gs} vs {ws}");
        }
        // A query of unknown or stop words only: no results, no error.
        let run = idx
            .search(&[rec("q", "the zebra")], 10, &NoProgress)
            .unwrap();
        assert!(run.get("q").is_none_or(|r| r.is_empty()));

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bm25");
        idx.save(&path).unwrap();
        let back = Bm25Index::load(&path).unwrap();
        assert_eq!(back.params(), p);
        let again = back
            .search(&[rec("q", "cat chasing")], 10, &NoProgress)
            .unwrap();
        assert_eq!(
            again.get("q"),
            idx.search(&[rec("q", "cat chasing")], 10, &NoProgress)
                .unwrap()
                .get("q")
        );
        let err = Bm25Index::build(
            &corpus,
            &AnalyzerSpec::default(),
            Bm25Params { k1: 0.9, b: 2.0 },
            &NoProgress,
        )
        .err()
        .unwrap()
        .to_string();
        assert!(err.contains("b in [0, 1]"), "{err}");
    }
}
