//! The bf16 linear layer: `y = x W^T + b` with W rounded to bfloat16 once and
//! each row of x at call time, products summed in f32 by `vdpbf16ps` (two
//! products per 32-bit lane). Rounding is to nearest even, as the instruction's
//! own conversion and PyTorch's `.to(torch.bfloat16)` do.

use crate::compute::tile::{NR, Words, row_blocks};

/// `v` rounded to the nearest bfloat16 (ties to even), as its 16 bits.
#[inline]
pub(crate) fn to_bf16(v: f32) -> u16 {
    let bits = v.to_bits();
    if v.is_nan() {
        return ((bits >> 16) | 0x40) as u16;
    }
    let round = 0x7fff + ((bits >> 16) & 1);
    (bits.wrapping_add(round) >> 16) as u16
}

/// A linear layer in bfloat16; build only after
/// [`crate::compute::precision::Precision::check_supported`] passed.
pub(crate) struct Bf16Linear {
    inputs: usize,
    outputs: usize,
    /// Inputs rounded up to a multiple of 2 (one 32-bit lane).
    depth: usize,
    /// Panels of NR columns: per pair of inputs, NR x 2 bfloat16.
    panels: Vec<u16>,
    /// Padded to whole panels.
    bias: Vec<f32>,
}

impl Bf16Linear {
    /// Rounds a PyTorch-layout weight (`outputs x inputs`) and keeps the bias.
    pub fn new(weight: &[f32], bias: &[f32], inputs: usize, outputs: usize) -> Self {
        let depth = inputs.div_ceil(2) * 2;
        let width = outputs.div_ceil(NR) * NR;
        let mut panels = vec![0u16; width * depth];
        for j in 0..outputs {
            let (panel, col) = (j / NR, j % NR);
            let base = panel * depth * NR + col * 2;
            for (k, &v) in weight[j * inputs..(j + 1) * inputs].iter().enumerate() {
                panels[base + (k / 2) * NR * 2 + k % 2] = to_bf16(v);
            }
        }
        let mut padded_bias = vec![0f32; width];
        padded_bias[..outputs].copy_from_slice(&bias[..outputs]);
        Self {
            inputs,
            outputs,
            depth,
            panels,
            bias: padded_bias,
        }
    }

    /// `y = x W^T + b` for `rows` rows; `then` runs on each finished block of rows.
    pub fn forward(
        &self,
        x: &[f32],
        rows: usize,
        y: &mut [f32],
        then: &(dyn Fn(&mut [f32]) + Sync),
    ) {
        row_blocks(
            (x, self.inputs),
            (y, self.outputs),
            rows,
            then,
            |words: &mut Words, xb, yb| {
                #[cfg(target_arch = "x86_64")]
                // SAFETY: a Bf16Linear exists only after the AVX512-BF16 check; xb is
                // whole rows of k, yb the same rows of n.
                unsafe {
                    dpbf16::product(self, xb, words, yb)
                };
            },
        );
    }
}

#[cfg(target_arch = "x86_64")]
mod dpbf16 {
    use std::arch::x86_64::*;

    use super::{Bf16Linear, to_bf16};
    use crate::compute::tile::{MR, NR, Words, broadcast4, for_each_tile};

    /// All panels over the rows of one job.
    #[target_feature(enable = "avx512f,avx512bf16")]
    pub(super) unsafe fn product(l: &Bf16Linear, xf: &[f32], words: &mut Words, y: &mut [f32]) {
        let (k, n) = (l.inputs, l.outputs);
        let rows = xf.len() / k;
        // Rounded here, inside the AVX-512 function, so that the loop is vectorised.
        let x: &mut [u16] = words.zeroed(rows * l.depth);
        for (src, dst) in xf.chunks_exact(k).zip(x.chunks_exact_mut(l.depth)) {
            dst.iter_mut().zip(src).for_each(|(d, &s)| *d = to_bf16(s));
        }
        for_each_tile(rows, n, |at| {
            let t = Tile {
                x: x[at.row * l.depth..].as_ptr(),
                depth: l.depth,
                w: l.panels[at.panel * l.depth * NR..].as_ptr(),
                bias: l.bias[at.panel * NR..].as_ptr(),
                y: y[at.row * n + at.panel * NR..].as_mut_ptr(),
                ldy: n,
                masks: at.masks,
            };
            // SAFETY: as for `product`; the tile stays inside x, the panel and y.
            unsafe { crate::by_row_count!(at.rows, MR, tile, (&t)) };
        });
    }

