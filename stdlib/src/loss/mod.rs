//! Training losses. Each loss is one file; what they share lives in
//! `similarity` (how two embeddings score), `scores` (losses over score
//! matrices) and `inputs` (embedding a batch), so the cached and uncached
//! versions of a loss cannot drift apart.

mod batch_hard_triplet;
mod bce;
mod cached_mnrl;
mod click_margin;
mod colbert_distillation;
mod contrastive;
mod cosine_similarity;
mod distill_kl;
pub mod inputs;
mod lce;
mod listnet;
mod margin_mse;
mod mnrl;
mod ranknet;
pub mod scores;
pub mod similarity;
pub mod triplet;

#[cfg(test)]
pub(crate) mod testing;

use std::collections::BTreeMap;

use candle_core::Tensor;
use candle_core::backprop::GradStore;

pub use batch_hard_triplet::BatchHardTripletLoss;
pub use bce::BinaryCrossEntropyLoss;
pub use cached_mnrl::CachedMultipleNegativesRankingLoss;
pub use click_margin::ProbMarginRankingLoss;
pub use colbert_distillation::ColbertDistillationLoss;
pub use contrastive::{ContrastiveLoss, OnlineContrastiveLoss};
pub use cosine_similarity::CosineSimilarityLoss;
pub use distill_kl::DistillKLDivLoss;
pub use inputs::{Batch, Embedder, ModelRef, Role, Scorer};
pub use lce::LocalizedContrastiveLoss;
pub use listnet::ListNetLoss;
pub use margin_mse::MarginMSELoss;
pub use mnrl::MultipleNegativesRankingLoss;
pub use ranknet::RankNetLoss;
pub use similarity::Similarity;
pub use triplet::TripletLoss;

use crate::data::training::TrainingData;
use crate::error::{Error, Result};

/// A training objective for a bi-encoder.
pub trait Loss: Send + Sync {
    /// The name it is chosen by (`mnrl`, `triplet`, ...).
    fn name(&self) -> &'static str;
    /// Refuses data of a shape it cannot use, saying what it needs and what it got.
    fn check(&self, data: &TrainingData) -> Result<()>;
    /// Whether a batch must not repeat a text (losses with in-batch negatives).
    fn in_batch_negatives(&self) -> bool {
        false
    }
    /// Whether batches must hold group samples in pairs of the same group
    /// (batch-hard losses mine each anchor's positive in the batch).
    fn group_batches(&self) -> bool {
        false
    }
    /// The mean loss of a batch, keeping the graph for backpropagation.
    fn forward(&self, model: ModelRef, batch: &Batch) -> Result<Tensor>;
    /// The loss of a batch and the gradients of `scale` times it (gradient
    /// accumulation scales by 1 / micro-batches).
    fn backward(&self, model: ModelRef, batch: &Batch, scale: f64) -> Result<(f64, GradStore)> {
        let loss = self.forward(model, batch)?;
        let value = loss.to_scalar::<f32>()? as f64;
        let grads = if scale == 1.0 {
            loss.backward()?
        } else {
            (loss * scale)?.backward()?
        };
        Ok((value, detached(grads)))
    }
}

/// The gradients without their history. candle's gradients of variables are
/// computed from the forward activations and keep them (and the whole forward
/// graph) alive as long as the gradients live; GradCache, which keeps
/// gradients across many forward passes, held every pass's activations.
pub fn detached(grads: GradStore) -> GradStore {
    let mut out = GradStore::default();
    for id in grads.get_ids() {
        if let Some(g) = grads.get_id(*id) {
            out.insert_id(*id, g.detach());
        }
    }
    out
}

