//! How two embeddings score: cosine or dot product of single vectors, or
//! late interaction's MaxSim of token vectors; as a full matrix, row by row,
//! or per example against its own candidates; and Euclidean distance.

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
    /// Late interaction over `(texts, tokens, dim)` token vectors: for each
    /// query token its best dot product with a document token, summed. Rows
    /// of zeros (padding, skiplist) score 0, as PyLate's masks make them.
    MaxSim,
}

impl Similarity {
    /// Parses `cosine` or `dot`.
    pub fn parse(s: &str) -> Result<Self> {
        match s {
            "cosine" | "cos" => Ok(Self::Cosine),
            "dot" | "ip" => Ok(Self::Dot),
            "maxsim" | "MaxSim" => Ok(Self::MaxSim),
            _ => Err(Error::InvalidArgument(format!(
                "unknown similarity `{s}`; known: cosine, dot, maxsim"
            ))),
        }
    }

    /// `x` as this similarity reads it, after checking it has the rank it
    /// needs (one vector per text, or token vectors for MaxSim).
    fn prepare(self, x: &Tensor) -> Result<Tensor> {
        match (self, x.rank()) {
            (Self::MaxSim, 3) => Ok(x.clone()),
            (Self::MaxSim, _) => Err(Error::InvalidArgument(
                "MaxSim scores token vectors (a ColBERT model); this model gives one vector per text: train it with mnrl, triplet, kl or another single-vector loss".into(),
            )),
            (_, 2) => match self {
                Self::Cosine => unit_rows(x),
                _ => Ok(x.clone()),
            },
            _ => Err(Error::InvalidArgument(
                "this loss scores one vector per text; a ColBERT model (token vectors) trains with colbert-contrastive, cached-colbert-contrastive or colbert-distillation".into(),
            )),
        }
    }

    /// Every text of `a` against every text of `b`: `(n, m)`.
    pub fn matrix(self, a: &Tensor, b: &Tensor) -> Result<Tensor> {
        let (a, b) = (self.prepare(a)?, self.prepare(b)?);
        if self != Self::MaxSim {
            return Ok(a.matmul(&b.t()?)?);
        }
        let ((n, lq, dim), (m, ld, _)) = (a.dims3()?, b.dims3()?);
        let tokens = a
            .reshape((n * lq, dim))?
            .matmul(&b.reshape((m * ld, dim))?.t()?)?;
        Ok(tokens.reshape((n, lq, m, ld))?.max(3)?.sum(1)?)
    }

    /// Text i of `a` against text i of `b`: `(n)`.
    pub fn rows(self, a: &Tensor, b: &Tensor) -> Result<Tensor> {
        let (a, b) = (self.prepare(a)?, self.prepare(b)?);
        if self != Self::MaxSim {
            return Ok((a * b)?.sum(D::Minus1)?);
        }
        Ok(a.matmul(&b.transpose(1, 2)?)?.max(2)?.sum(1)?)
    }

    /// Each anchor (`(b, dim)`) against its own `k` candidates (`(b * k, dim)`,
    /// anchor after anchor): `(b, k)`. Token vectors alike for MaxSim.
    pub fn grouped(self, anchors: &Tensor, candidates: &Tensor, k: usize) -> Result<Tensor> {
        let (a, c) = (self.prepare(anchors)?, self.prepare(candidates)?);
        if self != Self::MaxSim {
            let (b, dim) = a.dims2()?;
            let a = a.reshape((b, 1, dim))?;
            let c = c.reshape((b, k, dim))?;
            return Ok(a.broadcast_mul(&c)?.sum(D::Minus1)?);
        }
        let ((b, lq, dim), (_, ld, _)) = (a.dims3()?, c.dims3()?);
        let c = c.reshape((b, k * ld, dim))?;
        let tokens = a.matmul(&c.transpose(1, 2)?)?;
        Ok(tokens.reshape((b, lq, k, ld))?.max(3)?.sum(1)?)
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

    /// PyLate's `colbert_scores` docstring example, its masks written as
    /// zeroed token vectors.
    #[test]
    fn maxsim_as_pylate_scores_it() {
        let dev = &Device::Cpu;
        let q = Tensor::new(
            &[
                [[1f32], [0.0], [0.0], [0.0]],
                [[0.0], [2.0], [0.0], [0.0]],
                // The third token of query 2 is masked out.
                [[0.0], [0.0], [0.0], [0.0]],
            ],
            dev,
        )
        .unwrap();
        // Document 1's middle token is masked out.
        let d = Tensor::new(
            &[
                [[10f32], [0.0], [1.0]],
                [[0.0], [0.0], [10.0]],
                [[1.0], [0.0], [1000.0]],
            ],
            dev,
        )
        .unwrap();
        let v = |t: Tensor| t.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        assert_eq!(
            v(Similarity::MaxSim.matrix(&q, &d).unwrap()),
            [10.0, 10.0, 1000.0, 20.0, 20.0, 2000.0, 0.0, 0.0, 0.0]
        );
        assert_eq!(
            v(Similarity::MaxSim.rows(&q, &d).unwrap()),
            [10.0, 20.0, 0.0]
        );
        // Query 0 against [d0, d1], query 1 against [d2, d0], query 2 against [d1, d2].
        let c = Tensor::cat(
            &[
                d.narrow(0, 0, 2).unwrap(),
                d.narrow(0, 2, 1).unwrap(),
                d.narrow(0, 0, 1).unwrap(),
                d.narrow(0, 1, 2).unwrap(),
            ],
            0,
        )
        .unwrap();
        assert_eq!(
            v(Similarity::MaxSim.grouped(&q, &c, 2).unwrap()),
            [10.0, 10.0, 2000.0, 20.0, 0.0, 0.0]
        );
        let e = Similarity::Cosine.matrix(&q, &d).err().unwrap().to_string();
        assert!(e.contains("colbert-contrastive"), "{e}");
        let flat = q.flatten_from(1).unwrap();
        let e = Similarity::MaxSim
            .matrix(&flat, &flat)
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("one vector per text"), "{e}");
    }
}
