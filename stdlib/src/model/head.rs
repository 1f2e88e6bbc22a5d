//! Quaterion-style heads on top of a frozen encoder's vectors: a linear layer,
//! or a gated skip connection `x + sigmoid(g) * (W x + b)`. Both are linear
//! maps, so a trained head is saved as a sentence-transformers `Dense` module
//! and the model loads anywhere.

use candle_core::{Device, Tensor, Var};

use crate::error::{Error, Result};
use crate::random::SplitMix;

/// Which head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeadKind {
    /// `W x + b`, `dim -> dim`.
    Linear,
    /// `x + sigmoid(g) * (W x + b)`, gates starting at -4 (almost closed), as Quaterion's.
    SkipConnection,
}

impl HeadKind {
    /// Parses `linear` or `skip` / `skip-connection`.
    pub fn parse(s: &str) -> Result<Self> {
        match s {
            "linear" => Ok(Self::Linear),
            "skip" | "skip-connection" | "skip_connection" => Ok(Self::SkipConnection),
            _ => Err(Error::InvalidArgument(format!(
                "unknown head `{s}`; known heads: linear, skip-connection"
            ))),
        }
    }

    /// Its name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Linear => "linear",
            Self::SkipConnection => "skip-connection",
        }
    }
}

/// A trainable head.
pub struct Head {
    kind: HeadKind,
    weight: Var,
    bias: Var,
    gates: Option<Var>,
}

impl Head {
    /// A `dim -> dim` head initialised as torch's `nn.Linear` (uniform in
    /// `±1/sqrt(dim)`) from `seed`. A linear head starts at the identity plus
    /// that noise, so training starts from the encoder's own vectors.
    pub fn new(kind: HeadKind, dim: usize, seed: u64, device: &Device) -> Result<Self> {
        let mut rng = SplitMix::new(seed);
        let bound = 1.0 / (dim as f32).sqrt();
        let mut uniform = |n: usize| -> Vec<f32> {
            (0..n)
                .map(|_| ((rng.next_u64() >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0) * bound)
                .collect()
        };
        let mut w = uniform(dim * dim);
        let b = uniform(dim);
        if kind == HeadKind::Linear {
            for i in 0..dim {
                w[i * dim + i] += 1.0;
            }
        }
        Ok(Self {
            kind,
            weight: Var::from_vec(w, (dim, dim), device)?,
            bias: Var::from_vec(b, dim, device)?,
            gates: match kind {
                HeadKind::Linear => None,
                HeadKind::SkipConnection => Some(Var::from_vec(vec![-4f32; dim], dim, device)?),
            },
        })
    }

    /// Which head it is.
    pub fn kind(&self) -> HeadKind {
        self.kind
    }

    /// The parameters by name.
    pub fn vars(&self) -> Vec<(String, Var)> {
        let mut v = vec![
            ("head.weight".to_string(), self.weight.clone()),
            ("head.bias".to_string(), self.bias.clone()),
        ];
        if let Some(g) = &self.gates {
            v.push(("head.gates".to_string(), g.clone()));
        }
        v
    }

    /// The head applied to `(n, dim)` vectors.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let fc = x
            .matmul(&self.weight.as_tensor().t()?)?
            .broadcast_add(self.bias.as_tensor())?;
        Ok(match &self.gates {
            None => fc,
            Some(g) => (fc.broadcast_mul(&candle_nn::ops::sigmoid(g.as_tensor())?)? + x)?,
        })
    }

    /// The head as one linear map `y = A x + c`: `(A, c)`.
    pub fn as_linear(&self) -> Result<(Tensor, Tensor)> {
        let (w, b) = (self.weight.as_tensor(), self.bias.as_tensor());
        match &self.gates {
            None => Ok((w.copy()?, b.copy()?)),
            Some(g) => {
                let s = candle_nn::ops::sigmoid(g.as_tensor())?;
                let dim = w.dim(0)?;
                let eye = Tensor::eye(dim, w.dtype(), w.device())?;
                // x + s * (W x + b) = (I + diag(s) W) x + s * b.
                let a = (eye + w.broadcast_mul(&s.unsqueeze(1)?)?)?;
                Ok((a, (b * s)?))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn max_abs_diff(a: &Tensor, b: &Tensor) -> f32 {
        (a - b)
            .unwrap()
            .abs()
            .unwrap()
            .max_all()
            .unwrap()
            .to_scalar()
            .unwrap()
    }

    #[test]
    fn skip_connection_starts_near_identity_and_folds_into_a_linear_map() {
        let x = Tensor::new(&[[1f32, -2.0, 0.5], [0.3, 0.0, 2.0]], &Device::Cpu).unwrap();
        for kind in [HeadKind::Linear, HeadKind::SkipConnection] {
            let h = Head::new(kind, 3, 7, &Device::Cpu).unwrap();
            let y = h.forward(&x).unwrap();
            let (a, c) = h.as_linear().unwrap();
            let folded = x
                .matmul(&a.t().unwrap())
                .unwrap()
                .broadcast_add(&c)
                .unwrap();
            let diff = max_abs_diff(&y, &folded);
            assert!(diff < 1e-6, "{kind:?}: {diff}");
        }
        // Gates at -4: sigmoid = 0.018, the encoder's vectors pass almost unchanged.
        let h = Head::new(HeadKind::SkipConnection, 3, 7, &Device::Cpu).unwrap();
        let y = h.forward(&x).unwrap();
        let diff = max_abs_diff(&y, &x);
        assert!(diff < 0.05, "{diff}");
    }
}
