//! ListNet (Cao et al. 2007): cross-entropy between the softmax of the target
//! scores (teacher scores, or 1 for the positive and 0 for negatives) and the
//! softmax of the model's scores over each anchor's candidates.

use candle_core::{D, Tensor};

use crate::data::training::TrainingData;
use crate::error::Result;
use crate::loss::inputs::{candidate_labels, candidate_scores};
use crate::loss::ranknet::check_groups;
use crate::loss::scores::soft_cross_entropy;
use crate::loss::{Batch, Loss, ModelRef, Similarity};

/// Listwise softmax cross-entropy.
#[derive(Debug, Clone, Copy)]
pub struct ListNetLoss {
    /// How the anchor scores a candidate.
    pub similarity: Similarity,
}

impl Default for ListNetLoss {
    fn default() -> Self {
        Self {
            similarity: Similarity::Dot,
        }
    }
}

impl Loss for ListNetLoss {
    fn name(&self) -> &'static str {
        "listnet"
    }
    fn check(&self, data: &TrainingData) -> Result<()> {
        check_groups(self.name(), data)
    }
    fn forward(&self, model: ModelRef, batch: &Batch) -> Result<Tensor> {
        let scores = candidate_scores(model, batch, self.similarity)?;
        let labels = candidate_labels(&batch.examples(), scores.device())?;
        soft_cross_entropy(&scores, &candle_nn::ops::softmax(&labels, D::Minus1)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::training::Example;
    use crate::loss::testing::{assert_loss_gradient, loss_value};

    #[test]
    fn value_and_gradient() {
        let texts = ["q", "p", "n"];
        let values = [1.0f32, 1.0, 1.0, 0.0, 0.5, 1.0];
        // Scores [1, 1.5]; targets softmax([1, 0]).
        let data = TrainingData::Examples(vec![Example {
            negatives: vec!["n".into()],
            ..Example::pair("q", "p")
        }]);
        let p1 = 1f64.exp() / (1f64.exp() + 1.0);
        let z = (1f64.exp() + 1.5f64.exp()).ln();
        let want = -(p1 * (1.0 - z) + (1.0 - p1) * (1.5 - z));
        let l = ListNetLoss::default();
        assert!((loss_value(&l, &texts, &values, 2, &data) - want).abs() < 1e-6);
        assert_loss_gradient(&l, &texts, &values, 2, &data);
    }
}
