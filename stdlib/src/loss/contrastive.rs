//! ContrastiveLoss and OnlineContrastiveLoss, as in sentence-transformers, on
//! (text_a, text_b, label) pairs with label 1 (similar) or 0 (dissimilar) and
//! cosine distance: similar pairs are pulled together, dissimilar pairs pushed
//! beyond the margin. The online variant keeps only the hard pairs of a batch.

use candle_core::Tensor;

use crate::data::training::TrainingData;
use crate::error::Result;
use crate::loss::inputs::{embed_pairs, require_pairs};
use crate::loss::triplet::Distance;
use crate::loss::{Batch, Loss, ModelRef};

const NEEDS: &str = "(text_a, text_b, label) pairs with labels 0 or 1";

/// Checks for pairs labelled 0 or 1.
fn check_labels(name: &str, data: &TrainingData) -> Result<()> {
    require_pairs(name, NEEDS, data)?;
    if let TrainingData::Pairs(p) = data
        && let Some((i, bad)) = p
            .iter()
            .enumerate()
            .find(|(_, p)| p.score != 0.0 && p.score != 1.0)
    {
        return Err(crate::Error::InvalidArgument(format!(
            "{name} loss needs labels 0 or 1; pair {} has {}",
            i + 1,
            bad.score
        )));
    }
    Ok(())
}

/// ContrastiveLoss (Hadsell et al. 2006).
#[derive(Debug, Clone, Copy)]
pub struct ContrastiveLoss {
    /// Distance dissimilar pairs must exceed (sentence-transformers: 0.5).
    pub margin: f64,
    /// The distance (sentence-transformers: cosine).
    pub distance: Distance,
}

impl Default for ContrastiveLoss {
    fn default() -> Self {
        Self {
            margin: 0.5,
            distance: Distance::Cosine,
        }
    }
}

impl ContrastiveLoss {
    /// `0.5 (y d^2 + (1 - y) max(margin - d, 0)^2)`, averaged, for distances `d`
    /// and labels `y`.
    pub fn loss(&self, d: &Tensor, y: &Tensor) -> Result<Tensor> {
        let similar = (y * d.sqr()?)?;
        let apart = (y.affine(-1.0, 1.0)? * d.affine(-1.0, self.margin)?.relu()?.sqr()?)?;
        Ok(((similar + apart)? * 0.5)?.mean_all()?)
    }
}

impl Loss for ContrastiveLoss {
    fn name(&self) -> &'static str {
        "contrastive"
    }
    fn check(&self, data: &TrainingData) -> Result<()> {
        check_labels(self.name(), data)
    }
    fn forward(&self, model: ModelRef, batch: &Batch) -> Result<Tensor> {
        let model = model.bi(self.name())?;
        let (a, b, y) = embed_pairs(model, batch)?;
        self.loss(&self.distance.rows(&a, &b)?, &y)
    }
}

/// OnlineContrastiveLoss: ContrastiveLoss on the batch's hard pairs only —
/// similar pairs farther apart than the closest dissimilar pair, and dissimilar
/// pairs closer than the farthest similar pair — summed.
#[derive(Debug, Clone, Copy)]
pub struct OnlineContrastiveLoss {
    /// Distance dissimilar pairs must exceed (sentence-transformers: 0.5).
    pub margin: f64,
    /// The distance (sentence-transformers: cosine).
    pub distance: Distance,
}

impl Default for OnlineContrastiveLoss {
    fn default() -> Self {
        Self {
            margin: 0.5,
            distance: Distance::Cosine,
        }
    }
}

