//! Paired significance tests on per-query values, as scipy computes them
//! (`ttest_rel`, `wilcoxon` with its defaults), a seeded permutation test,
//! bootstrap confidence intervals, and multiple-comparison corrections.

use crate::error::{Error, Result};
use crate::random::SplitMix;

/// A paired test between two systems' per-query values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Test {
    /// Paired Student t-test (scipy `ttest_rel`).
    T,
    /// Wilcoxon signed-rank test (scipy `wilcoxon` defaults).
    Wilcoxon,
    /// Randomisation test on the mean difference (random sign flips, seeded).
    Permutation,
}

impl Test {
    /// Parses `t`, `wilcoxon`, `permutation`.
    pub fn parse(s: &str) -> Result<Self> {
        match s {
            "t" | "ttest" | "t-test" => Ok(Self::T),
            "wilcoxon" => Ok(Self::Wilcoxon),
            "permutation" | "randomization" => Ok(Self::Permutation),
            _ => Err(Error::InvalidArgument(format!(
                "unknown test \"{s}\" (known: t, wilcoxon, permutation)"
            ))),
        }
    }

    /// Its name, as [`Test::parse`] reads it.
    pub fn name(self) -> &'static str {
        match self {
            Self::T => "t",
            Self::Wilcoxon => "wilcoxon",
            Self::Permutation => "permutation",
        }
    }
}

/// How p-values of several comparisons are adjusted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Correction {
    /// No adjustment.
    None,
    /// Multiply by the number of comparisons.
    Bonferroni,
    /// Holm's step-down procedure.
    Holm,
}

impl Correction {
    /// Parses `none`, `bonferroni`, `holm`.
    pub fn parse(s: &str) -> Result<Self> {
        match s {
            "none" => Ok(Self::None),
            "bonferroni" => Ok(Self::Bonferroni),
            "holm" => Ok(Self::Holm),
            _ => Err(Error::InvalidArgument(format!(
                "unknown correction \"{s}\" (known: holm, bonferroni, none)"
            ))),
        }
    }

    /// Its name, as [`Correction::parse`] reads it.
    pub fn name(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Bonferroni => "bonferroni",
            Self::Holm => "holm",
        }
    }

    /// Adjusted p-values, in the input order.
    pub fn adjust(self, p: &[f64]) -> Vec<f64> {
        let m = p.len() as f64;
        match self {
            Self::None => p.to_vec(),
            Self::Bonferroni => p.iter().map(|x| (x * m).min(1.0)).collect(),
            Self::Holm => {
                let mut order: Vec<usize> = (0..p.len()).collect();
                order.sort_by(|&a, &b| p[a].total_cmp(&p[b]));
                let mut out = vec![0.0; p.len()];
                let mut running: f64 = 0.0;
                for (rank, &i) in order.iter().enumerate() {
                    let adj = ((m - rank as f64) * p[i]).min(1.0);
                    running = running.max(adj);
                    out[i] = running;
                }
                out
            }
        }
    }
}

/// Two-sided p-value of the paired t-test of `a` against `b` (NaN when undefined).
pub fn paired_t(a: &[f64], b: &[f64]) -> f64 {
    let d: Vec<f64> = a.iter().zip(b).map(|(x, y)| x - y).collect();
    let n = d.len() as f64;
    if d.len() < 2 {
        return f64::NAN;
    }
    let mean = d.iter().sum::<f64>() / n;
    let var = d.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0);
    let t = mean / (var / n).sqrt();
    if !t.is_finite() {
        return f64::NAN;
    }
    student_t_two_sided(t, n - 1.0)
}

/// Two-sided p-value of Student's t with `df` degrees of freedom.
pub fn student_t_two_sided(t: f64, df: f64) -> f64 {
    incomplete_beta(df / 2.0, 0.5, df / (df + t * t)).min(1.0)
}

