//! DistillKLDivLoss, as in sentence-transformers: the student's softmax over an
//! anchor's candidates should match the teacher's, by KL divergence at a
//! temperature; dot-product scores.

use candle_core::Tensor;

use crate::data::training::TrainingData;
use crate::error::Result;
use crate::loss::inputs::{candidate_scores, require_groups, teacher_scores};
use crate::loss::scores::kl_divergence;
use crate::loss::{Batch, Loss, ModelRef, Similarity};

/// `KL(teacher || student) * t^2` over each example's candidates.
#[derive(Debug, Clone, Copy)]
pub struct DistillKLDivLoss {
    /// Softens both distributions (sentence-transformers: 1).
    pub temperature: f64,
}

impl Default for DistillKLDivLoss {
    fn default() -> Self {
        Self { temperature: 1.0 }
    }
}

impl Loss for DistillKLDivLoss {
    fn name(&self) -> &'static str {
        "kl"
    }
    fn check(&self, data: &TrainingData) -> Result<()> {
        let needs = "(anchor, positive, negatives) groups with teacher scores";
        require_groups(self.name(), needs, data, true)
    }
    fn forward(&self, model: ModelRef, batch: &Batch) -> Result<Tensor> {
        let student = candidate_scores(model, batch, Similarity::Dot)?;
        let teacher = teacher_scores(&batch.examples(), student.device())?;
        kl_divergence(&student, &teacher, self.temperature)
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
        // q = (1, 0), p = (2, 0), n = (0, 1): student scores [2, 0].
        let values = [1.0f32, 0.0, 2.0, 0.0, 0.0, 1.0];
        let data = TrainingData::Examples(vec![Example {
            negatives: vec!["n".into()],
            teacher: Some(vec![1.0, 1.0]),
            ..Example::pair("q", "p")
        }]);
        // Teacher uniform: KL = sum 0.5 (ln 0.5 - ln q_j), q = softmax([2, 0]).
        let z = (2f64.exp() + 1.0).ln();
        let want = 0.5 * (0.5f64.ln() - (2.0 - z)) + 0.5 * (0.5f64.ln() - (0.0 - z));
        let l = DistillKLDivLoss::default();
        assert!((loss_value(&l, &texts, &values, 2, &data) - want).abs() < 1e-6);
        assert_loss_gradient(
            &DistillKLDivLoss { temperature: 2.0 },
            &texts,
            &values,
            2,
            &data,
        );
    }
}
