//! Evaluation outputs: a plain table, JSON, trec_eval's per-query layout (HTML
//! for notebooks is in [`crate::present`]).

use std::fmt::Write;

use crate::eval::evaluate::Evaluation;

/// A two-column table of means (measure, value) with the query count.
pub fn format_table(e: &Evaluation) -> String {
    let width = e
        .measures
        .iter()
        .map(|m| m.to_string().len())
        .max()
        .unwrap_or(7)
        .max(7);
    let mut s = String::new();
    let _ = writeln!(s, "{:<width$}  value", "measure");
    for (m, v) in e.measures.iter().zip(&e.means) {
        let _ = writeln!(s, "{:<width$}  {}", m.to_string(), m.format_value(*v));
    }
    let _ = writeln!(s, "{:<width$}  {}", "queries", e.num_queries());
    s
}

/// `{"measures": {name: mean}, "per_query": {qid: {name: value}}}`.
pub fn format_json(e: &Evaluation) -> String {
    let names: Vec<String> = e.measures.iter().map(|m| m.to_string()).collect();
    let measures: serde_json::Map<String, serde_json::Value> = names
        .iter()
        .zip(&e.means)
        .map(|(n, v)| (n.clone(), (*v).into()))
        .collect();
    let per_query: serde_json::Map<String, serde_json::Value> = e
        .per_query
        .iter()
        .map(|(q, vals)| {
            let m: serde_json::Map<String, serde_json::Value> = names
                .iter()
                .zip(vals)
                .map(|(n, v)| (n.clone(), (*v).into()))
                .collect();
            (q.clone(), m.into())
        })
        .collect();
    serde_json::json!({"measures": measures, "per_query": per_query}).to_string()
}

/// trec_eval -q layout: `measure<TAB>qid<TAB>value`, then the `all` rows.
pub fn format_per_query(e: &Evaluation) -> String {
    let mut s = String::new();
    for (i, m) in e.measures.iter().enumerate() {
        for (q, vals) in &e.per_query {
            let _ = writeln!(s, "{m}\t{q}\t{}", m.format_value(vals[i]));
        }
    }
    for (m, v) in e.measures.iter().zip(&e.means) {
        let _ = writeln!(s, "{m}\tall\t{}", m.format_value(*v));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::{Qrels, Run};
    use crate::eval::{EvalOptions, evaluate, parse_measures};

    fn sample() -> Evaluation {
        let mut qrels = Qrels::new();
        qrels.insert("q1", "a", 1);
        let mut run = Run::new();
        run.push("q1", "b", 2.0);
        run.push("q1", "a", 1.0);
        evaluate(
            &qrels,
            &run,
            &parse_measures("RR,P@2,NumRel").unwrap(),
            EvalOptions::default(),
        )
    }

    #[test]
    fn outputs_carry_the_values() {
        let e = sample();
        assert!(format_table(&e).contains("RR       0.5000"));
        let j: serde_json::Value = serde_json::from_str(&format_json(&e)).unwrap();
        assert_eq!(j["measures"]["RR"], 0.5);
        assert_eq!(j["per_query"]["q1"]["P@2"], 0.5);
        assert!(
            format_per_query(&e)
                .contains("RR\tq1\t0.5000\nP@2\tq1\t0.5000\nNumRel\tq1\t1\nRR\tall\t0.5000\n")
        );
        // Counts print as integers, as trec_eval prints them.
        assert!(
            format_table(&e).contains("NumRel   1\n"),
            "{}",
            format_table(&e)
        );
    }
}
