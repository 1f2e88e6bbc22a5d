//! Fused CPU operations for training: LayerNorm with its backward pass, and the
//! erf-GELU and its gradient that the fused linear layer applies to its input
//! (attention and linear layers have their own files). Built from candle's elementwise
//! operations, each is five to ten passes over memory forward and as many
//! backward; in a profile of a training step they and their allocations took
//! most of the time the matrix products did not. Each pass here is one
//! parallel loop over rows in fixed chunks, so results never depend on thread
//! timing (a resumed run must repeat the numbers exactly).

use candle_core::{CpuStorage, CustomOp1, CustomOp2, CustomOp3, Layout, Shape, Tensor};
use rayon::prelude::*;

use crate::compute::kernels::{HiddenAct, Norm, activate, erf, fast_exp, layer_norm};

/// The contiguous f32 data of a CPU tensor's storage.
pub(crate) fn slice<'a>(s: &'a CpuStorage, l: &Layout) -> candle_core::Result<&'a [f32]> {
    let CpuStorage::F32(v) = s else {
        candle_core::bail!("fused training ops take f32 tensors");
    };
    match l.contiguous_offsets() {
        Some((a, b)) => Ok(&v[a..b]),
        None => candle_core::bail!("fused training ops take contiguous tensors"),
    }
}

/// Rows per parallel task: fixed, so the work split never depends on threads.
const ROWS: usize = 64;

/// Calls `f(out_row, a_row, b_row)` for every row of width `w`, in parallel
/// over fixed blocks of rows; returns the output.
fn map_rows2(
    a: &[f32],
    b: &[f32],
    w: usize,
    f: impl Fn(&mut [f32], &[f32], &[f32]) + Sync,
) -> Vec<f32> {
    let mut out = vec![0f32; a.len()];
    out.par_chunks_mut(w * ROWS)
        .zip(a.par_chunks(w * ROWS).zip(b.par_chunks(w * ROWS)))
        .for_each(|(o, (a, b))| {
            for ((o, a), b) in o
                .chunks_exact_mut(w)
                .zip(a.chunks_exact(w))
                .zip(b.chunks_exact(w))
            {
                f(o, a, b);
            }
        });
    out
}

/// LayerNorm over the last dimension with weight and bias.
struct LayerNormOp(f32);

impl CustomOp3 for LayerNormOp {
    fn name(&self) -> &'static str {
        "layer-norm"
    }
    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let norm = Norm {
            weight: slice(s2, l2)?.to_vec(),
            bias: slice(s3, l3)?.to_vec(),
            eps: self.0,
            rms: false,
        };
        let mut out = slice(s1, l1)?.to_vec();
        layer_norm(&mut out, None, &norm);
        Ok((CpuStorage::F32(out), l1.shape().clone()))
    }
    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        _b: &Tensor,
        _y: &Tensor,
        g: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let g = g.contiguous()?;
        let dx = x.apply_op3_no_bwd(w, &g, &LayerNormGrad(self.0))?;
        // Weight and bias gradients, summed over rows: (2, hidden).
        let dwb = x.apply_op2_no_bwd(&g, &LayerNormParamGrad(self.0))?;
        Ok((Some(dx), Some(dwb.get(0)?), Some(dwb.get(1)?)))
    }
}

/// Mean and 1 / standard deviation of a row.
#[inline]
fn moments(x: &[f32], eps: f32) -> (f32, f32) {
    let n = x.len() as f32;
    let mean = x.iter().sum::<f32>() / n;
    let var = x.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / n;
    (mean, 1.0 / (var + eps).sqrt())
}

/// `dx = r (g w - mean(g w) - x^ mean(g w x^))` per row.
struct LayerNormGrad(f32);

