//! Rhai bindings for plots: conversions only (the figures are in `rankbook::plot`).

use std::path::Path;

use rankbook::data::{Qrels, Run};
use rankbook::eval::Comparison;
use rankbook::plot::{Plot, embedding_map, measure_bars, query_deltas, recall_curves};
use rankbook::vectors::Embeddings;
use rhai::{Array, Engine, Map};

use super::bindings::{RhaiResult, err};

fn system_index(c: &Comparison, name: &str) -> RhaiResult<usize> {
    c.systems
        .iter()
        .position(|s| s.name == name)
        .ok_or_else(|| {
            let names: Vec<&str> = c.systems.iter().map(|s| s.name.as_str()).collect();
            err(format!(
                "no system {name} in the comparison (systems: {})",
                names.join(", ")
            ))
        })
}

fn measure_index(c: &Comparison, name: &str) -> RhaiResult<usize> {
    c.measures
        .iter()
        .position(|m| m.to_string() == name)
        .ok_or_else(|| {
            let names: Vec<String> = c.measures.iter().map(|m| m.to_string()).collect();
            err(format!(
                "no measure {name} in the comparison (measures: {})",
                names.join(", ")
            ))
        })
}

/// Registers the plot type and the functions that make plots.
pub fn register(engine: &mut Engine) {
    engine
        .register_type_with_name::<Plot>("Plot")
        .register_fn("save", |p: &mut Plot, path: &str| -> RhaiResult<()> {
            p.save(Path::new(path)).map_err(err)
        })
        .register_fn("svg", |p: &mut Plot| -> RhaiResult<String> {
            p.to_svg().map_err(err)
        })
        .register_fn("to_string", |p: &mut Plot| format!("<plot: {}>", p.title))
        .register_fn("plot", |c: &mut Comparison| measure_bars(c))
        .register_fn(
            "plot_deltas",
            |c: &mut Comparison, system: &str, measure: &str| -> RhaiResult<Plot> {
                Ok(query_deltas(
                    c,
                    system_index(c, system)?,
                    measure_index(c, measure)?,
                ))
            },
        )
        .register_fn(
            "recall_plot",
            |q: Qrels, runs: Map, max_k: i64| -> RhaiResult<Plot> {
                let named = runs
                    .into_iter()
                    .map(|(k, v)| {
                        v.try_cast::<Run>()
                            .map(|r| (k.to_string(), r))
                            .ok_or_else(|| err(format!("runs.{k}: expected a run")))
                    })
                    .collect::<RhaiResult<Vec<_>>>()?;
                let k = usize::try_from(max_k).map_err(|_| err("max_k must be positive"))?;
                Ok(recall_curves(&q, &named, k))
            },
        )
        .register_fn("plot", |e: &mut Embeddings, labels: Array| -> Plot {
            let labels: Vec<String> = labels.into_iter().map(|l| l.to_string()).collect();
            embedding_map(e, &labels)
        });
}
