//! Principal component analysis for 2-D maps of embeddings: the top components
//! of the centred vectors by power iteration with deflation (exact enough for
//! a picture, and no linear-algebra dependency).

use crate::random::SplitMix;
use crate::vectors::Embeddings;

/// Iterations per component; convergence is geometric in the eigenvalue gap.
const ITERATIONS: usize = 200;

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn normalize(v: &mut [f64]) {
    let n = dot(v, v).sqrt();
    if n > 0.0 {
        v.iter_mut().for_each(|x| *x /= n);
    }
}

/// Projects each vector on the top `k` principal components (coordinates per
/// row); a seeded start makes the result reproducible.
pub fn pca(vectors: &Embeddings, k: usize) -> Vec<Vec<f64>> {
    let (n, d) = (vectors.len(), vectors.dim());
    if n == 0 || d == 0 {
        return vec![Vec::new(); n];
    }
    let mut mean = vec![0f64; d];
    for r in vectors.rows() {
        for (m, x) in mean.iter_mut().zip(r) {
            *m += *x as f64 / n as f64;
        }
    }
    let centred: Vec<Vec<f64>> = vectors
        .rows()
        .map(|r| r.iter().zip(&mean).map(|(x, m)| *x as f64 - m).collect())
        .collect();
    let mut components: Vec<Vec<f64>> = Vec::new();
    let mut rng = SplitMix::new(17);
    for _ in 0..k.min(d) {
        let mut v: Vec<f64> = (0..d)
            .map(|_| (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64 - 0.5)
            .collect();
        normalize(&mut v);
        for _ in 0..ITERATIONS {
            // w = Xᵀ(Xv), with earlier components projected out (deflation).
            let mut w = vec![0f64; d];
            for row in &centred {
                let s = dot(row, &v);
                w.iter_mut().zip(row).for_each(|(wi, x)| *wi += s * x);
            }
            for c in &components {
                let s = dot(&w, c);
                w.iter_mut().zip(c).for_each(|(wi, ci)| *wi -= s * ci);
            }
            normalize(&mut w);
            v = w;
        }
        // A fixed sign: the largest coordinate is positive.
        let big = v
            .iter()
            .copied()
            .fold(0f64, |a, x| if x.abs() > a.abs() { x } else { a });
        if big < 0.0 {
            v.iter_mut().for_each(|x| *x = -*x);
        }
        components.push(v);
    }
    centred
        .iter()
        .map(|r| components.iter().map(|c| dot(r, c)).collect())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_axis_of_largest_spread() {
        // Points along (3, 4)/5 with a little spread along (-4, 3)/5.
        let mut data = Vec::new();
        for i in -5..=5 {
            let (a, b) = (i as f32 * 2.0, if i % 2 == 0 { 0.1 } else { -0.1 });
            data.extend([a * 0.6 - b * 0.8, a * 0.8 + b * 0.6]);
        }
        let e = Embeddings::new(2, data);
        let p = pca(&e, 2);
        // First coordinate: the position along the line (2i, up to sign fixed positive at the end).
        assert!((p[10][0].abs() - 10.0).abs() < 1e-4, "{:?}", p[10]);
        // Across: -0.1 minus the mean offset (5 points at +0.1, 6 at -0.1).
        assert!(
            (p[10][1].abs() - (0.1 - 0.1 / 11.0)).abs() < 1e-4,
            "{:?}",
            p[10]
        );
        assert!((p[0][0] + p[10][0]).abs() < 1e-4);
    }
}
