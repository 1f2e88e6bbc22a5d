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
/// Rows per macro-block (tuned with benches/cpu_gemm.rs): its slice of `x` stays
/// in L2 while every panel passes.
const MC: usize = 4 * MR;
/// Depth of a K block: a panel's slice (KC x NR floats, 16 KiB) stays in L1.
const KC: usize = 128;

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

/// Whether to use AVX-512; `RANKBOOK_NO_AVX512=1` forces the portable path (tests
/// use it to check that path on machines that have AVX-512). Decided once: the
/// kernels ask per row, and reading the environment each time cost 3% of encoding.
fn avx512() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        static USE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
        *USE.get_or_init(|| {
            std::is_x86_feature_detected!("avx512f")
                && std::env::var_os("RANKBOOK_NO_AVX512").is_none()
        })
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
                        let rows = xb.len() / k;
                        // SAFETY: the packed layout exists only when AVX-512F was detected;
                        // xb is rows x k, yb rows x n, the weight k x n in panels.
                        unsafe {
                            avx512::product(
                                xb.as_ptr(),
                                k,
                                rows,
                                k,
                                self.weight.as_ptr(),
                                n,
                                self.bias.as_ptr(),
                                yb.as_mut_ptr(),
                                n,
                                false,
                            )
                        };
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

/// Whether the AVX-512 products can run here.
pub(crate) fn has_avx512() -> bool {
    avx512()
}

/// Packs `n` rows of `k` floats (row stride `ld`) as the columns of panels
/// (`ceil(n / NR)` panels of `k x NR`, zero-padded); returns the padded width.
pub(crate) fn pack_transposed(
    b: &[f32],
    ld: usize,
    n: usize,
    k: usize,
    out: &mut Vec<f32>,
) -> usize {
    let padded = n.div_ceil(NR) * NR;
    out.clear();
    out.resize(padded * k, 0.0);
    for j in 0..n {
        let (panel, col) = (j / NR, j % NR);
        let row = &b[j * ld..j * ld + k];
        let base = panel * k * NR + col;
        for (kk, v) in row.iter().enumerate() {
            out[base + kk * NR] = *v;
        }
    }
    padded
}

/// Packs a `k x n` matrix (row stride `ld`, `n` a multiple of NR) as panels.
pub(crate) fn pack(b: &[f32], ld: usize, k: usize, n: usize, out: &mut Vec<f32>) {
    out.clear();
    out.resize(k * n, 0.0);
    for panel in 0..n / NR {
        for kk in 0..k {
            let src = &b[kk * ld + panel * NR..kk * ld + panel * NR + NR];
            out[panel * k * NR + kk * NR..panel * k * NR + kk * NR + NR].copy_from_slice(src);
        }
    }
}

/// Most rows [`pack_rows`] takes (the kernel's widest product).
pub(crate) const DOT_BLOCK: usize = 4096;

/// Lays out the `n <= DOT_BLOCK` rows of `b` (`k` wide, contiguous) for
/// [`dot_products`]: packed panels with AVX-512, the rows as they are elsewhere.
/// Returns the padded row count.
pub(crate) fn pack_rows(b: &[f32], n: usize, k: usize, panels: &mut Vec<f32>) -> usize {
    assert!(n <= DOT_BLOCK && b.len() >= n * k);
    if avx512() {
        return pack_transposed(b, k, n, k, panels);
    }
    panels.clear();
    panels.extend_from_slice(&b[..n * k]);
    n
}

