//! What the low-precision micro-kernels share: the parallel row blocks, the
//! walk over (panel, row tile) pairs with the store masks of a partial panel,
//! 4-byte-aligned scratch rows, and the dispatch from a row count to a
//! const-generic tile.

use rayon::prelude::*;

/// Rows per micro-tile: 12 x 2 accumulators + 2 weight vectors + 1 broadcast fit
/// the 32 vector registers.
pub(crate) const MR: usize = 12;
/// Output columns per panel (two 16-lane vectors).
pub(crate) const NR: usize = 32;
/// Rows per parallel job; their converted copy stays in L2.
pub(crate) const MC: usize = 4 * MR;

/// Runs `job(scratch, x rows, y rows)` on blocks of MC rows in parallel (one
/// scratch per thread), then `then` on each finished block of `y`.
pub(crate) fn row_blocks<S: Default + Send>(
    (x, k): (&[f32], usize),
    (y, n): (&mut [f32], usize),
    rows: usize,
    then: &(dyn Fn(&mut [f32]) + Sync),
    job: impl Fn(&mut S, &[f32], &mut [f32]) + Sync + Send,
) {
    y[..rows * n]
        .par_chunks_mut(MC * n)
        .zip(x[..rows * k].par_chunks(MC * k))
        .for_each_init(S::default, |scratch, (yb, xb)| {
            job(scratch, xb, yb);
            then(yb);
        });
}

/// One micro-tile of a product: output panel, first row, row count, and the
/// store masks of the panel's two 16-column halves.
#[derive(Clone, Copy)]
pub(crate) struct TileAt {
    pub panel: usize,
    pub row: usize,
    pub rows: usize,
    pub masks: (u16, u16),
}

/// Calls `f` on every tile of `rows x n`, panel by panel (a panel stays in
/// cache while its row tiles pass).
#[inline]
pub(crate) fn for_each_tile(rows: usize, n: usize, mut f: impl FnMut(TileAt)) {
    for panel in 0..n.div_ceil(NR) {
        let cols = (n - panel * NR).min(NR);
        let masks = (half_mask(cols.min(16)), half_mask(cols.saturating_sub(16)));
        let mut row = 0;
        while row < rows {
            let take = (rows - row).min(MR);
            f(TileAt {
                panel,
                row,
                rows: take,
                masks,
            });
            row += take;
        }
    }
}

/// Scratch rows kept as 32-bit words, so that every 4-byte group the kernels
/// broadcast is aligned.
#[derive(Default)]
pub(crate) struct Words(Vec<u32>);

impl Words {
    /// `len` zeroed elements of `T` (u8 or u16) over the words.
    pub(crate) fn zeroed<T: Plain>(&mut self, len: usize) -> &mut [T] {
        let size = std::mem::size_of::<T>();
        self.0.clear();
        self.0.resize((len * size).div_ceil(4), 0);
        // SAFETY: u8 and u16 (the only Plain types) have no invalid bit patterns
        // and an alignment that divides u32's; the words cover len * size bytes.
        unsafe { std::slice::from_raw_parts_mut(self.0.as_mut_ptr() as *mut T, len) }
    }
}

/// What scratch rows may hold: integers of at most 4 bytes, valid for every
/// bit pattern.
pub(crate) trait Plain: Copy {}
impl Plain for u8 {}
impl Plain for u16 {}

/// The store mask of the first `cols` lanes of a 16-lane vector (all at 16 or more).
pub(crate) fn half_mask(cols: usize) -> u16 {
    if cols >= 16 {
        u16::MAX
    } else {
        ((1u32 << cols) - 1) as u16
    }
}

/// The 4 bytes at `p` (4-aligned) in every 32-bit lane. Through `_mm_load_ss`:
/// `read_unaligned` (and `_mm_loadu_si32`, built on it) is checked in debug
/// builds, which keeps a tile's loop from being unrolled (spilled sums).
///
/// # Safety
/// AVX-512F must be available; `p` must be 4-aligned and point at 4 readable bytes.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
#[inline]
pub(crate) unsafe fn broadcast4<T>(p: *const T) -> std::arch::x86_64::__m512i {
    use std::arch::x86_64::*;
    unsafe { _mm512_castps_si512(_mm512_broadcastss_ps(_mm_load_ss(p as *const f32))) }
}

/// Calls `$tile::<R>($args)` with `R = $rows` (1 ..= 12, where 12 is `$max`):
/// the accumulators of a tile are an array sized at compile time, so that they
/// stay in registers.
#[macro_export]
#[doc(hidden)]
macro_rules! by_row_count {
    ($rows:expr, $max:ident, $tile:ident, ($($arg:expr),*)) => {
        match $rows {
            1 => $tile::<1>($($arg),*),
            2 => $tile::<2>($($arg),*),
            3 => $tile::<3>($($arg),*),
            4 => $tile::<4>($($arg),*),
            5 => $tile::<5>($($arg),*),
            6 => $tile::<6>($($arg),*),
            7 => $tile::<7>($($arg),*),
            8 => $tile::<8>($($arg),*),
            9 => $tile::<9>($($arg),*),
            10 => $tile::<10>($($arg),*),
            11 => $tile::<11>($($arg),*),
            _ => $tile::<$max>($($arg),*),
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_cover_exactly_the_columns() {
        assert_eq!(half_mask(0), 0);
        assert_eq!(half_mask(1), 1);
        assert_eq!(half_mask(15), 0x7fff);
        assert_eq!(half_mask(16), 0xffff);
        assert_eq!(half_mask(40), 0xffff);
    }
}
