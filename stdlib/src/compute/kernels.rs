//! Element-wise kernels of the CPU inference path (GELU, softmax, LayerNorm),
//! written so the compiler vectorises them, and compiled a second time for
//! AVX2+FMA, picked at run time.
//!
//! Why: in a profile of the first version, scalar erf and softmax took 29% of a
//! forward pass; floating-point sums are not vectorised unless written with
//! explicit lanes, and libm calls never are.

use rayon::prelude::*;

const LANES: usize = 16;

/// The activation between the two feed-forward matrices.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HiddenAct {
    /// Exact GELU (with erf), Hugging Face's "gelu".
    Gelu,
    /// Tanh-approximated GELU.
    #[serde(alias = "gelu_pytorch_tanh")]
    GeluNew,
    /// Rectified linear unit.
    Relu,
    /// `x * sigmoid(x)` (SwiGLU's activation).
    #[serde(alias = "swish")]
    Silu,
}

/// A LayerNorm's (or an RMSNorm's) parameters as plain arrays.
pub(crate) struct Norm {
    pub(crate) weight: Vec<f32>,
    pub(crate) bias: Vec<f32>,
    pub(crate) eps: f32,
    /// RMSNorm: no centring (the bias is then zero).
    pub(crate) rms: bool,
}

/// Makes `v` hold `n` floats, reusing its memory (contents are overwritten by the caller).
pub(crate) fn sized(v: &mut Vec<f32>, n: usize) -> &mut [f32] {
    if v.len() < n {
        v.resize(n, 0.0);
    }
    &mut v[..n]
}

/// exp(x) for f32 with relative error about 2e-7, branch-free.
// The coefficients are kept as published, even where f32 cannot hold every digit.
#[allow(clippy::excessive_precision)]
#[inline(always)]
pub(crate) fn fast_exp(x: f32) -> f32 {
    let x = x.clamp(-87.0, 88.0);
    // Adding and removing 1.5 * 2^23 rounds to nearest without a libm call.
    const SHIFT: f32 = 12_582_912.0;
    let n = (x * std::f32::consts::LOG2_E + SHIFT) - SHIFT;
    // Cody-Waite range reduction: r = x - n ln2 in two parts for accuracy.
    let r = x - n * 0.693_359_4 - n * -2.121_944_4e-4;
    let p = 1.987_569_1e-4;
    let p = p * r + 1.398_199_9e-3;
    let p = p * r + 8.333_452e-3;
    let p = p * r + 4.166_579_6e-2;
    let p = p * r + 1.666_666_5e-1;
    let p = p * r + 5.000_000_1e-1;
    let e = p * r * r + r + 1.0;
    // SAFETY: x is clamped, so n is within [-126, 127] and fits an i32.
    // Wrapping ops: no overflow check (debug builds) to stop vectorisation.
    let bits = unsafe { n.to_int_unchecked::<i32>() }.wrapping_add(127);
    f32::from_bits((bits as u32).wrapping_shl(23)) * e
}

/// erf with relative error below 1.2e-7 (Numerical Recipes' erfc Chebyshev fit).
#[allow(clippy::excessive_precision)]
#[inline(always)]
pub(crate) fn erf(x: f32) -> f32 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let poly = -z * z - 1.265_512_2
        + t * (1.000_023_7
            + t * (0.374_091_96
                + t * (0.096_784_18
                    + t * (-0.186_288_06
                        + t * (0.278_868_07
                            + t * (-1.135_203_98
                                + t * (1.488_515_87 + t * (-0.822_152_23 + t * 0.170_872_77))))))));
    let erfc = t * fast_exp(poly);
    let e = 1.0 - erfc;
    if x >= 0.0 { e } else { -e }
}

#[inline(always)]
fn lane_sum(v: &[f32]) -> f32 {
    let mut acc = [0f32; LANES];
    let chunks = v.chunks_exact(LANES);
    let tail: f32 = chunks.remainder().iter().sum();
    for c in chunks {
        for i in 0..LANES {
            acc[i] += c[i];
        }
    }
    acc.iter().sum::<f32>() + tail
}