/// `out[i * width + j] = a_i · b_j` for the `m` rows of `a` (`k` wide) and the
/// rows `b_j` laid out by [`pack_rows`] (which returned `width`); single-threaded,
/// for use inside parallel jobs.
pub(crate) fn dot_products(
    a: &[f32],
    m: usize,
    k: usize,
    panels: &[f32],
    width: usize,
    out: &mut Vec<f32>,
) {
    assert!(a.len() >= m * k && panels.len() >= width * k);
    out.resize(m * width, 0.0);
    #[cfg(target_arch = "x86_64")]
    if avx512() {
        // SAFETY: AVX-512F is present; a is m x k, the panels k x width, out m x width.
        unsafe { product(a, k, m, k, panels, width, out.as_mut_ptr(), width) };
        return;
    }
    // SAFETY: a is m x k, the rows width x k (read transposed), out is m x width.
    unsafe {
        gemm_single(
            m,
            width,
            k,
            a.as_ptr(),
            k,
            panels.as_ptr(),
            1,
            k,
            out.as_mut_ptr(),
            width,
        )
    };
}

/// `out = a b` with the `gemm` crate, single-threaded: `a` is `m x k` (row stride
/// `lda`); `b` is `k x n` with element `(r, c)` at `b + r * b_rs + c * b_cs`, so a
/// transposed operand is only other strides; `out` is `m x n` (row stride `ldo`).
///
/// # Safety
/// The pointers must cover the rows and strides described.
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn gemm_single(
    m: usize,
    n: usize,
    k: usize,
    a: *const f32,
    lda: usize,
    b: *const f32,
    b_rs: usize,
    b_cs: usize,
    out: *mut f32,
    ldo: usize,
) {
    // SAFETY: as the caller promises.
    unsafe {
        gemm_strided(
            Product {
                m,
                n,
                k,
                a: (a, lda, 1),
                b: (b, b_rs, b_cs),
                out: (out, ldo),
                accumulate: false,
            },
            gemm::Parallelism::None,
        )
    }
}

/// A product `out (+)= a b` described by pointers and (row, column) strides.
pub(crate) struct Product {
    pub m: usize,
    pub n: usize,
    pub k: usize,
    /// `m x k`: pointer, row stride, column stride.
    pub a: (*const f32, usize, usize),
    /// `k x n`: pointer, row stride, column stride.
    pub b: (*const f32, usize, usize),
    /// `m x n`, unit column stride: pointer, row stride.
    pub out: (*mut f32, usize),
    /// Add to `out` instead of overwriting it.
    pub accumulate: bool,
}

/// Runs `p` with the `gemm` crate: any strides, so transposed operands are read
/// in place.
///
/// # Safety
/// The pointers must cover the rows, columns and strides described.
pub(crate) unsafe fn gemm_strided(p: Product, parallelism: gemm::Parallelism) {
    let ((a, a_rs, a_cs), (b, b_rs, b_cs), (out, ldo)) = (p.a, p.b, p.out);
    // SAFETY: as the caller promises.
    unsafe {
        gemm::gemm(
            p.m,
            p.n,
            p.k,
            out,
            1,
            ldo as isize,
            p.accumulate,
            a,
            a_cs as isize,
            a_rs as isize,
            b,
            b_cs as isize,
            b_rs as isize,
            if p.accumulate { 1.0 } else { 0.0 },
            1.0,
            false,
            false,
            false,
            parallelism,
        );
    }
}

/// Runs `p` on all threads: with AVX-512 (and `n` a whole number of panels)
/// on the packed micro-kernel, both operands packed block by block from their
/// strides; elsewhere as [`gemm_strided`]. The training path's products.
///
/// # Safety
/// The pointers must cover the rows, columns and strides described.
pub(crate) unsafe fn gemm_parallel(p: Product) {
    #[cfg(target_arch = "x86_64")]
    if avx512() && p.n.is_multiple_of(NR) && p.n <= NO_BIAS.len() && p.k > 0 {
        // SAFETY: AVX-512F is present; the operands are as the caller promises.
        unsafe { packed_product(&p) };
        return;
    }
    let threads = rayon::current_num_threads();
    // SAFETY: as the caller promises.
    unsafe { gemm_strided(p, gemm::Parallelism::Rayon(threads)) }
}