/// Ranks of `|d|` (1-based, ties averaged) and the sizes of tie groups.
fn abs_ranks(d: &[f64]) -> (Vec<f64>, Vec<usize>) {
    let mut order: Vec<usize> = (0..d.len()).collect();
    order.sort_by(|&a, &b| d[a].abs().total_cmp(&d[b].abs()));
    let mut ranks = vec![0.0; d.len()];
    let mut ties = Vec::new();
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j + 1 < order.len() && d[order[j + 1]].abs() == d[order[i]].abs() {
            j += 1;
        }
        let avg = (i + j + 2) as f64 / 2.0;
        for &k in &order[i..=j] {
            ranks[k] = avg;
        }
        ties.push(j - i + 1);
        i = j + 1;
    }
    (ranks, ties)
}

fn signed_rank_sum(d: &[f64], ranks: &[f64]) -> f64 {
    d.iter()
        .zip(ranks)
        .filter(|(x, _)| **x > 0.0)
        .map(|(_, r)| r)
        .sum()
}

/// Two-sided p-value of the Wilcoxon signed-rank test, as scipy's `wilcoxon(a, b)`
/// decides it: zeros dropped; exact null distribution for n <= 50 without ties
/// or zeros; all sign flips for n <= 13 otherwise; else the normal approximation
/// with tie correction and no continuity correction.
pub fn wilcoxon(a: &[f64], b: &[f64]) -> f64 {
    let all: Vec<f64> = a.iter().zip(b).map(|(x, y)| x - y).collect();
    let n_all = all.len();
    let d: Vec<f64> = all.iter().copied().filter(|x| *x != 0.0).collect();
    let n = d.len();
    if n == 0 {
        return f64::NAN;
    }
    let (ranks, ties) = abs_ranks(&d);
    let r_plus = signed_rank_sum(&d, &ranks);
    let has_ties = ties.iter().any(|&t| t > 1);
    let has_zeros = n < n_all;
    if n_all <= 50 && !has_ties && !has_zeros {
        // Exact: count sign assignments per rank sum (ranks are 1..=n).
        let max = n * (n + 1) / 2;
        let mut counts = vec![0f64; max + 1];
        counts[0] = 1.0;
        for k in 1..=n {
            for s in (k..=max).rev() {
                counts[s] += counts[s - k];
            }
        }
        let total: f64 = counts.iter().sum();
        let r = r_plus.round() as usize;
        let cdf: f64 = counts[..=r].iter().sum::<f64>() / total;
        let sf: f64 = counts[r..].iter().sum::<f64>() / total;
        return (2.0 * cdf.min(sf)).min(1.0);
    }
    if n_all <= 13 {
        // All 2^n sign flips, as scipy's permutation test enumerates them.
        let flips = 1usize << n;
        let tol = 100.0 * f64::EPSILON * r_plus.abs();
        let (mut le, mut ge) = (0usize, 0usize);
        for mask in 0..flips {
            let s: f64 = ranks
                .iter()
                .enumerate()
                .filter(|(i, _)| (mask >> i) & 1 == 1)
                .map(|(_, r)| r)
                .sum();
            if s <= r_plus + tol {
                le += 1;
            }
            if s >= r_plus - tol {
                ge += 1;
            }
        }
        let p = 2.0 * (le.min(ge) as f64 / flips as f64);
        return p.min(1.0);
    }
    let nf = n as f64;
    let mean = nf * (nf + 1.0) * 0.25;
    let tie_term: f64 = ties.iter().map(|&t| (t * t * t - t) as f64).sum();
    let se = ((nf * (nf + 1.0) * (2.0 * nf + 1.0) - tie_term / 2.0) / 24.0).sqrt();
    let z = (r_plus - mean) / se;
    (2.0 * normal_sf(z.abs())).min(1.0)
}

