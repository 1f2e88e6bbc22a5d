//! Evaluation outputs: a plain table, JSON, trec_eval's per-query layout, HTML.

use std::fmt::Write;

use crate::eval::evaluate::Evaluation;
use crate::eval::measure::Measure;

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
        let _ = writeln!(s, "{:<width$}  {v:.4}", m.to_string());
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
            let _ = writeln!(s, "{m}\t{q}\t{:.4}", vals[i]);
        }
    }
    for (m, v) in e.measures.iter().zip(&e.means) {
        let _ = writeln!(s, "{m}\tall\t{v:.4}");
    }
    s
}

/// An HTML table of means (for notebooks).
pub fn format_html(e: &Evaluation) -> String {
    let means: Vec<_> = e
        .measures
        .iter()
        .cloned()
        .zip(e.means.iter().copied())
        .collect();
    means_html(&means, Some(e.num_queries()))
}

/// An HTML table of measure means (and the number of queries, when known).
pub fn means_html(means: &[(Measure, f64)], queries: Option<usize>) -> String {
    let mut s = String::from(
        "<table class=\"rankbook-eval\"><thead><tr><th>measure</th><th>value</th></tr></thead><tbody>",
    );
    for (m, v) in means {
        let _ = write!(
            s,
            "<tr><td>{}</td><td>{v:.4}</td></tr>",
            html_escape(&m.to_string())
        );
    }
    s.push_str("</tbody>");
    if let Some(n) = queries {
        let _ = write!(s, "<tfoot><tr><td>queries</td><td>{n}</td></tr></tfoot>");
    }
    s.push_str("</table>");
    s
}

/// An HTML table of a run's first `max_queries` queries, `k` hits each.
pub fn run_html(run: &crate::data::Run, max_queries: usize, k: usize) -> String {
    let mut s = String::from(
        "<table class=\"rankbook-run\"><thead><tr><th>query</th><th>rank</th><th>doc</th><th>score</th></tr></thead><tbody>",
    );
    for (qid, ranked) in run.ranked().take(max_queries) {
        for (i, hit) in ranked.iter().take(k).enumerate() {
            let _ = write!(
                s,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{:.4}</td></tr>",
                html_escape(qid),
                i + 1,
                html_escape(&hit.doc),
                hit.score
            );
        }
    }
    let _ = write!(
        s,
        "</tbody><tfoot><tr><td colspan=\"4\">{} queries</td></tr></tfoot></table>",
        run.len()
    );
    s
}

/// An HTML table of the judgements of the first `max_queries` queries.
pub fn qrels_html(qrels: &crate::data::Qrels, max_queries: usize) -> String {
    let mut s = String::from(
        "<table class=\"rankbook-qrels\"><thead><tr><th>query</th><th>doc</th><th>grade</th></tr></thead><tbody>",
    );
    for (qid, judged) in qrels.iter().take(max_queries) {
        let mut docs: Vec<(&String, &i32)> = judged.iter().collect();
        docs.sort();
        for (doc, grade) in docs {
            let _ = write!(
                s,
                "<tr><td>{}</td><td>{}</td><td>{grade}</td></tr>",
                html_escape(qid),
                html_escape(doc)
            );
        }
    }
    let _ = write!(
        s,
        "</tbody><tfoot><tr><td colspan=\"3\">{} queries, {} judgements</td></tr></tfoot></table>",
        qrels.len(),
        qrels.judgements()
    );
    s
}

/// Escapes text for HTML.
pub fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
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
            &parse_measures("RR,P@2").unwrap(),
            EvalOptions::default(),
        )
    }

    #[test]
    fn runs_and_qrels_as_html_tables() {
        let mut run = Run::new();
        run.push("q<1>", "b", 2.0);
        run.push("q<1>", "a", 1.0);
        let html = run_html(&run, 10, 1);
        assert!(
            html.contains("<td>q&lt;1&gt;</td><td>1</td><td>b</td><td>2.0000</td>"),
            "{html}"
        );
        assert!(!html.contains("<td>a</td>"), "only the top hit");
        let mut qrels = Qrels::new();
        qrels.insert("q1", "d2", 1);
        qrels.insert("q1", "d1", 2);
        let html = qrels_html(&qrels, 10);
        assert!(
            html.contains(
                "<td>q1</td><td>d1</td><td>2</td></tr><tr><td>q1</td><td>d2</td><td>1</td>"
            ),
            "{html}"
        );
        assert!(html.contains("1 queries, 2 judgements"));
    }

    #[test]
    fn outputs_carry_the_values() {
        let e = sample();
        assert!(format_table(&e).contains("RR       0.5000"));
        let j: serde_json::Value = serde_json::from_str(&format_json(&e)).unwrap();
        assert_eq!(j["measures"]["RR"], 0.5);
        assert_eq!(j["per_query"]["q1"]["P@2"], 0.5);
        assert!(
            format_per_query(&e).contains("RR\tq1\t0.5000\nP@2\tq1\t0.5000\nRR\tall\t0.5000\n")
        );
        assert!(format_html(&e).contains("<td>RR</td><td>0.5000</td>"));
    }
}
