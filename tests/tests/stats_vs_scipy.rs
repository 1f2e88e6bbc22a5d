//! Paired t-test and Wilcoxon p-values against scipy on the same per-query vectors.

use std::io::Write;
use std::process::{Command, Stdio};

use rankbook::eval::stats::{paired_t, wilcoxon};
use rankbook::random::SplitMix;
use rankbook_tests::{python, repo_root, text};

/// Vectors like per-query IR scores: values on a grid (ties, zero differences).
fn cases() -> Vec<(Vec<f64>, Vec<f64>)> {
    let mut rng = SplitMix::new(11);
    let mut out = Vec::new();
    for &n in &[3usize, 5, 8, 10, 13, 14, 20, 30, 50, 51, 80, 300] {
        for grid in [4usize, 10, 1000] {
            let a: Vec<f64> = (0..n)
                .map(|_| rng.below(grid + 1) as f64 / grid as f64)
                .collect();
            let b: Vec<f64> = a
                .iter()
                .map(|x| {
                    let shift = rng.below(5) as f64 - 2.0;
                    (x + shift / grid as f64).clamp(0.0, 1.0)
                })
                .collect();
            out.push((a, b));
        }
        // Continuous values, no ties: the exact Wilcoxon branch for n <= 50.
        let a: Vec<f64> = (0..n)
            .map(|_| (rng.next_u64() % 1_000_000) as f64 / 1e6)
            .collect();
        let b: Vec<f64> = (0..n)
            .map(|_| (rng.next_u64() % 1_000_000) as f64 / 1e6)
            .collect();
        out.push((a, b));
    }
    out
}

#[test]
fn t_and_wilcoxon_p_values_equal_scipy() {
    let cases = cases();
    let mut child = Command::new(python())
        .arg(repo_root().join("tests/python/scipy_pvalues.py"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let input = serde_json::to_vec(&cases).unwrap();
    child.stdin.take().unwrap().write_all(&input).unwrap();
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success(), "{}", text(&o).1);
    let want: Vec<[Option<f64>; 2]> = serde_json::from_slice(&o.stdout).unwrap();
    let mut compared = 0;
    for (i, ((a, b), [t, w])) in cases.iter().zip(&want).enumerate() {
        for (name, got, want) in [("t", paired_t(a, b), t), ("wilcoxon", wilcoxon(a, b), w)] {
            match want {
                Some(p) => {
                    assert!(
                        (got - p).abs() <= 1e-6,
                        "case {i} (n={}) {name}: {got} != scipy {p}",
                        a.len()
                    );
                    compared += 1;
                }
                None => assert!(got.is_nan(), "case {i} {name}: {got}, scipy NaN"),
            }
        }
    }
    assert!(compared > 80, "{compared}");
}
