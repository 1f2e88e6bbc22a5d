//! The matrix product of the CPU inference path: `y = x W^T + b`, with the weight
//! packed once at load time for an AVX-512 micro-kernel (12 x 32 tiles, bias added
//! in the accumulators), and the `gemm` crate where AVX-512 is missing.
//!
//! Why our own kernel: the `gemm` crate uses AVX2 on stable Rust; on CPUs with
//! AVX-512 the products are 80% of a forward pass (measured with perf), and twice
//! the vector width is the largest single speed-up available.

use rayon::prelude::*;

/// Rows per micro-tile: 12 x 2 accumulators + 2 weight vectors + 1 broadcast fit
/// the 32 vector registers.
const MR: usize = 12;
/// Output columns per panel (two 16-float vectors).
const NR: usize = 32;
/// Rows per macro-block: its slice of `x` stays in L2 while every panel passes.
const MC: usize = 8 * MR;

/// A linear layer's weight and bias, laid out for the fastest available kernel.
pub(crate) struct PackedLinear {
    /// Input width.
    pub inputs: usize,
    /// Output width.
    pub outputs: usize,
    bias: Vec<f32>,
    /// Panels of NR output columns, each `inputs x NR` (AVX-512 layout), or the
    /// PyTorch `outputs x inputs` matrix for the portable path.
    weight: Vec<f32>,
    packed: bool,
}

fn avx512() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::is_x86_feature_detected!("avx512f")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

impl PackedLinear {
    /// Packs a PyTorch-layout weight (`outputs x inputs`) and its bias.
    pub fn new(weight: Vec<f32>, bias: Vec<f32>, inputs: usize, outputs: usize) -> Self {
        let packed = avx512() && outputs.is_multiple_of(NR);
        let weight = if packed {
            let mut p = vec![0f32; weight.len()];
            for panel in 0..outputs / NR {
                for k in 0..inputs {
                    for j in 0..NR {
                        p[panel * inputs * NR + k * NR + j] = weight[(panel * NR + j) * inputs + k];
                    }
                }
            }
            p
        } else {
            weight
        };
        Self {
            inputs,
            outputs,
            bias,
            weight,
            packed,
        }
    }

    /// `y = x W^T + b` for `rows` rows of `x`; `then` runs on each finished block
    /// of `y` rows while it is still in cache (e.g. the activation).
    pub fn forward(
        &self,
        x: &[f32],
        rows: usize,
        y: &mut [f32],
        then: &(dyn Fn(&mut [f32]) + Sync),
    ) {
        let (k, n) = (self.inputs, self.outputs);
        let x = &x[..rows * k];
        let y = &mut y[..rows * n];
        if self.packed {
            #[cfg(target_arch = "x86_64")]
            {
                y.par_chunks_mut(MC * n)
                    .zip(x.par_chunks(MC * k))
                    .for_each(|(yb, xb)| {
                        // SAFETY: the packed layout exists only when AVX-512F was detected.
                        unsafe { avx512::macro_block(xb, yb, &self.weight, &self.bias, k, n) };
                        then(yb);
                    });
                return;
            }
        }
        for r in y.chunks_exact_mut(n) {
            r.copy_from_slice(&self.bias);
        }
        let threads = rayon::current_num_threads();
        let par = if threads > 1 {
            gemm::Parallelism::Rayon(threads)
        } else {
            gemm::Parallelism::None
        };
        // SAFETY: x is rows x k, W is n x k (read transposed), y is rows x n.
        unsafe {
            gemm::gemm(
                rows,
                n,
                k,
                y.as_mut_ptr(),
                1,
                n as isize,
                true,
                x.as_ptr(),
                1,
                k as isize,
                self.weight.as_ptr(),
                k as isize,
                1,
                1.0,
                1.0,
                false,
                false,
                false,
                par,
            );
        }
        y.par_chunks_mut(MC * n).for_each(then);
    }
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use std::arch::x86_64::*;

    use super::{MR, NR};