/// [`gemm_parallel`] on AVX-512: for each depth block of KC, B's rows are packed
/// into panels once, and each block of MC output rows packs its slice of A
/// (read through its strides, so a transposed operand costs one gather) and
/// runs the micro-kernel over every panel; blocks run in parallel.
///
/// # Safety
/// AVX-512F must be available; `p.n` a multiple of NR, at most `NO_BIAS.len()`.
#[cfg(target_arch = "x86_64")]
unsafe fn packed_product(p: &Product) {
    let (m, n, k) = (p.m, p.n, p.k);
    let ((a, a_rs, a_cs), (b, b_rs, b_cs), (out, ldo)) = (p.a, p.b, p.out);
    let (a, b, out) = (SendConst(a), SendConst(b), SendPtr(out));
    let mut panels = vec![0f32; n * KC.min(k)];
    let mut k0 = 0;
    while k0 < k {
        let kl = KC.min(k - k0);
        let panels = &mut panels[..n * kl];
        panels
            .par_chunks_mut(kl * NR)
            .enumerate()
            .for_each(|(panel, dst)| {
                for (kk, row) in dst.chunks_exact_mut(NR).enumerate() {
                    for (j, v) in row.iter_mut().enumerate() {
                        // SAFETY: (k0 + kk, panel * NR + j) is inside B.
                        *v = unsafe { *b.get().add((k0 + kk) * b_rs + (panel * NR + j) * b_cs) };
                    }
                }
            });
        let accumulate = p.accumulate || k0 > 0;
        let panels = &*panels;
        (0..m.div_ceil(MC)).into_par_iter().for_each_init(
            || vec![0f32; MC * KC],
            |block, at| {
                let (r0, rows) = (at * MC, MC.min(m - at * MC));
                let block = &mut block[..rows * kl];
                if a_cs == 1 {
                    for (r, dst) in block.chunks_exact_mut(kl).enumerate() {
                        // SAFETY: row r0 + r, columns k0.. of A.
                        let src = unsafe {
                            std::slice::from_raw_parts(a.get().add((r0 + r) * a_rs + k0), kl)
                        };
                        dst.copy_from_slice(src);
                    }
                } else {
                    for kk in 0..kl {
                        for r in 0..rows {
                            // SAFETY: (r0 + r, k0 + kk) is inside A.
                            block[r * kl + kk] =
                                unsafe { *a.get().add((r0 + r) * a_rs + (k0 + kk) * a_cs) };
                        }
                    }
                }
                // SAFETY: AVX-512F is present; the block is rows x kl, the
                // panels kl deep, and these output rows belong to this job.
                unsafe {
                    avx512::product(
                        block.as_ptr(),
                        kl,
                        rows,
                        kl,
                        panels.as_ptr(),
                        n,
                        NO_BIAS.as_ptr(),
                        out.get().add(r0 * ldo),
                        ldo,
                        accumulate,
                    )
                };
            },
        );
        k0 += kl;
    }
}

/// A raw input pointer shared by parallel jobs that only read through it.
#[derive(Clone, Copy)]
struct SendConst(*const f32);
// SAFETY: only read, while the caller keeps the data alive.
unsafe impl Send for SendConst {}
unsafe impl Sync for SendConst {}
impl SendConst {
    fn get(self) -> *const f32 {
        self.0
    }
}

/// A raw output pointer shared by parallel jobs that write disjoint parts.
#[derive(Clone, Copy)]
pub(crate) struct SendPtr(pub *mut f32);
// SAFETY: used only for disjoint writes from parallel jobs.
unsafe impl Send for SendPtr {}
unsafe impl Sync for SendPtr {}
impl SendPtr {
    pub(crate) fn get(self) -> *mut f32 {
        self.0
    }
}

/// A zero bias for products without one.
pub(crate) const NO_BIAS: [f32; 4096] = [0.0; 4096];

