//! The plots rankbook draws, built from its own objects.

use crate::data::{Qrels, Run};
use crate::eval::Comparison;
use crate::plot::chart::{Bars, Chart, Lines, Points};
use crate::plot::render::Plot;
use crate::train::history::HistoryRecord;
use crate::vectors::Embeddings;
use crate::vectors::pca::pca;

/// Training loss, learning rate and validation measures by step.
pub fn training_curves(history: &[HistoryRecord]) -> Plot {
    let mut loss = Vec::new();
    let mut lr = Vec::new();
    let mut val_loss = Vec::new();
    let mut measures: Vec<(String, Vec<(f64, f64)>)> = Vec::new();
    for r in history {
        match r {
            HistoryRecord::Step(s) => {
                loss.push((s.step as f64, s.loss));
                lr.push((s.step as f64, s.lr));
            }
            HistoryRecord::Eval(e) => {
                if let Some(l) = e.loss {
                    val_loss.push((e.step as f64, l));
                }
                for (name, v) in &e.measures {
                    match measures.iter_mut().find(|m| &m.0 == name) {
                        Some(m) => m.1.push((e.step as f64, *v)),
                        None => measures.push((name.clone(), vec![(e.step as f64, *v)])),
                    }
                }
            }
        }
    }
    let mut loss_series = vec![("training loss".to_string(), loss)];
    if !val_loss.is_empty() {
        loss_series.push(("validation loss".into(), val_loss));
    }
    let mut panels = vec![
        Chart::Lines(Lines {
            x_label: "step".into(),
            y_label: "loss".into(),
            series: loss_series,
        }),
        Chart::Lines(Lines {
            x_label: "step".into(),
            y_label: "learning rate".into(),
            series: vec![("learning rate".into(), lr)],
        }),
    ];
    if !measures.is_empty() {
        panels.push(Chart::Lines(Lines {
            x_label: "step".into(),
            y_label: "validation".into(),
            series: measures,
        }));
    }
    Plot {
        title: "Training".into(),
        size: (800, 260 * panels.len() as u32),
        panels,
    }
}

/// Each system's mean per measure, with its 95% bootstrap interval.
pub fn measure_bars(c: &Comparison) -> Plot {
    let series = c
        .systems
        .iter()
        .map(|s| {
            let vals = s
                .means
                .iter()
                .zip(&s.ci)
                .map(|(m, ci)| (*m, Some(*ci)))
                .collect();
            (s.name.clone(), vals)
        })
        .collect();
    Plot::new(
        format!(
            "{} queries (bars: 95% bootstrap intervals)",
            c.queries.len()
        ),
        Chart::Bars(Bars {
            x_label: String::new(),
            y_label: "mean".into(),
            categories: c.measures.iter().map(|m| m.to_string()).collect(),
            series,
        }),
    )
}

/// Per-query difference of `system` to the baseline on `measure`, sorted.
pub fn query_deltas(c: &Comparison, system: usize, measure: usize) -> Plot {
    let mut d = c.deltas(system, measure);
    d.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(b.0)));
    let name = format!(
        "{} − {}",
        c.systems[system].name, c.systems[c.baseline].name
    );
    Plot::new(
        format!("{name}: {} per query", c.measures[measure]),
        Chart::Bars(Bars {
            x_label: format!("{} queries, sorted by difference", d.len()),
            y_label: format!("Δ {}", c.measures[measure]),
            categories: d.iter().map(|(q, _)| q.to_string()).collect(),
            series: vec![(name, d.iter().map(|(_, v)| (*v, None)).collect())],
        }),
    )
}

