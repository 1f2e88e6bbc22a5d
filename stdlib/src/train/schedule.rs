//! Learning-rate schedules, with Hugging Face transformers' formulas (so a run
//! configured like a sentence-transformers run sees the same rates).

use crate::error::{Error, Result};

/// How the learning rate moves over the run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Schedule {
    /// The base rate throughout.
    Constant,
    /// Linear warm-up from 0 over `warmup` steps, then linear decay to 0 at the end.
    Linear {
        /// Warm-up steps.
        warmup: usize,
    },
    /// Linear warm-up, then half a cosine down to 0 at the end.
    Cosine {
        /// Warm-up steps.
        warmup: usize,
    },
}

impl Schedule {
    /// Parses `constant`, `linear` or `cosine` with `warmup` steps.
    pub fn parse(name: &str, warmup: usize) -> Result<Self> {
        match name {
            "constant" => Ok(Self::Constant),
            "linear" => Ok(Self::Linear { warmup }),
            "cosine" => Ok(Self::Cosine { warmup }),
            _ => Err(Error::InvalidArgument(format!(
                "unknown schedule \"{name}\" (known: constant, linear, cosine)"
            ))),
        }
    }

    /// The factor on the base rate at optimiser step `step` (0-based) of `total`.
    pub fn factor(&self, step: usize, total: usize) -> f64 {
        let warm = |warmup: usize| (step < warmup).then(|| step as f64 / warmup.max(1) as f64);
        match *self {
            Self::Constant => 1.0,
            Self::Linear { warmup } => warm(warmup).unwrap_or_else(|| {
                let left = total.saturating_sub(step) as f64;
                (left / total.saturating_sub(warmup).max(1) as f64).max(0.0)
            }),
            Self::Cosine { warmup } => warm(warmup).unwrap_or_else(|| {
                let progress = (step - warmup) as f64 / total.saturating_sub(warmup).max(1) as f64;
                (0.5 * (1.0 + (std::f64::consts::PI * progress).cos())).max(0.0)
            }),
        }
    }
}

/// Warm-up steps for a warm-up `ratio` of `total` steps (Hugging Face rounds up).
pub fn warmup_steps(ratio: f64, total: usize) -> usize {
    (ratio * total as f64).ceil() as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hugging_face_formulas() {
        // get_linear_schedule_with_warmup with 3 warm-up steps of 10.
        let lin = Schedule::Linear { warmup: 3 };
        let got: Vec<f64> = (0..11).map(|s| lin.factor(s, 10)).collect();
        let want = [
            0.0,
            1.0 / 3.0,
            2.0 / 3.0,
            1.0,
            6.0 / 7.0,
            5.0 / 7.0,
            4.0 / 7.0,
            3.0 / 7.0,
            2.0 / 7.0,
            1.0 / 7.0,
            0.0,
        ];
        for (g, w) in got.iter().zip(want) {
            assert!((g - w).abs() < 1e-12, "{got:?}");
        }
        // get_cosine_schedule_with_warmup: half-way through the decay is 0.5.
        let cos = Schedule::Cosine { warmup: 2 };
        assert_eq!(cos.factor(1, 10), 0.5);
        assert!((cos.factor(6, 10) - 0.5).abs() < 1e-12);
        assert!(cos.factor(10, 10).abs() < 1e-12);
        assert_eq!(Schedule::Constant.factor(5, 10), 1.0);
        // 10% of 29 steps (SciFact, batch 32) is 3 warm-up steps.
        assert_eq!(warmup_steps(0.1, 29), 3);
        assert!(
            Schedule::parse("exp", 0)
                .unwrap_err()
                .to_string()
                .contains("known: constant")
        );
    }
}
