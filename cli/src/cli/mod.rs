//! Command-line interface: argument parsing and one module per command.

mod cache;
mod encode;
mod encoding;
mod eval;
mod fit;
mod fuse;
mod index;
mod mine;
mod progress;
mod repl;
mod rerank;
mod run;
mod search;
pub mod style;

use clap::{Parser, Subcommand};

/// rankbook: fine-tune, index, search, re-rank and evaluate retrieval models.
#[derive(Parser)]
#[command(name = "rankbook", version, about)]
pub struct Cli {
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
    /// Re-rank a run's top docs with a cross-encoder or a bi-encoder.
    Rerank(rerank::RerankArgs),
    /// Show or clear the embedding cache.
    Cache(cache::CacheArgs),
    /// An interactive Rhai session.
    Repl(repl::ReplArgs),
    /// Run a Rhai script.
    Run(run::RunArgs),
}

/// Runs the parsed command.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Encode(a) => encode::run(a),
        Command::Eval(a) => eval::run(a),
        Command::Fit(a) => fit::run(*a),
        Command::Fuse(a) => fuse::run(a),
        Command::Index(a) => index::run(a),
        Command::Search(a) => search::run(a),
        Command::Mine(a) => mine::run(a),
        Command::Rerank(a) => rerank::run(a),
        Command::Cache(a) => cache::run(a),
        Command::Run(a) => run::run(a),
        Command::Repl(a) => repl::run(a),
    }
}
