//! A row-major matrix of f32 vectors, one row per text.

/// `len` vectors of width `dim`, stored row after row.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Embeddings {
    dim: usize,
    data: Vec<f32>,
}

impl Embeddings {
    /// Wraps row-major data; `data.len()` must be a multiple of `dim`.
    pub fn new(dim: usize, data: Vec<f32>) -> Self {
        assert!(
            dim > 0 && data.len().is_multiple_of(dim),
            "data length must be a multiple of dim"
        );
        Self { dim, data }
    }

    /// An empty matrix of width `dim`.
    pub fn empty(dim: usize) -> Self {
        Self { dim, data: vec![] }
    }

    /// Vector width.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Number of vectors.
    pub fn len(&self) -> usize {
        self.data.len().checked_div(self.dim).unwrap_or(0)
    }

    /// Whether there are no vectors.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// Vector `i`.
    pub fn row(&self, i: usize) -> &[f32] {
        &self.data[i * self.dim..(i + 1) * self.dim]
    }

    /// All vectors in order.
    pub fn rows(&self) -> impl ExactSizeIterator<Item = &[f32]> {
        self.data.chunks_exact(self.dim.max(1))
    }

    /// The row-major data.
    pub fn as_slice(&self) -> &[f32] {
        &self.data
    }

    /// Gives up the row-major data.
    pub fn into_vec(self) -> Vec<f32> {
        self.data
    }

    /// `n` deterministic pseudo-random vectors (xorshift, values in [-0.5, 0.5)):
    /// test data without a dependency.
    #[cfg(test)]
    pub(crate) fn random(n: usize, dim: usize, seed: u64) -> Self {
        let mut state = seed;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            ((state >> 40) as f32 / (1u64 << 24) as f32) - 0.5
        };
        Self::new(dim, (0..n * dim).map(|_| next()).collect())
    }
}
