//! Seeded randomness: one small generator for data order, dropout masks and
//! resampling, so a seed fixes a whole run on every platform.

/// A small seeded generator (SplitMix64): reproducible without a dependency.
#[derive(Debug, Clone)]
pub struct SplitMix(u64);

impl SplitMix {
    /// A generator from `seed`.
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// A generator for one stream of a run (e.g. step `n`'s dropout): streams of
    /// one seed do not overlap in practice and need no stored state.
    pub fn stream(seed: u64, stream: u64) -> Self {
        let mut mix = Self(seed ^ stream.wrapping_mul(0xD6E8_FEB8_6659_FD93));
        Self(mix.next_u64())
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n`.
    pub fn below(&mut self, n: usize) -> usize {
        ((self.next_u64() as u128 * n as u128) >> 64) as usize
    }

    /// `take` distinct numbers of `0..n` (all of them when `take >= n`),
    /// ascending: a partial Fisher-Yates shuffle.
    pub fn sample_sorted(&mut self, n: usize, take: usize) -> Vec<usize> {
        let mut rows: Vec<usize> = (0..n).collect();
        if take >= n {
            return rows;
        }
        for i in 0..take {
            let j = i + self.below(n - i);
            rows.swap(i, j);
        }
        rows.truncate(take);
        rows.sort_unstable();
        rows
    }
}
