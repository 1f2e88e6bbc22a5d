//! `rankbook eval`: a run against qrels.

use std::path::PathBuf;

use clap::Args;
use rankbook::data::{Qrels, Run};
use rankbook::eval::{
    EvalOptions, evaluate, format_json, format_per_query, format_table, parse_measures,
};

#[derive(Args)]
pub struct EvalArgs {
    /// Qrels: TREC (`qid 0 docid rel`) or BEIR TSV.
    #[arg(long)]
    qrels: PathBuf,
    /// Run in TREC format.
    #[arg(long)]
    run: PathBuf,
    /// Comma-separated measures (ir_measures names).
    #[arg(long, default_value = "nDCG@10,AP,RR@10,R@100,P@10")]
    measures: String,
    /// JSON output with per-query values.
    #[arg(long)]
    json: bool,
    /// trec_eval -q layout: measure, qid, value.
    #[arg(long)]
    per_query: bool,
    /// Average over all judged queries (missing ones count 0), as trec_eval -c.
    #[arg(long)]
    complete: bool,
    /// Ignore retrieved docs whose id equals the query id.
    #[arg(long)]
    ignore_identical_ids: bool,
}

pub fn run(a: EvalArgs) -> anyhow::Result<()> {
    let measures = parse_measures(&a.measures)?;
    let qrels = Qrels::read(&a.qrels)?;
    let run = Run::read(&a.run)?;
    let e = evaluate(
        &qrels,
        &run,
        &measures,
        EvalOptions {
            complete: a.complete,
            ignore_identical_ids: a.ignore_identical_ids,
        },
    );
    let out = if a.json {
        format_json(&e) + "\n"
    } else if a.per_query {
        format_per_query(&e)
    } else {
        format_table(&e)
    };
    print!("{out}");
    Ok(())
}
