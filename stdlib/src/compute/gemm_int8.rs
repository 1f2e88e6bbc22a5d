//! The int8 linear layer: `y = x W^T + b` with W quantised once per output
//! channel (symmetric, `w ≈ s_j q_jk`) and each row of x at call time
//! (asymmetric, `x ≈ a_r (u_rk - z_r)`, u in 0..=255), so that
//! `y_rj ≈ a_r s_j (Σ_k u_rk q_jk - z_r Σ_k q_jk) + b_j`. The sum runs on
//! `vpdpbusd` (u8 x i8, four products per 32-bit lane, i32 accumulators).
//!
//! Why asymmetric rows: the inputs of the FFN output layer come out of GELU,
//! almost all >= -0.17, and a symmetric scale would waste half of the 256 levels.

use crate::compute::tile::{NR, Words, row_blocks};

/// A linear layer quantised for VNNI; build only after
/// [`crate::compute::precision::Precision::check_supported`] passed.
pub(crate) struct Int8Linear {
    inputs: usize,
    outputs: usize,
    /// Inputs rounded up to a multiple of 4 (one 32-bit lane).
    depth: usize,
    /// Panels of NR columns: per group of 4 inputs, NR x 4 signed bytes.
    panels: Vec<i8>,
    /// Per output column (padded to panels): the weight scale, Σ_k q, the bias.
    scale: Vec<f32>,
    sums: Vec<i32>,
    bias: Vec<f32>,
}

/// One row's quantisation: `x ≈ step * (u - zero)`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct RowScale {
    pub step: f32,
    pub zero: i32,
}

/// Quantises a weight row symmetrically to [-127, 127]; returns its scale.
pub(crate) fn quantize_weights(row: &[f32], out: &mut [i8]) -> f32 {
    let max = row.iter().fold(0f32, |m, v| m.max(v.abs()));
    let scale = if max > 0.0 { max / 127.0 } else { 1.0 };
    for (o, v) in out.iter_mut().zip(row) {
        *o = (v / scale).round().clamp(-127.0, 127.0) as i8;
    }
    scale
}

/// Quantises a row of activations to u8 over [min(x, 0), max(x, 0)] (zero is
/// exact, so padding and ReLU-like zeros stay zero).
/// Inlined into the VNNI product, where it is vectorised with AVX-512.
#[inline]
pub(crate) fn quantize_row(row: &[f32], out: &mut [u8]) -> RowScale {
    let (lo, hi) = row
        .iter()
        .fold((0f32, 0f32), |(lo, hi), &v| (lo.min(v), hi.max(v)));
    let step = if hi > lo { (hi - lo) / 255.0 } else { 1.0 };
    let zero = (-lo / step).round().clamp(0.0, 255.0);
    let inv = 1.0 / step;
    // + 0.5 and truncation: `round` is a libm call on baseline x86-64, and the
    // value is >= 0 after the clamp, where truncation is floor.
    for (o, &v) in out.iter_mut().zip(row) {
        *o = (v * inv + zero + 0.5).clamp(0.0, 255.0) as u8;
    }
    RowScale {
        step,
        zero: zero as i32,
    }
}

impl Int8Linear {
    /// Quantises a PyTorch-layout weight (`outputs x inputs`) and keeps the bias.
    pub fn new(weight: &[f32], bias: &[f32], inputs: usize, outputs: usize) -> Self {
        let depth = inputs.div_ceil(4) * 4;
        let width = outputs.div_ceil(NR) * NR;
        let mut panels = vec![0i8; width * depth];
        let mut scale = vec![1f32; width];
        let mut sums = vec![0i32; width];
        let mut padded_bias = vec![0f32; width];
        padded_bias[..outputs].copy_from_slice(&bias[..outputs]);
        let mut q = vec![0i8; inputs];
        for j in 0..outputs {
            scale[j] = quantize_weights(&weight[j * inputs..(j + 1) * inputs], &mut q);
            sums[j] = q.iter().map(|&v| v as i32).sum();
            let (panel, col) = (j / NR, j % NR);
            let base = panel * depth * NR + col * 4;
            for (k, &v) in q.iter().enumerate() {
                panels[base + (k / 4) * NR * 4 + k % 4] = v;
            }
        }
        Self {
            inputs,
            outputs,
            depth,
            panels,
            scale,
            sums,
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
            |scratch: &mut (Words, Vec<RowScale>), xb, yb| {
                #[cfg(target_arch = "x86_64")]
                // SAFETY: an Int8Linear exists only after the VNNI check; xb is
                // whole rows of k, yb the same rows of n.
                unsafe {
                    vnni::product(self, xb, scratch, yb)
                };
            },
        );
    }
}

