//! Losses over score matrices, shared by every loss that ranks candidates:
//! one row per query, one column per candidate.

use candle_core::{D, DType, Tensor};

use crate::error::Result;

/// Mean cross-entropy of `scores` (`(n, m)`) where row i's right answer is
/// column `targets[i]`.
pub fn cross_entropy(scores: &Tensor, targets: &[u32]) -> Result<Tensor> {
    let targets = Tensor::from_slice(targets, targets.len(), scores.device())?;
    let log_p = candle_nn::ops::log_softmax(scores, D::Minus1)?;
    let picked = log_p.gather(&targets.unsqueeze(1)?, 1)?.squeeze(1)?;
    Ok(picked.neg()?.mean(0)?.to_dtype(DType::F32)?)
}

/// [`cross_entropy`] with row i's right answer in column i (in-batch negatives).
pub fn diagonal_cross_entropy(scores: &Tensor) -> Result<Tensor> {
    let n = scores.dim(0)?;
    cross_entropy(scores, &(0..n as u32).collect::<Vec<_>>())
}

/// Mean over rows of `-sum_j p_j log softmax(scores)_j`, with target
/// distributions `p` (`(n, m)`, rows summing to 1).
pub fn soft_cross_entropy(scores: &Tensor, p: &Tensor) -> Result<Tensor> {
    let log_q = candle_nn::ops::log_softmax(scores, D::Minus1)?;
    Ok((p * log_q)?.sum(D::Minus1)?.neg()?.mean(0)?)
}

/// `KL(softmax(teacher / t) || softmax(student / t)) * t^2`, summed over
/// columns and averaged over rows (torch's `batchmean`), as in distillation.
pub fn kl_divergence(student: &Tensor, teacher: &Tensor, temperature: f64) -> Result<Tensor> {
    let log_q = candle_nn::ops::log_softmax(&(student / temperature)?, D::Minus1)?;
    let log_p = candle_nn::ops::log_softmax(&(teacher / temperature)?, D::Minus1)?;
    let p = log_p.exp()?;
    let kl = (p * (log_p - log_q)?)?.sum(D::Minus1)?.mean(0)?;
    Ok((kl * (temperature * temperature))?)
}

/// `log(1 + e^x)` without overflow.
pub fn softplus(x: &Tensor) -> Result<Tensor> {
    Ok((x.relu()? + (x.abs()?.neg()?.exp()? + 1.0)?.log()?)?)
}

/// `1 / (1 + e^-x)`, through differentiable operations.
pub fn sigmoid(x: &Tensor) -> Result<Tensor> {
    Ok((x.neg()?.exp()? + 1.0)?.recip()?)
}

/// RankNet: for every pair of candidates of a row where `labels` says i beats
/// j, `log(1 + e^-(s_i - s_j))`; averaged over all such pairs.
pub fn pairwise_logistic(scores: &Tensor, labels: &Tensor) -> Result<Tensor> {
    let (n, k) = scores.dims2()?;
    let diff = scores
        .reshape((n, k, 1))?
        .broadcast_sub(&scores.reshape((n, 1, k))?)?;
    let better = labels
        .reshape((n, k, 1))?
        .broadcast_gt(&labels.reshape((n, 1, k))?)?
        .to_dtype(scores.dtype())?;
    let pairs = better.sum_all()?.to_scalar::<f32>()?.max(1.0) as f64;
    Ok(((softplus(&diff.neg()?)? * better)?.sum_all()? / pairs)?)
}

/// Mean squared error.
pub fn mse(a: &Tensor, b: &Tensor) -> Result<Tensor> {
    Ok((a - b)?.sqr()?.mean_all()?)
}

#[cfg(test)]
mod tests {
    use candle_core::Device;

    use super::*;
    use crate::loss::testing::{assert_gradient, scalar};

    fn m(rows: &[&[f32]]) -> Tensor {
        let k = rows[0].len();
        let flat: Vec<f32> = rows.iter().flat_map(|r| r.iter().copied()).collect();
        Tensor::from_vec(flat, (rows.len(), k), &Device::Cpu).unwrap()
    }

