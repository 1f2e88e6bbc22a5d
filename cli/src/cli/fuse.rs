//! `rankbook fuse`: combine runs (RRF, min-max or z-score CombSUM).

use std::path::PathBuf;

use clap::Args;
use rankbook::data::Run;
use rankbook::fusion::{FuseOptions, FusionMethod, fuse};

use crate::cli::style::log;

#[derive(Args)]
pub struct FuseArgs {
    /// Runs in TREC format (two or more).
    #[arg(long, required = true, num_args = 1)]
    run: Vec<PathBuf>,
    /// rrf, minmax or zscore.
    #[arg(long, default_value_t = FuseOptions::default().method)]
    method: String,
    /// RRF's k.
    #[arg(long, default_value_t = FuseOptions::default().k)]
    k: f64,
    /// Results kept per query.
    #[arg(long, default_value_t = FuseOptions::default().depth)]
    depth: usize,
    /// Output run file (written atomically).
    #[arg(long)]
    output: PathBuf,
    /// Run tag in the output.
    #[arg(long, default_value = "fused")]
    tag: String,
}

pub fn run(a: FuseArgs) -> anyhow::Result<()> {
    let method = FusionMethod::parse(&a.method, a.k)?;
    let runs = a
        .run
        .iter()
        .map(|p| Run::read(p))
        .collect::<Result<Vec<_>, _>>()?;
    let refs: Vec<&Run> = runs.iter().collect();
    let fused = fuse(&refs, method, a.depth)?;
    fused.write(&a.output, &a.tag)?;
    log(format_args!(
        "fused {} runs over {} queries -> {}",
        runs.len(),
        fused.len(),
        a.output.display()
    ));
    Ok(())
}