/// The losses `loss_by_name` knows, with what each trains on.
///
/// The ColBERT ones are PyLate's: `Contrastive` (MaxSim, in-batch and hard
/// negatives, `temperature`), its GradCache form, and `Distillation`.
pub const KNOWN_LOSSES: &[(&str, &str)] = &[
    ("mnrl", "(anchor, positive[, negatives]) examples"),
    ("cached-mnrl", "(anchor, positive[, negatives]) examples"),
    ("triplet", "(anchor, positive, negative) triples"),
    ("batch-hard-triplet", "(text, group) samples"),
    ("contrastive", "(text_a, text_b, 0/1) pairs"),
    ("online-contrastive", "(text_a, text_b, 0/1) pairs"),
    ("cosine", "(text_a, text_b, similarity) pairs"),
    (
        "margin-mse",
        "(anchor, positive, negative) triples with teacher scores",
    ),
    (
        "kl",
        "(anchor, positive, negatives) groups with teacher scores",
    ),
    ("ranknet", "(anchor, positive, negatives) groups"),
    ("listnet", "(anchor, positive, negatives) groups"),
    (
        "click-margin",
        "(query, clicked, not clicked) triples from click sessions",
    ),
    (
        "bce",
        "cross-encoder: (query, positive[, negatives]) examples or (text_a, text_b, label) pairs",
    ),
    ("lce", "cross-encoder: (query, positive, negatives) groups"),
    (
        "colbert-contrastive",
        "ColBERT: (query, positive[, negatives]) examples",
    ),
    (
        "cached-colbert-contrastive",
        "ColBERT: (query, positive[, negatives]) examples",
    ),
    (
        "colbert-distillation",
        "ColBERT: (query, positive, negatives) groups with teacher scores",
    ),
];

/// The loss called `name`, with its default settings.
pub fn loss_by_name(name: &str) -> Result<Box<dyn Loss>> {
    loss_with(name, &BTreeMap::new())
}

/// A loss's settings as given by name, each taken once.
struct Settings {
    left: BTreeMap<String, f64>,
    known: Vec<&'static str>,
}

impl Settings {
    fn get(&mut self, key: &'static str, default: f64) -> f64 {
        self.known.push(key);
        self.left.remove(key).unwrap_or(default)
    }
    fn flag(&mut self, key: &'static str) -> bool {
        self.get(key, 0.0) != 0.0
    }
}

