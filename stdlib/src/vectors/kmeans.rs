//! Seeded k-means (Lloyd's iterations) on the compute kernels, and the
//! assignment of vectors to their nearest centroid. PLAID clusters token
//! vectors with it, as fast-plaid does: a sample of at most
//! `max_points_per_centroid` points per centroid, a few iterations, the
//! centroids L2-normalised at the end.

use rayon::prelude::*;

use crate::compute::gemm::{DOT_BLOCK, dot_products, pack_rows};
use crate::random::SplitMix;

/// How to cluster.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct KMeansOptions {
    /// Number of centroids (at most the number of points).
    pub k: usize,
    /// Lloyd iterations.
    pub iterations: usize,
    /// Points sampled per centroid at most (the rest are left out of training).
    pub max_points_per_centroid: usize,
    /// Seeds the sample and the initial centroids.
    pub seed: u64,
}

/// Points per parallel job of the assignment.
const POINT_ROWS: usize = 256;

/// Centroids packed for products: blocks of at most [`DOT_BLOCK`] rows, and
/// each centroid's squared norm.
pub struct PackedCentroids {
    blocks: Vec<(usize, Vec<f32>, usize)>,
    half_norms: Vec<f32>,
    dim: usize,
}

impl PackedCentroids {
    /// Packs the `k x dim` centroids.
    pub fn new(centroids: &[f32], dim: usize) -> Self {
        let k = centroids.len() / dim;
        let blocks = (0..k)
            .step_by(DOT_BLOCK)
            .map(|first| {
                let n = (k - first).min(DOT_BLOCK);
                let mut panels = Vec::new();
                let width = pack_rows(&centroids[first * dim..], n, dim, &mut panels);
                (first, panels, width)
            })
            .collect();
        let half_norms = centroids
            .chunks_exact(dim)
            .map(|c| 0.5 * c.iter().map(|x| x * x).sum::<f32>())
            .collect();
        Self {
            blocks,
            half_norms,
            dim,
        }
    }

    /// Number of centroids.
    pub fn len(&self) -> usize {
        self.half_norms.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.half_norms.is_empty()
    }

    /// `out[r * len + c]` = the dot product of row `r` of `rows` with centroid `c`.
    pub fn scores(&self, rows: &[f32], out: &mut Vec<f32>, scratch: &mut Vec<f32>) {
        let (m, k) = (rows.len() / self.dim, self.len());
        out.clear();
        out.resize(m * k, 0.0);
        for (first, panels, width) in &self.blocks {
            let n = (k - first).min(DOT_BLOCK);
            dot_products(rows, m, self.dim, panels, *width, scratch);
            for r in 0..m {
                out[r * k + first..r * k + first + n]
                    .copy_from_slice(&scratch[r * width..r * width + n]);
            }
        }
    }

    /// The nearest centroid (L2) of each row of `points`, in parallel.
    pub fn assign(&self, points: &[f32]) -> Vec<u32> {
        let mut codes = vec![0u32; points.len() / self.dim];
        codes
            .par_chunks_mut(POINT_ROWS)
            .zip(points.par_chunks(POINT_ROWS * self.dim))
            .for_each_init(
                || (Vec::new(), Vec::new()),
                |(scores, scratch), (codes, rows)| {
                    self.scores(rows, scores, scratch);
                    let k = self.len();
                    for (r, code) in codes.iter_mut().enumerate() {
                        // argmin |x - c|^2 = argmax x.c - |c|^2 / 2; ties to the lower index.
                        let row = &scores[r * k..(r + 1) * k];
                        let mut best = (f32::NEG_INFINITY, 0);
                        for (c, (s, h)) in row.iter().zip(&self.half_norms).enumerate() {
                            let v = s - h;
                            if v > best.0 {
                                best = (v, c);
                            }
                        }
                        *code = best.1 as u32;
                    }
                },
            );
        codes
    }
}

/// `opts.k` centroids of the `n x dim` `points` (fewer if there are fewer
/// points), L2-normalised, row-major.
pub fn kmeans(points: &[f32], dim: usize, opts: &KMeansOptions) -> Vec<f32> {
    let n = points.len() / dim;
    let k = opts.k.min(n).max(1);
    let mut rng = SplitMix::new(opts.seed);
    // A seeded sample of the points, in their order.
    let take = k.saturating_mul(opts.max_points_per_centroid.max(1));
    let sample: Vec<f32> = if take < n {
        rng.sample_sorted(n, take)
            .iter()
            .flat_map(|&r| &points[r * dim..(r + 1) * dim])
            .copied()
            .collect()
    } else {
        points.to_vec()
    };
    let m = sample.len() / dim;
    // Start from k distinct sample points.
    let mut centroids: Vec<f32> = rng
        .sample_sorted(m, k)
        .iter()
        .flat_map(|&r| &sample[r * dim..(r + 1) * dim])
        .copied()
        .collect();
    for _ in 0..opts.iterations {
        let codes = PackedCentroids::new(&centroids, dim).assign(&sample);
        let mut sums = vec![0f64; k * dim];
        let mut counts = vec![0usize; k];
        for (row, &c) in sample.chunks_exact(dim).zip(&codes) {
            counts[c as usize] += 1;
            for (s, x) in sums[c as usize * dim..].iter_mut().zip(row) {
                *s += *x as f64;
            }
        }
        for c in 0..k {
            let target = &mut centroids[c * dim..(c + 1) * dim];
            if counts[c] == 0 {
                // An empty cluster restarts at a random sample point.
                let r = rng.below(m);
                target.copy_from_slice(&sample[r * dim..(r + 1) * dim]);
            } else {
                for (t, s) in target.iter_mut().zip(&sums[c * dim..]) {
                    *t = (*s / counts[c] as f64) as f32;
                }
            }
        }
    }
    for c in centroids.chunks_exact_mut(dim) {
        let norm = c.iter().map(|x| x * x).sum::<f32>().sqrt();
        if norm > 0.0 {
            c.iter_mut().for_each(|x| *x /= norm);
        }
    }
    centroids
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_well_separated_clusters_and_assigns_to_the_nearest() {
        // Three tight groups around the axes of R^3.
        let mut rng = SplitMix::new(7);
        let mut points = Vec::new();
        for i in 0..300 {
            let mut p = [0f32; 3];
            p[i % 3] = 1.0;
            for x in &mut p {
                *x += (rng.below(1000) as f32 / 1000.0 - 0.5) * 0.1;
            }
            points.extend_from_slice(&p);
        }
        let opts = KMeansOptions {
            k: 3,
            iterations: 10,
            max_points_per_centroid: 256,
            seed: 1,
        };
        let c = kmeans(&points, 3, &opts);
        assert_eq!(c.len(), 9);
        let packed = PackedCentroids::new(&c, 3);
        let codes = packed.assign(&points);
        // Every axis has its own centroid, within 0.05 of the axis.
        for axis in 0..3 {
            let code = codes[axis] as usize;
            assert!((c[code * 3 + axis] - 1.0).abs() < 0.05, "{c:?}");
            assert!(
                codes
                    .iter()
                    .skip(axis)
                    .step_by(3)
                    .all(|&x| x as usize == code)
            );
        }
        // The same seed gives the same centroids.
        assert_eq!(c, kmeans(&points, 3, &opts));
        // More centroids than points: one per point.
        assert_eq!(kmeans(&points[..6], 3, &opts).len(), 6);
    }
}
