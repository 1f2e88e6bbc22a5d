//! `rankbook encode`: texts to vectors.

use std::path::PathBuf;

use anyhow::bail;
use clap::Args;
use rankbook::checksum::sha256_file;
use rankbook::data::{read_texts, read_texts_shard};
use rankbook::model::colbert::{ColbertEncoder, ColbertOptions, Side, is_colbert_model};
use rankbook::model::{EncodeOptions, SentenceEncoder};
use rankbook::shard::{PartInfo, PartKind, Shard, write_part_info};
use rankbook::vectors::{write_multi_vectors, write_vectors};

use crate::cli::encoding::EncodingArgs;
use crate::cli::progress::Bar;
use crate::cli::style::log;

#[derive(Args)]
pub struct EncodeArgs {
    /// Model folder or hub id (org/name[@revision]).
    #[arg(long)]
    model: String,
    /// JSONL with `id`/`_id` and `text` (BEIR corpus lines: title + text).
    #[arg(long)]
    input: PathBuf,
    /// Output file: .arrow, .jsonl or .npy.
    #[arg(long)]
    output: PathBuf,
    /// Prefix added to every text, e.g. "query: " (default: the model's prompt
    /// for --kind, if it has one).
    #[arg(long)]
    prompt: Option<String>,
    /// query or document: picks the model's prompt; a ColBERT model writes
    /// each text's token vectors (.arrow or .jsonl) as that side.
    #[arg(long)]
    kind: Option<String>,
    /// Encode only shard i of N of the input (default: RANK and WORLD_SIZE
    /// from the environment, when set) and record it as a part for `rankbook merge`.
    #[arg(long, value_name = "i/N")]
    shard: Option<String>,
    #[command(flatten)]
    encoding: EncodingArgs,
}

pub fn run(a: EncodeArgs) -> anyhow::Result<()> {
    // Check the output format before spending time on encoding.
    rankbook::vectors::VectorFormat::from_path(&a.output)?;
    let side = a.kind.as_deref().map(Side::parse).transpose()?;
    let (records, part) = match Shard::chosen(a.shard.as_deref())? {
        Some(_) if a.output.extension().is_some_and(|e| e == "npy") => bail!(
            "{}: a part is written as .arrow or .jsonl (a .npy holds no ids)\nhint: merge the parts into a .npy: rankbook merge --output OUT.npy PART...",
            a.output.display()
        ),
        Some(s) => {
            let (slice, total) = read_texts_shard(&a.input, s)?;
            let info = PartInfo::new(PartKind::Vectors, s, sha256_file(&a.input)?, total);
            (slice, Some(info))
        }
        None => (read_texts(&a.input)?, None),
    };
    let cache = a.encoding.cache();
    let bar = Bar::new(a.encoding.quiet);
    let texts: Vec<&str> = records.iter().map(|r| r.text.as_str()).collect();
    let ids: Vec<String> = records.iter().map(|r| r.id.clone()).collect();
    let encode = EncodeOptions {
        batch_size: a.encoding.batch_size,
        prompt: a.prompt.as_deref(),
        progress: &bar,
        cache: cache.as_ref(),
        ..Default::default()
    };
    let stats = if is_colbert_model(&a.model)? {
        if a.prompt.is_some() {
            bail!("a ColBERT model adds its own markers; leave out --prompt and give --kind");
        }
        let options = ColbertOptions::from(&a.encoding.model_options());
        let model = ColbertEncoder::load(&a.model, &options)?;
        let (vectors, stats) = model.encode(&texts, side.unwrap_or(Side::Document), &encode)?;
        // The writers' errors name the file.
        write_multi_vectors(&a.output, &ids, &vectors)?;
        stats
    } else {
        let model = SentenceEncoder::load(&a.model, &a.encoding.model_options())?;
        let prompt = a.prompt.as_deref().or(match side {
            Some(Side::Query) => model.query_prompt(),
            Some(Side::Document) => model.document_prompt(),
            None => None,
        });
        let (vectors, stats) = model.encode(&texts, &EncodeOptions { prompt, ..encode })?;
        write_vectors(&a.output, &ids, &vectors)?;
        stats
    };
    let cached = if stats.cached > 0 {
        format!(" ({} from the cache)", stats.cached)
    } else {
        String::new()
    };
    if let Some(info) = part {
        write_part_info(&a.output, info)?;
    }
    crate::cli::encoding::record_encoded(&stats);
    log(format_args!(
        "encoded {} texts ({} tokens) in {:.2} s: {:.1} texts/s{cached} -> {}",
        stats.texts,
        stats.tokens,
        stats.seconds,
        stats.texts as f64 / stats.seconds.max(1e-9),
        a.output.display()
    ));
    Ok(())
}