    #[test]
    fn values_by_hand() {
        let s = m(&[&[2.0, 0.0, 1.0], &[0.5, 0.5, -1.0]]);
        let lse = |r: [f64; 3]| r.iter().map(|x| x.exp()).sum::<f64>().ln();
        let want = ((lse([2.0, 0.0, 1.0]) - 1.0) + (lse([0.5, 0.5, -1.0]) - 0.5)) / 2.0;
        assert!((scalar(&cross_entropy(&s, &[2, 0]).unwrap()) - want).abs() < 1e-6);

        // Uniform targets over the first two columns of row 0 only.
        let p = m(&[&[0.5, 0.5, 0.0], &[0.0, 0.0, 1.0]]);
        let lq0 = |j: usize| [2.0, 0.0, 1.0][j] - lse([2.0, 0.0, 1.0]);
        let lq1 = |j: usize| [0.5, 0.5, -1.0][j] - lse([0.5, 0.5, -1.0]);
        let want = (-(0.5 * lq0(0) + 0.5 * lq0(1)) - lq1(2)) / 2.0;
        assert!((scalar(&soft_cross_entropy(&s, &p).unwrap()) - want).abs() < 1e-6);

        // KL of a distribution with itself is 0; with t = 2 it is scaled by 4.
        assert!(scalar(&kl_divergence(&s, &s, 1.0).unwrap()).abs() < 1e-6);
        let t = m(&[&[0.0, 0.0, 0.0], &[1.0, 0.0, 0.0]]);
        let kl_row = |st: [f64; 3], te: [f64; 3], temp: f64| {
            let ls = |x: [f64; 3]| {
                let z = x.map(|v| v / temp);
                let l = lse(z);
                z.map(|v| v - l)
            };
            let (q, p) = (ls(st), ls(te));
            (0..3).map(|j| p[j].exp() * (p[j] - q[j])).sum::<f64>()
        };
        let want = (kl_row([2.0, 0.0, 1.0], [0.0; 3], 2.0)
            + kl_row([0.5, 0.5, -1.0], [1.0, 0.0, 0.0], 2.0))
            / 2.0
            * 4.0;
        assert!((scalar(&kl_divergence(&s, &t, 2.0).unwrap()) - want).abs() < 1e-6);

        // RankNet with labels [1, 0, 0] and [0, 0, 1]: pairs (0,1), (0,2) and (2,0), (2,1).
        let labels = m(&[&[1.0, 0.0, 0.0], &[0.0, 0.0, 1.0]]);
        let sp = |x: f64| (1.0 + (-x).exp()).ln();
        let want = (sp(2.0) + sp(1.0) + sp(-1.5) + sp(-1.5)) / 4.0;
        assert!((scalar(&pairwise_logistic(&s, &labels).unwrap()) - want).abs() < 1e-6);

        assert!(
            (scalar(&softplus(&Tensor::new(100f32, &Device::Cpu).unwrap()).unwrap()) - 100.0).abs()
                < 1e-4
        );
        assert!(
            (scalar(&sigmoid(&Tensor::new(0f32, &Device::Cpu).unwrap()).unwrap()) - 0.5).abs()
                < 1e-7
        );
        assert!(
            (scalar(&mse(&s, &labels).unwrap()) - (1.0 + 0.0 + 1.0 + 0.25 + 0.25 + 4.0) / 6.0)
                .abs()
                < 1e-6
        );
    }

    #[test]
    fn gradients_match_finite_differences() {
        let x = [2.0f32, 0.0, 1.0, 0.5, 0.4, -1.0];
        let labels = m(&[&[1.0, 0.0, 2.0], &[0.0, 0.0, 1.0]]);
        let teacher = m(&[&[0.3, -0.2, 1.0], &[1.0, 0.0, 0.5]]);
        let p = candle_nn::ops::softmax(&teacher, D::Minus1).unwrap();
        assert_gradient(&x, (2, 3), |s| cross_entropy(s, &[2, 0]));
        assert_gradient(&x, (2, 3), |s| soft_cross_entropy(s, &p));
        assert_gradient(&x, (2, 3), |s| kl_divergence(s, &teacher, 2.0));
        assert_gradient(&x, (2, 3), |s| pairwise_logistic(s, &labels));
        assert_gradient(&x, (2, 3), |s| mse(&sigmoid(s)?, &labels));
    }
}
