//! The scale simulation of `bench/scale_simulation.sh` (issue 24): one shard's
//! work on corpora too big for the repository, measured in this process.
//!
//! - `vectors FILE ROWS DIM`: writes ROWS x DIM unit vectors (bf16, seeded per
//!   row, so any slice can be regenerated alike) to FILE.
//! - `dense FILE DIM i/N QUERIES K RUN`: memory-maps shard i's slice of FILE,
//!   searches it exactly (rankbook's Flat kernels, block by block) for QUERIES
//!   seeded queries, writes the top K as a hits part for `rankbook merge`.
//! - `bm25 TRIPLES DOCS i/N PART`: shard i's slice of DOCS synthetic passages
//!   drawn from the MS MARCO sample's vocabulary (Zipf-extended) and lengths,
//!   indexed as a BM25 part (term counts) and written to PART.
//!
//! Each prints one JSON line: shard, rows, seconds, peak RSS.

use std::collections::HashMap;
use std::path::Path;
use std::time::Instant;

use rankbook::analysis::AnalyzerSpec;
use rankbook::data::{Run, TextRecord, read_texts};
use rankbook::index::{Bm25Builder, Bm25Params, FlatIndex, Metric};
use rankbook::random::SplitMix;
use rankbook::shard::{PartInfo, PartKind, Shard, write_part_info};
use rankbook::vectors::Embeddings;
use rayon::prelude::*;

// The allocator the `rankbook` binary uses: glibc's spent 70% of a BM25
// shard's time in its free lists (measured).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

type Res<T> = Result<T, Box<dyn std::error::Error>>;

/// Vectors scanned per Flat block.
const BLOCK: usize = 1 << 16;
/// Synthetic vocabulary size (MS MARCO passages hold a few million terms).
const VOCABULARY: usize = 1_000_000;

fn main() -> Res<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let a: Vec<&str> = args.iter().map(String::as_str).collect();
    match a.as_slice() {
        ["vectors", file, rows, dim] => write_vectors(Path::new(file), rows.parse()?, dim.parse()?),
        ["dense", file, dim, shard, queries, k, run] => dense(
            Path::new(file),
            dim.parse()?,
            Shard::parse(shard)?,
            queries.parse()?,
            k.parse()?,
            Path::new(run),
        ),
        ["bm25", triples, docs, shard, part] => bm25(
            Path::new(triples),
            docs.parse()?,
            Shard::parse(shard)?,
            Path::new(part),
        ),
        _ => Err("usage: vectors FILE ROWS DIM | dense FILE DIM i/N QUERIES K RUN | bm25 TRIPLES DOCS i/N PART".into()),
    }
}

/// Row `row` of the synthetic corpus: a seeded unit vector.
fn unit_vector(seed: u64, row: u64, dim: usize) -> Vec<f32> {
    let mut rng = SplitMix::stream(seed, row);
    let v: Vec<f32> = (0..dim)
        .map(|_| (rng.next_u64() >> 40) as f32 / (1u64 << 24) as f32 - 0.5)
        .collect();
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
    v.into_iter().map(|x| x / norm).collect()
}

fn to_bf16(x: f32) -> u16 {
    let b = x.to_bits();
    ((b + 0x7fff + ((b >> 16) & 1)) >> 16) as u16
}

fn write_vectors(file: &Path, rows: u64, dim: usize) -> Res<()> {
    let start = Instant::now();
    let mut out = std::io::BufWriter::with_capacity(1 << 24, std::fs::File::create(file)?);
    let chunk = 1u64 << 16;
    for first in (0..rows).step_by(chunk as usize) {
        let end = (first + chunk).min(rows);
        let bytes: Vec<u8> = (first..end)
            .into_par_iter()
            .flat_map_iter(|r| {
                unit_vector(1, r, dim)
                    .into_iter()
                    .flat_map(|x| to_bf16(x).to_le_bytes())
            })
            .collect();
        std::io::Write::write_all(&mut out, &bytes)?;
    }
    std::io::Write::flush(&mut out)?;
    report("vectors", None, rows as usize, start);
    Ok(())
}

