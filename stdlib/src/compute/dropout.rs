//! Dropout with masks drawn from a seeded generator: candle's CPU dropout draws
//! from an unseeded thread-local generator, so neither a seed nor a resumed run
//! could reproduce it. On CPU the mask is never stored: forward and backward
//! regenerate it from its seed (torch keeps a byte per element; a float mask
//! of the attention probabilities alone was 100 MiB per layer per batch).

use std::sync::Mutex;

use candle_core::{CpuStorage, CustomOp1, Layout, Shape, Tensor};
use rayon::prelude::*;

use crate::error::Result;
use crate::random::SplitMix;

/// Where a training forward pass draws its dropout masks from.
pub struct Dropout {
    rng: Mutex<SplitMix>,
}

/// Elements per independently seeded block of a mask (so blocks fill in parallel).
const BLOCK: usize = 1 << 16;

/// One dropout mask, known by its seed.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Mask {
    seed: u64,
    /// Draws below this (of 2^32) drop the element.
    threshold: u64,
    /// The scale of kept elements, `1 / (1 - p)`.
    keep: f32,
}

impl Mask {
    /// `out[i] = x[i] * mask[i]` for block `block` of the mask (the elements
    /// from `block * BLOCK` here; fused operations use their own block sizes).
    pub(crate) fn apply_block(&self, block: usize, x: &[f32], out: &mut [f32]) {
        let mut rng = SplitMix::stream(self.seed, block as u64);
        for (pair_x, pair_o) in x.chunks(2).zip(out.chunks_mut(2)) {
            let r = rng.next_u64();
            for ((x, o), half) in pair_x.iter().zip(pair_o).zip([r & 0xFFFF_FFFF, r >> 32]) {
                *o = if half < self.threshold {
                    0.0
                } else {
                    x * self.keep
                };
            }
        }
    }

    /// `x` times the mask, block by block in parallel.
    pub(crate) fn apply(&self, x: &[f32]) -> Vec<f32> {
        let mut out = vec![0f32; x.len()];
        out.par_chunks_mut(BLOCK)
            .zip(x.par_chunks(BLOCK))
            .enumerate()
            .for_each(|(b, (o, x))| self.apply_block(b, x, o));
        out
    }
}

/// Multiplication by a mask regenerated from its seed (its own backward pass:
/// the gradient is multiplied by the same mask).
struct MaskOp(Mask);

impl CustomOp1 for MaskOp {
    fn name(&self) -> &'static str {
        "dropout"
    }
    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let (CpuStorage::F32(v), Some((a, b))) = (s, l.contiguous_offsets()) else {
            candle_core::bail!("dropout takes a contiguous f32 tensor on CPU");
        };
        Ok((CpuStorage::F32(self.0.apply(&v[a..b])), l.shape().clone()))
    }
    fn bwd(&self, _x: &Tensor, _y: &Tensor, g: &Tensor) -> candle_core::Result<Option<Tensor>> {
        Ok(Some(g.contiguous()?.apply_op1_no_bwd(&MaskOp(self.0))?))
    }
}

/// `x` times `mask` as a tensor without a gradient graph (backward passes of
/// fused operations that apply the mask inside).
pub(crate) fn masked(mask: Mask, x: &Tensor) -> candle_core::Result<Tensor> {
    x.contiguous()?.apply_op1_no_bwd(&MaskOp(mask))
}

/// The next mask of `train`'s stream for dropping with probability `p`; none
/// outside training or when `p` is 0.
pub(crate) fn next_mask(train: Option<&Dropout>, p: f64) -> Option<Mask> {
    train.filter(|_| p > 0.0).map(|d| d.next_mask(p))
}

impl Dropout {
    /// Masks for stream `stream` (e.g. the step number) of run `seed`.
    pub fn seeded(seed: u64, stream: u64) -> Self {
        Self {
            rng: Mutex::new(SplitMix::stream(seed, stream)),
        }
    }

    /// The stream's next mask, dropping with probability `p` (`0 < p < 1`).
    pub(crate) fn next_mask(&self, p: f64) -> Mask {
        Mask {
            seed: self
                .rng
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .next_u64(),
            // Compare raw 32-bit draws with p * 2^32: two elements per 64-bit draw.
            threshold: (p * 4_294_967_296.0) as u64,
            keep: (1.0 / (1.0 - p)) as f32,
        }
    }

    /// Zeroes each element of `x` with probability `p` and scales the rest by
    /// `1 / (1 - p)` (inverted dropout, as torch does). Each call takes the next
    /// mask of the stream.
    pub fn apply(&self, x: &Tensor, p: f64) -> Result<Tensor> {
        if p <= 0.0 {
            return Ok(x.clone());
        }
        if p >= 1.0 {
            return Ok(x.zeros_like()?);
        }
        let mask = self.next_mask(p);
        if x.device().is_cpu() && x.dtype() == candle_core::DType::F32 {
            return Ok(x.contiguous()?.apply_op1(MaskOp(mask))?);
        }
        // Elsewhere: the same mask as a tensor.
        let ones = vec![1f32; x.elem_count()];
        let m = Tensor::from_vec(mask.apply(&ones), x.shape(), x.device())?.to_dtype(x.dtype())?;
        Ok((x * m)?)
    }
}

#[cfg(test)]
mod tests {
    use candle_core::Device;

    use super::*;

    #[test]
    fn the_gradient_uses_the_same_mask() {
        let x = candle_core::Var::from_vec(vec![1f32; 1000], 1000, &Device::Cpu).unwrap();
        let y = Dropout::seeded(1, 2).apply(x.as_tensor(), 0.5).unwrap();
        let g = y.sum_all().unwrap().backward().unwrap();
        let g: Vec<f32> = g.get(x.as_tensor()).unwrap().to_vec1().unwrap();
        let y: Vec<f32> = y.to_vec1().unwrap();
        assert_eq!(g, y, "d(sum(x * m))/dx = m, and y = m for x = 1");
        assert!(y.iter().all(|v| *v == 0.0 || *v == 2.0));
    }

    #[test]
    fn seeded_rate_and_scale() {
        let x = Tensor::ones((100, 100), candle_core::DType::F32, &Device::Cpu).unwrap();
        let mask = |seed, stream| -> Vec<f32> {
            Dropout::seeded(seed, stream)
                .apply(&x, 0.1)
                .unwrap()
                .flatten_all()
                .unwrap()
                .to_vec1()
                .unwrap()
        };
        let (a, b, c) = (mask(7, 3), mask(7, 3), mask(7, 4));
        assert_eq!(a, b, "same seed and stream, same mask");
        assert_ne!(a, c, "another stream, another mask");
        let zeros = a.iter().filter(|v| **v == 0.0).count();
        // 10,000 draws at p = 0.1: 1,000 expected, sd 30.
        assert!((880..1120).contains(&zeros), "{zeros}");
        assert!(a.iter().all(|v| *v == 0.0 || (*v - 1.0 / 0.9).abs() < 1e-6));
    }
}