    /// Where one micro-tile reads and writes.
    struct Tile {
        x: *const u16,
        depth: usize,
        w: *const u16,
        bias: *const f32,
        y: *mut f32,
        ldy: usize,
        /// Store masks of the two 16-column halves (a partial last panel).
        masks: (u16, u16),
    }

    /// `R x 32` from the bias, in f32 accumulators.
    #[target_feature(enable = "avx512f,avx512bf16")]
    #[inline]
    unsafe fn tile<const R: usize>(t: &Tile) {
        unsafe {
            let b0 = _mm512_loadu_ps(t.bias);
            let b1 = _mm512_loadu_ps(t.bias.add(16));
            let mut lo = [b0; R];
            let mut hi = [b1; R];
            let mut rows = [t.x; R];
            for (r, p) in rows.iter_mut().enumerate() {
                *p = t.x.wrapping_add(r * t.depth);
            }
            let mut wp = t.w;
            for _ in 0..t.depth / 2 {
                let w0: __m512bh = std::mem::transmute(_mm512_loadu_si512(wp as *const _));
                let w1: __m512bh = std::mem::transmute(_mm512_loadu_si512(wp.add(32) as *const _));
                wp = wp.add(NR * 2);
                for r in 0..R {
                    let a: __m512bh = std::mem::transmute(broadcast4(rows[r]));
                    rows[r] = rows[r].add(2);
                    lo[r] = _mm512_dpbf16_ps(lo[r], a, w0);
                    hi[r] = _mm512_dpbf16_ps(hi[r], a, w1);
                }
            }
            let mut out = t.y;
            for r in 0..R {
                _mm512_mask_storeu_ps(out, t.masks.0, lo[r]);
                _mm512_mask_storeu_ps(out.add(16), t.masks.1, hi[r]);
                out = out.wrapping_add(t.ldy);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compute::precision::Precision;

    /// The f32 value of a bfloat16.
    fn from_bf16(b: u16) -> f32 {
        f32::from_bits((b as u32) << 16)
    }

    #[test]
    fn rounding_is_to_nearest_even() {
        assert_eq!(to_bf16(1.0), 0x3f80);
        // 1 + 2^-8 is halfway between 1 and 1 + 2^-7: ties go to the even one (1).
        assert_eq!(to_bf16(1.0 + 1.0 / 256.0), 0x3f80);
        // 1 + 3 * 2^-8 is halfway between 1 + 2^-7 and 1 + 2^-6: up to the even one.
        assert_eq!(to_bf16(1.0 + 3.0 / 256.0), 0x3f82);
        assert_eq!(from_bf16(to_bf16(-2.5)), -2.5);
        assert!(from_bf16(to_bf16(f32::NAN)).is_nan());
    }

    #[test]
    fn products_equal_the_rounded_operands_summed_in_f32() {
        if Precision::Bf16.check_supported().is_err() {
            eprintln!("skipped: no AVX512-BF16 here");
            return;
        }
        for (rows, k, n) in [
            (1, 2, 32),
            (13, 5, 33),
            (crate::compute::tile::MC + 7, 40, 96),
            (3, 7, 17),
            (29, 1536, 48),
        ] {
            let w: Vec<f32> = (0..n * k)
                .map(|i| ((i * 7 % 13) as f32 - 6.0) / 7.0 + (i % 5) as f32 * 0.013)
                .collect();
            let b: Vec<f32> = (0..n).map(|i| i as f32 / 16.0).collect();
            let x: Vec<f32> = (0..rows * k)
                .map(|i| ((i * 5 % 11) as f32 - 5.0) / 3.0)
                .collect();
            let l = Bf16Linear::new(&w, &b, k, n);
            let mut y = vec![f32::NAN; rows * n];
            l.forward(&x, rows, &mut y, &|_| {});
            let r16 = |v: f32| from_bf16(to_bf16(v)) as f64;
            for r in 0..rows {
                for j in 0..n {
                    let (xr, wj) = (&x[r * k..(r + 1) * k], &w[j * k..(j + 1) * k]);
                    // Exact products of the rounded operands; only the f32 sums differ.
                    let want: f64 = b[j] as f64
                        + xr.iter()
                            .zip(wj)
                            .map(|(a, b)| r16(*a) * r16(*b))
                            .sum::<f64>();
                    let mag: f64 = xr
                        .iter()
                        .zip(wj)
                        .map(|(a, b)| (r16(*a) * r16(*b)).abs())
                        .sum();
                    let got = y[r * n + j] as f64;
                    assert!(
                        (got - want).abs()
                            <= (k as f64 + 2.0) * 6e-8 * (mag + b[j].abs() as f64) + 1e-6,
                        "({rows},{k},{n}) [{r},{j}] {got} vs {want}"
                    );
                }
            }
        }
    }
}
