//! `rankbook merge`: puts the parts written with `--shard i/N` back together.

use std::path::PathBuf;

use clap::Args;
use rankbook::shard::merge_parts;

use crate::cli::style::log;

#[derive(Args)]
pub struct MergeArgs {
    /// What to write: a vector file (.arrow, .jsonl or .npy) for `encode`
    /// parts, an index folder for `index` parts, a run for `search` parts,
    /// JSONL for `mine` parts, JSON (as `eval --json` prints) for `eval` parts.
    #[arg(long)]
    output: PathBuf,
    /// Every part of one output, in any order (files with their `.part.json`,
    /// or index folders); a set missing a shard, or holding one twice, is refused.
    #[arg(required = true)]
    parts: Vec<PathBuf>,
}

pub fn run(a: MergeArgs) -> anyhow::Result<()> {
    let merged = merge_parts(&a.parts, &a.output)?;
    log(format_args!(
        "merged {} `{}` parts ({} rows) -> {}",
        merged.parts,
        merged.kind.command(),
        merged.rows,
        a.output.display()
    ));
    Ok(())
}