impl CustomOp3 for LayerNormGrad {
    fn name(&self) -> &'static str {
        "layer-norm-grad"
    }
    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let (x, w, g) = (slice(s1, l1)?, slice(s2, l2)?, slice(s3, l3)?);
        let h = w.len();
        let out = map_rows2(x, g, h, |o, x, g| {
            let (mean, r) = moments(x, self.0);
            let (mut a, mut b) = (0f32, 0f32);
            for i in 0..h {
                let gw = g[i] * w[i];
                a += gw;
                b += gw * (x[i] - mean) * r;
            }
            let (a, b) = (a / h as f32, b / h as f32);
            for i in 0..h {
                o[i] = r * (g[i] * w[i] - a - (x[i] - mean) * r * b);
            }
        });
        Ok((CpuStorage::F32(out), l1.shape().clone()))
    }
}

/// `[sum_rows g x^, sum_rows g]` as `(2, hidden)`.
struct LayerNormParamGrad(f32);

impl CustomOp2 for LayerNormParamGrad {
    fn name(&self) -> &'static str {
        "layer-norm-param-grad"
    }
    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let (x, g) = (slice(s1, l1)?, slice(s2, l2)?);
        let h = l1.dims()[l1.dims().len() - 1];
        // Partial sums per fixed block of rows, added in block order: the same
        // result whatever the number of threads.
        let partial: Vec<Vec<f32>> = x
            .par_chunks(h * ROWS)
            .zip(g.par_chunks(h * ROWS))
            .map(|(x, g)| {
                let mut acc = vec![0f32; 2 * h];
                for (x, g) in x.chunks_exact(h).zip(g.chunks_exact(h)) {
                    let (mean, r) = moments(x, self.0);
                    for i in 0..h {
                        acc[i] += g[i] * (x[i] - mean) * r;
                        acc[h + i] += g[i];
                    }
                }
                acc
            })
            .collect();
        let mut out = vec![0f32; 2 * h];
        for p in partial {
            for (o, v) in out.iter_mut().zip(p) {
                *o += v;
            }
        }
        Ok((CpuStorage::F32(out), Shape::from((2, h))))
    }
}

/// LayerNorm of the last dimension, with its backward pass.
pub fn layer_norm_t(x: &Tensor, w: &Tensor, b: &Tensor, eps: f64) -> candle_core::Result<Tensor> {
    x.contiguous()?
        .apply_op3(&w.contiguous()?, &b.contiguous()?, LayerNormOp(eps as f32))
}

/// `x Φ(x)` of every element, in parallel.
pub(crate) fn gelu(x: &[f32]) -> Vec<f32> {
    let mut out = x.to_vec();
    out.par_chunks_mut(4096)
        .for_each(|c| activate(c, HiddenAct::Gelu));
    out
}

/// GELU with erf, `x Φ(x)`.
struct GeluErf;

impl CustomOp1 for GeluErf {
    fn name(&self) -> &'static str {
        "gelu-erf"
    }
    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        Ok((CpuStorage::F32(gelu(slice(s, l)?)), l.shape().clone()))
    }
}

/// `g (Φ(x) + x φ(x))`.
struct GeluErfGrad;

impl CustomOp2 for GeluErfGrad {
    fn name(&self) -> &'static str {
        "gelu-erf-grad"
    }
    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let (x, g) = (slice(s1, l1)?, slice(s2, l2)?);
        const INV_SQRT_2PI: f32 = 0.398_942_3;
        // Rows of the last dimension (any width works for an elementwise map).
        let w = l1.dims().last().copied().unwrap_or(1).max(1);
        let out = map_rows2(x, g, w, |o, x, g| {
            for ((o, x), g) in o.iter_mut().zip(x).zip(g) {
                let cdf = 0.5 * (1.0 + erf(x * std::f32::consts::FRAC_1_SQRT_2));
                let pdf = INV_SQRT_2PI * fast_exp(-0.5 * x * x);
                *o = g * (cdf + x * pdf);
            }
        });
        Ok((CpuStorage::F32(out), l1.shape().clone()))
    }
}

/// GELU (erf form) without a gradient graph.
pub(crate) fn gelu_erf_no_grad(x: &Tensor) -> candle_core::Result<Tensor> {
    x.contiguous()?.apply_op1_no_bwd(&GeluErf)
}

