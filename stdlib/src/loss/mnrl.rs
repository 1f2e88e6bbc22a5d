//! MultipleNegativesRankingLoss (InfoNCE with in-batch negatives), as in
//! sentence-transformers: for each anchor, its positive must outscore every other
//! positive in the batch and every hard negative, by scaled cosine similarity.
//! With MaxSim and a scale of 1 / temperature it is PyLate's `Contrastive`
//! loss for ColBERT (`colbert-contrastive`).

use candle_core::Tensor;

use crate::data::training::TrainingData;
use crate::error::Result;
use crate::loss::inputs::{ExampleNeeds, embed_examples, require_examples};
use crate::loss::scores::diagonal_cross_entropy;
use crate::loss::{Batch, Loss, ModelRef, Similarity};

/// The loss's settings.
#[derive(Debug, Clone, Copy)]
pub struct MultipleNegativesRankingLoss {
    /// Multiplies the cosine similarities (sentence-transformers: 20).
    pub scale: f64,
    /// Also the reverse direction (each positive must find its anchor), averaged.
    pub symmetric: bool,
    /// How an anchor and a candidate score (sentence-transformers: cosine;
    /// PyLate: MaxSim).
    pub similarity: Similarity,
}

impl Default for MultipleNegativesRankingLoss {
    fn default() -> Self {
        Self {
            scale: 20.0,
            symmetric: false,
            similarity: Similarity::Cosine,
        }
    }
}

impl MultipleNegativesRankingLoss {
    /// The loss of a batch: `anchors` and `positives` are `(b, dim)`; `negatives`
    /// (hard negatives, `(b * n, dim)`) join the candidates of every anchor.
    pub fn loss(
        &self,
        anchors: &Tensor,
        positives: &Tensor,
        negatives: Option<&Tensor>,
    ) -> Result<Tensor> {
        let candidates = match negatives {
            Some(n) => Tensor::cat(&[positives, n], 0)?,
            None => positives.clone(),
        };
        let scores = (self.similarity.matrix(anchors, &candidates)? * self.scale)?;
        let forward = diagonal_cross_entropy(&scores)?;
        if !self.symmetric {
            return Ok(forward);
        }
        let b = anchors.dim(0)?;
        let backward = diagonal_cross_entropy(&scores.narrow(1, 0, b)?.t()?)?;
        Ok(((forward + backward)? / 2.0)?)
    }
}

/// What the MNRL family trains on.
pub(crate) const NEEDS: &str = "(anchor, positive[, negatives]) examples";

/// Checks data for the MNRL family.
pub(crate) fn check_mnrl(name: &str, data: &TrainingData) -> Result<()> {
    require_examples(
        name,
        NEEDS,
        data,
        ExampleNeeds {
            min_negatives: 0,
            uniform: false,
            teacher: false,
        },
    )
}

impl Loss for MultipleNegativesRankingLoss {
    fn name(&self) -> &'static str {
        match self.similarity {
            Similarity::MaxSim => "colbert-contrastive",
            _ => "mnrl",
        }
    }
    fn check(&self, data: &TrainingData) -> Result<()> {
        check_mnrl(self.name(), data)
    }
    fn in_batch_negatives(&self) -> bool {
        true
    }
    fn forward(&self, model: ModelRef, batch: &Batch) -> Result<Tensor> {
        let model = model.bi(self.name())?;
        let v = embed_examples(model, batch)?;
        self.loss(&v.anchors, &v.positives, v.negatives.as_ref())
    }
}

#[cfg(test)]
mod tests {
    use candle_core::{Device, Var};

    use super::*;
    use crate::data::training::Example;
    use crate::loss::testing::assert_loss_gradient;

    /// (q1, d1, [n1]) and (q2, d2, [n2]).
    fn two_with_negatives() -> TrainingData {
        TrainingData::Examples(vec![
            Example {
                negatives: vec!["n1".into()],
                ..Example::pair("q1", "d1")
            },
            Example {
                negatives: vec!["n2".into()],
                ..Example::pair("q2", "d2")
            },
        ])
    }

    #[test]
    fn gradient_through_the_loss_with_hard_negatives() {
        let texts = ["q1", "q2", "d1", "d2", "n1", "n2"];
        let values = [
            0.3f32, -1.2, 0.8, 0.5, -0.4, 0.9, 1.1, 0.2, -0.7, 0.6, 0.1, -0.3, 0.2, 0.2, 0.9, -0.5,
            0.4, 0.0,
        ];
        let data = two_with_negatives();
        let l = MultipleNegativesRankingLoss {
            scale: 5.0,
            symmetric: false,
            ..Default::default()
        };
        assert_loss_gradient(&l, &texts, &values, 3, &data);
    }

