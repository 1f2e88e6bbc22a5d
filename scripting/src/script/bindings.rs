//! Registration of rankbook's types and functions with a Rhai engine.

use std::path::Path;
use std::sync::Arc;

use rankbook::cache::EmbeddingCache;
use rankbook::compute::Precision;
use rankbook::data::{BeirDataset, Qrels, Run, TextRecord};
use rankbook::eval::{
    CompareOptions, Comparison, Correction, EvalOptions, Evaluation, Test, compare, evaluate,
    format_comparison, format_table,
};
use rankbook::fusion::{FuseOptions, fuse_with};
use rankbook::index::{DEFAULT_FACTORY, DenseIndex, Metric, Retriever};
use rankbook::model::{EncodeOptions, ModelOptions, SentenceEncoder};
use rankbook::present::format_comparison_html;
use rankbook::vectors::Embeddings;
use rhai::{Array, Dynamic, Engine, EvalAltResult, Map};

pub(crate) type RhaiResult<T> = Result<T, Box<EvalAltResult>>;

pub(crate) fn err(e: impl std::fmt::Display) -> Box<EvalAltResult> {
    e.to_string().into()
}

/// A loaded bi-encoder (shared: scripts copy handles freely).
#[derive(Clone)]
pub struct Model(pub Arc<SentenceEncoder>);

/// A list of texts with ids (a corpus or a query set).
#[derive(Clone)]
pub struct Texts(pub Arc<Vec<TextRecord>>);

fn text_map(r: &TextRecord) -> Map {
    let mut m = Map::new();
    m.insert("id".into(), r.id.clone().into());
    m.insert("text".into(), r.text.clone().into());
    m
}

/// `for t in texts`: each text as `#{id, text}`.
impl IntoIterator for Texts {
    type Item = Map;
    type IntoIter = std::vec::IntoIter<Map>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter().map(text_map).collect::<Vec<_>>().into_iter()
    }
}

/// A dense index.
#[derive(Clone)]
pub struct Index(pub Arc<dyn Retriever>);

pub(crate) fn strings(a: &Array) -> RhaiResult<Vec<String>> {
    a.iter()
        .map(|v| {
            v.clone()
                .into_immutable_string()
                .map(|s| s.to_string())
                .map_err(|t| err(format!("expected an array of strings, found a {t}")))
        })
        .collect()
}

/// Checks an options map against the known keys (an unknown key names the known ones).
pub(crate) fn check_keys(opts: &Map, known: &[&str]) -> RhaiResult<()> {
    for k in opts.keys() {
        if !known.contains(&k.as_str()) {
            return Err(err(format!(
                "unknown option \"{k}\" (known: {})",
                known.join(", ")
            )));
        }
    }
    Ok(())
}

/// A whole-number option (>= 0), if given.
pub(crate) fn opt_usize(opts: &Map, key: &str) -> RhaiResult<Option<usize>> {
    match opts.get(key) {
        None => Ok(None),
        Some(v) => v
            .as_int()
            .ok()
            .and_then(|i| usize::try_from(i).ok())
            .map(Some)
            .ok_or_else(|| {
                err(format!(
                    "option {key}: expected a whole number >= 0, found {v}"
                ))
            }),
    }
}

pub(crate) fn opt_str(opts: &Map, key: &str, default: &str) -> RhaiResult<String> {
    match opts.get(key) {
        None => Ok(default.to_string()),
        Some(v) => v
            .clone()
            .into_string()
            .map_err(|t| err(format!("option {key}: expected a string, found {t}"))),
    }
}

/// The `precision` option (f32, bf16, int8), if given.
pub(crate) fn opt_precision(opts: &Map) -> RhaiResult<Option<Precision>> {
    opts.contains_key("precision")
        .then(|| opt_str(opts, "precision", "f32")?.parse().map_err(err))
        .transpose()
}

