//! `rankbook index`: encode a corpus and write an index directory.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::bail;
use clap::Args;
use std::time::Instant;

use rankbook::analysis::AnalyzerSpec;
use rankbook::index::{
    Bm25Builder, Bm25Index, Bm25Params, DEFAULT_FACTORY, DenseIndex, MAXSIM, MaxSimIndex, Metric,
    PLAID, PlaidBuild, PlaidIndex, Retriever, SparseIndex, build_colbert_index, build_index,
    save_index,
};
use rankbook::model::colbert::{ColbertEncoder, ColbertOptions, is_colbert_model};
use rankbook::model::splade::{SpladeEncoder, SpladeOptions};
use rankbook::model::{EncodeOptions, SentenceEncoder};
use rankbook::vectors::VectorFile;

use crate::cli::encoding::{EncodingArgs, log_encoded};
use crate::cli::progress::Bar;
use crate::cli::style::log;
use rankbook::checksum::sha256_file;
use rankbook::data::beir::{corpus_file, read_corpus};
use rankbook::data::{TextRecord, count_texts, read_texts_shard, stream_texts};
use rankbook::progress::Progress;
use rankbook::shard::{PartInfo, PartKind, Shard};

#[derive(Args)]
pub struct IndexArgs {
    /// Model folder or hub id (org/name[@revision]): a bi-encoder, a ColBERT
    /// (an exact MaxSim index), or a SPLADE (BertForMaskedLM) model with --sparse.
    #[arg(long, required_unless_present_any = ["vectors", "bm25"], requires = "corpus")]
    model: Option<String>,
    /// Build a BM25 index of the corpus (no model).
    #[arg(long, conflicts_with_all = ["model", "vectors", "sparse"], requires = "corpus")]
    bm25: bool,
    /// BM25: term-frequency saturation.
    #[arg(long, default_value_t = Bm25Params::default().k1, requires = "bm25")]
    k1: f32,
    /// BM25: length normalisation.
    #[arg(long, default_value_t = Bm25Params::default().b, requires = "bm25")]
    b: f32,
    /// BM25: stemmer (porter, none, or a Snowball language such as english, french).
    #[arg(long, default_value_t = AnalyzerSpec::default().stemmer, requires = "bm25")]
    stemmer: String,
    /// BM25: stop words (english, none).
    #[arg(long, default_value_t = AnalyzerSpec::default().stopwords, requires = "bm25")]
    stopwords: String,
    /// Build a learned sparse (SPLADE) index with --model.
    #[arg(long, requires = "model")]
    sparse: bool,
    /// SPLADE: keep only the K heaviest terms of each doc.
    #[arg(long, requires = "sparse")]
    prune: Option<usize>,
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
    /// Index type: Flat (exact). IVF, HNSW and PQ need a build with `--features faiss`,
    /// lance[:TYPE] with `--features lancedb`, qdrant[:HNSW] (a Qdrant server) with
    /// `--features qdrant`. A ColBERT: MaxSim (exact, the default), PLAID
    /// (compressed) or qdrant[:HNSW].
    #[arg(long, default_value = DEFAULT_FACTORY)]
    factory: String,
    /// PLAID: bits per dimension of a stored residual (1, 2, 4 or 8).
    #[arg(long, default_value_t = PlaidBuild::default().nbits)]
    nbits: u32,
    /// PLAID: number of k-means centroids (default: 2^floor(log2(16 sqrt(tokens)))).
    #[arg(long)]
    centroids: Option<usize>,
    /// dot, cosine or l2.
    #[arg(long, default_value = rankbook::index::Metric::default().name())]
    metric: String,
    /// Index only shard i of N of the corpus (default: RANK and WORLD_SIZE from
    /// the environment, when set): a part that `search --index PART...` searches
    /// with the others and `rankbook merge` joins.
    #[arg(long, value_name = "i/N", conflicts_with = "vectors")]
    shard: Option<String>,
    #[command(flatten)]
    encoding: EncodingArgs,
}

/// The corpus (this shard's slice of it) and the part record, if sharded.
fn read_slice(a: &IndexArgs, path: &Path) -> anyhow::Result<(Vec<TextRecord>, Option<PartInfo>)> {
    let shard = match a.vectors {
        None => Shard::chosen(a.shard.as_deref())?,
        Some(_) => None,
    };
    let Some(s) = shard else {
        return Ok((read_corpus(path)?, None));
    };
    let file = corpus_file(path);
    let (corpus, total) = read_texts_shard(&file, s)?;
    let info = PartInfo::new(PartKind::Index, s, sha256_file(&file)?, total);
    Ok((corpus, Some(info)))
}

/// Builds and writes a BM25 index (or part), streaming the corpus from its
/// file: only ids and term counts are ever held.
fn run_bm25(a: &IndexArgs, corpus_path: &Path) -> anyhow::Result<()> {
    a.encoding.apply_threads();
    let file = corpus_file(corpus_path);
    let shard = Shard::chosen(a.shard.as_deref())?;
    let bar = Bar::new(a.encoding.quiet);
    let start = Instant::now();
    let analyzer = AnalyzerSpec {
        stemmer: a.stemmer.clone(),
        stopwords: a.stopwords.clone(),
        ..AnalyzerSpec::default()
    };
    let mut builder = Bm25Builder::new(&analyzer, Bm25Params { k1: a.k1, b: a.b })?;
    let count = count_texts(&file)?;
    let rows = shard.map_or(0..count, |s| s.range(count));
    bar.start("index", rows.len() as u64);
    let total = stream_texts(&file, rows, Bm25Builder::CHUNK, |chunk| {
        builder.add(&chunk);
        bar.advance(chunk.len() as u64);
        Ok(())
    })?;
    bar.finish();
    let counts = builder.finish()?;
    match shard {
        Some(s) => {
            // A part keeps term counts: BM25 needs the whole corpus's statistics.
            let part = PartInfo::new(PartKind::Index, s, sha256_file(&file)?, total);
            counts.save_part(&a.output, part.clone())?;
            log_indexed(a, counts.len(), "BM25 term counts", Some(&part), start)
        }
        None => {
            let index = Bm25Index::from_counts(counts);
            index.save(&a.output)?;
            log_indexed(a, Retriever::len(&index), "BM25", None, start)
        }
    }
}

