//! The machine's peak rate of each precision's product instruction, measured on
//! one core with independent accumulators and no memory traffic (for the GEMM
//! benchmark's "share of peak" column).

use crate::compute::Precision;

/// Accumulator chains: enough to hide the instructions' latency.
const CHAINS: usize = 12;

/// Peak multiply-add operations per second (2 per multiply-add) of one core in
/// `precision`, or None where it cannot run.
#[doc(hidden)]
pub fn peak_ops_per_second(precision: Precision) -> Option<f64> {
    precision.check_supported().ok()?;
    #[cfg(target_arch = "x86_64")]
    {
        if !crate::compute::gemm::has_avx512() {
            return None;
        }
        let iters = 20_000_000usize;
        let t = std::time::Instant::now();
        // SAFETY: the instructions were checked just above.
        let (sink, per_iter) = unsafe {
            match precision {
                Precision::F32 => (fma(iters), 16 * 2),
                Precision::Bf16 => (dpbf16(iters), 32 * 2),
                Precision::Int8 => (dpbusd(iters), 64 * 2),
            }
        };
        let secs = t.elapsed().as_secs_f64();
        std::hint::black_box(sink);
        Some((iters * CHAINS * per_iter) as f64 / secs)
    }
    #[cfg(not(target_arch = "x86_64"))]
    None
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn fma(iters: usize) -> f32 {
    use std::arch::x86_64::*;
    let mut acc = [_mm512_set1_ps(0.0); CHAINS];
    let (a, b) = (_mm512_set1_ps(0.999), _mm512_set1_ps(1e-3));
    for _ in 0..iters {
        for v in acc.iter_mut() {
            *v = _mm512_fmadd_ps(*v, a, b);
        }
    }
    acc.iter().map(|v| _mm512_reduce_add_ps(*v)).sum()
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bf16")]
unsafe fn dpbf16(iters: usize) -> f32 {
    use std::arch::x86_64::*;
    let mut acc = [_mm512_set1_ps(0.0); CHAINS];
    let a: __m512bh = unsafe { std::mem::transmute(_mm512_set1_epi16(0x3c00)) };
    for _ in 0..iters {
        for v in acc.iter_mut() {
            *v = _mm512_dpbf16_ps(*v, a, a);
        }
    }
    acc.iter().map(|v| _mm512_reduce_add_ps(*v)).sum()
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
unsafe fn dpbusd(iters: usize) -> f32 {
    use std::arch::x86_64::*;
    let mut acc = [_mm512_setzero_si512(); CHAINS];
    let a = _mm512_set1_epi8(1);
    for _ in 0..iters {
        for v in acc.iter_mut() {
            *v = _mm512_dpbusd_epi32(*v, a, a);
        }
    }
    acc.iter().map(|v| _mm512_reduce_add_epi32(*v) as f32).sum()
}
