//! `rankbook encode`: texts to vectors.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use rankbook::data::read_texts;
use rankbook::model::device::set_threads;
use rankbook::model::{EncodeOptions, ModelOptions, SentenceEncoder};
use rankbook::vectors::write_vectors;

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
    /// Texts per forward pass.
    #[arg(long, default_value_t = 32)]
    batch_size: usize,
    /// Truncation length in tokens (default: the model's max_seq_length).
    #[arg(long)]
    max_length: Option<usize>,
    /// Prefix added to every text, e.g. "query: ".
    #[arg(long)]
    prompt: Option<String>,
    /// cpu, or cuda[:N] with a `cuda` build.
    #[arg(long, default_value = "cpu")]
    device: String,
    /// CPU threads (default: all cores).
    #[arg(long)]
    threads: Option<usize>,
    /// No progress bar.
    #[arg(long)]
    quiet: bool,
}

pub fn run(a: EncodeArgs) -> anyhow::Result<()> {
    if let Some(n) = a.threads {
        set_threads(n);
    }
    // Check the output format before spending time on encoding.
    rankbook::vectors::VectorFormat::from_path(&a.output)?;
    let records = read_texts(&a.input)?;
    let opts = ModelOptions {
        device: a.device.clone(),
        max_length: a.max_length,
        ..Default::default()
    };
    let model = SentenceEncoder::load(&a.model, &opts)?;
    let bar = Bar::new(a.quiet);
    let texts: Vec<&str> = records.iter().map(|r| r.text.as_str()).collect();
    let (vectors, stats) = model.encode(
        &texts,
        &EncodeOptions {
            batch_size: a.batch_size,
            prompt: a.prompt.as_deref(),
            progress: &bar,
            ..Default::default()
        },
    )?;
    let ids: Vec<String> = records.into_iter().map(|r| r.id).collect();
    write_vectors(&a.output, &ids, &vectors)
        .with_context(|| format!("writing {}", a.output.display()))?;
    log(format_args!(
        "encoded {} texts ({} tokens) in {:.2} s: {:.1} texts/s -> {}",
        stats.texts,
        stats.tokens,
        stats.seconds,
        stats.texts as f64 / stats.seconds.max(1e-9),
        a.output.display()
    ));
    Ok(())
}