/// Two-sided randomisation test on the mean of `a - b`: `samples` random sign
/// flips (seeded); p = share of flips whose |mean| reaches the observed one.
pub fn permutation(a: &[f64], b: &[f64], samples: usize, seed: u64) -> f64 {
    let d: Vec<f64> = a.iter().zip(b).map(|(x, y)| x - y).collect();
    if d.is_empty() || samples == 0 {
        return f64::NAN;
    }
    let observed = d.iter().sum::<f64>().abs();
    let tol = 1e-12 * observed.max(1.0);
    let mut rng = SplitMix::new(seed);
    let mut hits = 0usize;
    for _ in 0..samples {
        let mut s = 0.0;
        let mut bits = 0u64;
        for (i, x) in d.iter().enumerate() {
            if i % 64 == 0 {
                bits = rng.next_u64();
            }
            s += if bits & 1 == 1 { *x } else { -*x };
            bits >>= 1;
        }
        if s.abs() >= observed - tol {
            hits += 1;
        }
    }
    hits as f64 / samples as f64
}

/// Percentile bootstrap 95% interval of the mean of `values` (seeded).
pub fn bootstrap_ci(values: &[f64], samples: usize, seed: u64) -> (f64, f64) {
    if values.is_empty() || samples == 0 {
        return (f64::NAN, f64::NAN);
    }
    let n = values.len();
    let mut rng = SplitMix::new(seed);
    let mut means: Vec<f64> = (0..samples)
        .map(|_| (0..n).map(|_| values[rng.below(n)]).sum::<f64>() / n as f64)
        .collect();
    means.sort_by(f64::total_cmp);
    let at = |q: f64| means[((q * (samples - 1) as f64).round() as usize).min(samples - 1)];
    (at(0.025), at(0.975))
}

/// Upper tail of the standard normal.
pub fn normal_sf(z: f64) -> f64 {
    if z < 0.0 {
        return 1.0 - normal_sf(-z);
    }
    // erfc(x) = Q(1/2, x^2), the regularised upper incomplete gamma.
    0.5 * upper_gamma_q(0.5, z * z / 2.0)
}

fn ln_gamma(x: f64) -> f64 {
    // Lanczos approximation (g = 7, n = 9), relative error ~1e-15.
    const C: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    if x < 0.5 {
        return (std::f64::consts::PI / (std::f64::consts::PI * x).sin()).ln() - ln_gamma(1.0 - x);
    }
    let x = x - 1.0;
    let mut a = C[0];
    let t = x + 7.5;
    for (i, c) in C.iter().enumerate().skip(1) {
        a += c / (x + i as f64);
    }
    0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + a.ln()
}

/// Regularised upper incomplete gamma Q(a, x).
fn upper_gamma_q(a: f64, x: f64) -> f64 {
    if x <= 0.0 {
        return 1.0;
    }
    let lead = (-x + a * x.ln() - ln_gamma(a)).exp();
    if x < a + 1.0 {
        // Series for P, then Q = 1 - P.
        let (mut sum, mut term, mut ap) = (1.0 / a, 1.0 / a, a);
        for _ in 0..1000 {
            ap += 1.0;
            term *= x / ap;
            sum += term;
            if term.abs() < sum.abs() * 1e-17 {
                break;
            }
        }
        1.0 - sum * lead
    } else {
        // Continued fraction (modified Lentz).
        let tiny = 1e-300;
        let mut b = x + 1.0 - a;
        let mut c = 1.0 / tiny;
        let mut d = 1.0 / b;
        let mut h = d;
        for i in 1..1000 {
            let an = -(i as f64) * (i as f64 - a);
            b += 2.0;
            d = an * d + b;
            d = away_from_zero(d);
            c = b + an / c;
            c = away_from_zero(c);
            d = 1.0 / d;
            let delta = d * c;
            h *= delta;
            if (delta - 1.0).abs() < 1e-16 {
                break;
            }
        }
        lead * h
    }
}

/// Lentz's guard: a denominator that reached zero is replaced by a tiny number.
fn away_from_zero(x: f64) -> f64 {
    if x.abs() < 1e-300 { 1e-300 } else { x }
}

