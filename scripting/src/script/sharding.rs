//! Rhai bindings for sharded work: a script's slice of some texts, an index
//! opened from its parts, parts merged. Conversions only: the logic is
//! `rankbook::shard` and `rankbook::index`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rankbook::analysis::AnalyzerSpec;
use rankbook::data::TextRecord;
use rankbook::index::{
    Bm25Counts, Bm25Params, DEFAULT_FACTORY, DenseIndex, MaxSimIndex, Metric, OpenOptions,
    Retriever, SparseIndex, open_parts,
};
use rankbook::progress::NoProgress;
use rankbook::shard::{PartInfo, Shard, merge_parts, write_index_parts};
use rhai::{Array, Dynamic, Engine, Map};

use super::bindings::{Index, Model, RhaiResult, Texts, err, strings, with_default_cache};
use super::late::Colbert;
use super::retrieval::{Splade, TermIndex};

/// Writes `n` index parts of `corpus` under `dir` with `build`; their paths.
fn parts(
    corpus: &Texts,
    n: i64,
    dir: &str,
    build: impl FnMut(&[TextRecord], &Path, PartInfo) -> rankbook::Result<()>,
) -> RhaiResult<Array> {
    let n = usize::try_from(n).map_err(|_| err("the number of parts must be positive"))?;
    let paths = write_index_parts(&corpus.0, n, Path::new(dir), build).map_err(err)?;
    Ok(paths
        .into_iter()
        .map(|p| p.to_string_lossy().into_owned().into())
        .collect())
}

/// Opens an index folder, or every part of one, as a script value.
pub(super) fn open_index(paths: &[PathBuf]) -> RhaiResult<Dynamic> {
    let index: Arc<dyn Retriever> = open_parts(paths, &OpenOptions::default())
        .map_err(err)?
        .into();
    Ok(match index.kind() {
        "dense" | "ColBERT" | "PLAID" => Dynamic::from(Index(index)),
        _ => Dynamic::from(TermIndex(index)),
    })
}

/// The shard a script option or the launcher's environment names.
pub(super) fn opt_shard(opts: &Map) -> RhaiResult<Option<Shard>> {
    let arg = match opts.get("shard") {
        None => None,
        Some(v) => Some(
            v.clone()
                .into_string()
                .map_err(|_| err("option shard: expected \"i/N\""))?,
        ),
    };
    Shard::chosen(arg.as_deref()).map_err(err)
}

pub fn register(engine: &mut Engine) {
    engine
        .register_fn(
            "index_parts",
            |m: Model, corpus: Texts, n: i64, dir: &str| -> RhaiResult<Array> {
                with_default_cache(|opts| {
                    parts(&corpus, n, dir, |slice, path, info| {
                        let (index, _) = DenseIndex::build(
                            m.0.clone(),
                            slice,
                            DEFAULT_FACTORY,
                            Metric::default(),
                            opts,
                        )?;
                        index.save_part(path, Some(info))
                    })
                })
            },
        )
        .register_fn(
            "index_parts",
            |m: Colbert, corpus: Texts, n: i64, dir: &str| -> RhaiResult<Array> {
                with_default_cache(|opts| {
                    parts(&corpus, n, dir, |slice, path, info| {
                        let (index, _) = MaxSimIndex::build(m.0.clone(), slice, opts)?;
                        index.save_part(path, Some(info))
                    })
                })
            },
        )
        .register_fn(
            "index_parts",
            |m: Splade, corpus: Texts, n: i64, dir: &str| -> RhaiResult<Array> {
                parts(&corpus, n, dir, |slice, path, info| {
                    SparseIndex::build(m.0.clone(), slice, &NoProgress)?.save_part(path, Some(info))
                })
            },
        )
        .register_fn(
            "bm25_parts",
            |corpus: Texts, n: i64, dir: &str| -> RhaiResult<Array> {
                parts(&corpus, n, dir, |slice, path, info| {
                    let spec = AnalyzerSpec::default();
                    Bm25Counts::build(slice, &spec, Bm25Params::default(), &NoProgress)?
                        .save_part(path, info)
                })
            },
        )
        .register_fn("load_index", |parts: Array| -> RhaiResult<Dynamic> {
            let paths: Vec<PathBuf> = strings(&parts)?.into_iter().map(PathBuf::from).collect();
            open_index(&paths)
        })
        .register_fn("shard", |t: Texts, spec: &str| -> RhaiResult<Texts> {
            let s = Shard::parse(spec).map_err(err)?;
            Ok(Texts(Arc::new(t.0[s.range(t.0.len())].to_vec())))
        })
        .register_fn(
            "merge_parts",
            |output: &str, parts: Array| -> RhaiResult<Map> {
                let paths: Vec<PathBuf> = strings(&parts)?.into_iter().map(PathBuf::from).collect();
                let m = merge_parts(&paths, Path::new(output)).map_err(err)?;
                let mut out = Map::new();
                out.insert("kind".into(), m.kind.command().into());
                out.insert("parts".into(), (m.parts as i64).into());
                out.insert("rows".into(), (m.rows as i64).into());
                Ok(out)
            },
        );
}
