//! MarginMSELoss (Hofstätter et al. 2020), as in sentence-transformers: the
//! student's margin between the positive and each negative should equal the
//! teacher's, by squared error; dot-product scores.

use candle_core::{D, Tensor};

use crate::data::training::TrainingData;
use crate::error::Result;
use crate::loss::inputs::{candidate_scores, require_groups, teacher_scores};
use crate::loss::scores::mse;
use crate::loss::{Batch, Loss, ModelRef, Similarity};

/// `mean((s(q, p) - s(q, n) - (t_p - t_n))^2)` over every negative.
#[derive(Debug, Clone, Copy)]
pub struct MarginMSELoss;

/// The positive's score minus each negative's: `(b, k)` -> `(b, k - 1)`.
fn margins(scores: &Tensor) -> Result<Tensor> {
    let k = scores.dim(D::Minus1)?;
    Ok(scores
        .narrow(1, 0, 1)?
        .broadcast_sub(&scores.narrow(1, 1, k - 1)?)?)
}

impl Loss for MarginMSELoss {
    fn name(&self) -> &'static str {
        "margin-mse"
    }
    fn check(&self, data: &TrainingData) -> Result<()> {
        let needs = "(anchor, positive, negative) triples with teacher scores";
        require_groups(self.name(), needs, data, true)
    }
    fn forward(&self, model: ModelRef, batch: &Batch) -> Result<Tensor> {
        let student = candidate_scores(model, batch, Similarity::Dot)?;
        let teacher = teacher_scores(&batch.examples(), student.device())?;
        mse(&margins(&student)?, &margins(&teacher)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::training::Example;
    use crate::loss::testing::{assert_loss_gradient, loss_value};

    #[test]
    fn value_gradient_and_shape() {
        let texts = ["q", "p", "n1", "n2"];
        // q = (1, 2), p = (1, 1), n1 = (0, 1), n2 = (2, -1): dots 3, 2, 0.
        let values = [1.0f32, 2.0, 1.0, 1.0, 0.0, 1.0, 2.0, -1.0];
        let data = TrainingData::Examples(vec![Example {
            negatives: vec!["n1".into(), "n2".into()],
            teacher: Some(vec![5.0, 4.5, 1.0]),
            ..Example::pair("q", "p")
        }]);
        // Student margins [1, 3], teacher margins [0.5, 4].
        let want = (0.25 + 1.0) / 2.0;
        assert!((loss_value(&MarginMSELoss, &texts, &values, 2, &data) - want).abs() < 1e-6);
        assert_loss_gradient(&MarginMSELoss, &texts, &values, 2, &data);
        let e = MarginMSELoss
            .check(&TrainingData::Examples(vec![Example {
                negatives: vec!["n1".into()],
                ..Example::pair("q", "p")
            }]))
            .unwrap_err()
            .to_string();
        assert!(
            e.ends_with("this dataset yields (anchor, positive, negative) triples"),
            "{e}"
        );
    }
}