impl OnlineContrastiveLoss {
    /// The loss for distances `d` and 0/1 labels `y`.
    pub fn loss(&self, d: &Tensor, y: &Tensor) -> Result<Tensor> {
        let dv: Vec<f32> = d.to_vec1()?;
        let yv: Vec<f32> = y.to_vec1()?;
        let pos: Vec<f32> = dv
            .iter()
            .zip(&yv)
            .filter(|(_, y)| **y == 1.0)
            .map(|(d, _)| *d)
            .collect();
        let neg: Vec<f32> = dv
            .iter()
            .zip(&yv)
            .filter(|(_, y)| **y == 0.0)
            .map(|(d, _)| *d)
            .collect();
        let mean = |v: &[f32]| v.iter().sum::<f32>() / v.len().max(1) as f32;
        // sentence-transformers' thresholds, including its fallbacks for a
        // batch with at most one pair of a kind.
        let neg_below = if pos.len() > 1 {
            pos.iter().copied().fold(f32::MIN, f32::max)
        } else {
            mean(&neg)
        };
        let pos_above = if neg.len() > 1 {
            neg.iter().copied().fold(f32::MAX, f32::min)
        } else {
            mean(&pos)
        };
        let pick = |keep: &dyn Fn(f32, f32) -> bool| -> Result<Tensor> {
            let m: Vec<f32> = dv
                .iter()
                .zip(&yv)
                .map(|(d, y)| f32::from(u8::from(keep(*d, *y))))
                .collect();
            Ok(Tensor::from_vec(m, dv.len(), d.device())?)
        };
        let hard_pos = pick(&|d, y| y == 1.0 && d > pos_above)?;
        let hard_neg = pick(&|d, y| y == 0.0 && d < neg_below)?;
        let pos_loss = (hard_pos * d.sqr()?)?.sum_all()?;
        let neg_loss = (hard_neg * d.affine(-1.0, self.margin)?.relu()?.sqr()?)?.sum_all()?;
        Ok((pos_loss + neg_loss)?)
    }
}

impl Loss for OnlineContrastiveLoss {
    fn name(&self) -> &'static str {
        "online-contrastive"
    }
    fn check(&self, data: &TrainingData) -> Result<()> {
        check_labels(self.name(), data)
    }
    fn forward(&self, model: ModelRef, batch: &Batch) -> Result<Tensor> {
        let model = model.bi(self.name())?;
        let (a, b, y) = embed_pairs(model, batch)?;
        self.loss(&self.distance.rows(&a, &b)?, &y)
    }
}

#[cfg(test)]
mod tests {
    use candle_core::Device;

    use super::*;
    use crate::data::training::ScoredPair;
    use crate::loss::testing::{assert_loss_gradient, scalar};

    fn v(x: &[f32]) -> Tensor {
        Tensor::from_vec(x.to_vec(), x.len(), &Device::Cpu).unwrap()
    }

    #[test]
    fn values_by_hand() {
        let d = v(&[0.1, 0.7, 0.2, 0.4]);
        let y = v(&[1.0, 1.0, 0.0, 0.0]);
        let l = ContrastiveLoss::default();
        // 0.5 * (0.01 + 0.49 + 0.3^2 + 0.1^2) / 4
        let want = 0.5 * (0.01 + 0.49 + 0.09 + 0.01) / 4.0;
        assert!((scalar(&l.loss(&d, &y).unwrap()) - want).abs() < 1e-6);
        // Online: closest dissimilar 0.2, farthest similar 0.7: hard similar {0.7},
        // hard dissimilar {0.2, 0.4}: 0.49 + 0.09 + 0.01.
        let l = OnlineContrastiveLoss::default();
        assert!((scalar(&l.loss(&d, &y).unwrap()) - 0.59).abs() < 1e-6);
    }

    #[test]
    fn gradients_and_label_check() {
        let texts = ["a", "b", "c", "d"];
        let values = [
            0.3f32, -1.2, 0.8, 0.5, -0.4, 0.9, 0.7, 0.1, 0.5, 0.5, -0.2, 0.3,
        ];
        let pair = |a: &str, b: &str, s: f32| ScoredPair {
            text_a: a.into(),
            text_b: b.into(),
            score: s,
        };
        let data = TrainingData::Pairs(vec![
            pair("a", "b", 1.0),
            pair("a", "c", 0.0),
            pair("b", "d", 1.0),
            pair("c", "d", 0.0),
        ]);
        assert_loss_gradient(&ContrastiveLoss::default(), &texts, &values, 3, &data);
        assert_loss_gradient(&OnlineContrastiveLoss::default(), &texts, &values, 3, &data);
        let bad = TrainingData::Pairs(vec![pair("a", "b", 0.5)]);
        let e = ContrastiveLoss::default()
            .check(&bad)
            .unwrap_err()
            .to_string();
        assert_eq!(e, "contrastive loss needs labels 0 or 1; pair 1 has 0.5");
    }
}
