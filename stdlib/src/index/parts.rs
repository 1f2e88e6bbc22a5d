//! An index written in parts (`rankbook index --shard i/N`): searched as one,
//! each part's best `k` merged in the evaluator's order (score desc, id desc),
//! which gives exactly the unsharded top `k` because a doc scores the same in
//! its part as in the whole index (BM25 parts are scored against the
//! statistics of all parts); or merged into one index folder.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::data::{Run, TextRecord, texts_of};
use crate::error::{Error, Result};
use crate::index::bm25::{Bm25Counts, Bm25Index};
use crate::index::disk::{Manifest, read_manifest, verified_manifest, write_index_dir};
use crate::index::flat::FLAT_VECTORS;
use crate::index::inverted::InvertedIndex;
use crate::index::maxsim::{MAXSIM, TOKENS_FILE};
use crate::index::retriever::{OpenOptions, Retriever, SharedModel, open, open_sharing};
use crate::index::sparse::SPLADE;
use crate::model::{EncodeOptions, EncoderIdentity, SentenceEncoder};
use crate::shard::{PartInfo, PartKind, order_parts};
use crate::vectors::{
    Embeddings, MultiVectors, VectorFile, read_multi_vectors, write_multi_vectors, write_vectors,
};

/// A complete set of index parts, searched as one index.
pub struct PartedIndex {
    parts: Vec<Box<dyn Retriever>>,
    /// Dense parts: the shared model, so queries are encoded once.
    dense: Option<Arc<SentenceEncoder>>,
}

/// Opens an index folder, or a complete set of index parts as one index.
pub fn open_parts(dirs: &[PathBuf], opts: &OpenOptions) -> Result<Box<dyn Retriever>> {
    if let [dir] = dirs
        && read_manifest(dir)?.part.is_none()
    {
        return open(dir, opts);
    }
    let ordered = ordered_parts(dirs)?;
    let mut shared = None;
    let parts: Vec<Box<dyn Retriever>> = if ordered[0].2.term_counts {
        let counts = ordered
            .iter()
            .map(|(d, _, _)| Bm25Counts::load(d))
            .collect::<Result<Vec<_>>>()?;
        Bm25Index::from_parts(counts)?
            .into_iter()
            .map(|b| Box::new(b) as Box<dyn Retriever>)
            .collect()
    } else {
        ordered
            .iter()
            .map(|(d, _, _)| open_sharing(d, opts, &mut shared))
            .collect::<Result<Vec<_>>>()?
    };
    let dense = match shared {
        Some(SharedModel::Sentence(m)) => Some(m),
        _ => None,
    };
    Ok(Box::new(PartedIndex { parts, dense }))
}

/// Reads the parts' manifests, checks they make one complete index, and
/// orders them by rank.
fn ordered_parts(dirs: &[PathBuf]) -> Result<Vec<(PathBuf, PartInfo, Manifest)>> {
    let mut with_info = Vec::new();
    for d in dirs {
        let m = read_manifest(d)?;
        let Some(info) = m.part.clone() else {
            return Err(Error::InvalidArgument(format!(
                "{}: a whole index, not a part; give only the parts of one index",
                d.display()
            )));
        };
        if info.kind != PartKind::Index {
            return Err(Error::InvalidArgument(format!(
                "{}: not an index part",
                d.display()
            )));
        }
        with_info.push((d.clone(), info));
    }
    let ordered = order_parts(with_info)?;
    let mut out: Vec<(PathBuf, PartInfo, Manifest)> = Vec::new();
    for (d, info) in ordered {
        let m = read_manifest(&d)?;
        if let Some((first, _, m0)) = out.first() {
            let lexical = m0.is_lexical();
            let alike = m.factory == m0.factory
                && m.metric == m0.metric
                && (lexical || m.dim == m0.dim)
                && same_model(&m.model, &m0.model)
                && m.analyzer == m0.analyzer
                && m.bm25 == m0.bm25
                && m.term_counts == m0.term_counts;
            if !alike {
                return Err(Error::InvalidArgument(format!(
                    "{}: built otherwise than {} (index type, metric, model or analyser differ)",
                    d.display(),
                    first.display()
                )));
            }
        }
        out.push((d, info, m));
    }
    Ok(out)
}

fn same_model(a: &Option<EncoderIdentity>, b: &Option<EncoderIdentity>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => a.same_vectors(b),
        (None, None) => true,
        _ => false,
    }
}

/// Each query's best `k` over all runs, in the evaluator's order.
fn best_of(runs: Vec<Run>, k: usize) -> Run {
    let mut all = Run::new();
    runs.into_iter().for_each(|r| all.absorb(r));
    all.top_k(k)
}