#[cfg(target_arch = "x86_64")]
mod vnni {
    use std::arch::x86_64::*;

    use super::{Int8Linear, RowScale, quantize_row};
    use crate::compute::tile::{MR, NR, Words, broadcast4, for_each_tile};

    /// All panels over the rows of one job.
    #[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
    pub(super) unsafe fn product(
        l: &Int8Linear,
        xf: &[f32],
        (words, scales): &mut (Words, Vec<RowScale>),
        y: &mut [f32],
    ) {
        let (k, n) = (l.inputs, l.outputs);
        let rows = xf.len() / k;
        // Quantised here, inside the AVX-512 function, so that the loop is vectorised.
        let x: &mut [u8] = words.zeroed(rows * l.depth);
        scales.clear();
        for (src, dst) in xf.chunks_exact(k).zip(x.chunks_exact_mut(l.depth)) {
            scales.push(quantize_row(src, &mut dst[..k]));
        }
        for_each_tile(rows, n, |at| {
            let t = Tile {
                x: x[at.row * l.depth..].as_ptr(),
                depth: l.depth,
                w: l.panels[at.panel * l.depth * NR..].as_ptr(),
                col: at.panel * NR,
                y: y[at.row * n + at.panel * NR..].as_mut_ptr(),
                ldy: n,
                masks: at.masks,
            };
            let s = &scales[at.row..at.row + at.rows];
            // SAFETY: as for `product`; the tile stays inside x, the panel and y.
            unsafe { crate::by_row_count!(at.rows, MR, tile, (l, &t, s)) };
        });
    }

    /// Where one micro-tile reads and writes.
    struct Tile {
        x: *const u8,
        depth: usize,
        w: *const i8,
        col: usize,
        y: *mut f32,
        ldy: usize,
        /// Store masks of the two 16-column halves (a partial last panel).
        masks: (u16, u16),
    }

