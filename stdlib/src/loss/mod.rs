//! Training losses. Each loss is one file; what they share lives in
//! `similarity` (how two embeddings score), `scores` (losses over score
//! matrices) and `inputs` (embedding a batch), so the cached and uncached
//! versions of a loss cannot drift apart.

mod cached_mnrl;
mod click_margin;
mod contrastive;
mod cosine_similarity;
mod distill_kl;
pub mod inputs;
mod listnet;
mod margin_mse;
mod mnrl;
mod ranknet;
pub mod scores;
pub mod similarity;
mod triplet;

#[cfg(test)]
pub(crate) mod testing;

use candle_core::Tensor;
use candle_core::backprop::GradStore;

pub use cached_mnrl::CachedMultipleNegativesRankingLoss;
pub use click_margin::ProbMarginRankingLoss;
pub use contrastive::{ContrastiveLoss, OnlineContrastiveLoss};
pub use cosine_similarity::CosineSimilarityLoss;
pub use distill_kl::DistillKLDivLoss;
pub use inputs::{Batch, Embedder, Role};
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
    /// The mean loss of a batch, keeping the graph for backpropagation.
    fn forward(&self, model: &dyn Embedder, batch: &Batch) -> Result<Tensor>;
    /// The loss of a batch and the gradients of `scale` times it (gradient
    /// accumulation scales by 1 / micro-batches).
    fn backward(
        &self,
        model: &dyn Embedder,
        batch: &Batch,
        scale: f64,
    ) -> Result<(f64, GradStore)> {
        let loss = self.forward(model, batch)?;
        let value = loss.to_scalar::<f32>()? as f64;
        let grads = if scale == 1.0 {
            loss.backward()?
        } else {
            (loss * scale)?.backward()?
        };
        Ok((value, grads))
    }
}

/// The losses `loss_by_name` knows, with what each trains on.
pub const KNOWN_LOSSES: &[(&str, &str)] = &[
    ("mnrl", "(anchor, positive[, negatives]) examples"),
    ("cached-mnrl", "(anchor, positive[, negatives]) examples"),
    ("triplet", "(anchor, positive, negative) triples"),
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
];

/// The loss called `name`, with its default settings.
pub fn loss_by_name(name: &str) -> Result<Box<dyn Loss>> {
    Ok(match name.to_ascii_lowercase().replace('_', "-").as_str() {
        "mnrl" | "multiplenegativesrankingloss" | "infonce" => {
            Box::new(MultipleNegativesRankingLoss::default())
        }
        "cached-mnrl" | "cachedmultiplenegativesrankingloss" | "gradcache" => {
            Box::new(CachedMultipleNegativesRankingLoss::default())
        }
        "triplet" | "tripletloss" => Box::new(TripletLoss::default()),
        "contrastive" | "contrastiveloss" => Box::new(ContrastiveLoss::default()),
        "online-contrastive" | "onlinecontrastiveloss" => {
            Box::new(OnlineContrastiveLoss::default())
        }
        "cosine" | "cosinesimilarityloss" => Box::new(CosineSimilarityLoss),
        "margin-mse" | "marginmse" | "marginmseloss" => Box::new(MarginMSELoss),
        "kl" | "distill-kl" | "distillkldivloss" => Box::new(DistillKLDivLoss::default()),
        "ranknet" => Box::new(RankNetLoss::default()),
        "listnet" => Box::new(ListNetLoss::default()),
        "click-margin" | "probmarginrankingloss" => Box::new(ProbMarginRankingLoss::default()),
        _ => {
            let known: Vec<&str> = KNOWN_LOSSES.iter().map(|(n, _)| *n).collect();
            return Err(Error::InvalidArgument(format!(
                "unknown loss `{name}`; known losses: {}",
                known.join(", ")
            )));
        }
    })
}

/// The error for data of the wrong shape.
pub(crate) fn wrong_shape(loss: &str, needs: &str, data: &TrainingData) -> Error {
    Error::InvalidArgument(format!(
        "{loss} loss needs {needs}; this dataset yields {}",
        data.shape()
    ))
}
