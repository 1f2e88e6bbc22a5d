//! Command-line interface: argument parsing and one module per command.

mod encode;
mod eval;
mod fuse;
mod progress;
mod run;
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
    /// Fuse runs (reciprocal rank fusion or normalised score fusion).
    Fuse(fuse::FuseArgs),
    /// Run a Rhai script.
    Run(run::RunArgs),
}

/// Runs the parsed command.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Encode(a) => encode::run(a),
        Command::Eval(a) => eval::run(a),
        Command::Fuse(a) => fuse::run(a),
        Command::Run(a) => run::run(a),
    }
}