/// Loads a bi-encoder with the options `model(spec, #{...})` takes.
fn model_with(spec: &str, opts: Map) -> RhaiResult<Model> {
    check_keys(&opts, &["precision", "max_length", "device"])?;
    let options = ModelOptions {
        device: opt_str(&opts, "device", &ModelOptions::default().device)?,
        max_length: opt_usize(&opts, "max_length")?,
        precision: opt_precision(&opts)?,
        ..Default::default()
    };
    SentenceEncoder::load(spec, &options)
        .map(|m| Model(Arc::new(m)))
        .map_err(err)
}

pub(crate) fn opt_f64(opts: &Map, key: &str, default: f64) -> RhaiResult<f64> {
    match opts.get(key) {
        None => Ok(default),
        Some(v) => v
            .as_float()
            .or_else(|_| v.as_int().map(|i| i as f64))
            .map_err(|t| err(format!("option {key}: expected a number, found {t}"))),
    }
}

pub(crate) fn opt_bool(opts: &Map, key: &str) -> RhaiResult<bool> {
    match opts.get(key) {
        None => Ok(false),
        Some(v) => v
            .as_bool()
            .map_err(|t| err(format!("option {key}: expected true/false, found {t}"))),
    }
}

fn eval_options(opts: &Map) -> RhaiResult<EvalOptions> {
    Ok(EvalOptions {
        complete: opt_bool(opts, "complete")?,
        ignore_identical_ids: opt_bool(opts, "ignore_identical_ids")?,
    })
}

fn measures_of(measures: &Array) -> RhaiResult<Vec<rankbook::eval::Measure>> {
    rankbook::eval::parse_measures(&strings(measures)?.join(",")).map_err(err)
}

fn runs_of(a: &Array) -> RhaiResult<Vec<Run>> {
    a.iter()
        .map(|v| {
            v.clone()
                .try_cast::<Run>()
                .ok_or_else(|| err("expected an array of runs"))
        })
        .collect()
}

fn evaluation_map(e: &Evaluation) -> Map {
    e.measures
        .iter()
        .zip(&e.means)
        .map(|(m, v)| (m.to_string().into(), Dynamic::from_float(*v)))
        .collect()
}

/// Query ids given as an array of strings.
fn id_set(ids: &Array) -> RhaiResult<std::collections::HashSet<String>> {
    Ok(strings(ids)?.into_iter().collect())
}

/// A dense index of `corpus` of type `factory` (Flat, a faiss type, lance...).
fn dense_index(m: Model, corpus: Texts, factory: &str) -> RhaiResult<Index> {
    with_default_cache(|opts| DenseIndex::build(m.0, &corpus.0, factory, Metric::default(), opts))
        .map(|(i, _)| Index(Arc::new(i)))
        .map_err(err)
}

/// Runs `f` with encoding options that read and fill the default embedding cache.
pub(super) fn with_default_cache<T>(f: impl FnOnce(&EncodeOptions) -> T) -> T {
    let cache = EmbeddingCache::new(EmbeddingCache::default_root());
    // In a notebook, an interrupt stops encoding between batches.
    let host = super::host::host();
    let progress = super::host::progress();
    f(&EncodeOptions {
        cache: Some(&cache),
        cancel: host.as_ref().map(|h| &h.cancel),
        progress: progress.as_ref(),
        ..Default::default()
    })
}

