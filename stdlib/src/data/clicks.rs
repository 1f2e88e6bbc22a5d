//! Click sessions, as EmbeddingStudio collects them: one JSON line per search,
//! `{"query", "shown": [doc ids], "clicked": [doc ids]}`, turned into
//! (query, clicked, shown but not clicked) examples.

use std::path::Path;

use crate::data::BeirDataset;
use crate::data::json_lines::for_each_record;
use crate::data::negatives::TextLookup;
use crate::data::training::Example;
use crate::error::Result;

/// One example per click with the session's unclicked results as negatives;
/// sessions without clicks, or where everything shown was clicked, give none.
pub fn read_clicks(path: &Path, data: &BeirDataset) -> Result<Vec<Example>> {
    let lookup = TextLookup::new(data);
    let mut out = Vec::new();
    for_each_record(path, |r| {
        let query = if r.has(&["query_id"]) {
            lookup.query_at(&r, "query_id", &r.string(&["query_id"])?)?
        } else {
            r.string(&["query"])?
        };
        let shown = r.strings(&["shown", "results"])?;
        let clicked = r.strings(&["clicked"])?;
        if let Some(c) = clicked.iter().find(|c| !shown.contains(c)) {
            return Err(r.error(format!("\"clicked\": \"{c}\" was not shown")));
        }
        let negatives: Vec<String> = shown
            .iter()
            .filter(|s| !clicked.contains(s))
            .map(|id| lookup.doc_at(&r, "shown", id))
            .collect::<Result<_>>()?;
        if negatives.is_empty() {
            return Ok(());
        }
        for c in &clicked {
            out.push(Example {
                negatives: negatives.clone(),
                ..Example::pair(query.clone(), lookup.doc_at(&r, "clicked", c)?)
            });
        }
        Ok(())
    })?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::testing::tiny_beir;

    #[test]
    fn one_example_per_click_with_unclicked_results_as_negatives() {
        let (d, ds) = tiny_beir();
        let p = d.path().join("clicks.jsonl");
        std::fs::write(
            &p,
            "{\"query\": \"cheap flights\", \"shown\": [\"d1\", \"d2\", \"d3\"], \"clicked\": [\"d2\", \"d3\"]}\n{\"query_id\": \"q1\", \"shown\": [\"d4\"], \"clicked\": [\"d4\"]}\n{\"query\": \"none\", \"shown\": [\"d4\"], \"clicked\": []}\n",
        )
        .unwrap();
        let got = read_clicks(&p, &ds).unwrap();
        let neg = vec!["doc one".to_string()];
        assert_eq!(
            got,
            vec![
                Example {
                    negatives: neg.clone(),
                    ..Example::pair("cheap flights", "doc two")
                },
                Example {
                    negatives: neg,
                    ..Example::pair("cheap flights", "doc three")
                },
            ]
        );
        std::fs::write(
            &p,
            "{\"query\": \"x\", \"shown\": [\"d1\"], \"clicked\": [\"d2\"]}\n",
        )
        .unwrap();
        let e = read_clicks(&p, &ds).unwrap_err().to_string();
        assert!(
            e.ends_with("clicks.jsonl:1: \"clicked\": \"d2\" was not shown"),
            "{e}"
        );
    }
}
