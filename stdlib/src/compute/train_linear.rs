//! The linear layer of the CPU training path, `y = x W^T + b`, as one operation.
//!
//! candle's `Linear` multiplies per batch item (one small product per text and,
//! backward, a weight gradient per text summed afterwards) and adds the bias as
//! a second operation whose output the graph keeps beside the product's. Here
//! the rows of all texts form one product with the bias added in place, and the
//! graph keeps only the input: a third less memory per layer and fewer passes.
//! Optionally GELU on the input (the feed-forward output layer: the graph keeps
//! the pre-activation only and backward recomputes GELU) and dropout on the
//! output (the graph keeps no undropped copy).

use candle_core::{CpuStorage, CustomOp3, Layout, Shape, Storage, Tensor};

use std::borrow::Cow;

use crate::compute::dropout::{Mask, masked};
use crate::compute::gemm::{Product, gemm_parallel, has_avx512};
use crate::compute::train_ops::{gelu, gelu_erf_grad, gelu_erf_no_grad, slice};

/// `y = dropout(act(x) W^T + b)` over the last dimension of `x`.
#[derive(Default)]
pub(crate) struct LinearOp {
    /// GELU (erf) on the input first.
    pub gelu_input: bool,
    /// Dropout on the output.
    pub dropout: Option<Mask>,
}

impl CustomOp3 for LinearOp {
    fn name(&self) -> &'static str {
        "linear"
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
        let (x, w, b) = (slice(s1, l1)?, slice(s2, l2)?, slice(s3, l3)?);
        let (outputs, inputs) = l2.shape().dims2()?;
        let rows = x.len() / inputs;
        if b.len() != outputs || rows * inputs != x.len() {
            candle_core::bail!("linear: input {:?}, weight {:?}", l1.dims(), l2.dims());
        }
        let x: Cow<[f32]> = if self.gelu_input {
            Cow::Owned(gelu(x))
        } else {
            Cow::Borrowed(x)
        };
        let mut y = Vec::with_capacity(rows * outputs);
        for _ in 0..rows {
            y.extend_from_slice(b);
        }
        // SAFETY: x is rows x inputs, W (outputs x inputs) is read transposed, y is
        // rows x outputs; all contiguous.
        unsafe {
            gemm_parallel(Product {
                m: rows,
                n: outputs,
                k: inputs,
                a: (x.as_ptr(), inputs, 1),
                b: (w.as_ptr(), 1, inputs),
                out: (y.as_mut_ptr(), outputs),
                accumulate: true,
            })
        };
        if let Some(m) = &self.dropout {
            y = m.apply(&y);
        }
        let mut dims = l1.dims().to_vec();
        if let Some(last) = dims.last_mut() {
            *last = outputs;
        }
        Ok((CpuStorage::F32(y), Shape::from(dims)))
    }
    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        _b: &Tensor,
        _y: &Tensor,
        g: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let (outputs, inputs) = w.dims2()?;
        let g = match &self.dropout {
            Some(m) => masked(*m, g)?,
            None => g.contiguous()?,
        }
        .reshape(((), outputs))?;
        let a = if self.gelu_input {
            gelu_erf_no_grad(x)?
        } else {
            x.clone()
        };
        let a = a.reshape(((), inputs))?;
        // With AVX-512 the two products run on its kernel; elsewhere candle's
        // (the same `gemm` crate products as before, so the same numbers).
        let (dx, dw) = if has_avx512() {
            (product(&g, false, w)?, product(&g, true, &a)?)
        } else {
            (g.matmul(w)?, g.t()?.matmul(&a)?)
        };
        let mut dx = dx.reshape(x.shape())?;
        if self.gelu_input {
            dx = gelu_erf_grad(x, &dx)?;
        }
        // Column sums as a product with a row of ones: candle's sum over the
        // first dimension walked the columns one element at a time (7% of a step).
        let ones = Tensor::ones((1, g.dim(0)?), g.dtype(), g.device())?;
        let db = ones.matmul(&g)?.reshape(outputs)?;
        Ok((Some(dx), Some(dw), Some(db)))
    }
}