    /// One macro-block of rows: every panel, every micro-tile.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn macro_block(
        x: &[f32],
        y: &mut [f32],
        w: &[f32],
        bias: &[f32],
        k: usize,
        n: usize,
    ) {
        let rows = x.len() / k;
        for panel in 0..n / NR {
            let wp = unsafe { w.as_ptr().add(panel * k * NR) };
            let bp = unsafe { bias.as_ptr().add(panel * NR) };
            let mut r = 0;
            while r + MR <= rows {
                unsafe {
                    tile::<MR>(
                        x.as_ptr().add(r * k),
                        k,
                        wp,
                        bp,
                        y.as_mut_ptr().add(r * n + panel * NR),
                        n,
                    )
                };
                r += MR;
            }
            let rest = rows - r;
            if rest > 0 {
                let (xa, ya) = unsafe {
                    (
                        x.as_ptr().add(r * k),
                        y.as_mut_ptr().add(r * n + panel * NR),
                    )
                };
                unsafe {
                    match rest {
                        1 => tile::<1>(xa, k, wp, bp, ya, n),
                        2 => tile::<2>(xa, k, wp, bp, ya, n),
                        3 => tile::<3>(xa, k, wp, bp, ya, n),
                        4 => tile::<4>(xa, k, wp, bp, ya, n),
                        5 => tile::<5>(xa, k, wp, bp, ya, n),
                        6 => tile::<6>(xa, k, wp, bp, ya, n),
                        7 => tile::<7>(xa, k, wp, bp, ya, n),
                        8 => tile::<8>(xa, k, wp, bp, ya, n),
                        9 => tile::<9>(xa, k, wp, bp, ya, n),
                        10 => tile::<10>(xa, k, wp, bp, ya, n),
                        _ => tile::<11>(xa, k, wp, bp, ya, n),
                    }
                }
            }
        }
    }

    /// `R x 32` tile: rows of x (stride k) times a packed panel, plus bias.
    /// Pointer walks only (no index arithmetic) so nothing is overflow-checked and
    /// the accumulators stay in registers.
    #[target_feature(enable = "avx512f")]
    #[inline]
    unsafe fn tile<const R: usize>(
        x: *const f32,
        k: usize,
        w: *const f32,
        bias: *const f32,
        y: *mut f32,
        n: usize,
    ) {
        unsafe {
            let mut lo = [_mm512_loadu_ps(bias); R];
            let mut hi = [_mm512_loadu_ps(bias.add(16)); R];
            let mut rows = [x; R];
            for (r, p) in rows.iter_mut().enumerate() {
                *p = x.wrapping_add(r.wrapping_mul(k));
            }
            let mut wp = w;
            for _ in 0..k {
                let w0 = _mm512_loadu_ps(wp);
                let w1 = _mm512_loadu_ps(wp.add(16));
                wp = wp.add(NR);
                for r in 0..R {
                    // An intrinsic load, not `*ptr`: debug builds check every raw
                    // dereference, which would keep this loop from being unrolled.
                    let a = _mm512_broadcastss_ps(_mm_load_ss(rows[r]));
                    rows[r] = rows[r].add(1);
                    lo[r] = _mm512_fmadd_ps(a, w0, lo[r]);
                    hi[r] = _mm512_fmadd_ps(a, w1, hi[r]);
                }
            }
            let mut out = y;
            for r in 0..R {
                _mm512_storeu_ps(out, lo[r]);
                _mm512_storeu_ps(out.add(16), hi[r]);
                out = out.wrapping_add(n);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equals_plain_product_for_every_remainder() {
        for (rows, k, n) in [
            (1, 8, 32),
            (13, 5, 64),
            (MC + 7, 40, 96),
            (200, 384, 32),
            (3, 7, 33),
        ] {
            let w: Vec<f32> = (0..n * k)
                .map(|i| ((i * 7 % 13) as f32 - 6.0) / 8.0)
                .collect();
            let b: Vec<f32> = (0..n).map(|i| i as f32 / 16.0).collect();
            let x: Vec<f32> = (0..rows * k)
                .map(|i| ((i * 5 % 11) as f32 - 5.0) / 4.0)
                .collect();
            let l = PackedLinear::new(w.clone(), b.clone(), k, n);
            let mut y = vec![0f32; rows * n];
            l.forward(&x, rows, &mut y, &|_| {});
            for r in 0..rows {
                for j in 0..n {
                    let want: f32 = b[j] + (0..k).map(|t| x[r * k + t] * w[j * k + t]).sum::<f32>();
                    assert!(
                        (y[r * n + j] - want).abs() < 1e-4,
                        "({rows},{k},{n}) [{r},{j}] {} != {want}",
                        y[r * n + j]
                    );
                }
            }
        }
    }
}
