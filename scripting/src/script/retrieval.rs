//! Rhai bindings for lexical and learned sparse retrieval, cross-encoders,
//! re-ranking and hard-negative mining. Conversions only: the logic is in
//! `rankbook`.

use std::path::Path;
use std::sync::Arc;

use rankbook::analysis::AnalyzerSpec;
use rankbook::data::{BeirDataset, Run};
use rankbook::index::{Bm25Index, Bm25Params, Retriever, SparseIndex};
use rankbook::mining::{
    self, MarginKind, Mined, MiningModel, MiningOptions, Sampling, mine, write_mined,
};
use rankbook::model::cross_encoder::{CrossEncoder, CrossEncoderOptions};
use rankbook::model::splade::{SpladeEncoder, SpladeOptions};
use rankbook::rerank::{RerankOptions, Reranker, rerank};
use rhai::{Array, Dynamic, Engine, Map};

use super::bindings::{
    Model, RhaiResult, Texts, check_keys, err, opt_bool, opt_f64, opt_precision, opt_str,
    with_default_cache,
};

/// A BM25 or SPLADE index.
#[derive(Clone)]
pub struct TermIndex(pub Arc<dyn Retriever>);

/// A SPLADE encoder.
#[derive(Clone)]
pub struct Splade(pub Arc<SpladeEncoder>);

/// A cross-encoder.
#[derive(Clone)]
pub struct Cross(pub Arc<CrossEncoder>);

/// Mined negatives.
#[derive(Clone)]
pub struct Negatives(pub Arc<Vec<Mined>>);

fn count(opts: &Map, key: &str, default: usize) -> RhaiResult<usize> {
    let v = opt_f64(opts, key, default as f64)?;
    if v < 0.0 || v.fract() != 0.0 {
        return Err(err(format!("option {key}: expected a count, found {v}")));
    }
    Ok(v as usize)
}

fn bm25(corpus: Texts, opts: Map) -> RhaiResult<TermIndex> {
    check_keys(&opts, &["k1", "b", "stemmer", "stopwords", "lowercase"])?;
    let d = AnalyzerSpec::default();
    let spec = AnalyzerSpec {
        stemmer: opt_str(&opts, "stemmer", &d.stemmer)?,
        stopwords: opt_str(&opts, "stopwords", &d.stopwords)?,
        lowercase: !opts.contains_key("lowercase") || opt_bool(&opts, "lowercase")?,
    };
    let p = Bm25Params::default();
    let params = Bm25Params {
        k1: opt_f64(&opts, "k1", p.k1 as f64)? as f32,
        b: opt_f64(&opts, "b", p.b as f64)? as f32,
    };
    let index = Bm25Index::build(&corpus.0, &spec, params, super::host::progress().as_ref())
        .map_err(err)?;
    Ok(TermIndex(Arc::new(index)))
}

fn splade(spec: &str, opts: Map) -> RhaiResult<Splade> {
    check_keys(&opts, &["top_k", "max_length", "device", "precision"])?;
    let o = SpladeOptions {
        device: opt_str(&opts, "device", "cpu")?,
        max_length: opts
            .contains_key("max_length")
            .then(|| count(&opts, "max_length", 0))
            .transpose()?,
        top_k: opts
            .contains_key("top_k")
            .then(|| count(&opts, "top_k", 0))
            .transpose()?,
        precision: opt_precision(&opts)?.unwrap_or_default(),
    };
    SpladeEncoder::load(spec, &o)
        .map(|m| Splade(Arc::new(m)))
        .map_err(err)
}

/// Loads a cross-encoder (option `precision`).
fn cross_encoder(spec: &str, opts: Map) -> RhaiResult<Cross> {
    check_keys(&opts, &["precision"])?;
    let options = CrossEncoderOptions {
        precision: opt_precision(&opts)?.unwrap_or_default(),
        ..Default::default()
    };
    CrossEncoder::load(spec, &options)
        .map(|c| Cross(Arc::new(c)))
        .map_err(err)
}

