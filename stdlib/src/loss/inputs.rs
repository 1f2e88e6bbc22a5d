//! What a loss sees: the model as an [`Embedder`], a batch of training data,
//! and helpers that embed a batch's texts the same way for every loss.

use candle_core::{Device, Tensor};

use crate::data::training::{Example, GroupSample, ScoredPair, TrainingData};
use crate::error::{Error, Result};
use crate::loss::wrong_shape;

/// Which side of a retrieval pair a text is on (they may get different prompts).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// Queries, anchors, first texts.
    Query,
    /// Documents, positives, negatives, second texts.
    Document,
}

/// A model as losses see it: texts in, embeddings out.
pub trait Embedder {
    /// `(texts, dim)` embeddings. The autograd graph is kept when `track`;
    /// `part` names the forward pass within a step, so repeating a pass with
    /// the same part repeats its dropout masks (what GradCache relies on).
    fn embed(&self, texts: &[&str], role: Role, part: u64, track: bool) -> Result<Tensor>;
}

impl<T: Embedder + ?Sized> Embedder for &T {
    fn embed(&self, texts: &[&str], role: Role, part: u64, track: bool) -> Result<Tensor> {
        (**self).embed(texts, role, part, track)
    }
}

/// A cross-encoder as losses see it: (query, document) pairs in, one score each out.
pub trait Scorer {
    /// `(pairs)` scores; graph kept when `track`; `part` as for [`Embedder::embed`].
    fn score(&self, pairs: &[(&str, &str)], part: u64, track: bool) -> Result<Tensor>;
}

/// The model a loss trains: a bi-encoder (texts to vectors) or a cross-encoder
/// (pairs to scores).
#[derive(Clone, Copy)]
pub enum ModelRef<'a> {
    /// Embeds texts.
    Bi(&'a dyn Embedder),
    /// Scores pairs.
    Cross(&'a dyn Scorer),
}

impl<'a> ModelRef<'a> {
    /// The bi-encoder, or an error saying `loss` trains bi-encoders only.
    pub fn bi(self, loss: &str) -> Result<&'a dyn Embedder> {
        match self {
            Self::Bi(e) => Ok(e),
            Self::Cross(_) => Err(Error::InvalidArgument(format!(
                "{loss} loss trains bi-encoders; for a cross-encoder use bce, lce, ranknet, listnet, margin-mse or kl"
            ))),
        }
    }
}

/// Some samples of a training set.
#[derive(Clone, Copy)]
pub struct Batch<'a> {
    /// The whole training set.
    pub data: &'a TrainingData,
    /// The samples in this batch.
    pub indices: &'a [usize],
}

impl<'a> Batch<'a> {
    /// The batch's examples (empty unless the data are examples).
    pub fn examples(&self) -> Vec<&'a Example> {
        match self.data {
            TrainingData::Examples(v) => self.indices.iter().map(|&i| &v[i]).collect(),
            _ => Vec::new(),
        }
    }

    /// The batch's group samples (empty unless the data are groups).
    pub fn groups(&self) -> Vec<&'a GroupSample> {
        match self.data {
            TrainingData::Groups(v) => self.indices.iter().map(|&i| &v[i]).collect(),
            _ => Vec::new(),
        }
    }

    /// The batch's scored pairs (empty unless the data are pairs).
    pub fn pairs(&self) -> Vec<&'a ScoredPair> {
        match self.data {
            TrainingData::Pairs(v) => self.indices.iter().map(|&i| &v[i]).collect(),
            _ => Vec::new(),
        }
    }
}

/// What example-shaped data a loss requires.
pub(crate) struct ExampleNeeds {
    /// Negatives per example, at least.
    pub min_negatives: usize,
    /// Every example with the same number of negatives (a `(batch, k)` score matrix).
    pub uniform: bool,
    /// Teacher scores on every example.
    pub teacher: bool,
}

