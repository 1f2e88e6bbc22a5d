//! Hard-negative mining: for each judged (query, positive) pair, docs the
//! retriever (a bi-encoder or a ColBERT, searched exactly) ranks high that are
//! not judged relevant. Likely false negatives
//! are dropped: candidates scoring too close to the positive (a margin), and,
//! with a cross-encoder, candidates it judges relevant. Each record says how
//! many were kept and why the others were dropped; sampling is seeded.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use serde::Serialize;

use crate::atomic::write_atomically;
use crate::data::{BeirDataset, Qrels, texts_of};
use crate::error::{Error, Result};
use crate::index::{DenseIndex, MaxSimIndex, Metric};
use crate::model::colbert::{ColbertEncoder, Side, maxsim};
use crate::model::cross_encoder::CrossEncoder;
use crate::model::{EncodeOptions, SentenceEncoder};
use crate::progress::NoProgress;
use crate::random::SplitMix;
use crate::shard::Shard;

/// How the margin compares a candidate with the positive.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum MarginKind {
    /// Keep candidates scoring below `positive - margin`.
    Absolute,
    /// Keep candidates scoring below `positive · (1 - margin)`.
    Relative,
}

impl MarginKind {
    /// `absolute` or `relative`.
    pub fn parse(s: &str) -> Result<Self> {
        match s {
            "absolute" => Ok(Self::Absolute),
            "relative" => Ok(Self::Relative),
            other => Err(Error::InvalidArgument(format!(
                "unknown margin kind `{other}` (absolute or relative)"
            ))),
        }
    }

    /// The name [`MarginKind::parse`] reads.
    pub fn name(self) -> &'static str {
        match self {
            Self::Absolute => "absolute",
            Self::Relative => "relative",
        }
    }
}

/// Which of the kept candidates become negatives.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Sampling {
    /// The best-ranked (hardest) ones.
    Top,
    /// A seeded random choice.
    Random,
}

impl Sampling {
    /// `top` or `random`.
    pub fn parse(s: &str) -> Result<Self> {
        match s {
            "top" => Ok(Self::Top),
            "random" => Ok(Self::Random),
            other => Err(Error::InvalidArgument(format!(
                "unknown sampling `{other}` (top or random)"
            ))),
        }
    }

    /// The name [`Sampling::parse`] reads.
    pub fn name(self) -> &'static str {
        match self {
            Self::Top => "top",
            Self::Random => "random",
        }
    }
}

/// Ranks `FROM..TO` as the CLI writes them (`10..100`).
pub fn format_depth((from, to): (usize, usize)) -> String {
    format!("{from}..{to}")
}

/// Reads `FROM..TO`.
pub fn parse_depth(s: &str) -> Result<(usize, usize)> {
    let bad = |why: String| Error::InvalidArgument(format!("depth {s}: {why}"));
    let (a, b) = s
        .split_once("..")
        .ok_or_else(|| bad("expected FROM..TO, e.g. 10..100".into()))?;
    let rank = |x: &str| {
        x.trim()
            .parse::<usize>()
            .map_err(|_| bad(format!("{x:?} is not a rank")))
    };
    Ok((rank(a)?, rank(b)?))
}

/// How to mine.
pub struct MiningOptions<'a> {
    /// Candidate ranks, 1-based and inclusive (`10..=100`: skip the top 9).
    pub depth: (usize, usize),
    /// Negatives per (query, positive).
    pub negatives: usize,
    /// Drop candidates within this margin of the positive's score.
    pub margin: Option<(f32, MarginKind)>,
    /// Drop candidates this cross-encoder scores above the threshold.
    pub cross_encoder: Option<(&'a CrossEncoder, f32)>,
    /// Which kept candidates to take.
    pub sampling: Sampling,
    /// Seeds the random sampling.
    pub seed: u64,
    /// Mine only this shard's slice of the judged queries (each query's
    /// negatives do not depend on the others).
    pub shard: Option<Shard>,
    /// Encoding settings (batch size, cache, progress, cancel).
    pub encode: EncodeOptions<'a>,
}

impl Default for MiningOptions<'_> {
    /// Ranks 10 to 100, five negatives, the hardest first, no filters.
    fn default() -> Self {
        Self {
            depth: (10, 100),
            negatives: 5,
            margin: None,
            cross_encoder: None,
            sampling: Sampling::Top,
            seed: 42,
            shard: None,
            encode: EncodeOptions::default(),
        }
    }
}

/// The qrels split mined by default.
pub const DEFAULT_SPLIT: &str = "train";

