//! PyLate's `Distillation` loss for ColBERT: each query's MaxSim scores over
//! its own candidates, min-max normalised per query, should give the
//! teacher's softmax, by KL divergence (`batchmean`).

use candle_core::{D, Tensor};

use crate::data::training::TrainingData;
use crate::error::Result;
use crate::loss::inputs::{candidate_scores, require_groups, teacher_scores};
use crate::loss::scores::kl_divergence;
use crate::loss::{Batch, Loss, ModelRef, Similarity};

/// `KL(softmax(teacher) || softmax(normalised student MaxSim))`.
#[derive(Debug, Clone, Copy)]
pub struct ColbertDistillationLoss {
    /// Rescale each query's student scores to [0, 1] first (PyLate: on).
    pub normalize_scores: bool,
}

impl Default for ColbertDistillationLoss {
    fn default() -> Self {
        Self {
            normalize_scores: true,
        }
    }
}

/// `(s - min) / (max - min + 1e-8)` along each row, as PyLate normalises.
fn min_max_rows(s: &Tensor) -> Result<Tensor> {
    let max = s.max_keepdim(D::Minus1)?;
    let min = s.min_keepdim(D::Minus1)?;
    let range = ((max - &min)? + 1e-8)?;
    Ok(s.broadcast_sub(&min)?.broadcast_div(&range)?)
}

impl Loss for ColbertDistillationLoss {
    fn name(&self) -> &'static str {
        "colbert-distillation"
    }
    fn check(&self, data: &TrainingData) -> Result<()> {
        let needs = "(query, positive, negatives) groups with teacher scores";
        require_groups(self.name(), needs, data, true)
    }
    fn forward(&self, model: ModelRef, batch: &Batch) -> Result<Tensor> {
        let mut student = candidate_scores(model, batch, Similarity::MaxSim)?;
        if self.normalize_scores {
            student = min_max_rows(&student)?;
        }
        let teacher = teacher_scores(&batch.examples(), student.device())?;
        kl_divergence(&student, &teacher, 1.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::training::Example;
    use crate::loss::testing::{assert_token_loss_gradient, token_loss_value};

    #[test]
    fn value_and_gradient() {
        // Two tokens of width 2 per text.
        let texts = ["q", "p", "n"];
        #[rustfmt::skip]
        let values = [
            1.0f32, 0.0, 0.0, 1.0, // q: e1, e2
            2.0, 0.0, 0.0, 0.0,    // p: MaxSim with q = 2 + 0
            0.0, 1.0, 0.0, 3.0,    // n: MaxSim with q = 0 + 3
        ];
        let data = TrainingData::Examples(vec![Example {
            negatives: vec!["n".into()],
            teacher: Some(vec![2.0, 0.0]),
            ..Example::pair("q", "p")
        }]);
        // Student [2, 3] normalised to [0, 1 - 1e-8]; teacher softmax([2, 0]).
        let l = ColbertDistillationLoss::default();
        let (p0, p1) = (1.0 / (1.0 + (-2f64).exp()), 1.0 / (1.0 + 2f64.exp()));
        let z = (1.0f64 + 1f64.exp()).ln();
        let want = p0 * (p0.ln() - (0.0 - z)) + p1 * (p1.ln() - (1.0 - z));
        let got = token_loss_value(&l, &texts, &values, 2, 2, &data);
        assert!((got - want).abs() < 1e-6, "{got} vs {want}");
        let raw = ColbertDistillationLoss {
            normalize_scores: false,
        };
        let z = (2f64.exp() + 3f64.exp()).ln();
        let want = p0 * (p0.ln() - (2.0 - z)) + p1 * (p1.ln() - (3.0 - z));
        let got = token_loss_value(&raw, &texts, &values, 2, 2, &data);
        assert!((got - want).abs() < 1e-6, "{got} vs {want}");
        // Away from ties between token products (where max has no derivative).
        let generic = [
            0.3f32, -1.2, 0.8, 0.5, -0.4, 0.9, 1.1, 0.2, -0.7, 0.6, 0.1, -0.3,
        ];
        assert_token_loss_gradient(&raw, &texts, &generic, 2, 2, &data);
        assert_token_loss_gradient(&l, &texts, &generic, 2, 2, &data);
    }
}
