//! Options shared by the commands that encode texts: batching, truncation,
//! device, threads, the embedding cache, and the progress bar.

use std::path::PathBuf;

use clap::Args;
use rankbook::cache::EmbeddingCache;
use rankbook::compute::Precision;
use rankbook::model::device::set_threads;
use rankbook::model::{EncodeStats, ModelOptions};

use crate::cli::style::log;

#[derive(Args, Clone)]
pub struct EncodingArgs {
    /// Texts per forward pass.
    #[arg(long, default_value_t = rankbook::model::EncodeOptions::default().batch_size)]
    pub batch_size: usize,
    /// Truncation length in tokens (default: the model's max_seq_length).
    #[arg(long)]
    pub max_length: Option<usize>,
    /// cpu, or cuda[:N] with a `cuda` build.
    #[arg(long, default_value_t = ModelOptions::default().device)]
    pub device: String,
    /// Number format of the linear layers: f32, bf16 (AVX512-BF16) or int8
    /// (AVX512-VNNI) [default: f32, or the index's own].
    #[arg(long)]
    pub precision: Option<Precision>,
    /// CPU threads (default: all cores).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Embedding cache folder (default: $RANKBOOK_CACHE_DIR, else ~/.cache/rankbook).
    #[arg(long)]
    pub cache_dir: Option<PathBuf>,
    /// Neither read nor write the embedding cache.
    #[arg(long)]
    pub no_cache: bool,
    /// No progress bars.
    #[arg(long)]
    pub quiet: bool,
}

impl EncodingArgs {
    /// Applies `--threads` (the size of the global thread pool).
    pub fn apply_threads(&self) {
        if let Some(n) = self.threads {
            set_threads(n);
        }
    }

    /// Applies `--threads` and gives the model options.
    pub fn model_options(&self) -> ModelOptions {
        self.apply_threads();
        ModelOptions {
            device: self.device.clone(),
            max_length: self.max_length,
            precision: self.precision,
            ..Default::default()
        }
    }

    /// The cache to use, unless `--no-cache`.
    pub fn cache(&self) -> Option<EmbeddingCache> {
        (!self.no_cache).then(|| {
            EmbeddingCache::new(
                self.cache_dir
                    .clone()
                    .unwrap_or_else(EmbeddingCache::default_root),
            )
        })
    }
}

/// Records an encoding run for `--stats-json`.
pub fn record_encoded(s: &EncodeStats) {
    crate::cli::stats::count("texts", s.texts);
    crate::cli::stats::count("tokens", s.tokens);
    crate::cli::stats::count("cached", s.cached);
    crate::cli::stats::seconds("encode", s.seconds);
}

/// One summary line for an encoding run.
pub fn log_encoded(what: &str, s: &EncodeStats) {
    record_encoded(s);
    let encoded = s.texts - s.cached;
    let mut line = format!(
        "{what}: {} texts, {} from the cache, {encoded} encoded ({} tokens) in {:.2} s",
        s.texts, s.cached, s.tokens, s.seconds
    );
    if s.damaged_cache_files > 0 {
        line.push_str(&format!(
            " ({} damaged cache files dropped and re-encoded)",
            s.damaged_cache_files
        ));
    }
    log(line);
}