/// Candidates dropped, by reason.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Dropped {
    /// Judged relevant for the query.
    pub judged_positive: usize,
    /// Scored within the margin of the positive.
    pub margin: usize,
    /// Judged relevant by the cross-encoder.
    pub cross_encoder: usize,
}

/// The negatives mined for one (query, positive) pair.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Mined {
    /// The query.
    pub query_id: String,
    /// The judged positive.
    pub positive_id: String,
    /// The negatives, hardest first.
    pub negative_ids: Vec<String>,
    /// The retriever's scores of the positive and of each negative.
    pub retriever_scores: RetrieverScores,
    /// The cross-encoder's score of the positive (teacher score for distillation).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub positive_score: Option<f32>,
    /// The cross-encoder's scores of the negatives.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub negative_scores: Option<Vec<f32>>,
    /// Candidates left after the filters (negatives are taken from them).
    pub kept: usize,
    /// Candidates dropped, by reason.
    pub dropped: Dropped,
}

/// The retriever's scores in a mined record.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RetrieverScores {
    /// Of the positive.
    pub positive: f32,
    /// Of each negative.
    pub negatives: Vec<f32>,
}

/// The retriever that mines: a bi-encoder (exact dot products) or a ColBERT
/// (exact MaxSim).
#[derive(Clone)]
pub enum MiningModel {
    /// Ranks by the dot product of query and doc vectors.
    BiEncoder(Arc<SentenceEncoder>),
    /// Ranks by late interaction over token vectors.
    Colbert(Arc<ColbertEncoder>),
}

impl From<Arc<SentenceEncoder>> for MiningModel {
    fn from(m: Arc<SentenceEncoder>) -> Self {
        Self::BiEncoder(m)
    }
}

impl From<Arc<ColbertEncoder>> for MiningModel {
    fn from(m: Arc<ColbertEncoder>) -> Self {
        Self::Colbert(m)
    }
}

/// Each query's best docs, and the retriever's score of any (query, doc).
struct FirstStage {
    /// Doc ids by row.
    ids: Vec<String>,
    /// Per query, `(doc row, score)` best first.
    hits: Vec<Vec<(usize, f32)>>,
    /// The score of (query number, doc row), as the search computes it.
    score: Box<dyn Fn(usize, usize) -> f32>,
}

/// Indexes `corpus` exactly and searches `queries` for their best `k`.
fn first_stage(
    model: MiningModel,
    corpus: &[crate::data::TextRecord],
    queries: &[&str],
    k: usize,
    encode: &EncodeOptions,
) -> Result<FirstStage> {
    Ok(match model {
        MiningModel::BiEncoder(model) => {
            let (index, _) = DenseIndex::build(model, corpus, "Flat", Metric::Dot, encode)?;
            // The query vectors are kept: the positives are scored with them too.
            let qv = index.model().encode_queries(queries, encode)?;
            let hits = index
                .vector_index()
                .search_vectors_with(&qv, k, &NoProgress)?;
            FirstStage {
                ids: index.vector_index().ids().to_vec(),
                hits,
                score: Box::new(move |q, d| {
                    index
                        .vector_index()
                        .vector(d)
                        .map_or(f32::NAN, |v| dot(qv.row(q), &v))
                }),
            }
        }
        MiningModel::Colbert(model) => {
            let (index, _) = MaxSimIndex::build(model, corpus, encode)?;
            let (qv, _) = index.model().encode(queries, Side::Query, encode)?;
            let hits = index.search_vectors(&qv, k, &NoProgress)?;
            let dim = qv.dim();
            FirstStage {
                ids: index.ids().to_vec(),
                hits,
                score: Box::new(move |q, d| maxsim(qv.get(q), index.docs().get(d), dim)),
            }
        }
    })
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// A stable per-query stream, so a query's sample does not depend on the others.
fn query_stream(seed: u64, qid: &str) -> SplitMix {
    let h = qid.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ b as u64).wrapping_mul(0x100_0000_01b3)
    });
    SplitMix::stream(seed, h)
}

