//! `rankbook eval`: runs against qrels; with several runs, a comparison with
//! significance tests against a baseline.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use anyhow::bail;
use clap::Args;
use rankbook::checksum::sha256_file;
use rankbook::shard::{PartKind, Shard, write_part_info};

use crate::cli::style::log;
use rankbook::data::{Qrels, Run};
use rankbook::eval::{
    CompareOptions, Correction, EvalOptions, EvaluationPart, Test, compare, evaluate_file,
    format_comparison, format_comparison_json, format_json, format_per_query, format_table,
    parse_measures,
};

#[derive(Args)]
pub struct EvalArgs {
    /// Qrels: TREC (`qid 0 docid rel`) or BEIR TSV.
    #[arg(long)]
    qrels: PathBuf,
    /// Run in TREC format; repeat to compare systems.
    #[arg(long, required = true)]
    run: Vec<PathBuf>,
    /// Comma-separated measures (ir_measures names).
    #[arg(long, default_value = "nDCG@10,AP,RR@10,R@100,P@10")]
    measures: String,
    /// JSON output with per-query values.
    #[arg(long)]
    json: bool,
    /// trec_eval -q layout: measure, qid, value (one run).
    #[arg(long)]
    per_query: bool,
    /// Average over all judged queries (missing ones count 0), as trec_eval -c.
    #[arg(long)]
    complete: bool,
    /// Ignore retrieved docs whose id equals the query id.
    #[arg(long)]
    ignore_identical_ids: bool,
    /// The run the others are compared with (name or path; default: the first).
    #[arg(long)]
    baseline: Option<String>,
    /// Paired test: t, wilcoxon or permutation.
    #[arg(long, default_value_t = CompareOptions::default().test.name().to_string())]
    test: String,
    /// Multiple-comparison correction: holm, bonferroni or none.
    #[arg(long, default_value_t = CompareOptions::default().correction.name().to_string())]
    correction: String,
    /// Seed for bootstrap intervals and permutations.
    #[arg(long, default_value_t = CompareOptions::default().seed)]
    seed: u64,
    /// Evaluate only shard i of N of the judged queries (default: RANK and
    /// WORLD_SIZE from the environment, when set) and write its per-query
    /// values to --output, a part for `rankbook merge`.
    #[arg(long, value_name = "i/N", requires = "output")]
    shard: Option<String>,
    /// The part to write (with --shard).
    #[arg(long)]
    output: Option<PathBuf>,
}

/// Evaluates one shard of the judged queries into a part file.
fn run_shard(a: &EvalArgs, shard: Shard, eval: EvalOptions) -> anyhow::Result<()> {
    let (Some(output), [run]) = (&a.output, a.run.as_slice()) else {
        bail!("a sharded evaluation takes one --run and an --output part");
    };
    let measures = parse_measures(&a.measures)?;
    let qrels = Qrels::read(&a.qrels)?;
    let mut qids: Vec<&str> = qrels.query_ids().collect();
    let info = shard.take(PartKind::Eval, sha256_file(&a.qrels)?, &mut qids);
    let keep: HashSet<&str> = qids.into_iter().collect();
    let slice = qrels.filter(|q| keep.contains(q));
    let e = EvaluationPart::of_file(&slice, run, &measures, eval)?;
    e.write(output)?;
    write_part_info(output, info)?;
    log(format_args!(
        "evaluated {} queries (shard {} of {}) -> {}",
        e.len(),
        shard.index,
        shard.count,
        output.display()
    ));
    Ok(())
}

/// A run's display name: its file stem.
fn run_name(p: &Path) -> String {
    p.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| p.display().to_string())
}

pub fn run(a: EvalArgs) -> anyhow::Result<()> {
    let measures = parse_measures(&a.measures)?;
    let test = Test::parse(&a.test)?;
    let correction = Correction::parse(&a.correction)?;
    let qrels = Qrels::read(&a.qrels)?;
    let eval = EvalOptions {
        complete: a.complete,
        ignore_identical_ids: a.ignore_identical_ids,
    };
    match Shard::chosen(a.shard.as_deref())? {
        Some(shard) if a.output.is_some() => return run_shard(&a, shard, eval),
        Some(_) if a.shard.is_some() => bail!("--shard needs --output"),
        // RANK/WORLD_SIZE without --output: a launcher's variables, not a request to shard.
        _ => {}
    }
    if a.output.is_some() {
        bail!("--output writes a part: give --shard i/N (or RANK and WORLD_SIZE)");
    }
    if a.run.len() == 1 {
        // Evaluated straight from the memory-mapped file: no owned copy of the run.
        let e = evaluate_file(&qrels, &a.run[0], &measures, eval)?;
        let out = if a.json {
            format_json(&e) + "\n"
        } else if a.per_query {
            format_per_query(&e)
        } else {
            format_table(&e)
        };
        print!("{out}");
        return Ok(());
    }
    if a.per_query {
        bail!("--per-query takes one --run; use --json for per-query values of several runs");
    }
    let runs = a
        .run
        .iter()
        .map(|p| Ok((run_name(p), Run::read(p)?)))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let baseline = match &a.baseline {
        None => 0,
        Some(b) => match a
            .run
            .iter()
            .position(|p| run_name(p) == *b || p == Path::new(b))
        {
            Some(i) => i,
            None => bail!(
                "--baseline {b} is none of the runs ({})",
                runs.iter()
                    .map(|(n, _)| n.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        },
    };
    let opts = CompareOptions {
        test,
        correction,
        seed: a.seed,
        ..Default::default()
    };
    let c = compare(&qrels, &runs, baseline, &measures, eval, opts)?;
    if a.json {
        println!("{}", format_comparison_json(&c));
    } else {
        print!("{}", format_comparison(&c));
    }
    Ok(())
}