pub(crate) fn rerank_with(
    r: Reranker,
    run: &Run,
    queries: &Texts,
    corpus: &Texts,
    opts: &Map,
) -> RhaiResult<Run> {
    check_keys(opts, &["k", "skip_missing", "batch_size"])?;
    let d = RerankOptions::default();
    let (k, batch_size) = (
        count(opts, "k", d.k)?,
        count(opts, "batch_size", d.batch_size)?,
    );
    let skip_missing = opt_bool(opts, "skip_missing")?;
    with_default_cache(|encode| {
        let o = RerankOptions {
            k,
            batch_size,
            skip_missing,
            encode: encode.clone(),
        };
        rerank(r, run, &queries.0, &corpus.0, &o)
    })
    .map(|(run, _)| run)
    .map_err(err)
}

/// Mines with a bi-encoder or a ColBERT (options as `mine`'s doc says).
pub(super) fn mine_with(m: MiningModel, d: BeirDataset, opts: Map) -> RhaiResult<Negatives> {
    check_keys(
        &opts,
        &[
            "split",
            "depth",
            "negatives",
            "margin",
            "margin_kind",
            "cross_encoder",
            "ce_max_score",
            "sampling",
            "seed",
            "shard",
        ],
    )?;
    let d0 = MiningOptions::default();
    let depth: Vec<i64> = match opts.get("depth") {
        None => vec![d0.depth.0 as i64, d0.depth.1 as i64],
        Some(v) => v
            .clone()
            .into_typed_array::<i64>()
            .map_err(|_| err("option depth: expected [from, to], e.g. [10, 100]"))?,
    };
    let [lo, hi] = depth[..] else {
        return Err(err("option depth: expected [from, to], e.g. [10, 100]"));
    };
    let margin = match opts.get("margin") {
        None => None,
        Some(_) => Some((
            opt_f64(&opts, "margin", 0.0)? as f32,
            MarginKind::parse(&opt_str(&opts, "margin_kind", MarginKind::Absolute.name())?)
                .map_err(err)?,
        )),
    };
    let ce = match opts.get("cross_encoder") {
        None => None,
        Some(v) => Some(
            v.clone()
                .try_cast::<Cross>()
                .ok_or_else(|| err("option cross_encoder: expected a cross_encoder(...)"))?,
        ),
    };
    let ce_max = opt_f64(&opts, "ce_max_score", 0.0)? as f32;
    let sampling = Sampling::parse(&opt_str(&opts, "sampling", d0.sampling.name())?)
        .map_err(|e| err(format!("option sampling: {e}")))?;
    let qrels = d
        .qrels(&opt_str(&opts, "split", mining::DEFAULT_SPLIT)?)
        .map_err(err)?;
    let (negatives, seed) = (
        count(&opts, "negatives", d0.negatives)?,
        count(&opts, "seed", d0.seed as usize)? as u64,
    );
    let shard = super::sharding::opt_shard(&opts)?;
    with_default_cache(|encode| {
        let o = MiningOptions {
            depth: (lo.max(0) as usize, hi.max(0) as usize),
            negatives,
            margin,
            cross_encoder: ce.as_ref().map(|c| (c.0.as_ref(), ce_max)),
            sampling,
            seed,
            shard,
            encode: encode.clone(),
        };
        mine(m.clone(), &d, &qrels, &o)
    })
    .map(|v| Negatives(Arc::new(v)))
    .map_err(err)
}

/// The encoder an index's queries go through, as text (unit for BM25).
pub fn encoder_of(index: &dyn Retriever) -> RhaiResult<Dynamic> {
    Ok(match index.encoder().map_err(err)? {
        Some(e) => e.to_string().into(),
        None => Dynamic::UNIT,
    })
}

