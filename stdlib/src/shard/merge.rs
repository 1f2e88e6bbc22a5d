//! Putting a complete set of parts back together: vectors and mined negatives
//! in input order, runs and evaluations by query, indexes through the index
//! layer. The result is byte for byte what one process would have written.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::atomic::write_atomically;
use crate::data::Run;
use crate::error::{Error, Result};
use crate::eval::{EvaluationPart, format_json};
use crate::shard::{PartInfo, PartKind, order_parts, read_part_info};
use crate::vectors::{Embeddings, VectorFile, VectorFormat, write_vectors};

/// What a merge combined.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Merged {
    /// The kind of the parts.
    pub kind: PartKind,
    /// Number of parts.
    pub parts: usize,
    /// Rows of the input the parts cover (texts, queries or docs).
    pub rows: usize,
}

/// Merges a complete set of parts of one output (any order) into `output`;
/// refuses a set with a missing, repeated, foreign or changed part, before
/// writing anything.
pub fn merge_parts(parts: &[PathBuf], output: &Path) -> Result<Merged> {
    let infos = parts
        .iter()
        .map(|p| Ok((p.clone(), read_part_info(p)?)))
        .collect::<Result<Vec<_>>>()?;
    let ordered = order_parts(infos)?;
    let kind = ordered[0].1.kind;
    match kind {
        PartKind::Vectors => merge_vectors(&ordered, output)?,
        PartKind::Index => crate::index::merge_index_parts(&ordered, output)?,
        PartKind::Run => merge_runs(&ordered, output, None)?,
        PartKind::Hits => {
            let k = ordered[0].1.k;
            if k.is_none() || ordered.iter().any(|(_, i)| i.k != k) {
                return Err(Error::InvalidArgument(
                    "hits parts must all record the same k (search them with one --k)".into(),
                ));
            }
            merge_runs(&ordered, output, k)?
        }
        PartKind::Mined => concatenate(&ordered, output)?,
        PartKind::Eval => merge_evaluations(&ordered, output)?,
    }
    Ok(Merged {
        kind,
        parts: ordered.len(),
        rows: ordered[0].1.total,
    })
}

/// Vector parts (Arrow or JSONL) into any vector format, in input order.
fn merge_vectors(ordered: &[(PathBuf, PartInfo)], output: &Path) -> Result<()> {
    // Check the output format before reading the parts.
    VectorFormat::from_path(output)?;
    let (mut ids, mut data, mut dim) = (Vec::new(), Vec::new(), None);
    for (path, info) in ordered {
        let (part_ids, vectors) = read_vector_part(path)?;
        if part_ids.len() != info.rows {
            return Err(Error::InvalidArgument(format!(
                "{}: {} rows where its record says {}",
                path.display(),
                part_ids.len(),
                info.rows
            )));
        }
        match dim {
            Some(d) if d != vectors.dim() => {
                return Err(Error::InvalidArgument(format!(
                    "{}: vectors of {} dimensions, the other parts' have {d}",
                    path.display(),
                    vectors.dim()
                )));
            }
            _ => dim = Some(vectors.dim()),
        }
        ids.extend(part_ids);
        data.extend_from_slice(vectors.as_slice());
    }
    write_vectors(output, &ids, &Embeddings::new(dim.unwrap_or(0), data))
}

/// Run parts into one run, with the parts' tag: disjoint query slices, or
/// (`best_of`: k) every query's hits in each index part, of which the best k
/// in the evaluator's order are kept.
fn merge_runs(
    ordered: &[(PathBuf, PartInfo)],
    output: &Path,
    best_of: Option<usize>,
) -> Result<()> {
    let mut merged = Run::new();
    let mut tag: Option<(String, &Path)> = None;
    for (path, _) in ordered {
        let run = Run::read(path)?;
        if let (None, Some(q)) = (best_of, run.query_ids().find(|q| merged.get(q).is_some())) {
            return Err(Error::InvalidArgument(format!(
                "{}: query {q} is in another part too (parts hold disjoint queries)",
                path.display()
            )));
        }
        if let Some(t) = run_tag(path)? {
            match &tag {
                Some((first, at)) if *first != t => {
                    return Err(Error::InvalidArgument(format!(
                        "{}: tag {t}, {} has {first}",
                        path.display(),
                        at.display()
                    )));
                }
                Some(_) => {}
                None => tag = Some((t, path)),
            }
        }
        merged.absorb(run);
    }
    if let Some(k) = best_of {
        merged = merged.top_k(k);
    }
    merged.write(output, tag.as_ref().map_or("", |(t, _)| t))
}

