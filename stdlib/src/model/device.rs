//! Choosing the compute device.

use candle_core::Device;

use crate::error::{Error, Result};

/// Opens `cpu` or `cuda[:N]`. CUDA needs the `cuda` cargo feature.
pub fn open_device(name: &str) -> Result<Device> {
    match name {
        "cpu" => Ok(Device::Cpu),
        n if n == "cuda" || n.starts_with("cuda:") => {
            let ordinal: usize = n
                .strip_prefix("cuda:")
                .map(|o| o.parse())
                .transpose()
                .map_err(|_| Error::InvalidArgument(format!("bad device \"{n}\" (use cuda:0)")))?
                .unwrap_or(0);
            if !cfg!(feature = "cuda") {
                return Err(Error::InvalidArgument(
                    "--device cuda needs a build with the `cuda` feature (cargo build --features cuda); this build is CPU-only".into(),
                ));
            }
            Ok(Device::new_cuda(ordinal)?)
        }
        other => Err(Error::InvalidArgument(format!(
            "unknown device \"{other}\" (known: cpu, cuda, cuda:N)"
        ))),
    }
}

/// Sets the number of CPU threads for tensor kernels and our own parallel loops.
/// Must run before the first parallel operation; later calls have no effect.
pub fn set_threads(n: usize) {
    // candle's gemm and rayon both read RAYON_NUM_THREADS.
    // SAFETY: called at start-up, before any other thread reads the environment.
    unsafe { std::env::set_var("RAYON_NUM_THREADS", n.to_string()) };
    let _ = rayon::ThreadPoolBuilder::new()
        .num_threads(n)
        .build_global();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cuda_without_feature_is_a_clear_error() {
        if cfg!(feature = "cuda") {
            return;
        }
        let e = open_device("cuda").unwrap_err().to_string();
        assert!(e.contains("`cuda` feature"), "{e}");
        assert!(open_device("tpu").is_err());
        assert!(matches!(open_device("cpu"), Ok(Device::Cpu)));
    }
}
