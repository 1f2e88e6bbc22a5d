//! `rankbook index`: encode a corpus and write an index directory.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::bail;
use clap::Args;
use rankbook::index::{DenseIndex, Metric, build_index, save_index};
use rankbook::model::{EncodeOptions, SentenceEncoder};
use rankbook::vectors::VectorFile;

use crate::cli::encoding::{EncodingArgs, log_encoded, read_corpus};
use crate::cli::progress::Bar;
use crate::cli::style::log;

#[derive(Args)]
pub struct IndexArgs {
    /// Model folder or hub id (org/name[@revision]).
    #[arg(long, required_unless_present = "vectors", requires = "corpus")]
    model: Option<String>,
    /// A BEIR folder (its corpus.jsonl) or a JSONL file of `id`/`_id` + `text`.
    #[arg(long)]
    corpus: Option<PathBuf>,
    /// Index precomputed vectors instead: an Arrow file as `rankbook encode`
    /// writes (`id`, `embedding`); the index then records no model.
    #[arg(long, conflicts_with_all = ["model", "corpus"])]
    vectors: Option<PathBuf>,
    /// The index directory to write (replaced atomically if it is an index).
    #[arg(long)]
    output: PathBuf,
    /// Index type: Flat (exact). IVF, HNSW and PQ need a build with `--features faiss`.
    #[arg(long, default_value = "Flat")]
    factory: String,
    /// dot, cosine or l2.
    #[arg(long, default_value = "dot")]
    metric: String,
    #[command(flatten)]
    encoding: EncodingArgs,
}

pub fn run(a: IndexArgs) -> anyhow::Result<()> {
    let metric = Metric::parse(&a.metric)?;
    let (Some(model), Some(corpus)) = (&a.model, &a.corpus) else {
        let path = a
            .vectors
            .as_deref()
            .expect("clap requires --vectors without --model");
        let file = VectorFile::open(path)?;
        if file.is_empty() {
            bail!("{}: no vectors to index", path.display());
        }
        let index = build_index(
            &a.factory,
            file.ids().to_vec(),
            file.to_embeddings(),
            metric,
        )?;
        drop(file);
        save_index(&a.output, index.as_ref(), None)?;
        log(format_args!(
            "indexed {} vectors ({} dims, {}, {}) -> {}",
            index.len(),
            index.dim(),
            metric.name(),
            index.factory(),
            a.output.display()
        ));
        return Ok(());
    };
    let corpus = read_corpus(corpus)?;
    let model = Arc::new(SentenceEncoder::load(model, &a.encoding.model_options())?);
    let cache = a.encoding.cache();
    let bar = Bar::new(a.encoding.quiet);
    let (index, stats) = DenseIndex::build(
        model,
        &corpus,
        &a.factory,
        metric,
        &EncodeOptions {
            batch_size: a.encoding.batch_size,
            progress: &bar,
            cache: cache.as_ref(),
            ..Default::default()
        },
    )?;
    log_encoded("corpus", &stats);
    index.save(&a.output)?;
    log(format_args!(
        "indexed {} docs ({} dims, {}, {}) -> {}",
        index.len(),
        index.vector_index().dim(),
        metric.name(),
        index.vector_index().factory(),
        a.output.display()
    ));
    Ok(())
}
