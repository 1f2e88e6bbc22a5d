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
use crate::shard::PartInfo;

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

/// What BM25 scores against: the docs that have terms, their total length, and
/// each term's document frequency.
#[derive(Debug, Default)]
struct CorpusStats {
    docs: usize,
    length: u64,
    df: HashMap<String, u64>,
}

impl CorpusStats {
    fn add(&mut self, counts: &InvertedIndex) {
        let lengths = counts.doc_weight_sums();
        // Lucene counts only docs that have the field (a non-empty text).
        self.docs += lengths.iter().filter(|&&l| l > 0.0).count();
        self.length += lengths.iter().map(|&l| l as u64).sum::<u64>();
        for (t, name) in counts.terms().iter().enumerate() {
            *self.df.entry(name.clone()).or_default() += counts.doc_frequency(t as u32) as u64;
        }
    }
}

/// A corpus analysed into term-frequency postings, not yet scored: a BM25
/// index part (BM25 needs the whole corpus's statistics), or the first step
/// of a whole index.
pub struct Bm25Counts {
    analyzer: Analyzer,
    params: Bm25Params,
    counts: InvertedIndex,
}

/// Analyses a corpus chunk by chunk into term counts, so that a corpus
/// streamed from its file is never held whole (only ids and counts are kept).
pub struct Bm25Builder {
    analyzer: Analyzer,
    params: Bm25Params,
    vocab: HashMap<String, u32>,
    names: Vec<String>,
    ids: Vec<String>,
    /// Every doc's `(term, frequency)` pairs, one doc after another.
    pairs: Vec<(u32, f32)>,
    /// Where each doc's pairs end.
    ends: Vec<usize>,
}

impl Bm25Builder {
    /// Docs analysed per parallel step: a good chunk to stream a corpus in.
    pub const CHUNK: usize = DOC_CHUNK;

    /// A builder with the given analysis and parameters (checked).
    pub fn new(analyzer: &AnalyzerSpec, params: Bm25Params) -> Result<Self> {
        params.check()?;
        Ok(Self {
            analyzer: Analyzer::new(analyzer)?,
            params,
            vocab: HashMap::new(),
            names: Vec::new(),
            ids: Vec::new(),
            pairs: Vec::new(),
            ends: Vec::new(),
        })
    }

    /// Analyses the next docs of the corpus.
    pub fn add(&mut self, docs: &[TextRecord]) {
        for chunk in docs.chunks(DOC_CHUNK) {
            let texts: Vec<&str> = chunk.iter().map(|r| r.text.as_str()).collect();
            for terms in self.analyzer.analyze_all(&texts) {
                let counts = term_counts(&terms, &mut self.vocab, &mut self.names);
                self.pairs
                    .extend(counts.into_iter().map(|(t, tf)| (t, tf as f32)));
                self.ends.push(self.pairs.len());
            }
            self.ids.extend(chunk.iter().map(|r| r.id.clone()));
        }
    }

    /// The postings of every doc added.
    pub fn finish(self) -> Result<Bm25Counts> {
        let counts = InvertedIndex::from_flat(self.ids, self.names, &self.pairs, &self.ends)?;
        Ok(Bm25Counts {
            analyzer: self.analyzer,
            params: self.params,
            counts,
        })
    }
}

impl Bm25Counts {
    /// Analyses `corpus`; `progress` counts docs.
    pub fn build(
        corpus: &[TextRecord],
        analyzer: &AnalyzerSpec,
        params: Bm25Params,
        progress: &dyn Progress,
    ) -> Result<Self> {
        let mut builder = Bm25Builder::new(analyzer, params)?;
        progress.start("index", corpus.len() as u64);
        for chunk in corpus.chunks(DOC_CHUNK) {
            builder.add(chunk);
            progress.advance(chunk.len() as u64);
        }
        progress.finish();
        builder.finish()
    }

    /// Number of docs.
    pub fn len(&self) -> usize {
        self.counts.len()
    }

    /// Whether it holds no doc.
    pub fn is_empty(&self) -> bool {
        self.counts.is_empty()
    }

    /// Writes the part's folder (atomically), recording its slice of the corpus.
    pub fn save_part(&self, dir: &Path, part: PartInfo) -> Result<()> {
        write_bm25(dir, &self.analyzer, self.params, &self.counts, Some(part))
    }

