//! `rankbook merge`: puts the parts written with `--shard i/N` back together.

use std::path::PathBuf;

use clap::Args;
use rankbook::shard::merge_vector_parts;

use crate::cli::style::log;

#[derive(Args)]
pub struct MergeArgs {
    /// The merged file to write (.arrow, .jsonl or .npy).
    #[arg(long)]
    output: PathBuf,
    /// Every part (`encode --shard i/N` outputs, each with its `.part.json`),
    /// in any order; a set missing a shard, or holding one twice, is refused.
    #[arg(required = true)]
    parts: Vec<PathBuf>,
}

pub fn run(a: MergeArgs) -> anyhow::Result<()> {
    let rows = merge_vector_parts(&a.parts, &a.output)?;
    log(format_args!(
        "merged {} parts ({rows} rows) -> {}",
        a.parts.len(),
        a.output.display()
    ));
    Ok(())
}