/// `y = x P` (single-threaded, for use inside parallel jobs); see [`avx512::product`].
///
/// # Safety
/// AVX-512F must be available ([`has_avx512`]); `x`, `panels` and `y` must hold
/// the rows, panels and output rows the strides and sizes describe; `n <= 4096`.
#[cfg(target_arch = "x86_64")]
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn product(
    x: &[f32],
    lda: usize,
    rows: usize,
    k: usize,
    panels: &[f32],
    n: usize,
    y: *mut f32,
    ldy: usize,
) {
    debug_assert!(n <= NO_BIAS.len() && n.is_multiple_of(NR) && panels.len() >= k * n);
    unsafe {
        avx512::product(
            x.as_ptr(),
            lda,
            rows,
            k,
            panels.as_ptr(),
            n,
            NO_BIAS.as_ptr(),
            y,
            ldy,
            false,
        )
    }
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use std::arch::x86_64::*;

    use super::{KC, MR, NR};

    /// `y = x P + bias` (or `y += x P` with `accumulate`) for `rows` rows: x has
    /// row stride `lda` and `k` columns, P is `n / NR` packed panels of `k x NR`,
    /// y has row stride `ldy`.
    #[target_feature(enable = "avx512f")]
    #[allow(clippy::too_many_arguments)]
    pub(crate) unsafe fn product(
        x: *const f32,
        lda: usize,
        rows: usize,
        k: usize,
        panels: *const f32,
        n: usize,
        bias: *const f32,
        y: *mut f32,
        ldy: usize,
        accumulate: bool,
    ) {
        // K is cut into blocks so a panel's slice (KC x 32 floats) stays in L1
        // while every micro-tile of the block passes over it.
        let mut k0 = 0;
        while k0 < k {
            let kl = KC.min(k - k0);
            for panel in 0..n / NR {
                unsafe {
                    let wp = panels.add(panel * k * NR + k0 * NR);
                    let (init, stride) = if k0 == 0 && !accumulate {
                        (bias.add(panel * NR), 0)
                    } else {
                        (y.add(panel * NR) as *const f32, ldy)
                    };
                    let mut r = 0;
                    while r <= rows {
                        let left = rows - r;
                        if left == 0 {
                            break;
                        }
                        let (xa, ya) = (x.add(r * lda + k0), y.add(r * ldy + panel * NR));
                        let ia = if stride == 0 { init } else { init.add(r * ldy) };
                        match left.min(MR) {
                            1 => tile::<1>(xa, lda, kl, wp, ia, stride, ya, ldy),
                            2 => tile::<2>(xa, lda, kl, wp, ia, stride, ya, ldy),
                            3 => tile::<3>(xa, lda, kl, wp, ia, stride, ya, ldy),
                            4 => tile::<4>(xa, lda, kl, wp, ia, stride, ya, ldy),
                            5 => tile::<5>(xa, lda, kl, wp, ia, stride, ya, ldy),
                            6 => tile::<6>(xa, lda, kl, wp, ia, stride, ya, ldy),
                            7 => tile::<7>(xa, lda, kl, wp, ia, stride, ya, ldy),
                            8 => tile::<8>(xa, lda, kl, wp, ia, stride, ya, ldy),
                            9 => tile::<9>(xa, lda, kl, wp, ia, stride, ya, ldy),
                            10 => tile::<10>(xa, lda, kl, wp, ia, stride, ya, ldy),
                            11 => tile::<11>(xa, lda, kl, wp, ia, stride, ya, ldy),
                            _ => tile::<MR>(xa, lda, kl, wp, ia, stride, ya, ldy),
                        }
                        r += left.min(MR);
                    }
                }
            }
            k0 += kl;
        }
    }

    /// `R x 32` tile: rows of x (stride k) times a packed panel, plus bias.
    /// Pointer walks only (no index arithmetic) so nothing is overflow-checked and
    /// the accumulators stay in registers.
    #[target_feature(enable = "avx512f")]
    #[allow(clippy::too_many_arguments)]
    #[inline]
    unsafe fn tile<const R: usize>(
        x: *const f32,
        lda: usize,
        k: usize,
        w: *const f32,
        init: *const f32,
        init_stride: usize,
        y: *mut f32,
        n: usize,
    ) {
        unsafe {
            // Start from the bias (stride 0) or from y's partial sums (stride n).
            let mut lo = [_mm512_setzero_ps(); R];
            let mut hi = [_mm512_setzero_ps(); R];
            let mut src = init;
            for r in 0..R {
                lo[r] = _mm512_loadu_ps(src);
                hi[r] = _mm512_loadu_ps(src.add(16));
                src = src.wrapping_add(init_stride);
            }
            let mut rows = [x; R];
            for (r, p) in rows.iter_mut().enumerate() {
                *p = x.wrapping_add(r.wrapping_mul(lda));
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

/// A linear layer of the given shape and precision with arbitrary weights,
/// returned as a closure that runs `m` rows through it (for the GEMM benchmark).
#[doc(hidden)]
pub fn bench_linear(
    m: usize,
    k: usize,
    n: usize,
    precision: crate::compute::Precision,
) -> impl Fn() {
    let w: Vec<f32> = (0..n * k).map(|i| (i % 17) as f32 / 17.0).collect();
    let l = crate::compute::linear::LinearLayer::new(w, vec![0.0; n], k, n, precision);
    let x: Vec<f32> = (0..m * k).map(|i| (i % 13) as f32 / 13.0).collect();
    let y = std::sync::Mutex::new(vec![0f32; m * n]);
    move || l.forward(&x, m, &mut y.lock().unwrap(), &|_| {})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parallel_products_equal_plain_ones_for_any_strides() {
        // Depths across KC blocks, row counts off MC and MR, transposed operands,
        // overwrite and accumulate; n off a panel takes the gemm crate's path.
        for (m, k, n) in [
            (1, 3, 32),
            (MC + 13, KC + 29, 64),
            (97, 2 * KC, 96),
            (5, 40, 40),
        ] {
            let a: Vec<f32> = (0..m * k)
                .map(|i| ((i * 5 % 11) as f32 - 5.0) / 4.0)
                .collect();
            let b: Vec<f32> = (0..k * n)
                .map(|i| ((i * 7 % 13) as f32 - 6.0) / 8.0)
                .collect();
            // A as stored (m x k) or transposed (k x m); B likewise.
            for (a_t, b_t, accumulate) in [
                (false, false, false),
                (true, false, true),
                (false, true, true),
            ] {
                let at: Vec<f32> = if a_t {
                    (0..k * m).map(|i| a[(i % m) * k + i / m]).collect()
                } else {
                    a.clone()
                };
                let bt: Vec<f32> = if b_t {
                    (0..n * k).map(|i| b[(i % k) * n + i / k]).collect()
                } else {
                    b.clone()
                };
                let start: Vec<f32> = (0..m * n).map(|i| (i % 3) as f32).collect();
                let mut out = start.clone();
                let p = Product {
                    m,
                    n,
                    k,
                    a: (
                        at.as_ptr(),
                        if a_t { 1 } else { k },
                        if a_t { m } else { 1 },
                    ),
                    b: (
                        bt.as_ptr(),
                        if b_t { 1 } else { n },
                        if b_t { k } else { 1 },
                    ),
                    out: (out.as_mut_ptr(), n),
                    accumulate,
                };
                // SAFETY: the strides describe the vectors above.
                unsafe { gemm_parallel(p) };
                for r in 0..m {
                    for j in 0..n {
                        let dot: f32 = (0..k).map(|t| a[r * k + t] * b[t * n + j]).sum();
                        let want = dot + if accumulate { start[r * n + j] } else { 0.0 };
                        let got = out[r * n + j];
                        assert!(
                            (got - want).abs() < 1e-3 * want.abs().max(1.0),
                            "({m},{k},{n}) a_t {a_t} b_t {b_t}: [{r},{j}] {got} != {want}"
                        );
                    }
                }
            }
        }
    }

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