/// The gradient through GELU at `x` of the output gradient `g`.
pub(crate) fn gelu_erf_grad(x: &Tensor, g: &Tensor) -> candle_core::Result<Tensor> {
    x.contiguous()?
        .apply_op2_no_bwd(&g.contiguous()?, &GeluErfGrad)
}

#[cfg(test)]
mod tests {
    use candle_core::{D, Device, Var};

    use super::*;

    fn vals(t: &Tensor) -> Vec<f32> {
        t.flatten_all().unwrap().to_vec1().unwrap()
    }

    fn close(a: &[f32], b: &[f32], tol: f32) {
        let worst = a
            .iter()
            .zip(b)
            .map(|(x, y)| (x - y).abs())
            .fold(0f32, f32::max);
        assert!(worst < tol, "largest difference {worst}");
    }

    fn input(shape: &[usize], seed: u64) -> Vec<f32> {
        let mut rng = crate::random::SplitMix::new(seed);
        let n: usize = shape.iter().product();
        (0..n)
            .map(|_| (rng.next_u64() >> 40) as f32 / (1u64 << 23) as f32 - 1.0)
            .collect()
    }

    /// Values and input gradients of a fused op against candle's plain operations.
    fn same_as_plain(
        shape: &[usize],
        fused: impl Fn(&Tensor) -> candle_core::Result<Tensor>,
        plain: impl Fn(&Tensor) -> candle_core::Result<Tensor>,
    ) {
        let x = Var::from_vec(input(shape, 1), shape, &Device::Cpu).unwrap();
        // A fixed weighting of the outputs, so the gradient is not trivially uniform.
        let wts = Tensor::from_vec(input(shape, 2), shape, &Device::Cpu).unwrap();
        let run = |f: &dyn Fn(&Tensor) -> candle_core::Result<Tensor>| {
            let y = f(x.as_tensor()).unwrap();
            let g = (&y * &wts).unwrap().sum_all().unwrap().backward().unwrap();
            (vals(&y), vals(g.get(x.as_tensor()).unwrap()))
        };
        let (y1, g1) = run(&fused);
        let (y2, g2) = run(&plain);
        close(&y1, &y2, 2e-6);
        close(&g1, &g2, 2e-5);
    }

    #[test]
    fn fused_ops_match_plain_operations() {
        let w = Var::from_vec(input(&[40], 3), 40, &Device::Cpu).unwrap();
        let bb = Var::from_vec(input(&[40], 4), 40, &Device::Cpu).unwrap();
        let plain_ln = |x: &Tensor, w: &Tensor, b: &Tensor| {
            let mean = x.mean_keepdim(D::Minus1)?;
            let c = x.broadcast_sub(&mean)?;
            let var = c.sqr()?.mean_keepdim(D::Minus1)?;
            c.broadcast_div(&(var + 1e-12)?.sqrt()?)?
                .broadcast_mul(w)?
                .broadcast_add(b)
        };
        same_as_plain(
            &[70, 40],
            |x| layer_norm_t(x, w.as_tensor(), bb.as_tensor(), 1e-12),
            |x| plain_ln(x, w.as_tensor(), bb.as_tensor()),
        );
        // The weight and bias gradients too.
        let x = Tensor::from_vec(input(&[70, 40], 5), (70, 40), &Device::Cpu).unwrap();
        let wts = Tensor::from_vec(input(&[70, 40], 6), (70, 40), &Device::Cpu).unwrap();
        let grads = |y: Tensor| {
            let g = (y * &wts).unwrap().sum_all().unwrap().backward().unwrap();
            (
                vals(g.get(w.as_tensor()).unwrap()),
                vals(g.get(bb.as_tensor()).unwrap()),
            )
        };
        let (w1, b1) = grads(layer_norm_t(&x, w.as_tensor(), bb.as_tensor(), 1e-12).unwrap());
        let (w2, b2) = grads(plain_ln(&x, w.as_tensor(), bb.as_tensor()).unwrap());
        close(&w1, &w2, 2e-5);
        close(&b1, &b2, 2e-5);
    }
}