impl Retriever for PartedIndex {
    fn kind(&self) -> &'static str {
        self.parts[0].kind()
    }
    fn len(&self) -> usize {
        self.parts.iter().map(|p| p.len()).sum()
    }
    fn search(&self, queries: &[TextRecord], k: usize, opts: &EncodeOptions) -> Result<Run> {
        let runs = match &self.dense {
            Some(model) => {
                let vectors = model.encode_queries(&texts_of(queries), opts)?;
                let ids: Vec<String> = queries.iter().map(|q| q.id.clone()).collect();
                self.parts
                    .iter()
                    .filter_map(|p| p.vectors())
                    .map(|v| v.search(&ids, &vectors, k, opts.progress))
                    .collect::<Result<Vec<_>>>()?
            }
            None => self
                .parts
                .iter()
                .map(|p| p.search(queries, k, opts))
                .collect::<Result<Vec<_>>>()?,
        };
        Ok(best_of(runs, k))
    }
    fn save_part(&self, _: &Path, _: Option<PartInfo>) -> Result<()> {
        Err(Error::InvalidArgument(
            "an index in parts is written as one with `rankbook merge`".into(),
        ))
    }
    fn encoder(&self) -> Result<Option<EncoderIdentity>> {
        self.parts[0].encoder()
    }
    fn set_parameter(&self, name: &str, value: f64) -> Result<()> {
        self.parts
            .iter()
            .try_for_each(|p| p.set_parameter(name, value))
    }
}

/// Merges a complete, ordered set of index parts into one index folder at
/// `output`: the folder indexing the whole corpus at once writes (Flat,
/// BM25, SPLADE and MaxSim; other types are searched as parts).
pub(crate) fn merge_index_parts(parts: &[(PathBuf, PartInfo)], output: &Path) -> Result<()> {
    let dirs: Vec<PathBuf> = parts.iter().map(|(d, _)| d.clone()).collect();
    let ordered = ordered_parts(&dirs)?;
    for (d, _, _) in &ordered {
        verified_manifest(d)?;
    }
    let m0 = &ordered[0].2;
    if m0.term_counts {
        let counts = ordered
            .iter()
            .map(|(d, _, _)| Bm25Counts::load(d))
            .collect::<Result<Vec<_>>>()?;
        return Bm25Index::merge(counts)?.save(output);
    }
    let whole = |dim: usize| Manifest {
        count: ordered.iter().map(|(_, _, m)| m.count).sum(),
        dim,
        part: None,
        files: Default::default(),
        ..m0.clone()
    };
    match m0.factory.as_str() {
        SPLADE => {
            let merged = InvertedIndex::concat(
                ordered
                    .iter()
                    .map(|(d, _, _)| InvertedIndex::read_files(d))
                    .collect::<Result<Vec<_>>>()?,
            )?;
            let manifest = whole(merged.vocabulary_size());
            write_index_dir(output, manifest, |tmp| merged.write_files(tmp))
        }
        "Flat" => {
            let (mut ids, mut data) = (Vec::new(), Vec::new());
            for (d, _, _) in &ordered {
                let f = VectorFile::open(&d.join(FLAT_VECTORS))?;
                ids.extend_from_slice(f.ids());
                data.extend_from_slice(f.to_embeddings().as_slice());
            }
            let vectors = Embeddings::new(m0.dim, data);
            write_index_dir(output, whole(m0.dim), |tmp| {
                write_vectors(&tmp.join(FLAT_VECTORS), &ids, &vectors)?;
                Ok(vec![FLAT_VECTORS.to_string()])
            })
        }
        MAXSIM => {
            let (mut ids, mut offsets, mut data) = (Vec::new(), vec![0usize], Vec::new());
            for (d, _, _) in &ordered {
                let (part_ids, docs) = read_multi_vectors(&d.join(TOKENS_FILE))?;
                ids.extend(part_ids);
                let base = data.len() / m0.dim.max(1);
                offsets.extend(docs.offsets()[1..].iter().map(|o| o + base));
                data.extend_from_slice(docs.as_slice());
            }
            let docs = MultiVectors::new(m0.dim, offsets, data)?;
            write_index_dir(output, whole(m0.dim), |tmp| {
                write_multi_vectors(&tmp.join(TOKENS_FILE), &ids, &docs)?;
                Ok(vec![TOKENS_FILE.to_string()])
            })
        }
        other => Err(Error::InvalidArgument(format!(
            "{other} parts are searched together (search --index PART...), not merged; \
             to get one {other} index, merge the vectors (encode --shard, merge) and index them"
        ))),
    }
}