    /// Loads a BM25 part's folder, checksums verified.
    pub fn load(dir: &Path) -> Result<Self> {
        let m = verified_manifest(dir)?;
        let (Some(spec), Some(params), true) = (&m.analyzer, m.bm25, m.term_counts) else {
            return Err(Error::InvalidArgument(format!(
                "{}: not a part of a BM25 index",
                dir.display()
            )));
        };
        Ok(Self {
            analyzer: analyzer_of(dir, spec)?,
            params,
            counts: InvertedIndex::read_files(dir)?,
        })
    }

    /// Scores the postings against `stats` (Lucene's expression and precisions).
    fn score(mut self, stats: &CorpusStats) -> Bm25Index {
        let n = stats.docs;
        let avgdl = if n == 0 {
            1.0
        } else {
            (stats.length as f64 / n as f64) as f32
        };
        let idf: Vec<f32> = self
            .counts
            .terms()
            .iter()
            .map(|t| {
                let df = stats.df.get(t).copied().unwrap_or(0) as f64;
                (1.0 + (n as f64 - df + 0.5) / (df + 0.5)).ln() as f32
            })
            .collect();
        let Bm25Params { k1, b } = self.params;
        let norm_inverse: Vec<f32> = (0..=255u8)
            .map(|i| 1.0 / (k1 * ((1.0 - b) + b * decode_length(i) as f32 / avgdl)))
            .collect();
        let ni: Vec<f64> = self
            .counts
            .doc_weight_sums()
            .into_iter()
            .map(|len| norm_inverse[encode_length(len as u32) as usize] as f64)
            .collect();
        self.counts.map_weights(|t, d, tf| {
            // w - w / (1 + tf·ni), as Lucene computes it.
            let w = idf[t as usize] as f64;
            (w - w / (1.0 + tf as f64 * ni[d as usize])) as f32
        });
        Bm25Index {
            analyzer: self.analyzer,
            params: self.params,
            inverted: self.counts,
        }
    }
}

/// Writes a BM25 folder: scored postings, or a part's term counts.
fn write_bm25(
    dir: &Path,
    analyzer: &Analyzer,
    params: Bm25Params,
    postings: &InvertedIndex,
    part: Option<PartInfo>,
) -> Result<()> {
    let manifest = Manifest {
        analyzer: Some(analyzer.spec().clone()),
        bm25: Some(params),
        term_counts: part.is_some(),
        part,
        ..Manifest::new(
            "BM25",
            Metric::Dot,
            postings.vocabulary_size(),
            postings.len(),
        )
    };
    write_index_dir(dir, manifest, |tmp| postings.write_files(tmp))
}

fn analyzer_of(dir: &Path, spec: &AnalyzerSpec) -> Result<Analyzer> {
    Analyzer::new(spec)
        .map_err(|e| Error::InvalidArgument(format!("{}: its analyser: {e}", dir.display())))
}

/// Checks that parts were analysed and are scored alike.
fn same_settings(parts: &[Bm25Counts]) -> Result<()> {
    let first = &parts[0];
    if parts
        .iter()
        .any(|p| p.params != first.params || p.analyzer.spec() != first.analyzer.spec())
    {
        return Err(Error::InvalidArgument(
            "the BM25 parts were built with different analysers or parameters".into(),
        ));
    }
    Ok(())
}

impl Bm25Index {
    /// Analyses and indexes `corpus`; `progress` counts docs.
    pub fn build(
        corpus: &[TextRecord],
        analyzer: &AnalyzerSpec,
        params: Bm25Params,
        progress: &dyn Progress,
    ) -> Result<Self> {
        Ok(Self::from_counts(Bm25Counts::build(
            corpus, analyzer, params, progress,
        )?))
    }

    /// The index of a whole corpus's counts, scored against its own statistics.
    pub fn from_counts(counts: Bm25Counts) -> Self {
        let mut stats = CorpusStats::default();
        stats.add(&counts.counts);
        counts.score(&stats)
    }

    /// Each part scored against the statistics of all of them, so that each
    /// doc scores as in an index of the whole corpus.
    pub fn from_parts(parts: Vec<Bm25Counts>) -> Result<Vec<Self>> {
        if parts.is_empty() {
            return Ok(Vec::new());
        }
        same_settings(&parts)?;
        let mut stats = CorpusStats::default();
        parts.iter().for_each(|p| stats.add(&p.counts));
        Ok(parts.into_iter().map(|p| p.score(&stats)).collect())
    }

