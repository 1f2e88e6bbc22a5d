//! `rankbook search`: queries against an index directory, or against a corpus
//! encoded in memory (through the embedding cache); writes a TREC run.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, bail};
use clap::Args;
use rankbook::checksum::sha256_file;
use rankbook::data::{Qrels, read_texts};
use rankbook::index::{
    DenseIndex, Metric, OpenOptions, Retriever, VectorIndex, load_index, open_parts, read_manifest,
};
use rankbook::model::{EncodeOptions, SentenceEncoder};
use rankbook::shard::{PartInfo, PartKind, Shard, write_part_info};
use rankbook::vectors::VectorFile;

use crate::cli::encoding::{EncodingArgs, log_encoded};
use crate::cli::progress::Bar;
use crate::cli::style::log;
use rankbook::data::beir::{judged, read_corpus, split_qrels_near};
use rankbook::index::MaxSimIndex;
use rankbook::model::colbert::{ColbertEncoder, ColbertOptions, is_colbert_model};

#[derive(Args)]
pub struct SearchArgs {
    /// An index directory written by `rankbook index`, or every part of one
    /// (`index --shard`), searched as one index. One part alone (on the host
    /// that holds it) gives a hits part: `rankbook merge` keeps each query's
    /// best k over all parts' hits.
    #[arg(long, conflicts_with = "corpus", num_args = 1..)]
    index: Vec<PathBuf>,
    /// Model folder or hub id: required with --corpus; with --index it must match
    /// the index's model (default: the index's model).
    #[arg(long)]
    model: Option<String>,
    /// A BEIR folder or JSONL corpus to encode and search in memory.
    #[arg(long)]
    corpus: Option<PathBuf>,
    /// Queries: JSONL with `_id`/`id` and `text` (BEIR queries.jsonl).
    #[arg(long, required_unless_present = "query_vectors")]
    queries: Option<PathBuf>,
    /// Query vectors instead of texts: an Arrow file as `rankbook encode` writes
    /// (with --index).
    #[arg(long, conflicts_with_all = ["queries", "shard"], requires = "index")]
    query_vectors: Option<PathBuf>,
    /// Search only shard i of N of the queries (default: RANK and WORLD_SIZE
    /// from the environment, when set): a run part for `rankbook merge`.
    #[arg(long, value_name = "i/N")]
    shard: Option<String>,
    /// Keep only the queries judged in these qrels.
    #[arg(long)]
    qrels: Option<PathBuf>,
    /// Keep only the queries of this split (qrels/<split>.tsv of the corpus folder,
    /// or beside the queries file).
    #[arg(long)]
    split: Option<String>,
    /// Results per query.
    #[arg(long, default_value_t = 100)]
    k: usize,
    /// The TREC run file to write.
    #[arg(long)]
    output: PathBuf,
    /// The run's tag (last column).
    #[arg(long, default_value = "rankbook")]
    tag: String,
    /// IVF index types: inverted lists probed per query; PLAID: centroids
    /// probed per query token (default 8).
    #[arg(long)]
    nprobe: Option<usize>,
    /// PLAID: candidates kept after centroid interaction; a quarter of them
    /// are re-scored from their decompressed vectors (default 8192).
    #[arg(long)]
    n_full_scores: Option<usize>,
    /// PLAID: leave out centroids no query token scores this high (default: none).
    #[arg(long)]
    centroid_threshold: Option<f32>,
    /// HNSW index types: candidate list size while searching.
    #[arg(long)]
    ef_search: Option<usize>,
    /// dot (default), cosine or l2 with --corpus; with --index it must be the
    /// index's metric.
    #[arg(long)]
    metric: Option<String>,
    #[command(flatten)]
    encoding: EncodingArgs,
}

/// The qrels that select the queries, if any.
fn selecting_qrels(a: &SearchArgs) -> anyhow::Result<Option<Qrels>> {
    let path = match (&a.qrels, &a.split) {
        (Some(p), _) => p.clone(),
        (None, None) => return Ok(None),
        (None, Some(split)) => split_qrels_near(a.corpus.as_deref(), a.queries.as_deref(), split),
    };
    Ok(Some(Qrels::read(&path).with_context(|| {
        format!(
            "reading the qrels that select the queries ({})",
            path.display()
        )
    })?))
}

/// Checks --metric against the index's.
fn check_metric(index: &dyn VectorIndex, a: &SearchArgs) -> anyhow::Result<()> {
    if let Some(m) = &a.metric
        && Metric::parse(m)? != index.metric()
    {
        bail!(
            "the index compares vectors by {}, not {m}; rebuild it with `rankbook index --metric {m}` or leave out --metric",
            index.metric().name()
        );
    }
    Ok(())
}

/// Applies --nprobe, --ef-search, --n-full-scores and --centroid-threshold
/// through `set` (name, value).
fn set_parameters(
    a: &SearchArgs,
    set: impl Fn(&str, f64) -> rankbook::error::Result<()>,
) -> anyhow::Result<()> {
    let given = [
        ("nprobe", a.nprobe.map(|n| n as f64)),
        ("efSearch", a.ef_search.map(|n| n as f64)),
        ("n_full_scores", a.n_full_scores.map(|n| n as f64)),
        (
            "centroid_score_threshold",
            a.centroid_threshold.map(f64::from),
        ),
    ];
    for (name, value) in given {
        if let Some(v) = value {
            set(name, v)?;
        }
    }
    Ok(())
}

