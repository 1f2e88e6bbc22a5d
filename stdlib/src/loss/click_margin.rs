//! EmbeddingStudio's probabilistic margin ranking loss for click data: a
//! clicked result should outscore each shown-but-not-clicked one by a margin;
//! a sigmoid in place of the hinge keeps noisy clicks from dominating.

use candle_core::Tensor;

use crate::data::training::TrainingData;
use crate::error::Result;
use crate::loss::inputs::{embed_triples, require_triples};
use crate::loss::scores::sigmoid;
use crate::loss::{Batch, Loss, ModelRef, Similarity};

/// `mean(sigmoid(margin - (cos(q, clicked) - cos(q, not clicked))))`.
#[derive(Debug, Clone, Copy)]
pub struct ProbMarginRankingLoss {
    /// The margin (EmbeddingStudio: 1).
    pub margin: f64,
}

impl Default for ProbMarginRankingLoss {
    fn default() -> Self {
        Self { margin: 1.0 }
    }
}

impl Loss for ProbMarginRankingLoss {
    fn name(&self) -> &'static str {
        "click-margin"
    }
    fn check(&self, data: &TrainingData) -> Result<()> {
        require_triples(self.name(), "(query, clicked, not clicked) triples", data)
    }
    fn forward(&self, model: ModelRef, batch: &Batch) -> Result<Tensor> {
        let model = model.bi(self.name())?;
        let (q, clicked, skipped) = embed_triples(model, batch)?;
        let diff =
            (Similarity::Cosine.rows(&q, &clicked)? - Similarity::Cosine.rows(&q, &skipped)?)?;
        Ok(sigmoid(&diff.affine(-1.0, self.margin)?)?.mean_all()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::training::Example;
    use crate::loss::testing::{assert_loss_gradient, loss_value};

    #[test]
    fn value_and_gradient() {
        let texts = ["q", "clicked", "skipped"];
        // cos(q, clicked) = 1, cos(q, skipped) = 0.
        let values = [1.0f32, 0.0, 2.0, 0.0, 0.0, 3.0];
        let data = TrainingData::Examples(vec![Example {
            negatives: vec!["skipped".into()],
            ..Example::pair("q", "clicked")
        }]);
        let l = ProbMarginRankingLoss { margin: 0.5 };
        let want = 1.0 / (1.0 + (-(0.5f64 - 1.0)).exp());
        assert!((loss_value(&l, &texts, &values, 2, &data) - want).abs() < 1e-6);
        let values = [1.0f32, 0.3, 2.0, 0.5, 0.4, 3.0];
        assert_loss_gradient(&l, &texts, &values, 2, &data);
    }
}