/// Registers the retrieval types and functions.
pub fn register(engine: &mut Engine) {
    engine
        .register_type_with_name::<TermIndex>("TermIndex")
        .register_fn("bm25", |c: Texts| bm25(c, Map::new()))
        .register_fn("bm25", bm25)
        .register_fn(
            "search",
            |i: &mut TermIndex, q: Texts, k: i64| -> RhaiResult<Run> {
                let k = usize::try_from(k).map_err(|_| err("k must be positive"))?;
                let progress = super::host::progress();
                let opts = rankbook::model::EncodeOptions {
                    progress: progress.as_ref(),
                    ..Default::default()
                };
                i.0.search(&q.0, k, &opts).map_err(err)
            },
        )
        .register_fn("save", |i: &mut TermIndex, p: &str| -> RhaiResult<()> {
            i.0.save(Path::new(p)).map_err(err)
        })
        .register_fn("len", |i: &mut TermIndex| i.0.len() as i64)
        .register_get("encoder", |i: &mut TermIndex| encoder_of(i.0.as_ref()))
        .register_fn("to_string", |i: &mut TermIndex| {
            format!("{} index of {} docs", i.0.kind(), i.0.len())
        });

    engine
        .register_type_with_name::<Splade>("Splade")
        .register_fn("splade", |s: &str| splade(s, Map::new()))
        .register_fn("splade", splade)
        .register_fn("index", |m: Splade, c: Texts| -> RhaiResult<TermIndex> {
            let i = SparseIndex::build(m.0, &c.0, super::host::progress().as_ref()).map_err(err)?;
            Ok(TermIndex(Arc::new(i)))
        })
        .register_fn(
            "terms",
            |m: &mut Splade, text: &str, n: i64| -> RhaiResult<Map> {
                let v =
                    m.0.encode(&[text], 1, &rankbook::progress::NoProgress)
                        .map_err(err)?;
                let top = m.0.top_terms(&v[0], n.max(0) as usize);
                Ok(top
                    .into_iter()
                    .map(|(t, w)| (t.into(), Dynamic::from_float(w as f64)))
                    .collect())
            },
        )
        .register_fn("to_string", |m: &mut Splade| {
            format!("SPLADE model {}", m.0.name())
        });

    engine
        .register_type_with_name::<Cross>("CrossEncoder")
        .register_fn("cross_encoder", |s: &str| cross_encoder(s, Map::new()))
        .register_fn("cross_encoder", cross_encoder)
        .register_fn(
            "score",
            |c: &mut Cross, query: &str, docs: Array| -> RhaiResult<Array> {
                let docs: Vec<String> = docs.into_iter().map(|d| d.to_string()).collect();
                let pairs: Vec<(&str, &str)> = docs.iter().map(|d| (query, d.as_str())).collect();
                let s = c.0.predict(&pairs, 32).map_err(err)?;
                Ok(s.into_iter()
                    .map(|x| Dynamic::from_float(x as f64))
                    .collect())
            },
        )
        .register_fn("save", |c: &mut Cross, dir: &str| -> RhaiResult<()> {
            c.0.save(std::path::Path::new(dir)).map_err(err)
        })
        .register_fn("to_string", |c: &mut Cross| {
            format!("cross-encoder {}", c.0.name())
        });

    engine
        .register_fn(
            "rerank",
            |m: Cross, run: Run, q: Texts, c: Texts, opts: Map| {
                rerank_with(Reranker::Cross(&m.0), &run, &q, &c, &opts)
            },
        )
        .register_fn(
            "rerank",
            |m: Model, run: Run, q: Texts, c: Texts, opts: Map| {
                rerank_with(Reranker::Bi(&m.0), &run, &q, &c, &opts)
            },
        );

    engine
        .register_type_with_name::<Negatives>("Negatives")
        .register_fn("mine", |m: Model, d: BeirDataset, opts: Map| {
            mine_with(m.0.into(), d, opts)
        })
        .register_fn("len", |n: &mut Negatives| n.0.len() as i64)
        .register_fn("save", |n: &mut Negatives, p: &str| -> RhaiResult<()> {
            write_mined(Path::new(p), &n.0).map_err(err)
        })
        .register_fn("to_string", |n: &mut Negatives| {
            let negs: usize = n.0.iter().map(|m| m.negative_ids.len()).sum();
            format!("{negs} negatives for {} (query, positive) pairs", n.0.len())
        });
}
