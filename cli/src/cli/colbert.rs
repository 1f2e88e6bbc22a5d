//! `rankbook colbert`: turn an encoder into a ColBERT model, as PyLate does.

use std::path::PathBuf;

use clap::Args;
use rankbook::model::colbert::{BuildOptions, ColbertConfig, build_colbert};

use crate::cli::style::log;

#[derive(Args)]
pub struct ColbertArgs {
    /// The encoder: a model folder or hub id of any supported family.
    #[arg(long)]
    model: String,
    /// The ColBERT folder to write (PyLate loads it).
    #[arg(long)]
    output: PathBuf,
    /// Width of the token vectors.
    #[arg(long, default_value_t = BuildOptions::default().dim)]
    dim: usize,
    /// Seeds the projection.
    #[arg(long, default_value_t = BuildOptions::default().seed)]
    seed: u64,
    /// Query length in tokens (queries are padded to it with [MASK]).
    #[arg(long, default_value_t = ColbertConfig::default().query_length)]
    query_length: usize,
    /// Longest document in tokens.
    #[arg(long, default_value_t = ColbertConfig::default().document_length)]
    document_length: usize,
}

pub fn run(a: ColbertArgs) -> anyhow::Result<()> {
    let opts = BuildOptions {
        dim: a.dim,
        seed: a.seed,
        config: ColbertConfig {
            query_length: a.query_length,
            document_length: a.document_length,
            ..Default::default()
        },
        init: None,
    };
    build_colbert(&a.model, &a.output, &opts)?;
    log(format_args!(
        "built a ColBERT ({} dims, seed {}) from {}",
        a.dim, a.seed, a.model
    ));
    println!("{}", a.output.display());
    Ok(())
}