/// Registers every rankbook type and function on `engine`.
pub fn register(engine: &mut Engine) {
    super::training::register(engine);
    super::retrieval::register(engine);
    super::plots::register(engine);
    super::late::register(engine);
    super::sharding::register(engine);
    engine
        .register_type_with_name::<Model>("Model")
        .register_fn("model", |spec: &str| model_with(spec, Map::new()))
        .register_fn("model", model_with)
        .register_fn("precisions", || -> Array {
            Precision::supported()
                .into_iter()
                .map(|p| Dynamic::from(p.to_string()))
                .collect()
        })
        .register_get("precision", |m: &mut Model| m.0.precision().to_string())
        .register_fn(
            "encode",
            |m: &mut Model, texts: Array| -> RhaiResult<Embeddings> {
                let texts = strings(&texts)?;
                let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
                with_default_cache(|o| m.0.encode(&refs, o))
                    .map(|(e, _)| e)
                    .map_err(err)
            },
        )
        .register_fn(
            "score",
            |m: &mut Model, query: &str, docs: Array| -> RhaiResult<Array> {
                let docs = strings(&docs)?;
                let refs: Vec<&str> = docs.iter().map(String::as_str).collect();
                with_default_cache(|o| rankbook::rerank::bi_encoder_scores(&m.0, query, &refs, o))
                    .map(|s| {
                        s.into_iter()
                            .map(|x| Dynamic::from_float(x as f64))
                            .collect()
                    })
                    .map_err(err)
            },
        )
        .register_fn("save", |m: &mut Model, dir: &str| -> RhaiResult<()> {
            m.0.save(std::path::Path::new(dir)).map_err(err)
        })
        .register_get("dim", |m: &mut Model| m.0.dim() as i64)
        .register_fn("to_string", |m: &mut Model| {
            format!("Model({}, dim {})", m.0.dir().display(), m.0.dim())
        });

    engine
        .register_type_with_name::<Embeddings>("Embeddings")
        .register_fn("len", |e: &mut Embeddings| e.len() as i64)
        .register_get("dim", |e: &mut Embeddings| e.dim() as i64)
        .register_indexer_get(|e: &mut Embeddings, i: i64| -> RhaiResult<Array> {
            let i = usize::try_from(i)
                .ok()
                .filter(|i| *i < e.len())
                .ok_or_else(|| err(format!("index {i} out of range for {} vectors", e.len())))?;
            Ok(e.row(i)
                .iter()
                .map(|x| Dynamic::from_float(*x as f64))
                .collect())
        })
        .register_fn("to_string", |e: &mut Embeddings| {
            format!("Embeddings({} x {})", e.len(), e.dim())
        });

    engine
        .register_type_with_name::<BeirDataset>("Dataset")
        .register_fn("beir", |dir: &str| -> RhaiResult<BeirDataset> {
            BeirDataset::open(std::path::Path::new(dir)).map_err(err)
        })
        .register_fn("corpus", |d: &mut BeirDataset| {
            Texts(Arc::new(d.corpus.clone()))
        })
        .register_fn("queries", |d: &mut BeirDataset| {
            Texts(Arc::new(d.queries.clone()))
        })
        .register_fn("queries", |d: &mut BeirDataset, q: Qrels| {
            Texts(Arc::new(d.judged_queries(&q)))
        })
        .register_fn(
            "qrels",
            |d: &mut BeirDataset, split: &str| -> RhaiResult<Qrels> { d.qrels(split).map_err(err) },
        );

    engine
        .register_type_with_name::<Texts>("Texts")
        .register_fn("len", |t: &mut Texts| t.0.len() as i64)
        .register_indexer_get(|t: &mut Texts, i: i64| -> RhaiResult<Map> {
            let r = usize::try_from(i)
                .ok()
                .and_then(|i| t.0.get(i))
                .ok_or_else(|| err(format!("index {i} out of range for {} texts", t.0.len())))?;
            Ok(text_map(r))
        })
        .register_iterator::<Texts>();

    engine
        .register_type_with_name::<Index>("Index")
        .register_fn("index", |m: Model, corpus: Texts| {
            dense_index(m, corpus, DEFAULT_FACTORY)
        })
        .register_fn("index", dense_index)
        .register_fn("index_backends", || -> Array {
            rankbook::index::index_backends()
                .into_iter()
                .map(|b| Dynamic::from(b.to_string()))
                .collect()
        })
        .register_fn("load_index", |path: &str| -> RhaiResult<Dynamic> {
            super::sharding::open_index(&[path.into()])
        })
        .register_fn("save", |i: &mut Index, path: &str| -> RhaiResult<()> {
            i.0.save(Path::new(path)).map_err(err)
        })
        .register_fn("len", |i: &mut Index| i.0.len() as i64)
        .register_fn(
            "set_parameter",
            |i: &mut Index, name: &str, value: Dynamic| -> RhaiResult<()> {
                let v = value
                    .as_float()
                    .or_else(|_| value.as_int().map(|n| n as f64))
                    .map_err(|_| err(format!("{name}: expected a number")))?;
                i.0.set_parameter(name, v).map_err(err)
            },
        )
        .register_get("encoder", |i: &mut Index| {
            super::retrieval::encoder_of(i.0.as_ref())
        })
        .register_fn(
            "search",
            |i: &mut Index, q: Texts, k: i64| -> RhaiResult<Run> {
                let k = usize::try_from(k).map_err(|_| err("k must be positive"))?;
                with_default_cache(|opts| i.0.search(&q.0, k, opts)).map_err(err)
            },
        );

    engine
        .register_type_with_name::<Qrels>("Qrels")
        .register_fn("load_qrels", |p: &str| -> RhaiResult<Qrels> {
            Qrels::read(std::path::Path::new(p)).map_err(err)
        })
        .register_fn("len", |q: &mut Qrels| q.len() as i64)
        .register_fn("query_ids", |q: &mut Qrels| -> Array {
            q.query_ids().map(|id| id.into()).collect()
        })
        .register_fn("filter", |q: &mut Qrels, ids: Array| -> RhaiResult<Qrels> {
            let keep = id_set(&ids)?;
            Ok(q.filter(|id| keep.contains(id)))
        })
        .register_fn("save", |q: &mut Qrels, p: &str| -> RhaiResult<()> {
            q.write(std::path::Path::new(p)).map_err(err)
        });

    engine
        .register_type_with_name::<Run>("Run")
        .register_fn("load_run", |p: &str| -> RhaiResult<Run> {
            Run::read(std::path::Path::new(p)).map_err(err)
        })
        .register_fn("len", |r: &mut Run| r.len() as i64)
        .register_fn("query_ids", |r: &mut Run| -> Array {
            r.query_ids().map(|id| id.into()).collect()
        })
        .register_fn("filter", |r: &mut Run, ids: Array| -> RhaiResult<Run> {
            let keep = id_set(&ids)?;
            Ok(r.filter(|id| keep.contains(id)))
        })
        .register_fn("cut", |r: &mut Run, k: i64| r.top_k(k.max(0) as usize))
        .register_fn("save", |r: &mut Run, p: &str| -> RhaiResult<()> {
            r.write(std::path::Path::new(p), "rankbook").map_err(err)
        })
        .register_fn("top", |r: &mut Run, qid: &str, k: i64| -> Array {
            r.top_of(qid, k.max(0) as usize)
                .into_iter()
                .map(|s| {
                    let mut m = Map::new();
                    m.insert("doc".into(), s.doc.clone().into());
                    m.insert("score".into(), Dynamic::from_float(s.score));
                    m.into()
                })
                .collect()
        });

    engine.register_fn(
        "evaluate",
        |q: Qrels, r: Run, measures: Array| -> RhaiResult<Map> {
            let ms = measures_of(&measures)?;
            Ok(evaluation_map(&evaluate(
                &q,
                &r,
                &ms,
                EvalOptions::default(),
            )))
        },
    );
    engine.register_fn(
        "evaluate",
        |q: Qrels, r: Run, measures: Array, opts: Map| -> RhaiResult<Map> {
            check_keys(&opts, &["complete", "ignore_identical_ids"])?;
            let ms = measures_of(&measures)?;
            Ok(evaluation_map(&evaluate(&q, &r, &ms, eval_options(&opts)?)))
        },
    );

    engine
        .register_type_with_name::<Comparison>("Comparison")
        .register_fn(
            "compare",
            |q: Qrels, runs: Map, measures: Array, opts: Map| -> RhaiResult<Comparison> {
                check_keys(
                    &opts,
                    &[
                        "baseline",
                        "test",
                        "correction",
                        "seed",
                        "complete",
                        "ignore_identical_ids",
                    ],
                )?;
                let named: Vec<(String, Run)> = runs
                    .iter()
                    .map(|(k, v)| {
                        v.clone()
                            .try_cast::<Run>()
                            .map(|r| (k.to_string(), r))
                            .ok_or_else(|| err(format!("runs.{k} is not a Run")))
                    })
                    .collect::<RhaiResult<_>>()?;
                let first = named.first().map(|(n, _)| n.clone()).unwrap_or_default();
                let baseline_name = opt_str(&opts, "baseline", &first)?;
                let baseline = named
                    .iter()
                    .position(|(n, _)| *n == baseline_name)
                    .ok_or_else(|| {
                        err(format!(
                            "baseline \"{baseline_name}\" is not among the runs"
                        ))
                    })?;
                let d = CompareOptions::default();
                let copts = CompareOptions {
                    test: Test::parse(&opt_str(&opts, "test", d.test.name())?).map_err(err)?,
                    correction: Correction::parse(&opt_str(
                        &opts,
                        "correction",
                        d.correction.name(),
                    )?)
                    .map_err(err)?,
                    seed: opt_f64(&opts, "seed", d.seed as f64)? as u64,
                    ..d
                };
                compare(
                    &q,
                    &named,
                    baseline,
                    &measures_of(&measures)?,
                    eval_options(&opts)?,
                    copts,
                )
                .map_err(err)
            },
        )
        .register_fn("to_string", |c: &mut Comparison| format_comparison(c))
        .register_fn("html", |c: &mut Comparison| format_comparison_html(c))
        .register_fn(
            "p",
            |c: &mut Comparison, system: &str, measure: &str| -> RhaiResult<f64> {
                let (s, m) = locate(c, system, measure)?;
                Ok(c.systems[s].p[m])
            },
        )
        .register_fn(
            "deltas",
            |c: &mut Comparison, system: &str, measure: &str| -> RhaiResult<Map> {
                let (s, m) = locate(c, system, measure)?;
                Ok(c.deltas(s, m)
                    .into_iter()
                    .map(|(q, d)| (q.into(), Dynamic::from_float(d)))
                    .collect())
            },
        );

    engine.register_fn("fuse", |runs: Array, opts: Map| -> RhaiResult<Run> {
        check_keys(&opts, &["method", "k", "depth"])?;
        let d = FuseOptions::default();
        let o = FuseOptions {
            method: opt_str(&opts, "method", &d.method)?,
            k: opt_f64(&opts, "k", d.k)?,
            depth: opt_f64(&opts, "depth", d.depth as f64)? as usize,
        };
        let runs = runs_of(&runs)?;
        let refs: Vec<&Run> = runs.iter().collect();
        fuse_with(&refs, &o).map_err(err)
    });
    engine.register_fn(
        "eval_table",
        |q: Qrels, r: Run, measures: Array| -> RhaiResult<String> {
            let names = strings(&measures)?;
            let ms = rankbook::eval::parse_measures(&names.join(",")).map_err(err)?;
            Ok(format_table(&evaluate(&q, &r, &ms, EvalOptions::default())))
        },
    );
    let cache_map = |info: rankbook::cache::CacheInfo| -> Map {
        let mut m = Map::new();
        m.insert(
            "dir".into(),
            EmbeddingCache::default_root().display().to_string().into(),
        );
        m.insert("keys".into(), (info.keys as i64).into());
        m.insert("files".into(), (info.files as i64).into());
        m.insert("bytes".into(), (info.bytes as i64).into());
        m
    };
    engine
        .register_fn("cache_info", move || -> RhaiResult<Map> {
            let c = EmbeddingCache::new(EmbeddingCache::default_root());
            c.info().map(cache_map).map_err(err)
        })
        .register_fn("cache_clear", move || -> RhaiResult<Map> {
            let c = EmbeddingCache::new(EmbeddingCache::default_root());
            c.clear().map(cache_map).map_err(err)
        });
    engine
        .register_fn("fixed", |x: f64, digits: i64| {
            format!("{x:.*}", digits.clamp(0, 17) as usize)
        })
        .register_fn("fixed", |x: i64, digits: i64| {
            format!("{:.*}", digits.clamp(0, 17) as usize, x as f64)
        });
}

fn locate(c: &Comparison, system: &str, measure: &str) -> RhaiResult<(usize, usize)> {
    let s = c
        .systems
        .iter()
        .position(|x| x.name == system)
        .ok_or_else(|| err(format!("no system \"{system}\" in the comparison")))?;
    let m = c
        .measures
        .iter()
        .position(|x| x.to_string() == measure)
        .ok_or_else(|| err(format!("no measure \"{measure}\" in the comparison")))?;
    Ok((s, m))
}