    /// PyLate's Contrastive: MaxSim scores, cross-entropy over every
    /// document in the batch.
    #[test]
    fn colbert_contrastive_value_and_gradient() {
        use crate::loss::loss_with;
        use crate::loss::testing::{assert_token_loss_gradient, token_loss_value};
        let texts = ["q1", "q2", "d1", "d2", "n1", "n2"];
        #[rustfmt::skip]
        let values = [
            1.0f32, 0.0, 0.0, 1.0, // q1: e1, e2
            1.0, 0.0, 0.0, 0.0,    // q2: e1, 0
            1.0, 0.0, 0.0, 1.0,    // d1: e1, e2
            0.5, 0.0, 0.0, 0.0,    // d2: e1 / 2, 0
            0.0, 0.0, 0.0, 0.0,    // n1, n2: nothing (never read below)
            0.0, 0.0, 0.0, 0.0,
        ];
        let pairs =
            TrainingData::Examples(vec![Example::pair("q1", "d1"), Example::pair("q2", "d2")]);
        // Scores [[2, 0.5], [1, 0.5]].
        let want = (-(2.0 - (2f64.exp() + 0.5f64.exp()).ln())
            - (0.5 - (1f64.exp() + 0.5f64.exp()).ln()))
            / 2.0;
        let l = loss_with("colbert-contrastive", &Default::default()).unwrap();
        assert_eq!(l.name(), "colbert-contrastive");
        let got = token_loss_value(l.as_ref(), &texts, &values, 2, 2, &pairs);
        assert!((got - want).abs() < 1e-6, "{got} vs {want}");
        // With hard negatives and a temperature, against finite differences.
        let generic: Vec<f32> = (0..values.len())
            .map(|i| ((i * 7919 % 113) as f32 / 56.0) - 1.0)
            .collect();
        let data = two_with_negatives();
        let settings = [("temperature".to_string(), 0.5)].into_iter().collect();
        let l = loss_with("colbert-contrastive", &settings).unwrap();
        assert_token_loss_gradient(l.as_ref(), &texts, &generic, 2, 2, &data);
        // A single-vector loss refuses token vectors, and the reverse.
        let mnrl = MultipleNegativesRankingLoss::default();
        let e = std::panic::catch_unwind(|| token_loss_value(&mnrl, &texts, &values, 2, 2, &pairs));
        assert!(e.is_err());
    }

    fn t(rows: &[[f32; 2]]) -> Tensor {
        let flat: Vec<f32> = rows.iter().flatten().copied().collect();
        Tensor::from_vec(flat, (rows.len(), 2), &Device::Cpu).unwrap()
    }

    fn value(x: &Tensor) -> f64 {
        x.to_scalar::<f32>().unwrap() as f64
    }

    #[test]
    fn value_by_hand() {
        // Unit vectors at right angles: cos = 1 on the diagonal, 0 off it.
        let a = t(&[[1.0, 0.0], [0.0, 1.0]]);
        let l = MultipleNegativesRankingLoss {
            scale: 20.0,
            symmetric: false,
            ..Default::default()
        };
        // -log(e^20 / (e^20 + e^0)) for both rows.
        let want = (1.0 + (-20f64).exp()).ln();
        assert!((value(&l.loss(&a, &a, None).unwrap()) - want).abs() < 1e-6);
        // A hard negative equal to the other anchor's positive adds one more e^0... and
        // one e^20 for the anchor it matches: row 0 sees [20, 0, 0], row 1 [0, 20, 20].
        let neg = t(&[[0.0, 3.0]]);
        let row0 = (1.0 + 2.0 * (-20f64).exp()).ln();
        let row1 = (2.0f64 + (-20f64).exp()).ln();
        let got = value(&l.loss(&a, &a, Some(&neg)).unwrap());
        assert!((got - (row0 + row1) / 2.0).abs() < 1e-5, "{got}");
        // Scale 1, 45 degrees: cos = [[1, .7071], [.7071, 1]] after normalising.
        let p = t(&[[1.0, 1.0], [0.0, 2.0]]);
        let l1 = MultipleNegativesRankingLoss {
            scale: 1.0,
            symmetric: true,
            ..Default::default()
        };
        let c = std::f64::consts::FRAC_1_SQRT_2;
        // scores = [[c, 0], [c, 1]]; forward rows: -log softmax diag.
        let f0 = -(c - (c.exp() + 1.0).ln());
        let f1 = -(1.0 - (c.exp() + 1f64.exp()).ln());
        // backward (transposed): [[c, c], [0, 1]].
        let b0 = -(c - (2.0 * c.exp()).ln());
        let b1 = -(1.0 - (1.0 + 1f64.exp()).ln());
        let want = ((f0 + f1) / 2.0 + (b0 + b1) / 2.0) / 2.0;
        assert!((value(&l1.loss(&a, &p, None).unwrap()) - want).abs() < 1e-6);
    }

    #[test]
    fn gradient_matches_finite_differences() {
        let data = [
            0.3f32, -1.2, 0.8, 0.5, -0.4, 0.9, 1.1, 0.2, -0.7, 0.6, 0.1, -0.3,
        ];
        let anchors = Var::from_vec(data[..6].to_vec(), (3, 2), &Device::Cpu).unwrap();
        let positives = Tensor::from_vec(data[6..].to_vec(), (3, 2), &Device::Cpu).unwrap();
        let l = MultipleNegativesRankingLoss {
            scale: 5.0,
            symmetric: true,
            ..Default::default()
        };
        let loss = l.loss(anchors.as_tensor(), &positives, None).unwrap();
        let grads = loss.backward().unwrap();
        let g: Vec<f32> = grads
            .get(anchors.as_tensor())
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1()
            .unwrap();
        let f = |x: &[f32]| {
            let a = Tensor::from_vec(x.to_vec(), (3, 2), &Device::Cpu).unwrap();
            value(&l.loss(&a, &positives, None).unwrap())
        };
        let h = 1e-3f32;
        for i in 0..6 {
            let mut up = data[..6].to_vec();
            let mut down = up.clone();
            up[i] += h;
            down[i] -= h;
            let numeric = (f(&up) - f(&down)) / (2.0 * h as f64);
            assert!(
                (numeric - g[i] as f64).abs() < 2e-3,
                "{i}: {numeric} vs {}",
                g[i]
            );
        }
    }
}
