//! Command-line interface: argument parsing and one module per command.

mod cache;
mod colbert;
mod encode;
mod encoding;
mod eval;
mod fit;
mod fuse;
mod index;
mod merge;
mod mine;
mod progress;
mod repl;
mod rerank;
mod run;
mod search;
mod stats;
pub mod style;

use clap::{Parser, Subcommand};

/// rankbook: fine-tune, index, search, re-rank and evaluate retrieval models.
#[derive(Parser)]
#[command(name = "rankbook", version, about)]
pub struct Cli {
    /// Write a summary (counts, seconds per phase, peak RSS) to this JSON file.
    #[arg(long, global = true, value_name = "FILE")]
    stats_json: Option<std::path::PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Encode texts (JSONL or a BEIR corpus) into vectors (.arrow, .jsonl, .npy).
    Encode(encode::EncodeArgs),
    /// Evaluate a TREC run against qrels with trec_eval's measures.
    Eval(eval::EvalArgs),
    /// Fine-tune a bi-encoder; save it as a sentence-transformers folder.
    Fit(Box<fit::FitArgs>),
    /// Fuse runs (reciprocal rank fusion or normalised score fusion).
    Fuse(fuse::FuseArgs),
    /// Encode a corpus and write an index directory.
    Index(index::IndexArgs),
    /// Search an index (or a corpus encoded in memory) with queries; write a TREC run.
    Search(search::SearchArgs),
    /// Mine hard negatives for a BEIR split (JSONL for `fit --negatives`).
    Mine(mine::MineArgs),
    /// Merge the parts written with `--shard i/N` into one output.
    Merge(merge::MergeArgs),
    /// Re-rank a run's top docs with a cross-encoder or a bi-encoder.
    Rerank(rerank::RerankArgs),
    /// Show or clear the embedding cache.
    Cache(cache::CacheArgs),
    /// Turn an encoder into a ColBERT (late interaction) model, as PyLate does.
    Colbert(colbert::ColbertArgs),
    /// An interactive Rhai session.
    Repl(repl::ReplArgs),
    /// Run a Rhai script.
    Run(run::RunArgs),
}

/// Runs the parsed command, then writes its `--stats-json` summary.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    let start = std::time::Instant::now();
    let name = cli.command.name();
    let stats_json = cli.stats_json.clone();
    dispatch(cli)?;
    if let Some(path) = stats_json {
        stats::write(&path, name, start.elapsed().as_secs_f64())?;
    }
    Ok(())
}

impl Command {
    /// The subcommand's name.
    fn name(&self) -> &'static str {
        match self {
            Self::Encode(_) => "encode",
            Self::Eval(_) => "eval",
            Self::Fit(_) => "fit",
            Self::Fuse(_) => "fuse",
            Self::Index(_) => "index",
            Self::Search(_) => "search",
            Self::Mine(_) => "mine",
            Self::Merge(_) => "merge",
            Self::Rerank(_) => "rerank",
            Self::Cache(_) => "cache",
            Self::Colbert(_) => "colbert",
            Self::Run(_) => "run",
            Self::Repl(_) => "repl",
        }
    }
}

fn dispatch(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Encode(a) => encode::run(a),
        Command::Eval(a) => eval::run(a),
        Command::Fit(a) => fit::run(*a),
        Command::Fuse(a) => fuse::run(a),
        Command::Index(a) => index::run(a),
        Command::Search(a) => search::run(a),
        Command::Mine(a) => mine::run(a),
        Command::Merge(a) => merge::run(a),
        Command::Rerank(a) => rerank::run(a),
        Command::Cache(a) => cache::run(a),
        Command::Colbert(a) => colbert::run(a),
        Command::Run(a) => run::run(a),
        Command::Repl(a) => repl::run(a),
    }
}