/// `g b` (or `g^T b` with `transpose`) for contiguous 2-d `g` and `b`, by
/// [`gemm_parallel`].
fn product(g: &Tensor, transpose: bool, b: &Tensor) -> candle_core::Result<Tensor> {
    let (gr, gc) = g.dims2()?;
    let (br, bc) = b.dims2()?;
    let (m, k) = if transpose { (gc, gr) } else { (gr, gc) };
    if k != br {
        candle_core::bail!("product: {:?} by {:?}", g.dims(), b.dims());
    }
    let (g, b) = (g.contiguous()?, b.contiguous()?);
    let (gs, gl) = g.storage_and_layout();
    let (bs, bl) = b.storage_and_layout();
    let (Storage::Cpu(gs), Storage::Cpu(bs)) = (&*gs, &*bs) else {
        candle_core::bail!("fused training ops run on the CPU");
    };
    let (gv, bv) = (slice(gs, gl)?, slice(bs, bl)?);
    let mut out = vec![0f32; m * bc];
    // SAFETY: g is gr x gc and b is br x bc, contiguous; out is m x bc.
    unsafe {
        gemm_parallel(Product {
            m,
            n: bc,
            k,
            a: (
                gv.as_ptr(),
                if transpose { 1 } else { gc },
                if transpose { gc } else { 1 },
            ),
            b: (bv.as_ptr(), bc, 1),
            out: (out.as_mut_ptr(), bc),
            accumulate: false,
        })
    };
    Tensor::from_vec(out, (m, bc), g.device())
}

/// `x W^T + b` for `x` of any shape `(.., inputs)` and `W` of `(outputs, inputs)`,
/// with its backward pass (CPU, f32); `op` adds GELU before and dropout after.
pub(crate) fn linear_t(
    x: &Tensor,
    w: &Tensor,
    b: &Tensor,
    op: LinearOp,
) -> candle_core::Result<Tensor> {
    x.contiguous()?
        .apply_op3(&w.contiguous()?, &b.contiguous()?, op)
}

#[cfg(test)]
mod tests {
    use candle_core::{Device, Var};

    use super::*;

    fn vals(t: &Tensor) -> Vec<f32> {
        t.flatten_all().unwrap().to_vec1().unwrap()
    }

    #[test]
    fn value_and_gradients_equal_candles_linear_with_gelu_and_dropout() {
        let dev = Device::Cpu;
        let f = |n: usize, k: u32| -> Vec<f32> {
            (0..n)
                .map(|i| ((i as u32 * 7919 + k) % 23) as f32 / 11.0 - 1.0)
                .collect()
        };
        let x = Var::from_vec(f(2 * 5 * 6, 1), (2, 5, 6), &dev).unwrap();
        let w = Var::from_vec(f(4 * 6, 2), (4, 6), &dev).unwrap();
        let b = Var::from_vec(f(4, 3), 4, &dev).unwrap();
        let wts = Tensor::from_vec(f(2 * 5 * 4, 4), (2, 5, 4), &dev).unwrap();
        let run = |y: Tensor| {
            let g = (&y * &wts).unwrap().sum_all().unwrap().backward().unwrap();
            let grad = |v: &Var| vals(g.get(v.as_tensor()).unwrap());
            [vals(&y), grad(&x), grad(&w), grad(&b)]
        };
        let mask = crate::compute::dropout::Dropout::seeded(5, 6).next_mask(0.25);
        for (gelu_input, dropout) in [(false, None), (true, None), (true, Some(mask))] {
            let op = LinearOp {
                gelu_input,
                dropout,
            };
            let fused = run(linear_t(x.as_tensor(), w.as_tensor(), b.as_tensor(), op).unwrap());
            let plain = {
                let lin =
                    candle_nn::Linear::new(w.as_tensor().clone(), Some(b.as_tensor().clone()));
                let a = if gelu_input {
                    x.as_tensor().gelu_erf().unwrap()
                } else {
                    x.as_tensor().clone()
                };
                let y = candle_core::Module::forward(&lin, &a).unwrap();
                match dropout {
                    Some(m) => {
                        let ones = Tensor::from_vec(m.apply(&[1.0; 40]), (2, 5, 4), &dev).unwrap();
                        (y * ones).unwrap()
                    }
                    None => y,
                }
            };
            let plain = run(plain);
            for (a, b) in fused.iter().zip(&plain) {
                assert_eq!(a.len(), b.len());
                for (u, v) in a.iter().zip(b) {
                    assert!(
                        (u - v).abs() < 1e-5,
                        "{u} vs {v} (gelu {gelu_input}, dropout {dropout:?})"
                    );
                }
            }
            if dropout.is_some() {
                assert!(fused[0].contains(&0.0), "some outputs dropped");
            }
        }
    }
}
