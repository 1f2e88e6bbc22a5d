//! `rankbook-kernel install`: the kernelspec Jupyter uses to start the kernel.

use std::path::{Path, PathBuf};

use anyhow::Context;

/// The kernel's name in Jupyter.
pub const KERNEL_NAME: &str = "rankbook";

/// `kernel.json` for the binary at `exe`.
pub fn kernel_json(exe: &Path) -> serde_json::Value {
    serde_json::json!({
        "argv": [exe.to_string_lossy(), "--connection-file", "{connection_file}"],
        "display_name": "Rankbook (Rhai)",
        "language": "rhai",
        "interrupt_mode": "message",
        "metadata": { "debugger": false }
    })
}

/// Where `install` writes: `--prefix P` → P/share/jupyter/kernels/rankbook,
/// `--sys-prefix` → the active virtual environment's, else the user's data dir.
pub fn kernel_dir(prefix: Option<&Path>, sys_prefix: bool) -> anyhow::Result<PathBuf> {
    let base = match (prefix, sys_prefix) {
        (Some(p), _) => p.join("share/jupyter"),
        (None, true) => PathBuf::from(
            std::env::var_os("VIRTUAL_ENV")
                .or_else(|| std::env::var_os("CONDA_PREFIX"))
                .context("--sys-prefix needs an active virtual environment (VIRTUAL_ENV)")?,
        )
        .join("share/jupyter"),
        (None, false) => match std::env::var_os("JUPYTER_DATA_DIR") {
            Some(d) => PathBuf::from(d),
            None => PathBuf::from(std::env::var_os("HOME").context("HOME is not set")?)
                .join(".local/share/jupyter"),
        },
    };
    Ok(base.join("kernels").join(KERNEL_NAME))
}

/// Writes the kernelspec (kernel.json and the logos) into `dir`.
pub fn install(dir: &Path, exe: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let json = serde_json::to_string_pretty(&kernel_json(exe))?;
    std::fs::write(dir.join("kernel.json"), json)
        .with_context(|| format!("writing {}", dir.join("kernel.json").display()))?;
    for size in [32u32, 64] {
        let png = crate::logo::png(size)?;
        let path = dir.join(format!("logo-{size}x{size}.png"));
        std::fs::write(&path, png).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}
