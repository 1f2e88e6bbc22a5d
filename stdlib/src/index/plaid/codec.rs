//! ColBERTv2's residual compression: a token vector is stored as its nearest
//! centroid and, per dimension, the bucket of its residual (2^nbits buckets
//! cut at quantiles of held-out residuals). Decompression adds each bucket's
//! median value to the centroid and L2-normalises, as fast-plaid does.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Bucket boundaries and values, trained on residuals.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResidualCodec {
    /// Bits per dimension: 1, 2, 4 or 8.
    pub nbits: u32,
    /// The `2^nbits - 1` ascending cut points (quantiles `i / 2^nbits`).
    pub cutoffs: Vec<f32>,
    /// Each bucket's value (quantiles `(i + 0.5) / 2^nbits`).
    pub weights: Vec<f32>,
}

/// The value at quantile `q` of sorted `values` (nearest rank).
fn quantile(sorted: &[f32], q: f64) -> f32 {
    let i = ((sorted.len() - 1) as f64 * q).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

impl ResidualCodec {
    /// Trains the buckets on `residuals` (any number of values).
    pub fn train(nbits: u32, residuals: &mut [f32]) -> Result<Self> {
        if ![1, 2, 4, 8].contains(&nbits) {
            return Err(Error::InvalidArgument(format!(
                "nbits {nbits}: PLAID stores residuals in 1, 2, 4 or 8 bits"
            )));
        }
        if residuals.is_empty() {
            return Err(Error::InvalidArgument(
                "no residuals to train the PLAID codec on".into(),
            ));
        }
        residuals.sort_unstable_by(f32::total_cmp);
        let n = 1usize << nbits;
        Ok(Self {
            nbits,
            cutoffs: (1..n)
                .map(|i| quantile(residuals, i as f64 / n as f64))
                .collect(),
            weights: (0..n)
                .map(|i| quantile(residuals, (i as f64 + 0.5) / n as f64))
                .collect(),
        })
    }

    /// Checks a codec read from a file.
    pub fn validate(&self) -> Result<()> {
        let n = 1usize << self.nbits.min(8);
        if ![1, 2, 4, 8].contains(&self.nbits)
            || self.cutoffs.len() != n - 1
            || self.weights.len() != n
        {
            return Err(Error::InvalidArgument(format!(
                "PLAID codec: nbits {} with {} cut points and {} weights",
                self.nbits,
                self.cutoffs.len(),
                self.weights.len()
            )));
        }
        Ok(())
    }

    /// Bytes per token of width `dim`.
    pub fn bytes_per_token(&self, dim: usize) -> usize {
        (dim * self.nbits as usize).div_ceil(8)
    }

    /// Appends the packed buckets of `residual` to `out` (the first value in
    /// the high bits of the first byte).
    pub fn encode(&self, residual: &[f32], out: &mut Vec<u8>) {
        let per_byte = 8 / self.nbits as usize;
        for chunk in residual.chunks(per_byte) {
            let mut byte = 0u8;
            for (j, &x) in chunk.iter().enumerate() {
                let bucket = self.cutoffs.partition_point(|&c| c < x) as u8;
                byte |= bucket << (8 - self.nbits as usize * (j + 1));
            }
            out.push(byte);
        }
    }

    /// For each byte value, the residual values it holds: `8 / nbits` per byte.
    pub fn byte_table(&self) -> Vec<f32> {
        let per_byte = 8 / self.nbits as usize;
        let mask = (1u16 << self.nbits) - 1;
        (0..256u16)
            .flat_map(|b| {
                (0..per_byte).map(move |j| {
                    let shift = 8 - self.nbits as usize * (j + 1);
                    ((b >> shift) & mask) as usize
                })
            })
            .map(|bucket| self.weights[bucket])
            .collect()
    }

    /// Writes the L2-normalised `centroid + residual` of a packed token into `out`.
    pub fn decode(&self, table: &[f32], centroid: &[f32], packed: &[u8], out: &mut [f32]) {
        let per_byte = 8 / self.nbits as usize;
        for (i, &b) in packed.iter().enumerate() {
            let values = &table[b as usize * per_byte..(b as usize + 1) * per_byte];
            let at = i * per_byte;
            let n = per_byte.min(out.len() - at);
            for j in 0..n {
                out[at + j] = centroid[at + j] + values[j];
            }
        }
        let norm = out.iter().map(|x| x * x).sum::<f32>().sqrt();
        if norm > 0.0 {
            out.iter_mut().for_each(|x| *x /= norm);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_quantiles_and_round_trip() {
        // Residuals -0.4..0.4 in steps of 0.01 (81 values).
        let mut r: Vec<f32> = (0..81).map(|i| (i as f32 - 40.0) / 100.0).collect();
        let codec = ResidualCodec::train(2, &mut r).unwrap();
        // Quantiles 1/4, 2/4, 3/4 at ranks 20, 40, 60; weights at 1/8, 3/8, 5/8, 7/8.
        assert_eq!(codec.cutoffs, vec![-0.2, 0.0, 0.2]);
        assert_eq!(codec.weights, vec![-0.3, -0.1, 0.1, 0.3]);
        let mut packed = Vec::new();
        // Buckets 0, 1, 2, 3 and 1 (0.0 is not above the cut at 0.0).
        codec.encode(&[-0.25, -0.15, 0.15, 0.25, 0.0], &mut packed);
        assert_eq!(packed, vec![0b0001_1011, 0b0100_0000]);
        let table = codec.byte_table();
        let centroid = [1.0, 0.0, 0.0, 0.0, 0.0];
        let mut out = [0f32; 5];
        codec.decode(&table, &centroid, &packed, &mut out);
        let raw = [1.0 - 0.3, -0.1, 0.1, 0.3, -0.1f32];
        let norm = raw.iter().map(|x| x * x).sum::<f32>().sqrt();
        for (o, r) in out.iter().zip(raw) {
            assert!((o - r / norm).abs() < 1e-6, "{out:?}");
        }
        assert!(ResidualCodec::train(3, &mut r).is_err());
        assert_eq!(codec.bytes_per_token(128), 32);
    }
}