    /// `R x 32`: i32 sums over the whole depth, then the f32 rescale and bias.
    #[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
    #[inline]
    unsafe fn tile<const R: usize>(l: &Int8Linear, t: &Tile, scales: &[RowScale]) {
        unsafe {
            let mut lo = [_mm512_setzero_si512(); R];
            let mut hi = [_mm512_setzero_si512(); R];
            let mut rows = [t.x; R];
            for (r, p) in rows.iter_mut().enumerate() {
                *p = t.x.wrapping_add(r * t.depth);
            }
            let mut wp = t.w;
            for _ in 0..t.depth / 4 {
                let w0 = _mm512_loadu_si512(wp as *const _);
                let w1 = _mm512_loadu_si512(wp.add(64) as *const _);
                wp = wp.add(NR * 4);
                for r in 0..R {
                    let a = broadcast4(rows[r]);
                    rows[r] = rows[r].add(4);
                    lo[r] = _mm512_dpbusd_epi32(lo[r], a, w0);
                    hi[r] = _mm512_dpbusd_epi32(hi[r], a, w1);
                }
            }
            let c = t.col;
            let (s0, s1) = (
                _mm512_loadu_ps(l.scale.as_ptr().add(c)),
                _mm512_loadu_ps(l.scale.as_ptr().add(c + 16)),
            );
            let (q0, q1) = (
                _mm512_loadu_si512(l.sums.as_ptr().add(c) as *const _),
                _mm512_loadu_si512(l.sums.as_ptr().add(c + 16) as *const _),
            );
            let (b0, b1) = (
                _mm512_loadu_ps(l.bias.as_ptr().add(c)),
                _mm512_loadu_ps(l.bias.as_ptr().add(c + 16)),
            );
            let mut out = t.y;
            for r in 0..R {
                let RowScale { step, zero } = scales[r];
                let (z, a) = (_mm512_set1_epi32(zero), _mm512_set1_ps(step));
                let v0 = _mm512_cvtepi32_ps(_mm512_sub_epi32(lo[r], _mm512_mullo_epi32(z, q0)));
                let v1 = _mm512_cvtepi32_ps(_mm512_sub_epi32(hi[r], _mm512_mullo_epi32(z, q1)));
                let y0 = _mm512_fmadd_ps(_mm512_mul_ps(v0, s0), a, b0);
                let y1 = _mm512_fmadd_ps(_mm512_mul_ps(v1, s1), a, b1);
                _mm512_mask_storeu_ps(out, t.masks.0, y0);
                _mm512_mask_storeu_ps(out.add(16), t.masks.1, y1);
                out = out.wrapping_add(t.ldy);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compute::precision::Precision;

    /// The largest error the scheme allows at (r, j): half a weight step times
    /// Σ|x| plus half an activation step times Σ|q s|, plus f32 rounding.
    fn bound(x: &[f32], w: &[f32], k: usize) -> f32 {
        let mut q = vec![0i8; k];
        let s = quantize_weights(w, &mut q);
        let mut u = vec![0u8; k];
        let a = quantize_row(x, &mut u).step;
        let sx: f32 = x.iter().map(|v| v.abs()).sum();
        let sw: f32 = q.iter().map(|&v| (v as f32 * s).abs()).sum();
        0.5 * s * sx + 0.5 * a * sw + 1e-4 * (1.0 + sx * s * 127.0)
    }

    #[test]
    fn products_stay_within_the_quantisation_bound_on_odd_shapes() {
        if Precision::Int8.check_supported().is_err() {
            eprintln!("skipped: no AVX512-VNNI here");
            return;
        }
        for (rows, k, n) in [
            (1, 4, 32),
            (13, 5, 33),
            (crate::compute::tile::MC + 7, 40, 96),
            (3, 7, 17),
            (50, 384, 64),
            (29, 1536, 48),
        ] {
            let w: Vec<f32> = (0..n * k)
                .map(|i| ((i * 7 % 13) as f32 - 6.0) / 8.0 + (i % 5) as f32 * 0.01)
                .collect();
            let b: Vec<f32> = (0..n).map(|i| i as f32 / 16.0).collect();
            // Rows with a negative tail (as after GELU), an all-zero row and an outlier.
            let x: Vec<f32> = (0..rows * k)
                .map(|i| match i / k {
                    1 => 0.0,
                    2 => ((i * 5 % 11) as f32 - 1.0) * if i % k == 3 { 20.0 } else { 0.3 },
                    _ => ((i * 5 % 11) as f32 - 5.0) / 4.0,
                })
                .collect();
            let l = Int8Linear::new(&w, &b, k, n);
            let mut y = vec![f32::NAN; rows * n];
            l.forward(&x, rows, &mut y, &|_| {});
            for r in 0..rows {
                let xr = &x[r * k..(r + 1) * k];
                for j in 0..n {
                    let wj = &w[j * k..(j + 1) * k];
                    let want: f32 = b[j] + xr.iter().zip(wj).map(|(a, b)| a * b).sum::<f32>();
                    let got = y[r * n + j];
                    let e = bound(xr, wj, k);
                    assert!(
                        (got - want).abs() <= e,
                        "({rows},{k},{n}) [{r},{j}] {got} vs {want}, bound {e}"
                    );
                }
            }
        }
    }

    #[test]
    fn zero_and_exact_levels_round_trip() {
        let mut u = [0u8; 4];
        let s = quantize_row(&[0.0, 2.55, -2.55, 1.0], &mut u);
        assert_eq!(s.zero, 128);
        assert_eq!(u[0] as i32, s.zero, "zero is a level");
        let mut q = [0i8; 3];
        let scale = quantize_weights(&[1.27, -1.27, 0.0], &mut q);
        assert!((scale - 0.01).abs() < 1e-7);
        assert_eq!(q, [127, -127, 0]);
    }
}
