//! HTML tables of evaluations, comparisons, runs and qrels, as notebooks show them.

use std::fmt::Write;

use crate::eval::compare::p_text;
use crate::eval::{Comparison, Evaluation, Measure};

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
            "<tr><td>{}</td><td>{}</td></tr>",
            html_escape(&m.to_string()),
            m.format_value(*v)
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

/// An HTML table (for notebooks) with the significance markers.
pub fn format_comparison_html(c: &Comparison) -> String {
    let esc = html_escape;
    let mut s = String::from("<table class=\"rankbook-compare\"><thead><tr><th>system</th>");
    for m in &c.measures {
        let _ = write!(s, "<th>{}</th>", esc(&m.to_string()));
    }
    s.push_str("</tr></thead><tbody>");
    for (i, sys) in c.systems.iter().enumerate() {
        let _ = write!(s, "<tr><td>{}</td>", esc(&sys.name));
        for m in 0..c.measures.len() {
            if i == c.baseline {
                let _ = write!(s, "<td>{:.4}</td>", sys.means[m]);
            } else {
                let _ = write!(
                    s,
                    "<td>{:.4} <small>({:+.4}, p={})</small> {}</td>",
                    sys.means[m],
                    sys.delta[m],
                    p_text(sys.p[m]),
                    c.marker(i, m)
                );
            }
        }
        s.push_str("</tr>");
    }
    s.push_str("</tbody></table>");
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::{Qrels, Run};
    use crate::eval::{EvalOptions, evaluate, parse_measures};

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
    fn an_evaluation_as_a_table_of_means() {
        let mut qrels = Qrels::new();
        qrels.insert("q1", "a", 1);
        let mut run = Run::new();
        run.push("q1", "b", 2.0);
        run.push("q1", "a", 1.0);
        let e = evaluate(
            &qrels,
            &run,
            &parse_measures("RR").unwrap(),
            EvalOptions::default(),
        );
        assert!(format_html(&e).contains("<td>RR</td><td>0.5000</td>"));
    }
}