/// Mines negatives for every judged (query, positive) pair of `qrels` with
/// `model` (a bi-encoder or a ColBERT) over `data`'s corpus, indexed exactly.
pub fn mine(
    model: impl Into<MiningModel>,
    data: &BeirDataset,
    qrels: &Qrels,
    opts: &MiningOptions,
) -> Result<Vec<Mined>> {
    let (lo, hi) = opts.depth;
    if lo == 0 || hi < lo {
        return Err(Error::InvalidArgument(format!(
            "depth {lo}..{hi}: ranks start at 1 and the range must not be empty"
        )));
    }
    let mut queries = data.judged_queries(qrels);
    if let Some(s) = opts.shard {
        queries = queries.drain(s.range(queries.len())).collect();
    }
    let doc_texts = texts_of(&data.corpus);
    let stage = first_stage(
        model.into(),
        &data.corpus,
        &texts_of(&queries),
        hi,
        &opts.encode,
    )?;
    let ids = &stage.ids;
    let row: HashMap<&str, usize> = ids
        .iter()
        .enumerate()
        .map(|(i, d)| (d.as_str(), i))
        .collect();
    let mut out = Vec::new();
    for (qi, (q, hits)) in queries.iter().zip(&stage.hits).enumerate() {
        if let Some(c) = opts.encode.cancel {
            c.check()?;
        }
        let judged = qrels.get(&q.id).cloned().unwrap_or_default();
        let is_positive = |d: &str| judged.get(d).is_some_and(|&g| g > 0);
        let mut positives: Vec<&str> = judged
            .iter()
            .filter(|(d, g)| **g > 0 && row.contains_key(d.as_str()))
            .map(|(d, _)| d.as_str())
            .collect();
        positives.sort();
        let mut dropped = Dropped::default();
        let mut candidates: Vec<(usize, f32)> = Vec::new();
        for &(doc, score) in hits.iter().skip(lo - 1) {
            if is_positive(&ids[doc]) {
                dropped.judged_positive += 1;
            } else {
                candidates.push((doc, score));
            }
        }
        // The cross-encoder's verdict on each candidate and positive.
        let ce = match opts.cross_encoder {
            Some((ce, _)) => {
                let pairs: Vec<(&str, &str)> = candidates
                    .iter()
                    .map(|&(d, _)| d)
                    .chain(positives.iter().map(|p| row[p]))
                    .map(|d| (q.text.as_str(), doc_texts[d]))
                    .collect();
                Some(ce.predict(&pairs, opts.encode.batch_size)?)
            }
            None => None,
        };
        let ce_dropped: Vec<bool> = match (&ce, opts.cross_encoder) {
            (Some(s), Some((_, max))) => s[..candidates.len()].iter().map(|&x| x > max).collect(),
            _ => vec![false; candidates.len()],
        };
        for (pi, p) in positives.iter().enumerate() {
            let pos_score = (stage.score)(qi, row[p]);
            let bar = match opts.margin {
                None => f32::INFINITY,
                Some((m, MarginKind::Absolute)) => pos_score - m,
                Some((m, MarginKind::Relative)) => pos_score * (1.0 - m),
            };
            let mut d = dropped.clone();
            let mut kept: Vec<usize> = Vec::new();
            for (ci, &(_, score)) in candidates.iter().enumerate() {
                if ce_dropped[ci] {
                    d.cross_encoder += 1;
                } else if opts.margin.is_some() && score >= bar {
                    d.margin += 1;
                } else {
                    kept.push(ci);
                }
            }
            let n = opts.negatives.min(kept.len());
            let chosen: Vec<usize> = match opts.sampling {
                Sampling::Top => kept[..n].to_vec(),
                Sampling::Random => {
                    // Partial Fisher-Yates, then back in rank order.
                    let mut pool = kept.clone();
                    let mut rng = query_stream(opts.seed, &format!("{}\u{0}{p}", q.id));
                    for i in 0..n {
                        let j = i + rng.below(pool.len() - i);
                        pool.swap(i, j);
                    }
                    let mut c = pool[..n].to_vec();
                    c.sort_unstable();
                    c
                }
            };
            out.push(Mined {
                query_id: q.id.clone(),
                positive_id: p.to_string(),
                negative_ids: chosen
                    .iter()
                    .map(|&c| ids[candidates[c].0].clone())
                    .collect(),
                retriever_scores: RetrieverScores {
                    positive: pos_score,
                    negatives: chosen.iter().map(|&c| candidates[c].1).collect(),
                },
                positive_score: ce.as_ref().map(|s| s[candidates.len() + pi]),
                negative_scores: ce.as_ref().map(|s| chosen.iter().map(|&c| s[c]).collect()),
                kept: kept.len(),
                dropped: d,
            });
        }
    }
    Ok(out)
}

/// Writes mined records as JSON lines (atomically); `rankbook fit --negatives`
/// reads them back.
pub fn write_mined(path: &Path, mined: &[Mined]) -> Result<()> {
    write_atomically(path, |w| {
        use std::io::Write;
        for m in mined {
            serde_json::to_writer(&mut *w, m).map_err(|e| Error::io(path, e.into()))?;
            w.write_all(b"\n").map_err(|e| Error::io(path, e))?;
        }
        Ok(())
    })
}
