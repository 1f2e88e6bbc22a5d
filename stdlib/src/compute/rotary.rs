//! Rotary position embeddings (RoPE) in Hugging Face's layout: a head's two
//! halves are rotated together, frequency `j` on dimensions `j` and `j + d/2`.

/// The angle of every (position, dimension) for positions `0..l` and heads of
/// width `d`, row-major `(l, d)`, each frequency twice. In f32 as transformers
/// computes them, so cosines and sines match its to the last bits.
pub fn angles(theta: f64, l: usize, d: usize) -> Vec<f32> {
    let half = d / 2;
    let inv: Vec<f32> = (0..half)
        .map(|j| 1.0 / (theta as f32).powf((2 * j) as f32 / d as f32))
        .collect();
    let mut out = Vec::with_capacity(l * d);
    for p in 0..l {
        let row: Vec<f32> = inv.iter().map(|f| p as f32 * f).collect();
        out.extend_from_slice(&row);
        out.extend_from_slice(&row);
    }
    out
}

/// Cosines and sines of [`angles`], kept for reuse across a batch's layers.
#[derive(Debug, Clone, Default)]
pub struct RotaryTable {
    /// Head width.
    pub d: usize,
    /// `(l, d)` cosines.
    pub cos: Vec<f32>,
    /// `(l, d)` sines.
    pub sin: Vec<f32>,
}

impl RotaryTable {
    /// The table for positions `0..l`.
    pub fn new(theta: f64, l: usize, d: usize) -> Self {
        let a = angles(theta, l, d);
        Self {
            d,
            cos: a.iter().map(|x| x.cos()).collect(),
            sin: a.iter().map(|x| x.sin()).collect(),
        }
    }

    /// Rotates one head's vector `x` (width `d`) at position `p` in place:
    /// `x * cos + rotate_half(x) * sin`.
    pub fn rotate(&self, x: &mut [f32], p: usize) {
        let (d, half) = (self.d, self.d / 2);
        let (cos, sin) = (&self.cos[p * d..(p + 1) * d], &self.sin[p * d..(p + 1) * d]);
        for j in 0..half {
            let (a, b) = (x[j], x[j + half]);
            x[j] = a * cos[j] - b * sin[j];
            x[j + half] = b * cos[j + half] + a * sin[j + half];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotation_by_hand() {
        // d = 4, theta = 100: frequencies 1 and 1/10.
        let t = RotaryTable::new(100.0, 3, 4);
        let mut x = [1.0, 2.0, 3.0, 4.0];
        t.rotate(&mut x, 0);
        assert_eq!(x, [1.0, 2.0, 3.0, 4.0]);
        t.rotate(&mut x, 2);
        // Pairs (1, 3) by 2 rad and (2, 4) by 0.2 rad.
        let (c1, s1, c2, s2) = (2f32.cos(), 2f32.sin(), 0.2f32.cos(), 0.2f32.sin());
        let want = [
            1.0 * c1 - 3.0 * s1,
            2.0 * c2 - 4.0 * s2,
            3.0 * c1 + 1.0 * s1,
            4.0 * c2 + 2.0 * s2,
        ];
        for (g, w) in x.iter().zip(want) {
            assert!((g - w).abs() < 1e-6, "{x:?} vs {want:?}");
        }
    }
}
