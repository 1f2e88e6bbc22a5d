//! How two embeddings score: cosine or dot product, as a full matrix, row by
//! row, or per example against its own candidates; and Euclidean distance.

use candle_core::{D, Tensor};

use crate::error::{Error, Result};

/// Rows scaled to unit length (a zero row stays zero).
pub fn unit_rows(x: &Tensor) -> Result<Tensor> {
    let norms = x
        .sqr()?
        .sum_keepdim(D::Minus1)?
        .sqrt()?
        .clamp(1e-12, f64::MAX)?;
    Ok(x.broadcast_div(&norms)?)
}

/// `cos(a_i, b_j)` for every row pair: `(n, m)`.
pub fn cosine_matrix(a: &Tensor, b: &Tensor) -> Result<Tensor> {
    Similarity::Cosine.matrix(a, b)
}

/// Euclidean distance between row i of `a` and row i of `b`: `(n)`.
pub fn euclidean_rows(a: &Tensor, b: &Tensor) -> Result<Tensor> {
    // The epsilon keeps the gradient finite when two rows coincide.
    Ok(((a - b)?.sqr()?.sum(D::Minus1)? + 1e-12)?.sqrt()?)
}

/// A similarity between embeddings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Similarity {
    /// Cosine similarity.
    Cosine,
    /// Dot product.
    Dot,
}

impl Similarity {
    /// Parses `cosine` or `dot`.
    pub fn parse(s: &str) -> Result<Self> {
        match s {
            "cosine" | "cos" => Ok(Self::Cosine),
            "dot" | "ip" => Ok(Self::Dot),
            _ => Err(Error::InvalidArgument(format!(
                "unknown similarity `{s}`; known: cosine, dot"
            ))),
        }
    }

    fn prepare(self, x: &Tensor) -> Result<Tensor> {
        match self {
            Self::Cosine => unit_rows(x),
            Self::Dot => Ok(x.clone()),
        }
    }

    /// Every row of `a` against every row of `b`: `(n, m)`.
    pub fn matrix(self, a: &Tensor, b: &Tensor) -> Result<Tensor> {
        Ok(self.prepare(a)?.matmul(&self.prepare(b)?.t()?)?)
    }

    /// Row i of `a` against row i of `b`: `(n)`.
    pub fn rows(self, a: &Tensor, b: &Tensor) -> Result<Tensor> {
        Ok((self.prepare(a)? * self.prepare(b)?)?.sum(D::Minus1)?)
    }

    /// Each anchor (`(b, dim)`) against its own `k` candidates (`(b * k, dim)`,
    /// anchor after anchor): `(b, k)`.
    pub fn grouped(self, anchors: &Tensor, candidates: &Tensor, k: usize) -> Result<Tensor> {
        let (b, dim) = anchors.dims2()?;
        let a = self.prepare(anchors)?.reshape((b, 1, dim))?;
        let c = self.prepare(candidates)?.reshape((b, k, dim))?;
        Ok(a.broadcast_mul(&c)?.sum(D::Minus1)?)
    }
}

#[cfg(test)]
mod tests {
    use candle_core::Device;

    use super::*;

    #[test]
    fn values_by_hand() {
        let a = Tensor::new(&[[3f32, 4.0], [1.0, 0.0]], &Device::Cpu).unwrap();
        let b = Tensor::new(&[[0f32, 2.0], [1.0, 1.0]], &Device::Cpu).unwrap();
        let v = |t: Tensor| t.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        let close = |got: Vec<f32>, want: &[f32]| {
            assert!(
                got.iter().zip(want).all(|(g, w)| (g - w).abs() < 1e-6),
                "{got:?} vs {want:?}"
            )
        };
        close(v(Similarity::Dot.rows(&a, &b).unwrap()), &[8.0, 1.0]);
        close(
            v(Similarity::Cosine.matrix(&a, &b).unwrap()),
            &[0.8, 1.4 / 2f32.sqrt(), 0.0, 1.0 / 2f32.sqrt()],
        );
        close(v(euclidean_rows(&a, &b).unwrap()), &[13f32.sqrt(), 1.0]);
        // Anchor 0 against candidates [b0, b1], anchor 1 against [a0, a1].
        let c = Tensor::cat(&[&b, &a], 0).unwrap();
        close(
            v(Similarity::Dot.grouped(&a, &c, 2).unwrap()),
            &[8.0, 7.0, 3.0, 1.0],
        );
    }
}