/// Searches an index with precomputed query vectors.
fn search_vectors(index: &Path, vectors: &Path, a: &SearchArgs) -> anyhow::Result<()> {
    a.encoding.apply_threads();
    let start = Instant::now();
    let (flat, _) = load_index(index)?;
    check_metric(flat.as_ref(), a)?;
    set_parameters(a, |name, v| flat.set_parameter(name, v as usize))?;
    let loaded = start.elapsed().as_secs_f64();
    crate::cli::stats::seconds("load", loaded);
    let queries = VectorFile::open(vectors)?;
    let ids = queries.ids().to_vec();
    let start = Instant::now();
    let bar = Bar::new(a.encoding.quiet);
    let run = flat.search(&ids, &queries.to_embeddings(), a.k, &bar)?;
    let what = format!("k={}, index loaded and verified in {loaded:.2} s", a.k);
    write_run(
        &run,
        a,
        &format!("{} query vectors", ids.len()),
        flat.len(),
        &what,
        start,
    )
}

pub fn run(a: SearchArgs) -> anyhow::Result<()> {
    if let Some(vectors) = &a.query_vectors {
        let [index] = a.index.as_slice() else {
            bail!(
                "--query-vectors searches one index folder (merge parts first with `rankbook merge`)"
            );
        };
        return search_vectors(index, vectors, &a);
    }
    let path = a
        .queries
        .as_deref()
        .expect("clap requires --queries without --query-vectors");
    let queries = read_texts(path)?;
    let queries = match selecting_qrels(&a)? {
        Some(q) => judged(&queries, &q),
        None => queries,
    };
    if queries.is_empty() {
        bail!(
            "no queries to search (none in {} after the split/qrels filter)",
            path.display()
        );
    }
    // One index part alone (on the host holding it): its hits cover every
    // query, so a launcher's RANK/WORLD_SIZE picks the part, not the queries.
    let first_manifest = a.index.first().map(|d| read_manifest(d)).transpose()?;
    let one_part = match (&first_manifest, a.index.len()) {
        (Some(m), 1) => m.part.clone().filter(|_| !m.term_counts),
        _ => None,
    };
    if one_part.is_some() && a.shard.is_some() {
        bail!("an index part's hits cover every query: leave out --shard");
    }
    let mut queries = queries;
    let shard = match one_part {
        Some(_) => None,
        None => Shard::chosen(a.shard.as_deref())?,
    };
    let part = match shard {
        Some(s) => Some(s.take(PartKind::Run, sha256_file(path)?, &mut queries)),
        None => None,
    };
    let options = a.encoding.model_options();
    let cache = a.encoding.cache();
    let bar = Bar::new(a.encoding.quiet);
    let encode = EncodeOptions {
        batch_size: a.encoding.batch_size,
        progress: &bar,
        cache: cache.as_ref(),
        ..Default::default()
    };
    let load = |name: &str| -> anyhow::Result<Arc<SentenceEncoder>> {
        Ok(Arc::new(SentenceEncoder::load(name, &options)?))
    };
    let mut hits = None;
    let index: Box<dyn Retriever> = match (a.index.first().zip(first_manifest), &a.corpus, &a.model)
    {
        (Some((dir, manifest)), _, model) => {
            if manifest.is_lexical() && (model.is_some() || a.metric.is_some()) {
                bail!(
                    "{} is a {} index: it records its own analyser or model; leave out --model and --metric",
                    dir.display(),
                    manifest.factory
                );
            }
            let open = OpenOptions {
                model: model.clone(),
                model_options: options.clone(),
            };
            let index = match &one_part {
                Some(p) => {
                    hits = Some(PartInfo {
                        kind: PartKind::Hits,
                        k: Some(a.k),
                        ..p.clone()
                    });
                    rankbook::index::open(dir, &open)?
                }
                None => open_parts(&a.index, &open)?,
            };
            if let Some(v) = index.vectors() {
                check_metric(v, &a)?;
            }
            set_parameters(&a, |name, v| index.set_parameter(name, v))?;
            index
        }
        (None, Some(corpus), Some(model)) if is_colbert_model(model)? => {
            let corpus = read_corpus(corpus)?;
            let model = Arc::new(ColbertEncoder::load(
                model,
                &ColbertOptions::from(&options),
            )?);
            let (index, stats) = MaxSimIndex::build(model, &corpus, &encode)?;
            log_encoded("corpus", &stats);
            Box::new(index)
        }
        (None, Some(corpus), Some(model)) => {
            let corpus = read_corpus(corpus)?;
            let metric = Metric::parse(a.metric.as_deref().unwrap_or("dot"))?;
            let (index, stats) = DenseIndex::build(load(model)?, &corpus, "Flat", metric, &encode)?;
            log_encoded("corpus", &stats);
            Box::new(index)
        }
        (None, Some(_), None) => bail!("--corpus needs --model"),
        (None, None, _) => bail!("give --index DIR, or --model M with --corpus C"),
    };
    let start = Instant::now();
    let run = index.search(&queries, a.k, &encode)?;
    let what = match index.kind() {
        "dense" => format!("k={}", a.k),
        kind => format!("{kind}, k={}", a.k),
    };
    write_run(
        &run,
        &a,
        &format!("{} queries", queries.len()),
        index.len(),
        &what,
        start,
    )?;
    if let Some(info) = part.or(hits) {
        write_part_info(&a.output, info)?;
    }
    Ok(())
}

/// Writes the run (atomically) and logs what was searched and how long it took.
fn write_run(
    run: &rankbook::data::Run,
    a: &SearchArgs,
    queries: &str,
    docs: usize,
    what: &str,
    start: Instant,
) -> anyhow::Result<()> {
    let seconds = start.elapsed().as_secs_f64();
    run.write(&a.output, &a.tag)?;
    crate::cli::stats::count("docs", docs);
    crate::cli::stats::count("queries", run.len());
    crate::cli::stats::seconds("search", seconds);
    log(format_args!(
        "searched {queries} over {docs} docs ({what}) in {seconds:.2} s -> {}",
        a.output.display()
    ));
    Ok(())
}