#[inline(always)]
fn lane_max(v: &[f32]) -> f32 {
    let mut acc = [f32::NEG_INFINITY; LANES];
    let chunks = v.chunks_exact(LANES);
    let tail = chunks
        .remainder()
        .iter()
        .copied()
        .fold(f32::NEG_INFINITY, f32::max);
    for c in chunks {
        for i in 0..LANES {
            acc[i] = if c[i] > acc[i] { c[i] } else { acc[i] };
        }
    }
    acc.iter().copied().fold(tail, f32::max)
}

#[inline(always)]
fn softmax_body(r: &mut [f32], scale: f32) -> f32 {
    let max = lane_max(r);
    // exp and its sum in one pass, with explicit lanes so the sum vectorises.
    let mut acc = [0f32; LANES];
    let mut chunks = r.chunks_exact_mut(LANES);
    for c in &mut chunks {
        for i in 0..LANES {
            c[i] = fast_exp((c[i] - max) * scale);
            acc[i] += c[i];
        }
    }
    let mut tail = 0.0;
    for v in chunks.into_remainder() {
        *v = fast_exp((*v - max) * scale);
        tail += *v;
    }
    1.0 / (acc.iter().sum::<f32>() + tail)
}

#[inline(always)]
fn gelu_body(x: &mut [f32]) {
    for v in x.iter_mut() {
        *v = 0.5 * *v * (1.0 + erf(*v * std::f32::consts::FRAC_1_SQRT_2));
    }
}

#[inline(always)]
fn norm_body(row: &mut [f32], residual: Option<&[f32]>, n: &Norm) {
    if let Some(res) = residual {
        for (a, b) in row.iter_mut().zip(res) {
            *a += b;
        }
    }
    let h = row.len() as f32;
    let mean = if n.rms { 0.0 } else { lane_sum(row) / h };
    let mut sq = [0f32; LANES];
    let chunks = row.chunks_exact(LANES);
    let mut tail = 0.0;
    for v in chunks.remainder() {
        tail += (v - mean) * (v - mean);
    }
    for c in chunks {
        for i in 0..LANES {
            sq[i] += (c[i] - mean) * (c[i] - mean);
        }
    }
    let var = (sq.iter().sum::<f32>() + tail) / h;
    let inv = 1.0 / (var + n.eps).sqrt();
    for ((v, w), b) in row.iter_mut().zip(&n.weight).zip(&n.bias) {
        *v = (*v - mean) * inv * w + b;
    }
}

/// Declares `name(args)`: the body compiled for AVX-512 or AVX2+FMA when the
/// CPU has them, and for the baseline target otherwise.
macro_rules! dispatch {
    ($name:ident, $avx512:ident, $avx2:ident, $body:ident, ($($arg:ident: $ty:ty),*) -> $ret:ty) => {
        #[cfg(target_arch = "x86_64")]
        #[target_feature(enable = "avx512f,avx2,fma")]
        unsafe fn $avx512($($arg: $ty),*) -> $ret {
            $body($($arg),*)
        }

        #[cfg(target_arch = "x86_64")]
        #[target_feature(enable = "avx2,fma")]
        unsafe fn $avx2($($arg: $ty),*) -> $ret {
            $body($($arg),*)
        }

        fn $name($($arg: $ty),*) -> $ret {
            #[cfg(target_arch = "x86_64")]
            {
                if crate::compute::gemm::has_avx512() {
                    // SAFETY: the CPU supports the features the function was compiled for.
                    return unsafe { $avx512($($arg),*) };
                }
                if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
                    // SAFETY: as above.
                    return unsafe { $avx2($($arg),*) };
                }
            }
            $body($($arg),*)
        }
    };
}

dispatch!(softmax_row, softmax_avx512, softmax_avx2, softmax_body, (r: &mut [f32], scale: f32) -> f32);
dispatch!(gelu_generic, gelu_auto512, gelu_avx2, gelu_body, (x: &mut [f32]) -> ());

