//! Self-attention of the CPU training path as one operation with its own
//! backward pass, per (text, head) in parallel.
//!
//! Built from candle operations, a layer's attention kept four `(batch, heads,
//! len, len)` tensors for backward (scores, probabilities, dropped-out
//! probabilities, and the copies the head split made): 300 MiB per layer for a
//! batch of 32 texts of 256 tokens, most of a training step's peak memory, and
//! eight passes over them. Here the graph keeps only the `(batch, len, 3 hidden)`
//! projections; backward recomputes each (text, head)'s probabilities (a
//! `len x len` product over the head's 32 dimensions, cheap beside the linear
//! layers) while they sit in cache, and the dropout mask is regenerated from
//! its seed as everywhere else.

use std::sync::Arc;

use candle_core::{CpuStorage, CustomOp1, CustomOp2, Layout, Shape, Tensor};
use rayon::prelude::*;

use crate::compute::dropout::Mask;
use crate::compute::gemm::{Product, SendPtr, gemm_strided};
use crate::compute::kernels::{sized, softmax_unnormalized};
use crate::compute::train_ops::slice;

/// `softmax(scale Q K^T + bias) V` per head, dropout on the probabilities.
#[derive(Clone)]
struct Attention {
    heads: usize,
    scale: f32,
    /// `(batch, keys)`: 0 for tokens, a large negative number for padding.
    bias: Arc<Vec<f32>>,
    mask: Option<Mask>,
}

/// Where one (text, head) job reads and writes in the `(batch, len, 3 hidden)`
/// projections and the `(batch, len, hidden)` context.
#[derive(Clone, Copy)]
struct Job {
    len: usize,
    hidden: usize,
    head_dim: usize,
    item: usize,
    /// The job's number, `item * heads + head`: its block of the dropout mask.
    index: usize,
    /// Offset of the job's query columns in the projections; keys follow at
    /// `+ hidden`, values at `+ 2 hidden`.
    q: usize,
    /// Offset of the job's columns in the context.
    ctx: usize,
}

impl Job {
    fn row(&self) -> usize {
        3 * self.hidden
    }
}

/// One job's `len x len` buffers, reused from job to job on a thread.
#[derive(Default)]
struct Scratch {
    probs: Vec<f32>,
    dropped: Vec<f32>,
    grad: Vec<f32>,
}

/// Single-threaded product inside a parallel job.
///
/// # Safety
/// As [`gemm_strided`].
unsafe fn product(p: Product) {
    // SAFETY: as the caller promises.
    unsafe { gemm_strided(p, gemm::Parallelism::None) }
}

impl Attention {
    /// `(batch, len, hidden)` of a `(batch, len, 3 hidden)` projection layout.
    fn dims(&self, l: &Layout) -> candle_core::Result<(usize, usize, usize)> {
        let (b, len, three_h) = l.shape().dims3()?;
        if three_h % 3 != 0 || (three_h / 3) % self.heads != 0 || self.bias.len() != b * len {
            candle_core::bail!("attention: projections {:?}", l.dims());
        }
        Ok((b, len, three_h / 3))
    }

    fn jobs(&self, b: usize, len: usize, hidden: usize) -> impl ParallelIterator<Item = Job> + '_ {
        let head_dim = hidden / self.heads;
        (0..b * self.heads).into_par_iter().map(move |j| {
            let (item, head) = (j / self.heads, j % self.heads);
            Job {
                len,
                hidden,
                head_dim,
                item,
                index: j,
                q: item * len * 3 * hidden + head * head_dim,
                ctx: item * len * hidden + head * head_dim,
            }
        })
    }

    /// The job's attention probabilities into `s.probs`, and with dropout the
    /// dropped-out ones into `s.dropped`; returns which of the two P V uses.
    fn probabilities<'s>(&self, qkv: &[f32], j: &Job, s: &'s mut Scratch) -> &'s [f32] {
        let (len, row) = (j.len, j.row());
        let probs = sized(&mut s.probs, len * len);
        // SAFETY: Q and K are len rows of head_dim floats at stride row inside
        // qkv (K read transposed); probs is len x len.
        unsafe {
            product(Product {
                m: len,
                n: len,
                k: j.head_dim,
                a: (qkv[j.q..].as_ptr(), row, 1),
                b: (qkv[j.q + j.hidden..].as_ptr(), 1, row),
                out: (probs.as_mut_ptr(), len),
                accumulate: false,
            })
        };
        let bias = &self.bias[j.item * len..(j.item + 1) * len];
        for r in probs.chunks_exact_mut(len) {
            // softmax(s x + b) = softmax(s (x + b / s)).
            for (v, b) in r.iter_mut().zip(bias) {
                *v += b / self.scale;
            }
            let inv = softmax_unnormalized(r, self.scale);
            for v in r.iter_mut() {
                // Masked keys come out of the clamped exp at ~1e-38, which the
                // normalisation makes subnormal: products with subnormals are two
                // orders of magnitude slower on x86, and torch's exact exp gives 0.
                *v = if *v < 1e-30 { 0.0 } else { *v * inv };
            }
        }
        match &self.mask {
            Some(m) => {
                let dropped = sized(&mut s.dropped, len * len);
                m.apply_block(j.index, &s.probs[..len * len], dropped);
                dropped
            }
            None => &s.probs[..len * len],
        }
    }
}

