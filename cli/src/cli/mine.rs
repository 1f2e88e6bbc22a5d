//! `rankbook mine`: hard negatives for a BEIR split, written as JSON lines that
//! `rankbook fit --negatives` reads.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use clap::Args;
use rankbook::checksum::sha256_file;
use rankbook::data::BeirDataset;
use rankbook::mining::{self, MarginKind, MiningModel, MiningOptions, Sampling, mine, write_mined};
use rankbook::model::colbert::{ColbertEncoder, ColbertOptions, is_colbert_model};
use rankbook::model::cross_encoder::{CrossEncoder, CrossEncoderOptions};
use rankbook::model::{EncodeOptions, SentenceEncoder};
use rankbook::shard::{PartInfo, PartKind, Shard, write_part_info};

use crate::cli::encoding::EncodingArgs;
use crate::cli::progress::Bar;
use crate::cli::style::log;

#[derive(Args)]
pub struct MineArgs {
    /// The retriever: a bi-encoder or a ColBERT (folder or hub id).
    #[arg(long)]
    model: String,
    /// A BEIR folder (corpus, queries, qrels).
    #[arg(long)]
    data: PathBuf,
    /// The qrels split whose (query, positive) pairs get negatives.
    #[arg(long, default_value = mining::DEFAULT_SPLIT)]
    split: String,
    /// Candidate ranks, inclusive: FROM..TO (e.g. 10..100 skips the top 9).
    #[arg(long, default_value_t = mining::format_depth(MiningOptions::default().depth))]
    depth: String,
    /// Negatives per (query, positive).
    #[arg(long, default_value_t = MiningOptions::default().negatives)]
    negatives: usize,
    /// Drop candidates scoring within this margin of the positive.
    #[arg(long)]
    margin: Option<f32>,
    /// absolute (score < positive - margin) or relative (score < positive · (1 - margin)).
    #[arg(long, default_value = MarginKind::Absolute.name(), requires = "margin")]
    margin_kind: String,
    /// A cross-encoder that vets candidates (with --ce-max-score).
    #[arg(long, requires = "ce_max_score")]
    cross_encoder: Option<String>,
    /// Drop candidates the cross-encoder scores above this.
    #[arg(long, requires = "cross_encoder")]
    ce_max_score: Option<f32>,
    /// top (hardest kept candidates) or random (seeded).
    #[arg(long, default_value = MiningOptions::default().sampling.name())]
    sampling: String,
    /// Seeds the random sampling.
    #[arg(long, default_value_t = MiningOptions::default().seed)]
    seed: u64,
    /// The JSONL file to write.
    #[arg(long)]
    output: PathBuf,
    /// Mine only shard i of N of the judged queries (default: RANK and
    /// WORLD_SIZE from the environment, when set): a part for `rankbook merge`.
    #[arg(long, value_name = "i/N")]
    shard: Option<String>,
    #[command(flatten)]
    encoding: EncodingArgs,
}

pub fn run(a: MineArgs) -> anyhow::Result<()> {
    let depth = mining::parse_depth(&a.depth)?;
    let sampling = Sampling::parse(&a.sampling)?;
    let margin = match a.margin {
        Some(m) => Some((m, MarginKind::parse(&a.margin_kind)?)),
        None => None,
    };
    let data = BeirDataset::open(&a.data)?;
    let qrels = data.qrels(&a.split)?;
    let shard = Shard::chosen(a.shard.as_deref())?;
    let part = match shard {
        Some(s) => Some(PartInfo::new(
            PartKind::Mined,
            s,
            sha256_file(&data.qrels_path(&a.split))?,
            data.judged_queries(&qrels).len(),
        )),
        None => None,
    };
    let options = a.encoding.model_options();
    let model: MiningModel = if is_colbert_model(&a.model)? {
        Arc::new(ColbertEncoder::load(
            &a.model,
            &ColbertOptions::from(&options),
        )?)
        .into()
    } else {
        Arc::new(SentenceEncoder::load(&a.model, &options)?).into()
    };
    let ce = match &a.cross_encoder {
        Some(spec) => Some(CrossEncoder::load(
            spec,
            &CrossEncoderOptions {
                device: options.device.clone(),
                precision: options.precision.unwrap_or_default(),
                ..Default::default()
            },
        )?),
        None => None,
    };
    let cache = a.encoding.cache();
    let bar = Bar::new(a.encoding.quiet);
    let opts = MiningOptions {
        depth,
        negatives: a.negatives,
        margin,
        cross_encoder: ce.as_ref().zip(a.ce_max_score),
        sampling,
        seed: a.seed,
        shard,
        encode: EncodeOptions {
            batch_size: a.encoding.batch_size,
            progress: &bar,
            cache: cache.as_ref(),
            ..Default::default()
        },
    };
    let start = Instant::now();
    let mined = mine(model, &data, &qrels, &opts)?;
    write_mined(&a.output, &mined)?;
    if let Some(info) = part {
        write_part_info(&a.output, info)?;
    }
    let negatives: usize = mined.iter().map(|m| m.negative_ids.len()).sum();
    let short = mined
        .iter()
        .filter(|m| m.negative_ids.len() < a.negatives)
        .count();
    let (mut judged, mut margin_dropped, mut ce_dropped) = (0, 0, 0);
    for m in &mined {
        judged += m.dropped.judged_positive;
        margin_dropped += m.dropped.margin;
        ce_dropped += m.dropped.cross_encoder;
    }
    log(format_args!(
        "mined {negatives} negatives for {} (query, positive) pairs in {:.2} s ({short} pairs got fewer than {}); dropped: {judged} judged positive, {margin_dropped} within the margin, {ce_dropped} by the cross-encoder -> {}",
        mined.len(),
        start.elapsed().as_secs_f64(),
        a.negatives,
        a.output.display()
    ));
    Ok(())
}
