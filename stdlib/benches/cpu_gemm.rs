//! GOP/s of the inference path's matrix product in each precision, beside the
//! instruction's peak, on the shapes of
//! all-MiniLM-L6-v2 at batch 32 x 256 tokens (`cargo bench -p rankbook --bench cpu_gemm`).

use std::time::Instant;

use rankbook::compute::Precision;
use rankbook::compute::gemm::bench_linear;
use rankbook::compute::peak::peak_ops_per_second;

fn main() {
    let threads = std::env::var("RAYON_NUM_THREADS")
        .ok()
        .and_then(|t| t.parse().ok())
        .unwrap_or(2);
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build_global()
        .ok();
    for precision in Precision::ALL {
        if let Err(e) = precision.check_supported() {
            println!("{precision}: skipped ({e})");
            continue;
        }
        // The instruction's own rate on one core, times the threads: the roof.
        let peak = peak_ops_per_second(precision).unwrap_or(f64::NAN) * threads as f64;
        println!(
            "{precision} peak: {:.0} GOP/s ({threads} threads)",
            peak / 1e9
        );
        for (m, k, n) in [
            (8192, 384, 1536),
            (8192, 1536, 384),
            (8192, 384, 384),
            (8192, 384, 1152),
        ] {
            shape(precision, (m, k, n), threads, peak);
        }
    }
}

/// Times one shape and prints its rate.
fn shape(precision: Precision, (m, k, n): (usize, usize, usize), threads: usize, peak: f64) {
    {
        let run = bench_linear(m, k, n, precision);
        run();
        let reps = 5;
        let t = Instant::now();
        for _ in 0..reps {
            run();
        }
        let secs = t.elapsed().as_secs_f64() / reps as f64;
        let rate = 2.0 * (m * k * n) as f64 / secs;
        println!(
            "{precision} {m}x{k} by {k}x{n}: {:.0} GOP/s ({threads} threads), {:.0}% of peak",
            rate / 1e9,
            100.0 * rate / peak
        );
    }
}
