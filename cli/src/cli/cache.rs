//! `rankbook cache info|clear`: the embedding cache's size, or empty it.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use rankbook::cache::EmbeddingCache;

#[derive(Args)]
pub struct CacheArgs {
    #[command(subcommand)]
    action: CacheAction,
    /// Cache folder (default: $RANKBOOK_CACHE_DIR, else ~/.cache/rankbook).
    #[arg(long, global = true)]
    cache_dir: Option<PathBuf>,
}

#[derive(Subcommand)]
enum CacheAction {
    /// Where the cache is, its model settings, files and size.
    Info,
    /// Delete every cached vector.
    Clear,
}

pub fn run(a: CacheArgs) -> anyhow::Result<()> {
    let cache = EmbeddingCache::new(a.cache_dir.unwrap_or_else(EmbeddingCache::default_root));
    let (verb, info) = match a.action {
        CacheAction::Info => ("holds", cache.info()?),
        CacheAction::Clear => ("cleared", cache.clear()?),
    };
    println!(
        "{}: {verb} {} files for {} model settings, {:.1} MiB",
        cache.root().display(),
        info.files,
        info.keys,
        info.bytes as f64 / (1 << 20) as f64
    );
    Ok(())
}