/// Builds and writes a SPLADE index (or part).
fn run_splade(a: &IndexArgs, corpus_path: &Path) -> anyhow::Result<()> {
    a.encoding.apply_threads();
    let (corpus, part) = read_slice(a, corpus_path)?;
    let bar = Bar::new(a.encoding.quiet);
    let start = Instant::now();
    let model = a
        .model
        .as_deref()
        .expect("clap requires --model with --sparse");
    let options = SpladeOptions {
        device: a.encoding.device.clone(),
        max_length: a.encoding.max_length,
        top_k: a.prune,
        precision: a.encoding.precision.unwrap_or_default(),
    };
    let model = Arc::new(SpladeEncoder::load(model, &options)?);
    let index = SparseIndex::build(model, &corpus, &bar)?;
    index.save_part(&a.output, part.clone())?;
    log_indexed(a, Retriever::len(&index), "SPLADE", part.as_ref(), start)
}

/// Reports what was indexed (and which part it is).
fn log_indexed(
    a: &IndexArgs,
    docs: usize,
    kind: &str,
    part: Option<&PartInfo>,
    start: Instant,
) -> anyhow::Result<()> {
    crate::cli::stats::count("docs", docs);
    crate::cli::stats::seconds("index", start.elapsed().as_secs_f64());
    let part = part.map_or(String::new(), |p| {
        format!(", shard {} of {}", p.shard, p.shards)
    });
    log(format_args!(
        "indexed {docs} docs ({kind}{part}) in {:.2} s -> {}",
        start.elapsed().as_secs_f64(),
        a.output.display()
    ));
    Ok(())
}

pub fn run(a: IndexArgs) -> anyhow::Result<()> {
    if a.bm25 || a.sparse {
        let corpus = a.corpus.as_deref().expect("clap requires --corpus");
        return if a.bm25 {
            run_bm25(&a, corpus)
        } else {
            run_splade(&a, corpus)
        };
    }
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
        save_index(&a.output, index.as_ref(), None, None)?;
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
    let (corpus, part) = read_slice(&a, corpus)?;
    let cache = a.encoding.cache();
    let bar = Bar::new(a.encoding.quiet);
    if is_colbert_model(model)? {
        let start = Instant::now();
        let options = ColbertOptions::from(&a.encoding.model_options());
        let model = Arc::new(ColbertEncoder::load(model, &options)?);
        let encode = EncodeOptions {
            batch_size: a.encoding.batch_size,
            progress: &bar,
            cache: cache.as_ref(),
            ..Default::default()
        };
        let (index, stats): (Box<dyn Retriever>, _) = match a.factory.as_str() {
            DEFAULT_FACTORY | MAXSIM => {
                let (index, stats) = MaxSimIndex::build(model, &corpus, &encode)?;
                log(format_args!(
                    "{} token vectors of {} dims, searched exactly (MaxSim)",
                    index.docs().tokens(),
                    index.docs().dim()
                ));
                (Box::new(index), stats)
            }
            PLAID => {
                let build = PlaidBuild {
                    nbits: a.nbits,
                    centroids: a.centroids,
                    ..Default::default()
                };
                let (index, stats) = PlaidIndex::build(model, &corpus, &encode, &build)?;
                log(format_args!(
                    "compressed to {} centroids and {}-bit residuals (PLAID)",
                    index.centroids(),
                    index.codec().nbits
                ));
                (Box::new(index), stats)
            }
            other => {
                let (index, stats) =
                    build_colbert_index(model, &corpus, other, &PlaidBuild::default(), &encode)?;
                log(format_args!(
                    "token vectors stored in Qdrant, compared by MaxSim ({other})"
                ));
                (index, stats)
            }
        };
        log_encoded("corpus", &stats);
        index.save_part(&a.output, part.clone())?;
        return log_indexed(&a, index.len(), index.kind(), part.as_ref(), start);
    }
    if a.nbits != PlaidBuild::default().nbits || a.centroids.is_some() {
        bail!(
            "--nbits and --centroids are PLAID settings: give them with a ColBERT and --factory PLAID"
        );
    }
    let model = Arc::new(SentenceEncoder::load(model, &a.encoding.model_options())?);
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
    index.save_part(&a.output, part.clone())?;
    crate::cli::stats::count("docs", index.len());
    let part = part.map_or(String::new(), |p| {
        format!(", shard {} of {}", p.shard, p.shards)
    });
    log(format_args!(
        "indexed {} docs ({} dims, {}, {}{part}) -> {}",
        index.len(),
        index.vector_index().dim(),
        metric.name(),
        index.vector_index().factory(),
        a.output.display()
    ));
    Ok(())
}
