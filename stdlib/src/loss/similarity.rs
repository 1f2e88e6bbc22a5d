//! The pieces the contrastive losses share: cosine similarity matrices and the
//! in-batch softmax (cross-entropy over candidates, the right one on the
//! diagonal). One implementation, so the cached and uncached losses cannot drift
//! apart.

use candle_core::{D, DType, Tensor};

use crate::error::Result;

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
    Ok(unit_rows(a)?.matmul(&unit_rows(b)?.t()?)?)
}

/// Mean cross-entropy of `scores` (`(n, m)`, `m >= n`) where row i's right
/// answer is column i.
pub fn diagonal_cross_entropy(scores: &Tensor) -> Result<Tensor> {
    let n = scores.dim(0)?;
    let targets = Tensor::arange(0u32, n as u32, scores.device())?;
    let log_p = candle_nn::ops::log_softmax(scores, D::Minus1)?;
    let picked = log_p.gather(&targets.unsqueeze(1)?, 1)?.squeeze(1)?;
    Ok(picked.neg()?.mean(0)?.to_dtype(DType::F32)?)
}
