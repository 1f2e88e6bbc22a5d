//! `rankbook cache info|clear|import`: the embedding cache's size, empty it,
//! or add another cache's entries (the caches of shards made elsewhere).

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
    /// Add the entries of other caches (e.g. each shard's, copied from its
    /// host); entries are content-addressed, so the union is one cache.
    Import {
        /// Cache folders to import from.
        #[arg(required = true)]
        from: Vec<PathBuf>,
    },
}

pub fn run(a: CacheArgs) -> anyhow::Result<()> {
    let cache = EmbeddingCache::new(a.cache_dir.unwrap_or_else(EmbeddingCache::default_root));
    let (verb, info) = match a.action {
        CacheAction::Info => ("holds", cache.info()?),
        CacheAction::Clear => ("cleared", cache.clear()?),
        CacheAction::Import { from } => {
            for dir in &from {
                let s = cache.import(dir)?;
                crate::cli::style::log(format_args!(
                    "{}: {} entries added, {} already here, {} damaged and skipped",
                    dir.display(),
                    s.added,
                    s.present,
                    s.damaged
                ));
            }
            ("holds", cache.info()?)
        }
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
