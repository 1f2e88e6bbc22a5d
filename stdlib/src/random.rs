//! Seeded randomness: one small generator for data order, dropout masks and
//! resampling, so a seed fixes a whole run on every platform; and torch's
//! CPU generator, for a data order equal to a PyTorch trainer's.

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

/// The Mersenne Twister (MT19937, 32-bit) that torch's CPU generator runs.
#[derive(Debug, Clone)]
pub struct Mt19937 {
    state: [u32; 624],
    index: usize,
}

impl Mt19937 {
    /// The generator `torch.Generator().manual_seed(seed)` holds (torch keeps the low 32 bits).
    pub fn new(seed: u64) -> Self {
        let mut state = [0u32; 624];
        state[0] = seed as u32;
        for i in 1..624 {
            let prev = state[i - 1];
            state[i] = 1_812_433_253u32
                .wrapping_mul(prev ^ (prev >> 30))
                .wrapping_add(i as u32);
        }
        Self { state, index: 624 }
    }

    /// The next 32 random bits.
    pub fn next_u32(&mut self) -> u32 {
        if self.index >= 624 {
            for k in 0..624 {
                let y = (self.state[k] & 0x8000_0000) | (self.state[(k + 1) % 624] & 0x7fff_ffff);
                let mag = if y & 1 == 1 { 0x9908_b0df } else { 0 };
                self.state[k] = self.state[(k + 397) % 624] ^ (y >> 1) ^ mag;
            }
            self.index = 0;
        }
        let mut y = self.state[self.index];
        self.index += 1;
        y ^= y >> 11;
        y ^= (y << 7) & 0x9d2c_5680;
        y ^= (y << 15) & 0xefc6_0000;
        y ^ (y >> 18)
    }

    /// `torch.randperm(n, generator=g)`: Fisher-Yates from the front, each pick
    /// `random() % (n - i)`; torch takes 64 bits (first draw high) from
    /// `u32::MAX / 20` elements on.
    pub fn randperm(&mut self, n: usize) -> Vec<usize> {
        let mut order: Vec<usize> = (0..n).collect();
        let wide = n as u64 >= u64::from(u32::MAX / 20);
        for i in 0..n.saturating_sub(1) {
            let r = if wide {
                (u64::from(self.next_u32()) << 32) | u64::from(self.next_u32())
            } else {
                u64::from(self.next_u32())
            };
            let z = (r % (n - i) as u64) as usize;
            order.swap(i, i + z);
        }
        order
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn randperm_equals_torch() {
        // torch 2.11: torch.randperm(n, generator=torch.Generator().manual_seed(seed)).tolist()
        assert_eq!(Mt19937::new(0).randperm(10), [4, 1, 7, 5, 3, 9, 0, 8, 6, 2]);
        let p = Mt19937::new(42).randperm(919);
        assert_eq!(p[..8], [643, 780, 503, 313, 355, 322, 636, 507]);
        assert_eq!(p[914..], [805, 475, 235, 849, 714]);
        // A second permutation continues the generator, as torch's RandomSampler each epoch.
        let mut g = Mt19937::new(5);
        assert_eq!(g.randperm(6), [5, 0, 1, 3, 4, 2]);
        assert_eq!(g.randperm(6), [4, 3, 1, 2, 0, 5]);
        assert_eq!(Mt19937::new(3).randperm(1), [0]);
        assert!(Mt19937::new(3).randperm(0).is_empty());
    }
}