/// Exact (erf) GELU in place: hand-written AVX-512 where available, because the
/// division in erf's rational term is the bottleneck of the compiled loop
/// (vdivps on 16 lanes); a reciprocal estimate plus one Newton step is as exact.
fn gelu_chunk(x: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if crate::compute::gemm::has_avx512() {
        // SAFETY: AVX-512F is present.
        unsafe { gelu512::gelu(x) };
        return;
    }
    gelu_generic(x)
}

#[cfg(target_arch = "x86_64")]
mod gelu512 {
    use std::arch::x86_64::*;

    /// 16 lanes of exp(x), the same polynomial as `fast_exp`, scaled with vscalefps.
    #[allow(clippy::excessive_precision)]
    #[target_feature(enable = "avx512f")]
    unsafe fn exp16(x: __m512) -> __m512 {
        let x = _mm512_max_ps(
            _mm512_min_ps(x, _mm512_set1_ps(88.0)),
            _mm512_set1_ps(-87.0),
        );
        let n = _mm512_roundscale_ps::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(
            _mm512_mul_ps(x, _mm512_set1_ps(std::f32::consts::LOG2_E)),
        );
        let r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693_359_4), x);
        let r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.121_944_4e-4), r);
        let mut p = _mm512_set1_ps(1.987_569_1e-4);
        p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.398_199_9e-3));
        p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.333_452e-3));
        p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.166_579_6e-2));
        p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.666_666_5e-1));
        p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.000_000_1e-1));
        let e = _mm512_fmadd_ps(
            _mm512_mul_ps(p, r),
            r,
            _mm512_add_ps(r, _mm512_set1_ps(1.0)),
        );
        _mm512_scalef_ps(e, n)
    }

    #[allow(clippy::excessive_precision)]
    #[target_feature(enable = "avx512f")]
    unsafe fn gelu16(v: __m512) -> __m512 {
        let u = _mm512_mul_ps(v, _mm512_set1_ps(std::f32::consts::FRAC_1_SQRT_2));
        let z = _mm512_abs_ps(u);
        let d = _mm512_fmadd_ps(_mm512_set1_ps(0.5), z, _mm512_set1_ps(1.0));
        // t = 1 / d: 14-bit estimate, one Newton step (about 28 bits).
        let t0 = _mm512_rcp14_ps(d);
        let t = _mm512_mul_ps(t0, _mm512_fnmadd_ps(d, t0, _mm512_set1_ps(2.0)));
        let c = |x: f32| _mm512_set1_ps(x);
        let mut p = c(0.170_872_77);
        p = _mm512_fmadd_ps(p, t, c(-0.822_152_23));
        p = _mm512_fmadd_ps(p, t, c(1.488_515_87));
        p = _mm512_fmadd_ps(p, t, c(-1.135_203_98));
        p = _mm512_fmadd_ps(p, t, c(0.278_868_07));
        p = _mm512_fmadd_ps(p, t, c(-0.186_288_06));
        p = _mm512_fmadd_ps(p, t, c(0.096_784_18));
        p = _mm512_fmadd_ps(p, t, c(0.374_091_96));
        p = _mm512_fmadd_ps(p, t, c(1.000_023_7));
        // arg = -z^2 - 1.2655 + t * p
        let arg = _mm512_fmadd_ps(t, p, _mm512_fnmadd_ps(z, z, c(-1.265_512_2)));
        let erfc = _mm512_mul_ps(t, unsafe { exp16(arg) });
        let e = _mm512_sub_ps(c(1.0), erfc);
        // erf has the sign of u.
        let sign = _mm512_and_si512(_mm512_castps_si512(u), _mm512_set1_epi32(i32::MIN));
        let erf = _mm512_castsi512_ps(_mm512_or_si512(_mm512_castps_si512(e), sign));
        _mm512_mul_ps(_mm512_mul_ps(c(0.5), v), _mm512_add_ps(c(1.0), erf))
    }

    /// [`super::softmax_unnormalized`] by hand: the compiled loop's exp (rounding
    /// and exponent bits by integer ops) cost twice vscalefps's.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn softmax(r: &mut [f32], scale: f32) -> f32 {
        let n = r.len();
        let full = n / 16 * 16;
        let tail: __mmask16 = ((1u32 << (n - full)) - 1) as __mmask16;
        let p = r.as_mut_ptr();
        // SAFETY (all blocks): loads and stores stay within r's n floats; the
        // tail goes through the mask.
        let max = unsafe {
            let mut m = _mm512_set1_ps(f32::NEG_INFINITY);
            for i in (0..full).step_by(16) {
                m = _mm512_max_ps(m, _mm512_loadu_ps(p.add(i)));
            }
            let t = _mm512_maskz_loadu_ps(tail, p.add(full));
            m = _mm512_mask_max_ps(m, tail, m, t);
            _mm512_set1_ps(_mm512_reduce_max_ps(m))
        };
        let s = _mm512_set1_ps(scale);
        let sum = unsafe {
            let mut acc = _mm512_setzero_ps();
            for i in (0..full).step_by(16) {
                let v = _mm512_loadu_ps(p.add(i));
                let e = exp16(_mm512_mul_ps(_mm512_sub_ps(v, max), s));
                _mm512_storeu_ps(p.add(i), e);
                acc = _mm512_add_ps(acc, e);
            }
            if tail != 0 {
                let v = _mm512_maskz_loadu_ps(tail, p.add(full));
                let e = exp16(_mm512_mul_ps(_mm512_sub_ps(v, max), s));
                _mm512_mask_storeu_ps(p.add(full), tail, e);
                acc = _mm512_mask_add_ps(acc, tail, acc, e);
            }
            _mm512_reduce_add_ps(acc)
        };
        1.0 / sum
    }

    /// GELU over a slice, 16 lanes at a time, the tail through a masked load.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn gelu(x: &mut [f32]) {
        let mut chunks = x.chunks_exact_mut(16);
        for c in &mut chunks {
            unsafe {
                let v = _mm512_loadu_ps(c.as_ptr());
                _mm512_storeu_ps(c.as_mut_ptr(), gelu16(v));
            }
        }
        let rest = chunks.into_remainder();
        if !rest.is_empty() {
            let mask: __mmask16 = ((1u32 << rest.len()) - 1) as __mmask16;
            unsafe {
                let v = _mm512_maskz_loadu_ps(mask, rest.as_ptr());
                _mm512_mask_storeu_ps(rest.as_mut_ptr(), mask, gelu16(v));
            }
        }
    }
}

