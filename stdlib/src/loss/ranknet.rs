//! RankNet (Burges et al. 2005): for every pair of an anchor's candidates where
//! one should rank above the other (by teacher score, or positive over
//! negatives), the logistic loss of their score difference.

use candle_core::Tensor;

use crate::data::training::TrainingData;
use crate::error::Result;
use crate::loss::inputs::{candidate_labels, candidate_scores, require_groups};
use crate::loss::scores::pairwise_logistic;
use crate::loss::{Batch, Loss, ModelRef, Similarity};

/// Pairwise logistic loss over each example's candidates.
#[derive(Debug, Clone, Copy)]
pub struct RankNetLoss {
    /// How the anchor scores a candidate.
    pub similarity: Similarity,
}

impl Default for RankNetLoss {
    fn default() -> Self {
        Self {
            similarity: Similarity::Dot,
        }
    }
}

/// The data the listwise and pairwise losses take.
pub(crate) fn check_groups(name: &str, data: &TrainingData) -> Result<()> {
    require_groups(name, "(anchor, positive, negatives) groups", data, false)
}

impl Loss for RankNetLoss {
    fn name(&self) -> &'static str {
        "ranknet"
    }
    fn check(&self, data: &TrainingData) -> Result<()> {
        check_groups(self.name(), data)
    }
    fn forward(&self, model: ModelRef, batch: &Batch) -> Result<Tensor> {
        let scores = candidate_scores(model, batch, self.similarity)?;
        let labels = candidate_labels(&batch.examples(), scores.device())?;
        pairwise_logistic(&scores, &labels)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::training::Example;
    use crate::loss::testing::{assert_loss_gradient, loss_value};

    #[test]
    fn value_and_gradient() {
        let texts = ["q", "p", "n1", "n2"];
        // Dots with q = (1, 1): p 1, n1 2, n2 -1.
        let values = [1.0f32, 1.0, 1.0, 0.0, 1.0, 1.0, 0.0, -1.0];
        let data = TrainingData::Examples(vec![Example {
            negatives: vec!["n1".into(), "n2".into()],
            ..Example::pair("q", "p")
        }]);
        // Pairs (p, n1) and (p, n2): differences -1 and 2.
        let sp = |x: f64| (1.0 + (-x).exp()).ln();
        let want = (sp(-1.0) + sp(2.0)) / 2.0;
        let l = RankNetLoss::default();
        assert!((loss_value(&l, &texts, &values, 2, &data) - want).abs() < 1e-6);
        assert_loss_gradient(&l, &texts, &values, 2, &data);
        // With teacher scores n1 also beats n2: a third pair, difference 3.
        let graded = TrainingData::Examples(vec![Example {
            negatives: vec!["n1".into(), "n2".into()],
            teacher: Some(vec![3.0, 2.0, 1.0]),
            ..Example::pair("q", "p")
        }]);
        let want = (sp(-1.0) + sp(2.0) + sp(3.0)) / 3.0;
        assert!((loss_value(&l, &texts, &values, 2, &graded) - want).abs() < 1e-6);
    }
}
