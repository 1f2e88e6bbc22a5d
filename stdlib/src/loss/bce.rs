//! Binary cross-entropy on a cross-encoder's logits, as sentence-transformers'
//! `BinaryCrossEntropyLoss`: pairs labelled in [0, 1], or examples whose
//! positive is 1 and whose negatives are 0.

use candle_core::Tensor;

use crate::data::training::TrainingData;
use crate::error::{Error, Result};
use crate::loss::scores::softplus;
use crate::loss::{Batch, Loss, ModelRef, wrong_shape};

/// `mean(log(1 + e^s) - y s)` over scored pairs.
#[derive(Debug, Clone, Copy)]
pub struct BinaryCrossEntropyLoss;

const NEEDS: &str = "(text_a, text_b, label) pairs or (query, positive, negatives) examples";

/// `log(1 + e^s) - y s`, averaged: cross-entropy of `sigmoid(s)` against `y`.
pub fn bce_with_logits(s: &Tensor, y: &Tensor) -> Result<Tensor> {
    Ok((softplus(s)? - (s * y)?)?.mean_all()?)
}

impl Loss for BinaryCrossEntropyLoss {
    fn name(&self) -> &'static str {
        "bce"
    }
    fn check(&self, data: &TrainingData) -> Result<()> {
        match data {
            TrainingData::Pairs(p) => {
                match p.iter().position(|p| !(0.0..=1.0).contains(&p.score)) {
                    Some(i) => Err(Error::InvalidArgument(format!(
                        "bce loss needs labels between 0 and 1; pair {} has {}",
                        i + 1,
                        p[i].score
                    ))),
                    None => Ok(()),
                }
            }
            TrainingData::Examples(_) => Ok(()),
            TrainingData::Groups(_) => Err(wrong_shape(self.name(), NEEDS, data)),
        }
    }
    fn forward(&self, model: ModelRef, batch: &Batch) -> Result<Tensor> {
        let ModelRef::Cross(model) = model else {
            return Err(Error::InvalidArgument(
                "bce loss trains cross-encoders; load the model as a cross-encoder".into(),
            ));
        };
        let (pairs, labels): (Vec<(&str, &str)>, Vec<f32>) = match batch.data {
            TrainingData::Pairs(_) => batch
                .pairs()
                .iter()
                .map(|p| ((p.text_a.as_str(), p.text_b.as_str()), p.score))
                .unzip(),
            _ => batch
                .examples()
                .iter()
                .flat_map(|e| {
                    std::iter::once((e.positive.as_str(), 1.0))
                        .chain(e.negatives.iter().map(|n| (n.as_str(), 0.0)))
                        .map(move |(d, y)| ((e.anchor.as_str(), d), y))
                })
                .unzip(),
        };
        let s = model.score(&pairs, 0, true)?;
        let n = labels.len();
        bce_with_logits(&s, &Tensor::from_vec(labels, n, s.device())?)
    }
}

#[cfg(test)]
mod tests {
    use candle_core::Device;

    use super::*;
    use crate::data::training::{Example, ScoredPair};
    use crate::loss::testing::{assert_cross_loss_gradient, cross_loss_value, scalar};

    #[test]
    fn value_gradient_and_model_kind() {
        let s = Tensor::new(&[2f32, -1.0, 0.0], &Device::Cpu).unwrap();
        let y = Tensor::new(&[1f32, 0.0, 0.5], &Device::Cpu).unwrap();
        let sp = |x: f64| (1.0 + x.exp()).ln();
        let want = ((sp(2.0) - 2.0) + sp(-1.0) + sp(0.0)) / 3.0;
        assert!((scalar(&bce_with_logits(&s, &y).unwrap()) - want).abs() < 1e-6);

        let texts = ["q", "d1", "d2"];
        let values = [0.5f32, -0.3, 1.0, 0.2, -0.4, 0.8];
        let pairs = TrainingData::Pairs(vec![
            ScoredPair {
                text_a: "q".into(),
                text_b: "d1".into(),
                score: 1.0,
            },
            ScoredPair {
                text_a: "q".into(),
                text_b: "d2".into(),
                score: 0.0,
            },
        ]);
        // The table scorer's score is the dot product: q.d1 = 0.44, q.d2 = -0.44.
        let want = ((sp(0.44) - 0.44) + sp(-0.44)) / 2.0;
        assert!(
            (cross_loss_value(&BinaryCrossEntropyLoss, &texts, &values, 2, &pairs) - want).abs()
                < 1e-6
        );
        assert_cross_loss_gradient(&BinaryCrossEntropyLoss, &texts, &values, 2, &pairs);
        let examples = TrainingData::Examples(vec![Example {
            negatives: vec!["d2".into()],
            ..Example::pair("q", "d1")
        }]);
        assert!(
            (cross_loss_value(&BinaryCrossEntropyLoss, &texts, &values, 2, &examples) - want).abs()
                < 1e-6
        );
    }
}
