//! Rhai bindings for training: `trainer(#{...})`, `t.on_step(|s| ...)`,
//! `t.fit(model, data)` and `t.history()`, and the training data sources.
//! Only conversions live here; the trainer is `rankbook::train`.

use std::path::PathBuf;
use std::sync::Arc;

use rankbook::data::BeirDataset;
use rankbook::data::training::{DEFAULT_SAMPLE_SEED, TrainingData};
use rankbook::data::training_source::TrainingSource;
use rankbook::model::EncodeOptions;
use rankbook::model::head::HeadKind;
use rankbook::progress::NoProgress;
use rankbook::train::request::DEFAULT_EVAL_SPLIT;
use rankbook::train::{
    BatchSampler, EarlyStopping, EvalRecord, FitRequest, HistoryRecord, Prepared, StartModel,
    StepRecord, TrainCallback, TrainConfig, ValidationRequest,
};
use rhai::{Array, Dynamic, Engine, FnPtr, Map, NativeCallContext};

use super::bindings::{
    Model, RhaiResult, check_keys, err, opt_bool, opt_f64, opt_str, opt_usize, with_default_cache,
};
use super::late::Colbert;
use super::live::LiveView;
use super::retrieval::Cross;

/// Training data for a script: `training_pairs(dataset, "train")`, `load_triples(path)`, ...
#[derive(Clone)]
pub struct Data(pub Arc<TrainingData>);

/// One training sample as a map: `#{anchor, positive, negatives, teacher}`,
/// `#{text_a, text_b, score}` or `#{text, group}`.
fn sample_map(d: &TrainingData, i: usize) -> Map {
    let mut m = Map::new();
    let strs = |v: &[String]| -> Dynamic {
        v.iter()
            .map(|t| Dynamic::from(t.clone()))
            .collect::<Array>()
            .into()
    };
    match d {
        TrainingData::Examples(v) => {
            let e = &v[i];
            m.insert("anchor".into(), e.anchor.clone().into());
            m.insert("positive".into(), e.positive.clone().into());
            m.insert("negatives".into(), strs(&e.negatives));
            if let Some(t) = &e.teacher {
                let scores: Array = t
                    .iter()
                    .map(|x| Dynamic::from_float(f64::from(*x)))
                    .collect();
                m.insert("teacher".into(), scores.into());
            }
        }
        TrainingData::Pairs(v) => {
            m.insert("text_a".into(), v[i].text_a.clone().into());
            m.insert("text_b".into(), v[i].text_b.clone().into());
            m.insert("score".into(), Dynamic::from_float(f64::from(v[i].score)));
        }
        TrainingData::Groups(v) => {
            m.insert("text".into(), v[i].text.clone().into());
            m.insert("group".into(), v[i].group.clone().into());
        }
    }
    m
}

/// `for s in data`: each sample as a map.
impl IntoIterator for Data {
    type Item = Map;
    type IntoIter = std::vec::IntoIter<Map>;
    fn into_iter(self) -> Self::IntoIter {
        (0..self.0.len())
            .map(|i| sample_map(&self.0, i))
            .collect::<Vec<_>>()
            .into_iter()
    }
}

fn samples(d: &Data, n: i64, seed: i64) -> Array {
    d.0.sample_positions(n.max(0) as usize, seed as u64)
        .into_iter()
        .map(|i| sample_map(&d.0, i).into())
        .collect()
}

/// A configured trainer with its hooks and the history of its last run.
#[derive(Clone)]
pub struct Trainer {
    request: FitRequest,
    on_step: Option<FnPtr>,
    on_eval: Option<FnPtr>,
    on_epoch_end: Option<FnPtr>,
    history: Vec<HistoryRecord>,
}

const KEYS: &[&str] = &[
    "loss",
    "loss_params",
    "head",
    "epochs",
    "lr",
    "batch_size",
    "warmup",
    "schedule",
    "weight_decay",
    "max_grad_norm",
    "grad_accum",
    "batch_sampler",
    "max_steps",
    "seed",
    "dropout",
    "max_length",
    "eval_data",
    "eval_split",
    "eval_every",
    "measures",
    "patience",
    "load_best",
    "output",
    "checkpoint_every",
    "keep_checkpoints",
    "rerank_depth",
];