impl CustomOp1 for Attention {
    fn name(&self) -> &'static str {
        "attention"
    }
    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let qkv = slice(s, l)?;
        let (b, len, hidden) = self.dims(l)?;
        let mut ctx = vec![0f32; b * len * hidden];
        let out = SendPtr(ctx.as_mut_ptr());
        self.jobs(b, len, hidden)
            .for_each_init(Scratch::default, |s, j| {
                let p = self.probabilities(qkv, &j, s);
                // SAFETY: P is len x len, V len rows at stride 3 hidden; the job
                // writes only its own (text, head) block of ctx.
                unsafe {
                    product(Product {
                        m: len,
                        n: j.head_dim,
                        k: len,
                        a: (p.as_ptr(), len, 1),
                        b: (qkv[j.q + 2 * hidden..].as_ptr(), j.row(), 1),
                        out: (out.get().add(j.ctx), hidden),
                        accumulate: false,
                    })
                };
            });
        Ok((CpuStorage::F32(ctx), Shape::from((b, len, hidden))))
    }
    fn bwd(&self, qkv: &Tensor, _ctx: &Tensor, g: &Tensor) -> candle_core::Result<Option<Tensor>> {
        Ok(Some(qkv.apply_op2_no_bwd(
            &g.contiguous()?,
            &AttentionGrad(self.clone()),
        )?))
    }
}

/// The projections' gradient from the context's.
struct AttentionGrad(Attention);

impl CustomOp2 for AttentionGrad {
    fn name(&self) -> &'static str {
        "attention-grad"
    }
    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let a = &self.0;
        let (qkv, g) = (slice(s1, l1)?, slice(s2, l2)?);
        let (b, len, hidden) = a.dims(l1)?;
        if g.len() != b * len * hidden {
            candle_core::bail!("attention-grad: gradient {:?}", l2.dims());
        }
        let mut dqkv = vec![0f32; qkv.len()];
        let out = SendPtr(dqkv.as_mut_ptr());
        a.jobs(b, len, hidden)
            .for_each_init(Scratch::default, |s, j| {
                let (row, d) = (j.row(), j.head_dim);
                let (q, k, v) = (
                    qkv[j.q..].as_ptr(),
                    qkv[j.q + hidden..].as_ptr(),
                    qkv[j.q + 2 * hidden..].as_ptr(),
                );
                let dctx = g[j.ctx..].as_ptr();
                let p = a.probabilities(qkv, &j, s);
                // SAFETY (every product): operands are the job's len x head_dim
                // blocks at their strides and its len x len buffers; it writes only
                // its own (text, head) columns of dqkv.
                unsafe {
                    // dV = P^T dctx (P as dropout left it).
                    product(Product {
                        m: len,
                        n: d,
                        k: len,
                        a: (p.as_ptr(), 1, len),
                        b: (dctx, hidden, 1),
                        out: (out.get().add(j.q + 2 * hidden), row),
                        accumulate: false,
                    });
                }
                let mut grad = std::mem::take(&mut s.grad);
                let dp = sized(&mut grad, len * len);
                unsafe {
                    // dP = dctx V^T.
                    product(Product {
                        m: len,
                        n: len,
                        k: d,
                        a: (dctx, hidden, 1),
                        b: (v, 1, row),
                        out: (dp.as_mut_ptr(), len),
                        accumulate: false,
                    });
                }
                if let Some(m) = &a.mask {
                    // Through dropout: the same mask and scale.
                    let masked = sized(&mut s.dropped, len * len);
                    m.apply_block(j.index, dp, masked);
                    dp.copy_from_slice(masked);
                }
                // Through the softmax: scale * p * (dp - sum(p * dp)) per row.
                for (dp, p) in dp
                    .chunks_exact_mut(len)
                    .zip(s.probs[..len * len].chunks_exact(len))
                {
                    let dot: f32 = p.iter().zip(dp.iter()).map(|(a, b)| a * b).sum();
                    for (dp, p) in dp.iter_mut().zip(p) {
                        *dp = a.scale * p * (*dp - dot);
                    }
                }
                let ds = dp.as_ptr();
                unsafe {
                    // dQ = dS K; dK = dS^T Q.
                    product(Product {
                        m: len,
                        n: d,
                        k: len,
                        a: (ds, len, 1),
                        b: (k, row, 1),
                        out: (out.get().add(j.q), row),
                        accumulate: false,
                    });
                    product(Product {
                        m: len,
                        n: d,
                        k: len,
                        a: (ds, 1, len),
                        b: (q, row, 1),
                        out: (out.get().add(j.q + hidden), row),
                        accumulate: false,
                    });
                }
                s.grad = grad;
            });
        Ok((CpuStorage::F32(dqkv), l1.shape().clone()))
    }
}