/// The loss called `name` with `settings` (`scale`, `symmetric`, `mini_batch`,
/// `margin`, `cosine`, `temperature`, as the loss takes them); a setting the
/// loss does not have is an error naming the ones it has.
pub fn loss_with(name: &str, settings: &BTreeMap<String, f64>) -> Result<Box<dyn Loss>> {
    let mut p = Settings {
        left: settings.clone(),
        known: Vec::new(),
    };
    let distance = |p: &mut Settings| {
        if p.flag("cosine") {
            triplet::Distance::Cosine
        } else {
            triplet::Distance::Euclidean
        }
    };
    let similarity = |p: &mut Settings| {
        if p.flag("cosine") {
            Similarity::Cosine
        } else {
            Similarity::Dot
        }
    };
    let mnrl = |p: &mut Settings| MultipleNegativesRankingLoss {
        scale: p.get("scale", 20.0),
        symmetric: p.flag("symmetric"),
        similarity: Similarity::Cosine,
    };
    // PyLate's Contrastive: MaxSim scores over the temperature.
    let colbert = |p: &mut Settings| MultipleNegativesRankingLoss {
        scale: 1.0 / p.get("temperature", 1.0),
        symmetric: false,
        similarity: Similarity::MaxSim,
    };
    let loss: Box<dyn Loss> = match name.to_ascii_lowercase().replace('_', "-").as_str() {
        "mnrl" | "multiplenegativesrankingloss" | "infonce" => Box::new(mnrl(&mut p)),
        "cached-mnrl" | "cachedmultiplenegativesrankingloss" | "gradcache" => {
            Box::new(CachedMultipleNegativesRankingLoss {
                inner: mnrl(&mut p),
                mini_batch: p.get("mini_batch", 32.0).max(1.0) as usize,
            })
        }
        "triplet" | "tripletloss" => {
            let distance = distance(&mut p);
            Box::new(TripletLoss {
                margin: p.get("margin", 5.0),
                distance,
            })
        }
        "contrastive" | "contrastiveloss" => Box::new(ContrastiveLoss {
            margin: p.get("margin", 0.5),
            ..Default::default()
        }),
        "online-contrastive" | "onlinecontrastiveloss" => Box::new(OnlineContrastiveLoss {
            margin: p.get("margin", 0.5),
            ..Default::default()
        }),
        "batch-hard-triplet" | "batchhardtripletloss" => Box::new(BatchHardTripletLoss {
            margin: p.get("margin", 5.0),
        }),
        "cosine" | "cosinesimilarityloss" => Box::new(CosineSimilarityLoss),
        "margin-mse" | "marginmse" | "marginmseloss" => Box::new(MarginMSELoss),
        "kl" | "distill-kl" | "distillkldivloss" => Box::new(DistillKLDivLoss {
            temperature: p.get("temperature", 1.0),
        }),
        "ranknet" => Box::new(RankNetLoss {
            similarity: similarity(&mut p),
        }),
        "listnet" => Box::new(ListNetLoss {
            similarity: similarity(&mut p),
        }),
        "click-margin" | "probmarginrankingloss" => Box::new(ProbMarginRankingLoss {
            margin: p.get("margin", 1.0),
        }),
        "colbert-contrastive" | "colbert" | "pylate-contrastive" => Box::new(colbert(&mut p)),
        "cached-colbert-contrastive" | "cached-colbert" => {
            Box::new(CachedMultipleNegativesRankingLoss {
                inner: colbert(&mut p),
                mini_batch: p.get("mini_batch", 32.0).max(1.0) as usize,
            })
        }
        "colbert-distillation" | "colbert-kl" | "pylate-distillation" => {
            Box::new(ColbertDistillationLoss {
                normalize_scores: p.get("normalize_scores", 1.0) != 0.0,
            })
        }
        "bce" | "binarycrossentropyloss" => Box::new(BinaryCrossEntropyLoss),
        "lce" | "localized-contrastive" => Box::new(LocalizedContrastiveLoss),
        _ => {
            let known: Vec<&str> = KNOWN_LOSSES.iter().map(|(n, _)| *n).collect();
            return Err(Error::InvalidArgument(format!(
                "unknown loss `{name}`; known losses: {}",
                known.join(", ")
            )));
        }
    };
    if let Some(k) = p.left.keys().next() {
        let has = if p.known.is_empty() {
            "none".to_string()
        } else {
            p.known.join(", ")
        };
        return Err(Error::InvalidArgument(format!(
            "the {} loss has no setting `{k}` (its settings: {has})",
            loss.name()
        )));
    }
    Ok(loss)
}

/// Whether `loss` scores token vectors (it trains ColBERT models only; the
/// others train single-vector ones only).
pub fn scores_token_vectors(loss: &dyn Loss) -> bool {
    loss.name().contains("colbert")
}

/// The error for data of the wrong shape.
pub(crate) fn wrong_shape(loss: &str, needs: &str, data: &TrainingData) -> Error {
    Error::InvalidArgument(format!(
        "{loss} loss needs {needs}; this dataset yields {}",
        data.shape()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_by_name() {
        let s = |kv: &[(&str, f64)]| kv.iter().map(|(k, v)| (k.to_string(), *v)).collect();
        assert_eq!(
            loss_with("cached_mnrl", &s(&[("mini_batch", 8.0)]))
                .unwrap()
                .name(),
            "cached-mnrl"
        );
        let e = loss_with("triplet", &s(&[("scale", 3.0)]))
            .err()
            .unwrap()
            .to_string();
        assert_eq!(
            e,
            "the triplet loss has no setting `scale` (its settings: cosine, margin)"
        );
        let e = loss_with("cosine", &s(&[("margin", 3.0)]))
            .err()
            .unwrap()
            .to_string();
        assert_eq!(
            e,
            "the cosine loss has no setting `margin` (its settings: none)"
        );
    }
}