/// Checks that `data` are examples with what `needs` says.
pub(crate) fn require_examples(
    loss: &str,
    needs_text: &str,
    data: &TrainingData,
    needs: ExampleNeeds,
) -> Result<()> {
    let TrainingData::Examples(examples) = data else {
        return Err(wrong_shape(loss, needs_text, data));
    };
    let Some(first) = examples.first() else {
        return Err(Error::InvalidArgument("the training data are empty".into()));
    };
    for (i, e) in examples.iter().enumerate() {
        if e.negatives.len() < needs.min_negatives || (needs.teacher && e.teacher.is_none()) {
            return Err(wrong_shape(loss, needs_text, data));
        }
        if needs.uniform && e.negatives.len() != first.negatives.len() {
            return Err(Error::InvalidArgument(format!(
                "{loss} loss needs the same number of negatives in every example: example 1 has {}, example {} has {}",
                first.negatives.len(),
                i + 1,
                e.negatives.len()
            )));
        }
        if let Some(t) = &e.teacher
            && t.len() != 1 + e.negatives.len()
        {
            return Err(Error::InvalidArgument(format!(
                "example {}: {} teacher scores for 1 positive and {} negatives",
                i + 1,
                t.len(),
                e.negatives.len()
            )));
        }
    }
    Ok(())
}

/// Checks for examples with at least one negative each (any number).
pub(crate) fn require_triples(loss: &str, needs_text: &str, data: &TrainingData) -> Result<()> {
    let needs = ExampleNeeds {
        min_negatives: 1,
        uniform: false,
        teacher: false,
    };
    require_examples(loss, needs_text, data, needs)
}

/// Checks for examples with the same number (at least one) of negatives each,
/// and teacher scores when `teacher`.
pub(crate) fn require_groups(
    loss: &str,
    needs_text: &str,
    data: &TrainingData,
    teacher: bool,
) -> Result<()> {
    let needs = ExampleNeeds {
        min_negatives: 1,
        uniform: true,
        teacher,
    };
    require_examples(loss, needs_text, data, needs)
}

/// A batch of examples, embedded.
pub(crate) struct ExampleVectors {
    /// `(b, dim)`.
    pub anchors: Tensor,
    /// `(b, dim)`.
    pub positives: Tensor,
    /// Every example's negatives, example after example: `(sum of n_i, dim)`.
    pub negatives: Option<Tensor>,
}

/// The texts of a batch of examples: anchors, positives, then every negative.
pub(crate) fn example_texts<'a>(examples: &[&'a Example]) -> [Vec<&'a str>; 3] {
    [
        examples.iter().map(|e| e.anchor.as_str()).collect(),
        examples.iter().map(|e| e.positive.as_str()).collect(),
        examples
            .iter()
            .flat_map(|e| e.negatives.iter().map(String::as_str))
            .collect(),
    ]
}

/// Embeds a batch of examples (anchors as queries, the rest as documents).
pub(crate) fn embed_examples(model: &dyn Embedder, batch: &Batch) -> Result<ExampleVectors> {
    let [anchors, positives, negatives] = example_texts(&batch.examples());
    Ok(ExampleVectors {
        anchors: model.embed(&anchors, Role::Query, 0, true)?,
        positives: model.embed(&positives, Role::Document, 1, true)?,
        negatives: if negatives.is_empty() {
            None
        } else {
            Some(model.embed(&negatives, Role::Document, 2, true)?)
        },
    })
}

/// Each example's candidates (its positive, then its negatives) as `(b * k, dim)`
/// (or `(b * k, tokens, dim)`), example after example; `k = 1 + negatives per
/// example` (uniform).
pub(crate) fn candidates(v: &ExampleVectors) -> Result<(Tensor, usize)> {
    let b = v.anchors.dim(0)?;
    let Some(n) = &v.negatives else {
        return Ok((v.positives.clone(), 1));
    };
    let per = n.dim(0)? / b;
    // Rows of [positives; negatives] in example order: p_i, then n_i's.
    let order: Vec<u32> = (0..b)
        .flat_map(|i| {
            std::iter::once(i as u32).chain((0..per).map(move |j| (b + i * per + j) as u32))
        })
        .collect();
    let order = Tensor::from_vec(order, b * (per + 1), v.positives.device())?;
    let joined = Tensor::cat(&[&v.positives, n], 0)?.index_select(&order, 0)?;
    Ok((joined, per + 1))
}