/// Multi-head self-attention of `(batch, len, 3 hidden)` projections (queries,
/// keys, values side by side) to a `(batch, len, hidden)` context, with its
/// backward pass (CPU, f32). `bias` is `(batch, len)`; `mask` drops attention
/// probabilities.
pub(crate) fn attention_t(
    qkv: &Tensor,
    heads: usize,
    scale: f64,
    bias: Arc<Vec<f32>>,
    mask: Option<Mask>,
) -> candle_core::Result<Tensor> {
    qkv.contiguous()?.apply_op1(Attention {
        heads,
        scale: scale as f32,
        bias,
        mask,
    })
}

#[cfg(test)]
mod tests {
    use candle_core::{D, Device, Var};

    use super::*;
    use crate::compute::dropout::Dropout;

    fn vals(t: &Tensor) -> Vec<f32> {
        t.flatten_all().unwrap().to_vec1().unwrap()
    }

    fn input(n: usize, seed: u64) -> Vec<f32> {
        let mut rng = crate::random::SplitMix::new(seed);
        (0..n)
            .map(|_| (rng.next_u64() >> 40) as f32 / (1u64 << 23) as f32 - 1.0)
            .collect()
    }

    /// Value and gradient against the same attention in candle operations, with
    /// and without dropout (the plain version multiplies by the mask's blocks).
    #[test]
    fn equals_plain_attention_with_and_without_dropout() {
        let dev = Device::Cpu;
        let (b, len, heads, d) = (2, 7, 3, 4);
        let h = heads * d;
        let mut bias = vec![0f32; b * len];
        bias[len - 2..len].fill(-10_000.0);
        let bias = Arc::new(bias);
        let qkv = Var::from_vec(input(b * len * 3 * h, 1), (b, len, 3 * h), &dev).unwrap();
        let wts = Tensor::from_vec(input(b * len * h, 2), (b, len, h), &dev).unwrap();
        let scale = 0.5;
        let mut outputs = vec![];
        for dropout in [None, Some(Dropout::seeded(3, 4).next_mask(0.3))] {
            let run = |y: Tensor| {
                let g = (&y * &wts).unwrap().sum_all().unwrap().backward().unwrap();
                (vals(&y), vals(g.get(qkv.as_tensor()).unwrap()))
            };
            let fused =
                run(attention_t(qkv.as_tensor(), heads, scale, bias.clone(), dropout).unwrap());
            let plain = {
                let x = qkv.as_tensor();
                let split = |i: usize| {
                    x.narrow(2, i * h, h)
                        .unwrap()
                        .reshape((b, len, heads, d))
                        .unwrap()
                        .transpose(1, 2)
                        .unwrap()
                        .contiguous()
                        .unwrap()
                };
                let (q, k, v) = (split(0), split(1), split(2));
                let bias_t = Tensor::from_vec(bias.to_vec(), (b, 1, 1, len), &dev).unwrap();
                let scores = (q.matmul(&k.t().unwrap()).unwrap() * scale).unwrap();
                let mut p =
                    candle_nn::ops::softmax(&scores.broadcast_add(&bias_t).unwrap(), D::Minus1)
                        .unwrap();
                if let Some(m) = &dropout {
                    let mut mask = vec![0f32; b * heads * len * len];
                    for (i, block) in mask.chunks_exact_mut(len * len).enumerate() {
                        m.apply_block(i, &vec![1.0; len * len], block);
                    }
                    let mask = Tensor::from_vec(mask, (b, heads, len, len), &dev).unwrap();
                    p = (p * mask).unwrap();
                }
                let ctx = p
                    .matmul(&v)
                    .unwrap()
                    .transpose(1, 2)
                    .unwrap()
                    .reshape((b, len, h))
                    .unwrap();
                run(ctx)
            };
            for (a, b) in [(&fused.0, &plain.0), (&fused.1, &plain.1)] {
                let worst = a
                    .iter()
                    .zip(b)
                    .map(|(x, y)| (x - y).abs())
                    .fold(0f32, f32::max);
                assert!(
                    worst < 1e-5,
                    "largest difference {worst} (dropout {dropout:?})"
                );
            }
            outputs.push(fused.0);
        }
        assert_ne!(outputs[0], outputs[1], "dropout changes the context");
    }
}