/// The tag (last column) of a run file's first line, if it has one (read
/// alone: the run itself was parsed already).
fn run_tag(path: &Path) -> Result<Option<String>> {
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    for line in std::io::BufRead::lines(std::io::BufReader::new(file)) {
        let line = line.map_err(|e| Error::io(path, e))?;
        if !line.trim().is_empty() {
            return Ok(line.split_whitespace().nth(5).map(str::to_string));
        }
    }
    Ok(None)
}

/// Line parts (mined negatives) concatenated in input order.
fn concatenate(ordered: &[(PathBuf, PartInfo)], output: &Path) -> Result<()> {
    let texts = ordered
        .iter()
        .map(|(p, _)| std::fs::read(p).map_err(|e| Error::io(p, e)))
        .collect::<Result<Vec<_>>>()?;
    write_atomically(output, |w| {
        texts
            .iter()
            .try_for_each(|t| w.write_all(t).map_err(|e| Error::io(output, e)))
    })
}

/// Per-query measures into one evaluation, written as `rankbook eval --json` prints it.
fn merge_evaluations(ordered: &[(PathBuf, PartInfo)], output: &Path) -> Result<()> {
    let parts = ordered
        .iter()
        .map(|(p, _)| EvaluationPart::read(p))
        .collect::<Result<Vec<_>>>()?;
    let merged = EvaluationPart::merge(parts)
        .map_err(|e| Error::InvalidArgument(format!("{}: {e}", ordered[0].0.display())))?;
    let text = format_json(&merged);
    write_atomically(output, |w| {
        writeln!(w, "{text}").map_err(|e| Error::io(output, e))
    })
}

/// The ids and vectors of an Arrow or JSONL vector file.
fn read_vector_part(path: &Path) -> Result<(Vec<String>, Embeddings)> {
    match VectorFormat::from_path(path)? {
        VectorFormat::Arrow => {
            let f = VectorFile::open(path)?;
            Ok((f.ids().to_vec(), f.to_embeddings()))
        }
        VectorFormat::Jsonl => read_jsonl_vectors(path),
        VectorFormat::Npy => Err(Error::InvalidArgument(format!(
            "{}: .npy parts cannot be merged; write parts as .arrow or .jsonl",
            path.display()
        ))),
    }
}

/// Reads `{"id": ..., "embedding": [...]}` lines, naming the line on error.
fn read_jsonl_vectors(path: &Path) -> Result<(Vec<String>, Embeddings)> {
    #[derive(Deserialize)]
    struct Line {
        id: String,
        embedding: Vec<f32>,
    }
    let (mut ids, mut data, mut dim) = (Vec::new(), Vec::new(), None);
    crate::data::lines::for_each_line(path, |no, line| {
        if line.trim().is_empty() {
            return Ok(());
        }
        let l: Line = serde_json::from_str(line)
            .map_err(|e| Error::parse(path, no, Some(e.column()), e.to_string()))?;
        match dim {
            Some(d) if d != l.embedding.len() => {
                return Err(Error::parse(
                    path,
                    no,
                    None,
                    format!(
                        "embedding of {} values, earlier lines have {d}",
                        l.embedding.len()
                    ),
                ));
            }
            _ => dim = Some(l.embedding.len()),
        }
        ids.push(l.id);
        data.extend(l.embedding);
        Ok(())
    })?;
    Ok((ids, Embeddings::new(dim.unwrap_or(0), data)))
}
