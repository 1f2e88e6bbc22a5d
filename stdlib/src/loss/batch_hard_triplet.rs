//! BatchHardTripletLoss, as in sentence-transformers (and Quaterion's triplet
//! loss with batch-hard mining) for group samples `(text, group)`: each text
//! of a batch is an anchor whose hardest positive (the farthest text of its
//! group) must be nearer than its hardest negative (the nearest text of
//! another group) by a margin: `mean(max(d(a, p⁺) - d(a, n⁻) + margin, 0))`.

use candle_core::{D, DType, Tensor};

use crate::data::training::TrainingData;
use crate::error::{Error, Result};
use crate::loss::inputs::{Batch, Role};
use crate::loss::{Loss, ModelRef, wrong_shape};

/// The loss's settings.
#[derive(Debug, Clone, Copy)]
pub struct BatchHardTripletLoss {
    /// How much nearer the hardest positive must be (sentence-transformers: 5).
    pub margin: f64,
}

impl Default for BatchHardTripletLoss {
    fn default() -> Self {
        Self { margin: 5.0 }
    }
}

/// Euclidean distances between all rows of `e` (`(n, n)`), with a gradient
/// that stays finite where a distance is 0 (the diagonal).
pub fn pairwise_euclidean(e: &Tensor) -> Result<Tensor> {
    let dot = e.matmul(&e.t()?)?;
    let sq = e.sqr()?.sum_keepdim(1)?;
    let d2 = sq.broadcast_add(&sq.t()?)?.sub(&(dot * 2.0)?)?.relu()?;
    let zero = d2.eq(0.0)?.to_dtype(DType::F32)?;
    // sqrt'(0) is infinite: shift the zeros before the root, mask them after.
    Ok(((d2 + (&zero * 1e-16)?)?.sqrt()? * zero.affine(-1.0, 1.0)?)?)
}

impl BatchHardTripletLoss {
    /// The loss of `(n, dim)` embeddings whose groups are `labels`.
    pub fn loss(&self, e: &Tensor, labels: &[u32]) -> Result<Tensor> {
        let n = labels.len();
        let device = e.device();
        let l = Tensor::from_slice(labels, n, device)?;
        let same = l
            .unsqueeze(1)?
            .broadcast_eq(&l.unsqueeze(0)?)?
            .to_dtype(DType::F32)?;
        let eye = Tensor::eye(n, DType::F32, device)?;
        let positive = (&same - &eye)?;
        let negative = same.affine(-1.0, 1.0)?;
        let d = pairwise_euclidean(e)?;
        let hardest_positive = (&d * &positive)?.max(D::Minus1)?;
        // Positives (and the anchor) pushed beyond every negative before the min.
        let row_max = d.max_keepdim(D::Minus1)?;
        let hardest_negative =
            (&d + row_max.broadcast_mul(&negative.affine(-1.0, 1.0)?)?)?.min(D::Minus1)?;
        Ok(((hardest_positive - hardest_negative)? + self.margin)?
            .relu()?
            .mean_all()?)
    }
}

impl Loss for BatchHardTripletLoss {
    fn name(&self) -> &'static str {
        "batch-hard-triplet"
    }
    fn group_batches(&self) -> bool {
        true
    }
    fn check(&self, data: &TrainingData) -> Result<()> {
        let TrainingData::Groups(v) = data else {
            return Err(wrong_shape(self.name(), "(text, group) samples", data));
        };
        let groups: std::collections::HashSet<&str> = v.iter().map(|g| g.group.as_str()).collect();
        if groups.len() < 2 {
            return Err(Error::InvalidArgument(format!(
                "{} loss needs at least two groups; the data have {}",
                self.name(),
                groups.len()
            )));
        }
        Ok(())
    }
    fn forward(&self, model: ModelRef, batch: &Batch) -> Result<Tensor> {
        let model = model.bi(self.name())?;
        let samples = batch.groups();
        let texts: Vec<&str> = samples.iter().map(|g| g.text.as_str()).collect();
        // Group names to small integers, in order of appearance.
        let mut ids = std::collections::HashMap::new();
        let labels: Vec<u32> = samples
            .iter()
            .map(|g| {
                let next = ids.len() as u32;
                *ids.entry(g.group.as_str()).or_insert(next)
            })
            .collect();
        let e = model.embed(&texts, Role::Query, 0, true)?;
        self.loss(&e, &labels)
    }
}

#[cfg(test)]
mod tests {
    use candle_core::Device;

    use super::*;
    use crate::data::training::{Example, GroupSample};
    use crate::loss::testing::{assert_loss_gradient, loss_value, scalar};

    fn groups(v: &[(&str, &str)]) -> TrainingData {
        TrainingData::Groups(
            v.iter()
                .map(|(t, g)| GroupSample {
                    text: t.to_string(),
                    group: g.to_string(),
                })
                .collect(),
        )
    }

    #[test]
    fn value_by_hand() {
        // Points on a line: a=0, b=1 (group x); c=3, d=7 (group y).
        let e = Tensor::from_vec(vec![0f32, 1., 3., 7.], (4, 1), &Device::Cpu).unwrap();
        let l = BatchHardTripletLoss { margin: 1.0 };
        // a: p+ = 1, n- = 3 -> 0; b: p+ = 1, n- = 2 -> 0;
        // c: p+ = 4, n- = 2 -> 3; d: p+ = 4, n- = 6 -> 0. Mean 0.75.
        let v = scalar(&l.loss(&e, &[0, 0, 1, 1]).unwrap());
        assert!((v - 0.75).abs() < 1e-6, "{v}");
        // A text alone in its group has no positive: d(a, p+) = 0.
        let v = scalar(&l.loss(&e, &[0, 1, 1, 2]).unwrap());
        // a: 0 - 1 + 1 = 0; b: 2 - 1 + 1 = 2; c: 2 - 3 + 1 = 0; d: 0 - 4 + 1 = 0.
        assert!((v - 0.5).abs() < 1e-6, "{v}");
    }

    #[test]
    fn gradients_and_shape_errors() {
        let texts = ["a", "b", "c", "d", "e"];
        let values = [0.3f32, -1.2, 0.8, 0.5, -0.4, 0.9, 0.7, 0.1, -0.6, -0.2];
        let data = groups(&[("a", "x"), ("b", "x"), ("c", "y"), ("d", "y"), ("e", "z")]);
        let l = BatchHardTripletLoss { margin: 2.0 };
        assert_loss_gradient(&l, &texts, &values, 2, &data);
        assert!(loss_value(&l, &texts, &values, 2, &data) > 0.0);
        let pairs = TrainingData::Examples(vec![Example::pair("q", "d")]);
        assert_eq!(
            l.check(&pairs).unwrap_err().to_string(),
            "batch-hard-triplet loss needs (text, group) samples; this dataset yields (anchor, positive) pairs"
        );
        let one = groups(&[("a", "x"), ("b", "x")]);
        assert!(
            l.check(&one)
                .unwrap_err()
                .to_string()
                .contains("at least two groups")
        );
    }
}