/// Regularised incomplete beta I_x(a, b).
fn incomplete_beta(a: f64, b: f64, x: f64) -> f64 {
    if x <= 0.0 {
        return 0.0;
    }
    if x >= 1.0 {
        return 1.0;
    }
    let lead =
        (ln_gamma(a + b) - ln_gamma(a) - ln_gamma(b) + a * x.ln() + b * (1.0 - x).ln()).exp();
    if x < (a + 1.0) / (a + b + 2.0) {
        lead * beta_fraction(a, b, x) / a
    } else {
        1.0 - lead * beta_fraction(b, a, 1.0 - x) / b
    }
}

fn beta_fraction(a: f64, b: f64, x: f64) -> f64 {
    let (qab, qap, qam) = (a + b, a + 1.0, a - 1.0);
    let mut c = 1.0;
    let mut d = 1.0 - qab * x / qap;
    d = away_from_zero(d);
    d = 1.0 / d;
    let mut h = d;
    for m in 1..10_000 {
        let m = m as f64;
        let m2 = 2.0 * m;
        let aa = m * (b - m) * x / ((qam + m2) * (a + m2));
        d = 1.0 + aa * d;
        d = away_from_zero(d);
        c = 1.0 + aa / c;
        c = away_from_zero(c);
        d = 1.0 / d;
        h *= d * c;
        let aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2));
        d = 1.0 + aa * d;
        d = away_from_zero(d);
        c = 1.0 + aa / c;
        c = away_from_zero(c);
        d = 1.0 / d;
        let delta = d * c;
        h *= delta;
        if (delta - 1.0).abs() < 1e-16 {
            break;
        }
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_back() {
        for t in [Test::T, Test::Wilcoxon, Test::Permutation] {
            assert_eq!(Test::parse(t.name()).unwrap(), t);
        }
        for c in [Correction::None, Correction::Bonferroni, Correction::Holm] {
            assert_eq!(Correction::parse(c.name()).unwrap(), c);
        }
    }

    #[test]
    fn special_functions_match_known_values() {
        assert!((normal_sf(1.959_963_984_540_054) - 0.025).abs() < 1e-12);
        assert!((normal_sf(0.0) - 0.5).abs() < 1e-15);
        // t = 2.228 with 10 df is the two-sided 5% point.
        assert!((student_t_two_sided(2.228_138_851_986_273_5, 10.0) - 0.05).abs() < 1e-10);
    }

    #[test]
    fn holm_and_bonferroni() {
        let p = [0.01, 0.04, 0.03];
        assert_eq!(Correction::Bonferroni.adjust(&p), vec![0.03, 0.12, 0.09]);
        let h = Correction::Holm.adjust(&p);
        assert!(
            (h[0] - 0.03).abs() < 1e-15
                && (h[2] - 0.06).abs() < 1e-15
                && (h[1] - 0.06).abs() < 1e-15
        );
    }

    #[test]
    fn exact_wilcoxon_small_case() {
        // d = 1..=5 all positive: r_plus = 15, P(T >= 15) = 1/32, p = 2/32.
        let a = [1.0, 2.0, 3.0, 4.0, 5.0];
        let b = [0.0; 5];
        assert!((wilcoxon(&a, &b) - 0.0625).abs() < 1e-15);
    }

    #[test]
    fn resampling_is_seeded() {
        let a: Vec<f64> = (0..40).map(|i| (i % 7) as f64 / 7.0).collect();
        let b: Vec<f64> = (0..40).map(|i| (i % 5) as f64 / 5.0).collect();
        assert_eq!(permutation(&a, &b, 2000, 7), permutation(&a, &b, 2000, 7));
        let ci = bootstrap_ci(&a, 1000, 1);
        assert_eq!(ci, bootstrap_ci(&a, 1000, 1));
        let mean = a.iter().sum::<f64>() / 40.0;
        assert!(ci.0 < mean && mean < ci.1);
    }
}