fn trainer(opts: Map) -> RhaiResult<Trainer> {
    check_keys(&opts, KEYS)?;
    let d = FitRequest::default();
    let c = &d.config;
    let loss_settings = match opts.get("loss_params") {
        None => Default::default(),
        Some(v) => v
            .clone()
            .try_cast::<Map>()
            .ok_or_else(|| err("option loss_params: expected a map, e.g. #{scale: 20.0}"))?
            .iter()
            .map(|(k, v)| {
                let x = v
                    .as_float()
                    .or_else(|_| v.as_int().map(|i| i as f64))
                    .or_else(|_| v.as_bool().map(|b| f64::from(u8::from(b))))
                    .map_err(|t| err(format!("loss_params.{k}: expected a number, found {t}")))?;
                Ok((k.to_string(), x))
            })
            .collect::<RhaiResult<_>>()?,
    };
    let validation = match opts.get("eval_data") {
        None => None,
        Some(v) => {
            let data = v
                .clone()
                .try_cast::<BeirDataset>()
                .ok_or_else(|| err("option eval_data: expected a dataset (beir(...))"))?;
            let split = opt_str(&opts, "eval_split", DEFAULT_EVAL_SPLIT)?;
            let mut r = ValidationRequest::new(data, &split);
            r.measures = opt_str(&opts, "measures", &r.measures)?;
            r.rerank_depth = opt_usize(&opts, "rerank_depth")?.unwrap_or(r.rerank_depth);
            Some(r)
        }
    };
    let request = FitRequest {
        config: TrainConfig {
            epochs: opt_usize(&opts, "epochs")?.unwrap_or(c.epochs),
            batch_size: opt_usize(&opts, "batch_size")?.unwrap_or(c.batch_size),
            max_steps: opt_usize(&opts, "max_steps")?,
            batch_sampler: BatchSampler::parse(&opt_str(&opts, "batch_sampler", "auto")?)
                .map_err(|e| err(format!("option batch_sampler: {e}")))?,
            grad_accum: opt_usize(&opts, "grad_accum")?.unwrap_or(c.grad_accum),
            lr: opt_f64(&opts, "lr", c.lr)?,
            warmup_ratio: opt_f64(&opts, "warmup", c.warmup_ratio)?,
            schedule: opt_str(&opts, "schedule", &c.schedule)?,
            weight_decay: opt_f64(&opts, "weight_decay", c.weight_decay)?,
            max_grad_norm: Some(opt_f64(
                &opts,
                "max_grad_norm",
                c.max_grad_norm.unwrap_or(0.0),
            )?)
            .filter(|n| *n > 0.0),
            seed: opt_usize(&opts, "seed")?.map_or(c.seed, |s| s as u64),
            dropout: !opts.contains_key("dropout") || opt_bool(&opts, "dropout")?,
            eval_every: opt_usize(&opts, "eval_every")?,
            checkpoint_every: opt_usize(&opts, "checkpoint_every")?,
            keep_checkpoints: opt_usize(&opts, "keep_checkpoints")?.unwrap_or(c.keep_checkpoints),
            early_stopping: opt_usize(&opts, "patience")?.map(|patience| EarlyStopping {
                measure: None,
                patience,
            }),
            load_best_at_end: opt_bool(&opts, "load_best")?,
        },
        loss: opt_str(&opts, "loss", &d.loss)?,
        loss_settings,
        head: opts
            .contains_key("head")
            .then(|| opt_str(&opts, "head", ""))
            .transpose()?
            .map(|h| HeadKind::parse(&h))
            .transpose()
            .map_err(err)?,
        // A script builds a ColBERT with `colbert_from` and trains that.
        colbert: None,
        max_length: opt_usize(&opts, "max_length")?,
        validation,
        output: opts
            .contains_key("output")
            .then(|| opt_str(&opts, "output", ""))
            .transpose()?
            .map(PathBuf::from),
        resume: None,
    };
    request.check().map_err(err)?;
    if request.validation.is_none() && opts.contains_key("measures") {
        rankbook::eval::parse_measures(&opt_str(&opts, "measures", "")?).map_err(err)?;
    }
    Ok(Trainer {
        request,
        on_step: None,
        on_eval: None,
        on_epoch_end: None,
        history: Vec::new(),
    })
}

fn step_map(r: &StepRecord) -> Map {
    let mut m = Map::new();
    m.insert("step".into(), (r.step as i64).into());
    m.insert("epoch".into(), (r.epoch as i64).into());
    m.insert("loss".into(), r.loss.into());
    m.insert("lr".into(), r.lr.into());
    m.insert("grad_norm".into(), r.grad_norm.into());
    m.insert("seconds".into(), r.seconds.into());
    m
}

fn eval_map(r: &EvalRecord) -> Map {
    let mut m = Map::new();
    m.insert("step".into(), (r.step as i64).into());
    m.insert("epoch".into(), (r.epoch as i64).into());
    let measures: Map = r
        .measures
        .iter()
        .map(|(k, v)| (k.as_str().into(), Dynamic::from_float(*v)))
        .collect();
    m.insert("measures".into(), measures.into());
    m.insert(
        "loss".into(),
        r.loss.map_or(Dynamic::UNIT, Dynamic::from_float),
    );
    m
}

