//! TripletLoss, as in sentence-transformers: `max(d(a, p) - d(a, n) + margin, 0)`
//! averaged over triples, with Euclidean or cosine distance. An example with
//! several negatives gives one triple per negative.

use candle_core::Tensor;

use crate::data::training::TrainingData;
use crate::error::Result;
use crate::loss::inputs::{embed_triples, require_triples};
use crate::loss::similarity::{Similarity, euclidean_rows};
use crate::loss::{Batch, Loss, ModelRef};

/// How far apart two embeddings are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Distance {
    /// `|a - b|`.
    Euclidean,
    /// `1 - cos(a, b)`.
    Cosine,
}

impl Distance {
    /// Row i of `a` to row i of `b`.
    pub fn rows(self, a: &Tensor, b: &Tensor) -> Result<Tensor> {
        match self {
            Self::Euclidean => euclidean_rows(a, b),
            Self::Cosine => Ok(Similarity::Cosine.rows(a, b)?.affine(-1.0, 1.0)?),
        }
    }
}

/// The loss's settings.
#[derive(Debug, Clone, Copy)]
pub struct TripletLoss {
    /// How far the negative must be beyond the positive (sentence-transformers: 5).
    pub margin: f64,
    /// The distance.
    pub distance: Distance,
}

impl Default for TripletLoss {
    fn default() -> Self {
        Self {
            margin: 5.0,
            distance: Distance::Euclidean,
        }
    }
}

impl TripletLoss {
    /// The loss of `(n, dim)` anchors, positives and negatives, row by row.
    pub fn loss(&self, a: &Tensor, p: &Tensor, n: &Tensor) -> Result<Tensor> {
        let gap = ((self.distance.rows(a, p)? - self.distance.rows(a, n)?)? + self.margin)?;
        Ok(gap.relu()?.mean_all()?)
    }
}

impl Loss for TripletLoss {
    fn name(&self) -> &'static str {
        "triplet"
    }
    fn check(&self, data: &TrainingData) -> Result<()> {
        require_triples(self.name(), "(anchor, positive, negative) triples", data)
    }
    fn forward(&self, model: ModelRef, batch: &Batch) -> Result<Tensor> {
        let model = model.bi(self.name())?;
        let (a, p, n) = embed_triples(model, batch)?;
        self.loss(&a, &p, &n)
    }
}

#[cfg(test)]
mod tests {
    use candle_core::Device;

    use super::*;
    use crate::data::training::Example;
    use crate::loss::testing::{assert_loss_gradient, loss_value, scalar};

    #[test]
    fn value_by_hand() {
        let t = |v: &[f32]| Tensor::from_vec(v.to_vec(), (v.len() / 2, 2), &Device::Cpu).unwrap();
        let (a, p, n) = (
            t(&[0., 0., 1., 1.]),
            t(&[3., 4., 1., 2.]),
            t(&[0., 1., 1., 1.]),
        );
        // Euclidean: d(a,p) = [5, 1], d(a,n) = [1, 0]; margin 1: [5, 2] -> 3.5.
        let l = TripletLoss {
            margin: 1.0,
            distance: Distance::Euclidean,
        };
        assert!((scalar(&l.loss(&a, &p, &n).unwrap()) - 3.5).abs() < 1e-5);
        // Cosine from (1, 1): p = (1, 2) at 1 - 3/sqrt(10), n = (1, 1) at 0; margin 0.1.
        let l = TripletLoss {
            margin: 0.1,
            distance: Distance::Cosine,
        };
        let (a, p, n) = (t(&[1., 1.]), t(&[1., 2.]), t(&[1., 1.]));
        let want = 1.0 - 3.0 / 10f64.sqrt() + 0.1;
        assert!((scalar(&l.loss(&a, &p, &n).unwrap()) - want).abs() < 1e-6);
    }

    #[test]
    fn gradients_and_shape_errors() {
        let texts = ["q", "d", "n1", "n2"];
        let values = [0.3f32, -1.2, 0.8, 0.5, -0.4, 0.9, 0.7, 0.1];
        let data = TrainingData::Examples(vec![Example {
            negatives: vec!["n1".into(), "n2".into()],
            ..Example::pair("q", "d")
        }]);
        for distance in [Distance::Euclidean, Distance::Cosine] {
            let l = TripletLoss {
                margin: 2.0,
                distance,
            };
            assert_loss_gradient(&l, &texts, &values, 2, &data);
        }
        // Two triples: the mean of both.
        let l = TripletLoss {
            margin: 5.0,
            distance: Distance::Euclidean,
        };
        let d = |x: [f32; 2], y: [f32; 2]| {
            ((x[0] - y[0]).powi(2) + (x[1] - y[1]).powi(2)).sqrt() as f64
        };
        let (q, p, n1, n2) = ([0.3, -1.2], [0.8, 0.5], [-0.4, 0.9], [0.7, 0.1]);
        let want = ((d(q, p) - d(q, n1) + 5.0) + (d(q, p) - d(q, n2) + 5.0)) / 2.0;
        assert!((loss_value(&l, &texts, &values, 2, &data) - want).abs() < 1e-5);
        let pairs = TrainingData::Examples(vec![Example::pair("q", "d")]);
        let e = l.check(&pairs).unwrap_err().to_string();
        assert_eq!(
            e,
            "triplet loss needs (anchor, positive, negative) triples; this dataset yields (anchor, positive) pairs"
        );
    }
}