/// Mean recall at each cutoff 1..=`max_k` of each run, over the judged queries.
pub fn recall_curves(qrels: &Qrels, runs: &[(String, Run)], max_k: usize) -> Plot {
    let series = runs
        .iter()
        .map(|(name, run)| {
            let mut found = vec![0f64; max_k];
            let mut queries = 0usize;
            for (qid, judged) in qrels.iter() {
                let relevant = judged.values().filter(|&&g| g > 0).count();
                if relevant == 0 {
                    continue;
                }
                queries += 1;
                let mut hits = 0usize;
                let top = run.top_of(qid, max_k);
                for (k, f) in found.iter_mut().enumerate() {
                    if let Some(s) = top.get(k)
                        && judged.get(&s.doc).is_some_and(|&g| g > 0)
                    {
                        hits += 1;
                    }
                    *f += hits as f64 / relevant as f64;
                }
            }
            let n = queries.max(1) as f64;
            let points = found
                .iter()
                .enumerate()
                .map(|(k, f)| ((k + 1) as f64, f / n))
                .collect();
            (name.clone(), points)
        })
        .collect();
    Plot::new(
        "Recall by cutoff",
        Chart::Lines(Lines {
            x_label: "k".into(),
            y_label: "recall@k".into(),
            series,
        }),
    )
}

/// Vectors projected on their two principal components, coloured by label.
pub fn embedding_map(vectors: &Embeddings, labels: &[String]) -> Plot {
    let coords = pca(vectors, 2);
    let mut groups: Vec<(String, Vec<(f64, f64)>)> = Vec::new();
    for (i, c) in coords.iter().enumerate() {
        let label = labels.get(i).cloned().unwrap_or_default();
        let p = (
            c.first().copied().unwrap_or(0.0),
            c.get(1).copied().unwrap_or(0.0),
        );
        match groups.iter_mut().find(|g| g.0 == label) {
            Some(g) => g.1.push(p),
            None => groups.push((label, vec![p])),
        }
    }
    Plot::new(
        format!("{} vectors, first two principal components", vectors.len()),
        Chart::Points(Points {
            x_label: "PC 1".into(),
            y_label: "PC 2".into(),
            groups,
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::history::{EvalRecord, StepRecord};

    fn step(step: usize, loss: f64) -> HistoryRecord {
        HistoryRecord::Step(StepRecord {
            step,
            epoch: 0,
            loss,
            lr: 1e-5,
            grad_norm: 1.0,
            seconds: 0.1,
        })
    }

    #[test]
    fn every_kind_renders_svg_and_png_with_its_labels() {
        let history = vec![
            step(1, 2.0),
            step(2, 1.5),
            HistoryRecord::Eval(EvalRecord {
                step: 2,
                epoch: 0,
                measures: [("nDCG@10".to_string(), 0.61)].into(),
                loss: None,
            }),
            step(3, 1.2),
        ];
        let mut qrels = Qrels::new();
        qrels.insert("q1", "d1", 1);
        qrels.insert("q1", "d2", 1);
        let mut run = Run::new();
        run.push("q1", "d1", 3.0);
        run.push("q1", "d9", 2.0);
        run.push("q1", "d2", 1.0);
        let e = Embeddings::new(2, vec![0.0, 1.0, 1.0, 0.0, 2.0, 2.0]);
        let plots = [
            (
                training_curves(&history),
                vec!["training loss", "learning rate", "nDCG@10", "step"],
            ),
            (
                recall_curves(&qrels, &[("bm25".into(), run)], 3),
                vec!["bm25", "recall@k"],
            ),
            (
                embedding_map(&e, &["a".into(), "b".into(), "a".into()]),
                vec!["PC 1", "PC 2"],
            ),
        ];
        let dir = tempfile::tempdir().unwrap();
        for (i, (plot, labels)) in plots.iter().enumerate() {
            let svg = plot.to_svg().unwrap();
            for l in labels {
                assert!(svg.contains(l), "plot {i}: no {l} in the SVG");
            }
            let png = plot.to_png().unwrap();
            assert_eq!(&png[1..4], b"PNG");
            assert!(png.len() > 5_000, "plot {i}: {} bytes", png.len());
            plot.save(&dir.path().join(format!("{i}.svg"))).unwrap();
            plot.save(&dir.path().join(format!("{i}.png"))).unwrap();
        }
        assert!(plots[0].0.save(&dir.path().join("x.gif")).is_err());
    }
}