fn record_map(r: &HistoryRecord) -> Map {
    let (kind, mut m) = match r {
        HistoryRecord::Step(s) => ("step", step_map(s)),
        HistoryRecord::Eval(e) => ("eval", eval_map(e)),
    };
    m.insert("type".into(), kind.into());
    m
}

/// Calls the script's closures from the trainer's hooks, and keeps the
/// host's live view current.
struct Hooks<'a, 'c> {
    ctx: &'a NativeCallContext<'c>,
    t: &'a Trainer,
    live: Option<LiveView>,
}

impl Hooks<'_, '_> {
    fn call(&self, f: &Option<FnPtr>, arg: Dynamic) -> rankbook::Result<()> {
        if let Some(f) = f {
            let _: Dynamic = f.call_within_context(self.ctx, (arg,)).map_err(|e| {
                rankbook::Error::InvalidArgument(format!("in a training callback: {e}"))
            })?;
        }
        Ok(())
    }
}

impl TrainCallback for Hooks<'_, '_> {
    fn on_step(&mut self, r: &StepRecord) -> rankbook::Result<()> {
        if let Some(v) = &mut self.live {
            v.record(HistoryRecord::Step(r.clone()));
        }
        self.call(&self.t.on_step, step_map(r).into())
    }
    fn on_eval(&mut self, r: &EvalRecord) -> rankbook::Result<()> {
        if let Some(v) = &mut self.live {
            v.record(HistoryRecord::Eval(r.clone()));
        }
        self.call(&self.t.on_eval, eval_map(r).into())
    }
    fn on_epoch_end(&mut self, epoch: usize) -> rankbook::Result<()> {
        self.call(&self.t.on_epoch_end, (epoch as i64).into())
    }
}

/// Trains a trainable copy of `model` (or a head on it) and returns the
/// trained model (for inference: the fast path, fingerprinted by its new weights).
fn fit_model(
    ctx: NativeCallContext,
    t: &mut Trainer,
    model: Model,
    data: &TrainingData,
) -> RhaiResult<Model> {
    // The frozen encoder's outputs come from the embedding cache when present.
    let prepared =
        with_default_cache(|o| t.request.prepare(StartModel::Encoder(&model.0), data, o))
            .map_err(err)?;
    run_fit(&ctx, t, &prepared, data)?;
    Ok(Model(Arc::new(
        prepared.trainee().inference_model().map_err(err)?,
    )))
}

/// Trains a copy of the cross-encoder `model` (its weights, trained ones
/// included) and returns it.
fn fit_cross_encoder(
    ctx: NativeCallContext,
    t: &mut Trainer,
    model: Cross,
    data: &TrainingData,
) -> RhaiResult<Cross> {
    let prepared = t
        .request
        .prepare(
            StartModel::CrossEncoder(&model.0),
            data,
            &EncodeOptions::default(),
        )
        .map_err(err)?;
    run_fit(&ctx, t, &prepared, data)?;
    match prepared {
        Prepared::CrossEncoder(c) => Ok(Cross(Arc::new(c))),
        _ => Err(err("a cross-encoder trains as a cross-encoder")),
    }
}

/// Trains a copy of the ColBERT `model` and returns it (for inference, with
/// the trained weights).
fn fit_colbert(
    ctx: NativeCallContext,
    t: &mut Trainer,
    model: Colbert,
    data: &TrainingData,
) -> RhaiResult<Colbert> {
    let prepared = t
        .request
        .prepare(
            StartModel::Colbert(&model.0),
            data,
            &EncodeOptions::default(),
        )
        .map_err(err)?;
    run_fit(&ctx, t, &prepared, data)?;
    match prepared {
        Prepared::Colbert(c, _) => Ok(Colbert(Arc::new(c.inference_copy().map_err(err)?))),
        _ => Err(err("a ColBERT trains as a ColBERT")),
    }
}

/// A dataset's `train` qrels as (query, positive) pairs.
fn train_pairs(d: &BeirDataset) -> RhaiResult<TrainingData> {
    TrainingSource::Qrels {
        dir: d.dir.clone(),
        split: "train".into(),
    }
    .load()
    .map_err(err)
}

/// Runs the request on what was prepared, with the script's hooks and the
/// host's live view, progress and interrupt; keeps the history in `t`.
fn run_fit(
    ctx: &NativeCallContext,
    t: &mut Trainer,
    prepared: &Prepared,
    data: &TrainingData,
) -> RhaiResult<()> {
    let snapshot = t.clone();
    let host = super::host::host();
    let mut hooks = Hooks {
        ctx,
        t: &snapshot,
        live: host
            .as_ref()
            .and_then(|h| h.sink.clone())
            .map(LiveView::start),
    };
    // A live view shows the run in a notebook; in a terminal, the host's bar.
    let progress = match (&hooks.live, &host) {
        (None, Some(h)) => h.progress.clone(),
        _ => Arc::new(NoProgress),
    };
    let out = t.request.run(
        prepared.trainee(),
        data,
        progress.as_ref(),
        host.as_ref().map(|h| &h.cancel),
        &mut hooks,
    );
    if let Some(v) = &mut hooks.live {
        v.flush();
    }
    t.history = out.map_err(err)?.history;
    Ok(())
}