dispatch!(norm_row, norm_avx512, norm_avx2, norm_body, (row: &mut [f32], residual: Option<&[f32]>, n: &Norm) -> ());

/// `exp(scale * (r - max r))` of one row of attention scores, in place (scale > 0);
/// returns 1 / the row's sum, the factor that makes it the softmax. Callers apply
/// it to the (much narrower) product with V instead of to every score.
pub(crate) fn softmax_unnormalized(r: &mut [f32], scale: f32) -> f32 {
    #[cfg(target_arch = "x86_64")]
    if crate::compute::gemm::has_avx512() {
        // SAFETY: AVX-512F is present.
        return unsafe { gelu512::softmax(r, scale) };
    }
    softmax_row(r, scale)
}

/// `x = LayerNorm(x + residual)` row by row.
pub(crate) fn layer_norm(x: &mut [f32], residual: Option<&[f32]>, n: &Norm) {
    let h = n.weight.len();
    let body =
        |(i, row): (usize, &mut [f32])| norm_row(row, residual.map(|r| &r[i * h..(i + 1) * h]), n);
    if x.len() / h >= 64 {
        x.par_chunks_exact_mut(h).enumerate().for_each(body);
    } else {
        x.chunks_exact_mut(h).enumerate().for_each(body);
    }
}