fn dense(file: &Path, dim: usize, shard: Shard, nq: usize, k: usize, run: &Path) -> Res<()> {
    let start = Instant::now();
    let f = std::fs::File::open(file)?;
    // SAFETY: the file is not modified while mapped (the bench writes it first).
    let map = unsafe { memmap2::Mmap::map(&f)? };
    let total = map.len() / (2 * dim);
    let rows = shard.range(total);
    let mut data = Vec::with_capacity(nq * dim);
    for q in 0..nq {
        data.extend(unit_vector(2, q as u64, dim));
    }
    let queries = Embeddings::new(dim, data);
    let mut best = Run::new();
    for (b, first) in rows.clone().step_by(BLOCK).enumerate() {
        let end = (first + BLOCK).min(rows.end);
        let bytes = &map[first * 2 * dim..end * 2 * dim];
        let values: Vec<f32> = bytes
            .par_chunks_exact(2)
            .map(|c| f32::from_bits((u16::from_le_bytes([c[0], c[1]]) as u32) << 16))
            .collect();
        let ids: Vec<String> = (first..end).map(|r| format!("d{r}")).collect();
        let block = FlatIndex::new(ids, Embeddings::new(dim, values), Metric::Dot)?;
        for (q, hits) in block.search_vectors(&queries, k)?.into_iter().enumerate() {
            for (i, score) in hits {
                best.push(&format!("q{q}"), &format!("d{}", first + i), score as f64);
            }
        }
        if b % 16 == 15 {
            best = best.top_k(k);
        }
    }
    best.top_k(k).write(run, "scale")?;
    // A hits part, as `rankbook search --index PART` writes: merged by score.
    let info = PartInfo {
        kind: PartKind::Hits,
        k: Some(k),
        ..PartInfo::new(
            PartKind::Hits,
            shard,
            format!("synthetic {total} x {dim}"),
            total,
        )
    };
    write_part_info(run, info)?;
    report("dense", Some(shard), rows.len(), start);
    Ok(())
}

/// The sample's words by frequency, a Zipf exponent fitted to them, and its
/// passage lengths in words.
struct Vocabulary {
    words: Vec<String>,
    cdf: Vec<f64>,
    lengths: Vec<usize>,
}

fn words_of(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
}

impl Vocabulary {
    fn from_triples(path: &Path) -> Res<Self> {
        // MS MARCO triples (query, positive, negative), or a BEIR corpus.
        let passages: Vec<String> = if path.extension().is_some_and(|e| e == "jsonl") {
            read_texts(path)?.into_iter().map(|t| t.text).collect()
        } else {
            std::fs::read_to_string(path)?
                .lines()
                .flat_map(|l| {
                    l.split('\t')
                        .skip(1)
                        .map(str::to_string)
                        .collect::<Vec<_>>()
                })
                .collect()
        };
        let mut counts: HashMap<String, u64> = HashMap::new();
        let mut lengths = Vec::new();
        for passage in &passages {
            let words: Vec<String> = words_of(passage).collect();
            lengths.push(words.len());
            for w in words {
                *counts.entry(w).or_default() += 1;
            }
        }
        if lengths.is_empty() {
            return Err(format!("{}: no passages", path.display()).into());
        }
        let mut ranked: Vec<(String, u64)> = counts.into_iter().collect();
        ranked.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        // Least squares of log frequency on log rank over the words seen twice or more.
        let pts: Vec<(f64, f64)> = ranked
            .iter()
            .enumerate()
            .take_while(|(_, (_, c))| *c >= 2)
            .map(|(r, (_, c))| (((r + 1) as f64).ln(), (*c as f64).ln()))
            .collect();
        let n = pts.len() as f64;
        let (mx, my) = (
            pts.iter().map(|p| p.0).sum::<f64>() / n,
            pts.iter().map(|p| p.1).sum::<f64>() / n,
        );
        let slope = pts.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum::<f64>()
            / pts.iter().map(|p| (p.0 - mx).powi(2)).sum::<f64>();
        let s = -slope;
        // The seen words keep their sample frequencies; the mass of unseen
        // words (Good-Turing: the share of words seen once) goes to a Zipf tail.
        let tokens: u64 = ranked.iter().map(|(_, c)| c).sum();
        let once = ranked.iter().filter(|(_, c)| *c == 1).count() as f64;
        let unseen = once / tokens as f64;
        let tail: f64 = (ranked.len() + 1..=VOCABULARY)
            .map(|r| (r as f64).powf(-s))
            .sum();
        let mut cdf = Vec::with_capacity(VOCABULARY);
        let mut acc = 0.0;
        for (_, c) in &ranked {
            acc += (1.0 - unseen) * *c as f64 / tokens as f64;
            cdf.push(acc);
        }
        for r in ranked.len() + 1..=VOCABULARY {
            acc += unseen * (r as f64).powf(-s) / tail;
            cdf.push(acc);
        }
        eprintln!(
            "vocabulary: {} words seen in {} passages; unseen mass {unseen:.3} spread over ranks up to {VOCABULARY} with Zipf exponent {s:.3}",
            ranked.len(),
            lengths.len()
        );
        Ok(Self {
            words: ranked.into_iter().map(|(w, _)| w).collect(),
            cdf,
            lengths,
        })
    }