/// The teacher scores of a batch as `(b, k)`.
pub(crate) fn teacher_scores(examples: &[&Example], device: &Device) -> Result<Tensor> {
    let k = examples.first().map_or(0, |e| 1 + e.negatives.len());
    let flat: Vec<f32> = examples
        .iter()
        .flat_map(|e| e.teacher.iter().flatten().copied())
        .collect();
    Ok(Tensor::from_vec(flat, (examples.len(), k), device)?)
}

/// A batch of scored pairs, embedded: `(a, b, targets)`.
pub(crate) fn embed_pairs(model: &dyn Embedder, batch: &Batch) -> Result<(Tensor, Tensor, Tensor)> {
    let pairs = batch.pairs();
    let a: Vec<&str> = pairs.iter().map(|p| p.text_a.as_str()).collect();
    let b: Vec<&str> = pairs.iter().map(|p| p.text_b.as_str()).collect();
    let ea = model.embed(&a, Role::Query, 0, true)?;
    let eb = model.embed(&b, Role::Document, 1, true)?;
    let targets: Vec<f32> = pairs.iter().map(|p| p.score).collect();
    let targets = Tensor::from_vec(targets, pairs.len(), ea.device())?;
    Ok((ea, eb, targets))
}

/// Checks that `data` are scored pairs.
pub(crate) fn require_pairs(loss: &str, needs: &str, data: &TrainingData) -> Result<()> {
    match data {
        TrainingData::Pairs(p) if !p.is_empty() => Ok(()),
        TrainingData::Pairs(_) => Err(Error::InvalidArgument("the training data are empty".into())),
        _ => Err(wrong_shape(loss, needs, data)),
    }
}

/// Each example's anchor scored against its own candidates (positive first):
/// `(b, 1 + negatives)`.
pub(crate) fn candidate_scores(
    model: ModelRef,
    batch: &Batch,
    similarity: crate::loss::Similarity,
) -> Result<Tensor> {
    match model {
        ModelRef::Bi(model) => {
            let v = embed_examples(model, batch)?;
            let (c, k) = candidates(&v)?;
            similarity.grouped(&v.anchors, &c, k)
        }
        ModelRef::Cross(model) => {
            let examples = batch.examples();
            let k = examples.first().map_or(0, |e| 1 + e.negatives.len());
            let pairs: Vec<(&str, &str)> = examples
                .iter()
                .flat_map(|e| {
                    std::iter::once(e.positive.as_str())
                        .chain(e.negatives.iter().map(String::as_str))
                        .map(move |c| (e.anchor.as_str(), c))
                })
                .collect();
            Ok(model.score(&pairs, 0, true)?.reshape((examples.len(), k))?)
        }
    }
}

/// Each example's relevance labels over its candidates: the teacher's scores
/// when given, else 1 for the positive and 0 for the negatives.
pub(crate) fn candidate_labels(examples: &[&Example], device: &Device) -> Result<Tensor> {
    if examples.iter().all(|e| e.teacher.is_some()) {
        return teacher_scores(examples, device);
    }
    let k = examples.first().map_or(0, |e| 1 + e.negatives.len());
    let flat: Vec<f32> = examples
        .iter()
        .flat_map(|_| (0..k).map(|j| if j == 0 { 1.0 } else { 0.0 }))
        .collect();
    Ok(Tensor::from_vec(flat, (examples.len(), k), device)?)
}

/// A batch of examples as `(anchor, positive, negative)` rows, one per negative
/// (anchors and positives repeated): `(sum of n_i, dim)` each.
pub(crate) fn embed_triples(
    model: &dyn Embedder,
    batch: &Batch,
) -> Result<(Tensor, Tensor, Tensor)> {
    let v = embed_examples(model, batch)?;
    let repeat: Vec<u32> = batch
        .examples()
        .iter()
        .enumerate()
        .flat_map(|(i, e)| std::iter::repeat_n(i as u32, e.negatives.len()))
        .collect();
    let Some(negatives) = v.negatives else {
        return Err(Error::InvalidArgument("a batch without negatives".into()));
    };
    let idx = Tensor::from_vec(repeat.clone(), repeat.len(), v.anchors.device())?;
    Ok((
        v.anchors.index_select(&idx, 0)?,
        v.positives.index_select(&idx, 0)?,
        negatives,
    ))
}