    /// One index of the parts' docs, in order: the index of the whole corpus.
    pub fn merge(parts: Vec<Bm25Counts>) -> Result<Self> {
        let Some(first) = parts.first() else {
            return Err(Error::InvalidArgument("no BM25 parts to merge".into()));
        };
        same_settings(&parts)?;
        let (analyzer, params) = (Analyzer::new(first.analyzer.spec())?, first.params);
        let counts = InvertedIndex::concat(parts.into_iter().map(|p| p.counts).collect())?;
        let whole = Bm25Counts {
            analyzer,
            params,
            counts,
        };
        let mut stats = CorpusStats::default();
        stats.add(&whole.counts);
        Ok(whole.score(&stats))
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
        self.save_part(dir, None)
    }

    /// Writes the index directory; a part is refused: its scores would use
    /// its slice's statistics (parts are [`Bm25Counts`]).
    pub fn save_part(&self, dir: &Path, part: Option<PartInfo>) -> Result<()> {
        if part.is_some() {
            return Err(Error::InvalidArgument(
                "a BM25 part holds term counts: build it with Bm25Counts".into(),
            ));
        }
        write_bm25(dir, &self.analyzer, self.params, &self.inverted, None)
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
        if let (true, Some(part)) = (m.term_counts, &m.part) {
            return Err(Error::InvalidArgument(format!(
                "{}: shard {} of {} of a BM25 index; search it with all its parts (--index PART...) or `rankbook merge` them",
                dir.display(),
                part.shard,
                part.shards
            )));
        }
        Ok(Self {
            analyzer: analyzer_of(dir, spec)?,
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

    #[test]
    fn parts_score_against_the_whole_corpus() {
        let corpus = [
            rec("d1", "cats chase mice"),
            rec("d2", "the cat sleeps and the cat purrs"),
            rec("d3", ""),
            rec("d4", "dogs chase cats and cats run"),
            rec("d5", "mice run from dogs"),
        ];
        let (spec, p) = (AnalyzerSpec::default(), Bm25Params::default());
        let whole = Bm25Index::build(&corpus, &spec, p, &NoProgress).unwrap();
        let counts = |docs: &[TextRecord]| Bm25Counts::build(docs, &spec, p, &NoProgress).unwrap();
        let q = [rec("q", "cats chasing mice"), rec("r", "dogs run")];
        let want = whole.search(&q, 10, &NoProgress).unwrap();
        // Each part's docs score as in the whole index (d1's idf counts d4).
        let parts =
            Bm25Index::from_parts(vec![counts(&corpus[..2]), counts(&corpus[2..])]).unwrap();
        for part in &parts {
            let got = part.search(&q, 10, &NoProgress).unwrap();
            for (qid, results) in got.ranked() {
                for s in results {
                    let w = want.get(qid).unwrap().iter().find(|w| w.doc == s.doc);
                    assert_eq!(w.map(|w| w.score), Some(s.score), "{qid} {}", s.doc);
                }
            }
        }
        // Streamed in uneven chunks: the same index.
        let mut b = Bm25Builder::new(&spec, p).unwrap();
        b.add(&corpus[..1]);
        b.add(&corpus[1..4]);
        b.add(&corpus[4..]);
        let streamed = Bm25Index::from_counts(b.finish().unwrap());
        assert_eq!(streamed.search(&q, 10, &NoProgress).unwrap(), want);
        // Merged: the whole index's postings, term ids and all.
        let merged = Bm25Index::merge(vec![counts(&corpus[..3]), counts(&corpus[3..])]).unwrap();
        assert_eq!(merged.inverted().terms(), whole.inverted().terms());
        for t in 0..whole.inverted().vocabulary_size() as u32 {
            assert_eq!(merged.inverted().postings(t), whole.inverted().postings(t));
        }
        // A part alone is not a BM25 index.
        let dir = tempfile::tempdir().unwrap();
        let part = crate::shard::Shard::new(0, 2).unwrap();
        let info = PartInfo::new(crate::shard::PartKind::Index, part, "ab".into(), 5);
        counts(&corpus[..2])
            .save_part(&dir.path().join("p0"), info)
            .unwrap();
        let err = Bm25Index::load(&dir.path().join("p0"))
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("shard 0 of 2 of a BM25 index"), "{err}");
    }
}