    /// Passage `row`: a sampled length, words drawn by rank.
    fn passage(&self, row: u64) -> String {
        let mut rng = SplitMix::stream(3, row);
        let len = self.lengths[rng.below(self.lengths.len())];
        let mut text = String::with_capacity(len * 8);
        for _ in 0..len {
            let u = (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
            let rank = self.cdf.partition_point(|&c| c < u).min(VOCABULARY - 1);
            match self.words.get(rank) {
                Some(w) => text.push_str(w),
                None => text.push_str(&format!("t{rank}")),
            }
            text.push(' ');
        }
        text
    }
}

fn bm25(triples: &Path, docs: usize, shard: Shard, part: &Path) -> Res<()> {
    let vocab = Vocabulary::from_triples(triples)?;
    let start = Instant::now();
    let rows = shard.range(docs);
    // Streamed as `rankbook index --bm25` streams its corpus file: a chunk of
    // text at a time, only ids and term counts kept.
    let mut builder = Bm25Builder::new(&AnalyzerSpec::default(), Bm25Params::default())?;
    let mut generating = 0.0;
    for first in rows.clone().step_by(Bm25Builder::CHUNK) {
        let t = Instant::now();
        let chunk: Vec<TextRecord> = (first..(first + Bm25Builder::CHUNK).min(rows.end))
            .into_par_iter()
            .map(|r| TextRecord {
                id: format!("p{r}"),
                text: vocab.passage(r as u64),
            })
            .collect();
        generating += t.elapsed().as_secs_f64();
        builder.add(&chunk);
    }
    let counts = builder.finish()?;
    let info = PartInfo::new(PartKind::Index, shard, "synthetic".into(), docs);
    counts.save_part(part, info)?;
    eprintln!("generated the slice's text in {generating:.1} s");
    report("bm25", Some(shard), rows.len(), start);
    Ok(())
}

/// Prints what one shard did: rows, seconds, peak RSS (VmHWM).
fn report(what: &str, shard: Option<Shard>, rows: usize, start: Instant) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let hwm_kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0);
    let (i, n) = shard.map_or((0, 1), |s| (s.index, s.count));
    println!(
        "{{\"what\": \"{what}\", \"shard\": {i}, \"shards\": {n}, \"rows\": {rows}, \"seconds\": {:.2}, \"peak_rss_mib\": {:.0}}}",
        start.elapsed().as_secs_f64(),
        hwm_kib as f64 / 1024.0
    );
}
