//! `rankbook rerank`: the top docs of a run scored again by a cross-encoder or
//! a bi-encoder; writes the re-ranked run.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::bail;
use clap::Args;
use rankbook::data::{Run, read_texts};
use rankbook::model::colbert::{ColbertEncoder, ColbertOptions, is_colbert_model};
use rankbook::model::cross_encoder::{CrossEncoder, CrossEncoderOptions, is_cross_encoder};
use rankbook::model::{EncodeOptions, SentenceEncoder};
use rankbook::rerank::{RerankOptions, Reranker, rerank};

use crate::cli::encoding::EncodingArgs;
use crate::cli::progress::Bar;
use crate::cli::style::log;
use rankbook::data::beir::{queries_beside, read_corpus};

#[derive(Args)]
pub struct RerankArgs {
    /// A cross-encoder (sequence-classification folder), a bi-encoder or a
    /// ColBERT: folder or hub id.
    #[arg(long)]
    model: String,
    /// auto (from the model's folder), cross, bi or colbert.
    #[arg(long, default_value = "auto")]
    kind: String,
    /// The first-stage TREC run.
    #[arg(long)]
    run: PathBuf,
    /// A BEIR folder (its corpus.jsonl) or a JSONL corpus.
    #[arg(long)]
    corpus: PathBuf,
    /// Queries: JSONL with `_id`/`id` and `text` (default: queries.jsonl of the corpus folder).
    #[arg(long)]
    queries: Option<PathBuf>,
    /// Docs re-scored per query (the run's best k); only they are written.
    #[arg(long, default_value_t = RerankOptions::default().k)]
    k: usize,
    /// Drop run entries whose doc is not in the corpus (counted) instead of failing.
    #[arg(long)]
    skip_missing: bool,
    /// The TREC run file to write.
    #[arg(long)]
    output: PathBuf,
    /// The run's tag (last column).
    #[arg(long, default_value = "rankbook-rerank")]
    tag: String,
    #[command(flatten)]
    encoding: EncodingArgs,
}

pub fn run(a: RerankArgs) -> anyhow::Result<()> {
    let kind = match a.kind.as_str() {
        "auto" if is_colbert_model(&a.model)? => "colbert",
        "auto" if is_cross_encoder(&a.model)? => "cross",
        "auto" => "bi",
        k @ ("cross" | "bi" | "colbert") => k,
        other => bail!("unknown --kind {other} (auto, cross, bi or colbert)"),
    };
    let first = Run::read(&a.run)?;
    let corpus = read_corpus(&a.corpus)?;
    let queries_path = match &a.queries {
        Some(p) => p.clone(),
        None => match queries_beside(&a.corpus) {
            Some(p) => p,
            None => bail!("give --queries (the corpus is a file, not a BEIR folder)"),
        },
    };
    let queries = read_texts(&queries_path)?;
    let options = a.encoding.model_options();
    let cache = a.encoding.cache();
    let bar = Bar::new(a.encoding.quiet);
    let opts = RerankOptions {
        k: a.k,
        batch_size: a.encoding.batch_size,
        skip_missing: a.skip_missing,
        encode: EncodeOptions {
            progress: &bar,
            cache: cache.as_ref(),
            ..Default::default()
        },
    };
    let start = Instant::now();
    let (out, stats) = match kind {
        "cross" => {
            let model = CrossEncoder::load(
                &a.model,
                &CrossEncoderOptions {
                    device: options.device.clone(),
                    max_length: options.max_length,
                    precision: options.precision.unwrap_or_default(),
                    ..Default::default()
                },
            )?;
            rerank(Reranker::Cross(&model), &first, &queries, &corpus, &opts)?
        }
        "colbert" => {
            let model = ColbertEncoder::load(&a.model, &ColbertOptions::from(&options))?;
            rerank(Reranker::Colbert(&model), &first, &queries, &corpus, &opts)?
        }
        _ => {
            let model = SentenceEncoder::load(&a.model, &options)?;
            rerank(Reranker::Bi(&model), &first, &queries, &corpus, &opts)?
        }
    };
    out.write(&a.output, &a.tag)?;
    let skipped = if stats.missing_docs > 0 {
        format!(
            ", {} entries skipped (doc not in the corpus)",
            stats.missing_docs
        )
    } else {
        String::new()
    };
    log(format_args!(
        "re-ranked {} queries ({} pairs, {}) in {:.2} s{skipped} -> {}",
        stats.queries,
        stats.pairs,
        match kind {
            "cross" => "cross-encoder",
            "colbert" => "ColBERT",
            _ => "bi-encoder",
        },
        start.elapsed().as_secs_f64(),
        a.output.display()
    ));
    Ok(())
}
