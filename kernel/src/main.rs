//! `rankbook-kernel`: run the kernel (`--connection-file F`, as Jupyter starts
//! it) or install its kernelspec.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use rankbook_kernel::kernelspec;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "rankbook-kernel",
    version,
    about = "Jupyter kernel for rankbook (Rhai cells)"
)]
struct Cli {
    /// The connection file Jupyter writes.
    #[arg(long)]
    connection_file: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Install the kernelspec ("Rankbook (Rhai)") for Jupyter.
    Install {
        /// For this user (the default).
        #[arg(long, conflicts_with_all = ["prefix", "sys_prefix"])]
        user: bool,
        /// Under PREFIX/share/jupyter.
        #[arg(long)]
        prefix: Option<PathBuf>,
        /// Into the active virtual environment.
        #[arg(long)]
        sys_prefix: bool,
    },
}

fn main() {
    if let Err(e) = run(Cli::parse()) {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match (cli.command, cli.connection_file) {
        (
            Some(Command::Install {
                prefix, sys_prefix, ..
            }),
            _,
        ) => {
            let dir = kernelspec::kernel_dir(prefix.as_deref(), sys_prefix)?;
            let exe = std::env::current_exe()?;
            kernelspec::install(&dir, &exe)?;
            eprintln!(
                "installed kernelspec \"{}\" in {}",
                kernelspec::KERNEL_NAME,
                dir.display()
            );
            eprintln!("hint: start JupyterLab with `jupyter lab` and pick \"Rankbook (Rhai)\"");
            Ok(())
        }
        (None, Some(path)) => {
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("reading the connection file {}", path.display()))?;
            let info = serde_json::from_str(&text)
                .with_context(|| format!("{}: not a Jupyter connection file", path.display()))?;
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()?;
            rt.block_on(rankbook_kernel::server::run(info))
        }
        (None, None) => anyhow::bail!("give --connection-file FILE (Jupyter does), or `install`"),
    }
}
