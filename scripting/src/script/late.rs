//! Rhai bindings for late interaction (ColBERT): load or build a model, index
//! a corpus (exact MaxSim or PLAID), encode token vectors, re-rank, mine. Conversions only: the model
//! and the index are `rankbook::model::colbert` and `rankbook::index`.

use std::path::Path;
use std::sync::Arc;

use rankbook::data::{BeirDataset, Run};
use rankbook::index::{MaxSimIndex, PlaidBuild, PlaidIndex, build_colbert_index};
use rankbook::model::colbert::{BuildOptions, ColbertEncoder, ColbertOptions, Side, build_colbert};
use rankbook::rerank::Reranker;
use rhai::{Array, Dynamic, Engine, Map};

use super::retrieval::{mine_with, rerank_with};

use super::bindings::{
    Index, RhaiResult, Texts, check_keys, err, opt_precision, opt_usize, strings,
    with_default_cache,
};

/// A ColBERT model in a script.
#[derive(Clone)]
pub struct Colbert(pub Arc<ColbertEncoder>);

fn load(spec: &str, opts: Map) -> RhaiResult<Colbert> {
    check_keys(&opts, &["precision"])?;
    let options = ColbertOptions {
        precision: opt_precision(&opts)?,
        ..Default::default()
    };
    ColbertEncoder::load(spec, &options)
        .map(|m| Colbert(Arc::new(m)))
        .map_err(err)
}

/// Builds a ColBERT from `encoder` into `out` (options dim, seed) and loads it.
fn colbert_from(encoder: &str, out: &str, opts: Map) -> RhaiResult<Colbert> {
    check_keys(&opts, &["dim", "seed"])?;
    let d = BuildOptions::default();
    let int = |key: &str, default: usize| {
        Ok::<_, Box<rhai::EvalAltResult>>(opt_usize(&opts, key)?.unwrap_or(default))
    };
    let build = BuildOptions {
        dim: int("dim", d.dim)?,
        seed: int("seed", d.seed as usize)? as u64,
        ..d
    };
    build_colbert(encoder, Path::new(out), &build).map_err(err)?;
    load(out, Map::new())
}

/// Compresses a corpus into a PLAID index (options nbits, centroids, seed).
fn plaid(m: Colbert, corpus: Texts, opts: Map) -> RhaiResult<Index> {
    check_keys(&opts, &["nbits", "centroids", "seed"])?;
    let d = PlaidBuild::default();
    let build = PlaidBuild {
        nbits: opt_usize(&opts, "nbits")?.map_or(d.nbits, |n| n as u32),
        centroids: opt_usize(&opts, "centroids")?,
        seed: opt_usize(&opts, "seed")?.map_or(d.seed, |n| n as u64),
        ..d
    };
    with_default_cache(|o| PlaidIndex::build(m.0, &corpus.0, o, &build))
        .map(|(i, _)| Index(Arc::new(i)))
        .map_err(err)
}

/// Registers the ColBERT type and functions.
pub fn register(engine: &mut Engine) {
    engine
        .register_type_with_name::<Colbert>("ColBERT")
        .register_fn("colbert", |spec: &str| load(spec, Map::new()))
        .register_fn("colbert", load)
        .register_fn("colbert_from", |e: &str, out: &str| {
            colbert_from(e, out, Map::new())
        })
        .register_fn("colbert_from", colbert_from)
        .register_fn("index", |m: Colbert, corpus: Texts| -> RhaiResult<Index> {
            with_default_cache(|o| MaxSimIndex::build(m.0, &corpus.0, o))
                .map(|(i, _)| Index(Arc::new(i)))
                .map_err(err)
        })
        .register_fn(
            "index",
            |m: Colbert, corpus: Texts, factory: &str| -> RhaiResult<Index> {
                with_default_cache(|o| {
                    build_colbert_index(m.0, &corpus.0, factory, &PlaidBuild::default(), o)
                })
                .map(|(i, _)| Index(Arc::from(i)))
                .map_err(err)
            },
        )
        .register_fn("plaid", |m: Colbert, corpus: Texts| {
            plaid(m, corpus, Map::new())
        })
        .register_fn("plaid", plaid)
        .register_fn(
            "encode",
            |m: &mut Colbert, texts: Array, kind: &str| -> RhaiResult<Array> {
                let side = Side::parse(kind).map_err(err)?;
                let texts = strings(&texts)?;
                let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
                let (v, _) = with_default_cache(|o| m.0.encode(&refs, side, o)).map_err(err)?;
                let dim = v.dim();
                Ok((0..v.len())
                    .map(|i| {
                        let rows: Array = v
                            .get(i)
                            .chunks_exact(dim)
                            .map(|r| {
                                let row: Array =
                                    r.iter().map(|x| Dynamic::from_float(*x as f64)).collect();
                                Dynamic::from(row)
                            })
                            .collect();
                        Dynamic::from(rows)
                    })
                    .collect())
            },
        )
        .register_fn(
            "rerank",
            |m: Colbert, run: Run, q: Texts, c: Texts, opts: Map| {
                rerank_with(Reranker::Colbert(&m.0), &run, &q, &c, &opts)
            },
        )
        .register_fn("mine", |m: Colbert, d: BeirDataset, opts: Map| {
            mine_with(m.0.into(), d, opts)
        })
        .register_get("dim", |m: &mut Colbert| m.0.dim() as i64)
        .register_fn("to_string", |m: &mut Colbert| {
            let c = m.0.config();
            format!(
                "ColBERT({}, dim {}, query length {}, document length {})",
                m.0.dir().display(),
                m.0.dim(),
                c.query_length,
                c.document_length
            )
        });
}