/// Registers the training types and functions.
pub fn register(engine: &mut Engine) {
    engine
        .register_type_with_name::<Data>("TrainingData")
        .register_fn("len", |d: &mut Data| d.0.len() as i64)
        .register_indexer_get(|d: &mut Data, i: i64| -> RhaiResult<Map> {
            usize::try_from(i)
                .ok()
                .filter(|i| *i < d.0.len())
                .map(|i| sample_map(&d.0, i))
                .ok_or_else(|| err(format!("index {i} out of range for {} samples", d.0.len())))
        })
        .register_fn("sample", |d: &mut Data, n: i64| {
            samples(d, n, DEFAULT_SAMPLE_SEED as i64)
        })
        .register_fn("sample", |d: &mut Data, n: i64, seed: i64| {
            samples(d, n, seed)
        })
        .register_iterator::<Data>()
        .register_fn("losses", || -> Map {
            rankbook::loss::KNOWN_LOSSES
                .iter()
                .map(|(name, data)| ((*name).into(), Dynamic::from(data.to_string())))
                .collect()
        })
        .register_fn("to_string", |d: &mut Data| {
            format!("TrainingData({} {})", d.0.len(), d.0.shape())
        });
    let load = |s: TrainingSource| -> RhaiResult<Data> {
        s.load().map(|d| Data(Arc::new(d))).map_err(err)
    };
    engine
        .register_fn("training_pairs", move |d: BeirDataset, split: &str| {
            load(TrainingSource::Qrels {
                dir: d.dir.clone(),
                split: split.into(),
            })
        })
        .register_fn("load_triples", move |p: &str| {
            load(TrainingSource::Triples(p.into()))
        })
        .register_fn("load_pair_samples", move |p: &str| {
            load(TrainingSource::Pairs(p.into()))
        })
        .register_fn("load_groups", move |p: &str| {
            load(TrainingSource::Groups(p.into()))
        })
        .register_fn("load_negatives", move |p: &str, d: BeirDataset| {
            load(TrainingSource::Negatives {
                path: p.into(),
                data: Some(d.dir.clone()),
            })
        })
        .register_fn("load_clicks", move |p: &str, d: BeirDataset| {
            load(TrainingSource::Clicks {
                path: p.into(),
                data: d.dir.clone(),
            })
        });

    engine
        .register_type_with_name::<Trainer>("Trainer")
        .register_fn("trainer", trainer)
        .register_fn("trainer", || trainer(Map::new()))
        .register_fn("on_step", |t: &mut Trainer, f: FnPtr| t.on_step = Some(f))
        .register_fn("on_eval", |t: &mut Trainer, f: FnPtr| t.on_eval = Some(f))
        .register_fn("on_epoch_end", |t: &mut Trainer, f: FnPtr| {
            t.on_epoch_end = Some(f)
        })
        .register_fn(
            "fit",
            |ctx: NativeCallContext, t: &mut Trainer, m: Model, d: Data| fit_model(ctx, t, m, &d.0),
        )
        .register_fn(
            "fit",
            |ctx: NativeCallContext, t: &mut Trainer, m: Cross, d: Data| {
                fit_cross_encoder(ctx, t, m, &d.0)
            },
        )
        .register_fn(
            "fit",
            |ctx: NativeCallContext,
             t: &mut Trainer,
             m: Model,
             d: BeirDataset|
             -> RhaiResult<Model> { fit_model(ctx, t, m, &train_pairs(&d)?) },
        )
        .register_fn(
            "fit",
            |ctx: NativeCallContext, t: &mut Trainer, m: Colbert, d: Data| {
                fit_colbert(ctx, t, m, &d.0)
            },
        )
        .register_fn(
            "fit",
            |ctx: NativeCallContext, t: &mut Trainer, m: Colbert, d: BeirDataset| {
                fit_colbert(ctx, t, m, &train_pairs(&d)?)
            },
        )
        .register_fn("plot", |t: &mut Trainer| {
            rankbook::plot::training_curves(&t.history)
        })
        .register_fn("history", |t: &mut Trainer| -> Array {
            t.history.iter().map(|r| record_map(r).into()).collect()
        })
        .register_fn("to_string", |t: &mut Trainer| {
            format!(
                "Trainer({} loss, {} epochs, batch {}, lr {})",
                t.request.loss,
                t.request.config.epochs,
                t.request.config.batch_size,
                t.request.config.lr
            )
        });
}
