//! CosineSimilarityLoss, as in sentence-transformers: the squared error
//! between the cosine similarity of two texts and a target similarity.

use candle_core::Tensor;

use crate::data::training::TrainingData;
use crate::error::Result;
use crate::loss::inputs::{embed_pairs, require_pairs};
use crate::loss::scores::mse;
use crate::loss::similarity::Similarity;
use crate::loss::{Batch, Loss, ModelRef};

/// `mean((cos(a, b) - score)^2)`.
#[derive(Debug, Clone, Copy)]
pub struct CosineSimilarityLoss;

impl Loss for CosineSimilarityLoss {
    fn name(&self) -> &'static str {
        "cosine"
    }
    fn check(&self, data: &TrainingData) -> Result<()> {
        require_pairs(self.name(), "(text_a, text_b, similarity) pairs", data)
    }
    fn forward(&self, model: ModelRef, batch: &Batch) -> Result<Tensor> {
        let model = model.bi(self.name())?;
        let (a, b, target) = embed_pairs(model, batch)?;
        mse(&Similarity::Cosine.rows(&a, &b)?, &target)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::training::{Example, ScoredPair};
    use crate::loss::testing::{assert_loss_gradient, loss_value};

    #[test]
    fn value_gradient_and_shape() {
        let texts = ["a", "b", "c"];
        // a = (1, 0), b = (1, 1), c = (0, 2): cos(a, b) = 0.7071, cos(a, c) = 0.
        let values = [1.0f32, 0.0, 1.0, 1.0, 0.0, 2.0];
        let pair = |a: &str, b: &str, s: f32| ScoredPair {
            text_a: a.into(),
            text_b: b.into(),
            score: s,
        };
        let data = TrainingData::Pairs(vec![pair("a", "b", 1.0), pair("a", "c", 0.5)]);
        let want = ((1.0 - std::f64::consts::FRAC_1_SQRT_2).powi(2) + 0.25) / 2.0;
        assert!((loss_value(&CosineSimilarityLoss, &texts, &values, 2, &data) - want).abs() < 1e-6);
        assert_loss_gradient(&CosineSimilarityLoss, &texts, &values, 2, &data);
        let e = CosineSimilarityLoss
            .check(&TrainingData::Examples(vec![Example::pair("a", "b")]))
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "cosine loss needs (text_a, text_b, similarity) pairs; this dataset yields (anchor, positive) pairs"
        );
    }
}
