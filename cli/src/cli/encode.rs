//! `rankbook encode`: texts to vectors.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use rankbook::data::read_texts;
use rankbook::model::{EncodeOptions, SentenceEncoder};
use rankbook::vectors::write_vectors;

use crate::cli::encoding::EncodingArgs;
use crate::cli::progress::Bar;
use crate::cli::style::log;

#[derive(Args)]
pub struct EncodeArgs {
    /// Model folder or hub id (org/name[@revision]).
    #[arg(long)]
    model: String,
    /// JSONL with `id`/`_id` and `text` (BEIR corpus lines: title + text).
    #[arg(long)]
    input: PathBuf,
    /// Output file: .arrow, .jsonl or .npy.
    #[arg(long)]
    output: PathBuf,
    /// Prefix added to every text, e.g. "query: ".
    #[arg(long)]
    prompt: Option<String>,
    #[command(flatten)]
    encoding: EncodingArgs,
}

pub fn run(a: EncodeArgs) -> anyhow::Result<()> {
    // Check the output format before spending time on encoding.
    rankbook::vectors::VectorFormat::from_path(&a.output)?;
    let records = read_texts(&a.input)?;
    let model = SentenceEncoder::load(&a.model, &a.encoding.model_options())?;
    let cache = a.encoding.cache();
    let bar = Bar::new(a.encoding.quiet);
    let texts: Vec<&str> = records.iter().map(|r| r.text.as_str()).collect();
    let (vectors, stats) = model.encode(
        &texts,
        &EncodeOptions {
            batch_size: a.encoding.batch_size,
            prompt: a.prompt.as_deref(),
            progress: &bar,
            cache: cache.as_ref(),
            ..Default::default()
        },
    )?;
    let ids: Vec<String> = records.into_iter().map(|r| r.id).collect();
    write_vectors(&a.output, &ids, &vectors)
        .with_context(|| format!("writing {}", a.output.display()))?;
    let cached = if stats.cached > 0 {
        format!(" ({} from the cache)", stats.cached)
    } else {
        String::new()
    };
    crate::cli::encoding::record_encoded(&stats);
    log(format_args!(
        "encoded {} texts ({} tokens) in {:.2} s: {:.1} texts/s{cached} -> {}",
        stats.texts,
        stats.tokens,
        stats.seconds,
        stats.texts as f64 / stats.seconds.max(1e-9),
        a.output.display()
    ));
    Ok(())
}
