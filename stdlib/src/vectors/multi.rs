//! Multi-vector embeddings (late interaction): for each text a list of token
//! vectors, stored flat with offsets.

use crate::error::{Error, Result};

/// Token vectors of many texts: text `i` owns rows `offsets[i]..offsets[i + 1]`.
#[derive(Debug, Clone, PartialEq)]
pub struct MultiVectors {
    dim: usize,
    offsets: Vec<usize>,
    data: Vec<f32>,
}

impl MultiVectors {
    /// No texts yet, vectors of width `dim`.
    pub fn empty(dim: usize) -> Self {
        Self {
            dim,
            offsets: vec![0],
            data: Vec::new(),
        }
    }

    /// From flat rows and the offsets of each text's first row (and the end).
    pub fn new(dim: usize, offsets: Vec<usize>, data: Vec<f32>) -> Result<Self> {
        let rows = data.len() / dim.max(1);
        let ok = dim > 0
            && data.len() == rows * dim
            && offsets.first() == Some(&0)
            && offsets.last() == Some(&rows)
            && offsets.windows(2).all(|w| w[0] <= w[1]);
        if !ok {
            return Err(Error::InvalidArgument(format!(
                "multi-vectors: {} floats of width {dim} do not match offsets ending at {:?}",
                data.len(),
                offsets.last()
            )));
        }
        Ok(Self { dim, offsets, data })
    }

    /// Appends one text's token vectors (`rows * dim` floats).
    pub fn push(&mut self, vectors: &[f32]) {
        self.data.extend_from_slice(vectors);
        self.offsets.push(self.data.len() / self.dim);
    }

    /// Vector width.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Number of texts.
    pub fn len(&self) -> usize {
        self.offsets.len() - 1
    }

    /// Whether there is no text.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Number of token vectors over all texts.
    pub fn tokens(&self) -> usize {
        self.data.len() / self.dim
    }

    /// Text `i`'s token vectors, row-major.
    pub fn get(&self, i: usize) -> &[f32] {
        &self.data[self.offsets[i] * self.dim..self.offsets[i + 1] * self.dim]
    }

    /// Text `i`'s number of token vectors.
    pub fn count(&self, i: usize) -> usize {
        self.offsets[i + 1] - self.offsets[i]
    }

    /// Each text's first row, and the end.
    pub fn offsets(&self) -> &[usize] {
        &self.offsets
    }

    /// All rows, text after text.
    pub fn as_slice(&self) -> &[f32] {
        &self.data
    }

    /// The texts in `order` (each position of the result takes text `order[j]`).
    pub fn reordered(&self, order: &[usize]) -> Self {
        let mut out = Self::empty(self.dim);
        for &i in order {
            out.push(self.get(i));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts_own_their_rows() {
        let mut m = MultiVectors::empty(2);
        m.push(&[1.0, 2.0, 3.0, 4.0]);
        m.push(&[]);
        m.push(&[5.0, 6.0]);
        assert_eq!((m.len(), m.tokens()), (3, 3));
        assert_eq!(m.get(0), &[1.0, 2.0, 3.0, 4.0]);
        assert_eq!(m.count(1), 0);
        assert_eq!(m.reordered(&[2, 0]).get(0), &[5.0, 6.0]);
        assert_eq!(
            MultiVectors::new(2, m.offsets().to_vec(), m.as_slice().to_vec()).unwrap(),
            m
        );
        assert!(MultiVectors::new(2, vec![0, 2], vec![1.0; 6]).is_err());
    }
}
