//! Localized contrastive estimation (Gao et al. 2021) for re-rankers: each
//! query's positive must win the softmax over it and the query's own hard
//! negatives (cross-entropy with the positive as the target).

use candle_core::Tensor;

use crate::data::training::TrainingData;
use crate::error::Result;
use crate::loss::inputs::{candidate_scores, require_groups};
use crate::loss::scores::cross_entropy;
use crate::loss::{Batch, Loss, ModelRef, Similarity};

/// Softmax cross-entropy over each example's [positive, negatives...].
#[derive(Debug, Clone, Copy)]
pub struct LocalizedContrastiveLoss;

impl Loss for LocalizedContrastiveLoss {
    fn name(&self) -> &'static str {
        "lce"
    }
    fn check(&self, data: &TrainingData) -> Result<()> {
        require_groups(
            self.name(),
            "(query, positive, negatives) groups",
            data,
            false,
        )
    }
    fn forward(&self, model: ModelRef, batch: &Batch) -> Result<Tensor> {
        let s = candidate_scores(model, batch, Similarity::Dot)?;
        cross_entropy(&s, &vec![0u32; s.dim(0)?])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::training::Example;
    use crate::loss::testing::{assert_cross_loss_gradient, cross_loss_value};

    #[test]
    fn value_and_gradient() {
        let texts = ["q", "p", "n1", "n2"];
        let values = [1.0f32, 0.5, 1.0, 1.0, 0.0, 2.0, -1.0, 0.0];
        // Scores (dot): p 1.5, n1 1.0, n2 -1.0.
        let data = TrainingData::Examples(vec![Example {
            negatives: vec!["n1".into(), "n2".into()],
            ..Example::pair("q", "p")
        }]);
        let want = -(1.5 - (1.5f64.exp() + 1f64.exp() + (-1f64).exp()).ln());
        assert!(
            (cross_loss_value(&LocalizedContrastiveLoss, &texts, &values, 2, &data) - want).abs()
                < 1e-6
        );
        assert_cross_loss_gradient(&LocalizedContrastiveLoss, &texts, &values, 2, &data);
    }
}
