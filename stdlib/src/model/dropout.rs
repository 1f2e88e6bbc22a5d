//! Dropout with masks drawn from a seeded generator: candle's CPU dropout draws
//! from an unseeded thread-local generator, so neither a seed nor a resumed run
//! could reproduce it.

use std::sync::Mutex;

use candle_core::Tensor;

use crate::error::Result;
use crate::random::SplitMix;

/// Where a training forward pass draws its dropout masks from.
pub struct Dropout {
    rng: Mutex<SplitMix>,
}

impl Dropout {
    /// Masks for stream `stream` (e.g. the step number) of run `seed`.
    pub fn seeded(seed: u64, stream: u64) -> Self {
        Self {
            rng: Mutex::new(SplitMix::stream(seed, stream)),
        }
    }

    /// Zeroes each element of `x` with probability `p` and scales the rest by
    /// `1 / (1 - p)` (inverted dropout, as torch does).
    pub fn apply(&self, x: &Tensor, p: f64) -> Result<Tensor> {
        if p <= 0.0 {
            return Ok(x.clone());
        }
        if p >= 1.0 {
            return Ok(x.zeros_like()?);
        }
        let n = x.elem_count();
        let keep = (1.0 / (1.0 - p)) as f32;
        // Compare raw 32-bit draws with p * 2^32: two masks per 64-bit draw.
        let threshold = (p * 4_294_967_296.0) as u64;
        let mut mask = Vec::with_capacity(n + 1);
        let mut rng = self.rng.lock().unwrap_or_else(|e| e.into_inner());
        while mask.len() < n {
            let r = rng.next_u64();
            for half in [r & 0xFFFF_FFFF, r >> 32] {
                mask.push(if half < threshold { 0.0 } else { keep });
            }
        }
        mask.truncate(n);
        let mask = Tensor::from_vec(mask, x.shape(), x.device())?.to_dtype(x.dtype())?;
        Ok((x * mask)?)
    }
}

#[cfg(test)]
mod tests {
    use candle_core::Device;

    use super::*;

    #[test]
    fn seeded_rate_and_scale() {
        let x = Tensor::ones((100, 100), candle_core::DType::F32, &Device::Cpu).unwrap();
        let a: Vec<f32> = Dropout::seeded(7, 3)
            .apply(&x, 0.1)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1()
            .unwrap();
        let b: Vec<f32> = Dropout::seeded(7, 3)
            .apply(&x, 0.1)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1()
            .unwrap();
        let c: Vec<f32> = Dropout::seeded(7, 4)
            .apply(&x, 0.1)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1()
            .unwrap();
        assert_eq!(a, b, "same seed and stream, same mask");
        assert_ne!(a, c, "another stream, another mask");
        let zeros = a.iter().filter(|v| **v == 0.0).count();
        // 10,000 draws at p = 0.1: 1,000 expected, sd 30.
        assert!((880..1120).contains(&zeros), "{zeros}");
        assert!(a.iter().all(|v| *v == 0.0 || (*v - 1.0 / 0.9).abs() < 1e-6));
    }
}