/// The feed-forward activation, in place (called per block of rows, in parallel).
pub(crate) fn activate(x: &mut [f32], act: HiddenAct) {
    match act {
        HiddenAct::Gelu => gelu_chunk(x),
        HiddenAct::GeluNew => {
            for v in x {
                let u = 0.797_884_6 * (*v + 0.044_715 * *v * *v * *v);
                *v = 0.5 * *v * (1.0 + u.tanh());
            }
        }
        HiddenAct::Relu => x.iter_mut().for_each(|v| *v = v.max(0.0)),
        HiddenAct::Silu => x.iter_mut().for_each(|v| *v /= 1.0 + fast_exp(-*v)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[allow(clippy::excessive_precision)]
    fn erf_matches_known_values() {
        for (x, want) in [
            (0.0f32, 0.0f32),
            (0.5, 0.520_499_9),
            (1.0, 0.842_700_8),
            (-2.0, -0.995_322_3),
            (3.5, 0.999_999_26),
        ] {
            assert!(
                (erf(x) - want).abs() < 2e-7,
                "erf({x}) = {} != {want}",
                erf(x)
            );
        }
    }

    #[test]
    fn fast_exp_is_accurate() {
        let mut worst = 0f32;
        let mut x = -87.0f32;
        while x < 88.0 {
            let rel = ((fast_exp(x) as f64 - (x as f64).exp()) / (x as f64).exp()).abs() as f32;
            worst = worst.max(rel);
            x += 0.0137;
        }
        assert!(worst < 5e-7, "worst relative error {worst}");
    }

    #[test]
    fn softmax_and_norm_match_plain_formulas() {
        // Full blocks of 16, a tail, and both together; a scale as in attention.
        for (len, scale) in [(19, 1.0f32), (1, 0.125), (16, 0.125), (37, 0.125)] {
            let mut r: Vec<f32> = (0..len).map(|i| (i as f32 * 0.37).sin() * 4.0).collect();
            let want: Vec<f32> = {
                let m = r.iter().copied().fold(f32::MIN, f32::max);
                let e: Vec<f32> = r.iter().map(|v| ((v - m) * scale).exp()).collect();
                let s: f32 = e.iter().sum();
                e.iter().map(|v| v / s).collect()
            };
            let inv = softmax_unnormalized(&mut r, scale);
            r.iter_mut().for_each(|v| *v *= inv);
            for (a, b) in r.iter().zip(&want) {
                assert!((a - b).abs() < 1e-6, "{len}: {a} {b}");
            }
        }
        let n = Norm {
            weight: vec![2.0; 19],
            bias: vec![1.0; 19],
            eps: 1e-12,
            rms: false,
        };
        let mut x: Vec<f32> = (0..19).map(|i| i as f32).collect();
        layer_norm(&mut x, None, &n);
        let sd = (((0..19).map(|i| (i as f32 - 9.0).powi(2)).sum::<f32>()) / 19.0).sqrt();
        assert!(
            (x[0] - ((0.0 - 9.0) / sd * 2.0 + 1.0)).abs() < 1e-5,
            "{}",
            x[0]
        );
        // RMSNorm of (3, 4): rms sqrt(12.5), no centring, no bias.
        let rms = Norm {
            weight: vec![2.0; 2],
            bias: vec![0.0; 2],
            eps: 0.0,
            rms: true,
        };
        let mut y = vec![3.0f32, 4.0];
        layer_norm(&mut y, None, &rms);
        let r = 12.5f32.sqrt();
        assert!(
            (y[0] - 6.0 / r).abs() < 1e-6 && (y[1] - 8.0 / r).abs() < 1e-6,
            "{y:?}"
        );
        // SiLU: x / (1 + e^-x).
        let mut s = vec![-2.0f32, 0.0, 1.5];
        activate(&mut s, HiddenAct::Silu);
        for (got, x) in s.iter().zip([-2.0f32, 0.0, 1.5]) {
            assert!((got - x / (1.0 + (-x).exp())).abs() < 1e-6, "{got} for {x}");
        }
        let mut g = vec![-1.0f32, 0.0, 1.0];
        activate(&mut g, HiddenAct::Gelu);
        assert!(
            (g[2] - 0.841_344_7).abs() < 1e-6 && g[1] == 0.0 && (g[0] + 0.158_655_26).abs() < 1e-6
        );
    }
}
