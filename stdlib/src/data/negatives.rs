//! Mined hard negatives, one JSON line per (query, positive): by ids into a
//! BEIR dataset — `{"query_id", "positive_id", "negative_ids"}` with optional
//! `"positive_score"` and `"negative_scores"` (which become teacher scores) —
//! or by texts — `{"query", "positive", "negatives"}`.

use std::collections::HashMap;
use std::path::Path;

use crate::data::BeirDataset;
use crate::data::json_lines::{Record, for_each_record};
use crate::data::training::Example;
use crate::error::Result;

/// Id-to-text maps of a dataset's queries and documents.
pub struct TextLookup<'a> {
    queries: HashMap<&'a str, &'a str>,
    docs: HashMap<&'a str, &'a str>,
}

impl<'a> TextLookup<'a> {
    /// The maps of `data`.
    pub fn new(data: &'a BeirDataset) -> Self {
        Self::from_records(&data.queries, &data.corpus)
    }

    /// The maps of query and document records.
    pub fn from_records(
        queries: &'a [crate::data::TextRecord],
        corpus: &'a [crate::data::TextRecord],
    ) -> Self {
        let map = |r: &'a [crate::data::TextRecord]| {
            r.iter().map(|t| (t.id.as_str(), t.text.as_str())).collect()
        };
        Self {
            queries: map(queries),
            docs: map(corpus),
        }
    }

    /// The text of query `id`.
    pub fn query(&self, id: &str) -> Option<&'a str> {
        self.queries.get(id).copied()
    }

    /// The text of document `id`.
    pub fn doc(&self, id: &str) -> Option<&'a str> {
        self.docs.get(id).copied()
    }

    /// The text of document `id`, or an error at `r`'s line naming `field`.
    pub(crate) fn doc_at(&self, r: &Record, field: &str, id: &str) -> Result<String> {
        self.doc(id)
            .map(str::to_string)
            .ok_or_else(|| r.error(format!("{field}: document \"{id}\" is not in the corpus")))
    }

    /// The text of query `id`, or an error at `r`'s line.
    pub(crate) fn query_at(&self, r: &Record, field: &str, id: &str) -> Result<String> {
        self.query(id)
            .map(str::to_string)
            .ok_or_else(|| r.error(format!("{field}: query \"{id}\" is not in the queries")))
    }
}

/// Reads mined negatives; ids need `data`.
pub fn read_negatives(path: &Path, data: Option<&BeirDataset>) -> Result<Vec<Example>> {
    let lookup = data.map(TextLookup::new);
    let mut out = Vec::new();
    for_each_record(path, |r| {
        let example = if r.has(&["query_id"]) {
            let Some(l) = &lookup else {
                return Err(r.error("ids need a dataset to look texts up in (give --data)"));
            };
            let negatives = r
                .strings(&["negative_ids"])?
                .iter()
                .map(|id| l.doc_at(&r, "negative_ids", id))
                .collect::<Result<_>>()?;
            let teacher = if r.has(&["positive_score"]) && r.has(&["negative_scores"]) {
                let mut t = vec![r.number(&["positive_score"])?];
                t.extend(r.numbers(&["negative_scores"])?);
                Some(t)
            } else {
                None
            };
            Example {
                anchor: l.query_at(&r, "query_id", &r.string(&["query_id"])?)?,
                positive: l.doc_at(&r, "positive_id", &r.string(&["positive_id"])?)?,
                negatives,
                teacher,
            }
        } else {
            Example {
                negatives: r.strings(&["negatives"])?,
                ..Example::pair(r.string(&["query", "anchor"])?, r.string(&["positive"])?)
            }
        };
        if let Some(t) = &example.teacher
            && t.len() != 1 + example.negatives.len()
        {
            return Err(r.error(format!(
                "\"negative_scores\" has {} scores for {} negatives",
                t.len() - 1,
                example.negatives.len()
            )));
        }
        out.push(example);
        Ok(())
    })?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::testing::tiny_beir;

    #[test]
    fn ids_and_texts_with_teacher_scores_and_errors() {
        let (d, ds) = tiny_beir();
        let p = d.path().join("neg.jsonl");
        std::fs::write(
            &p,
            "{\"query_id\": \"q1\", \"positive_id\": \"d1\", \"negative_ids\": [\"d3\", \"d4\"], \"positive_score\": 9.5, \"negative_scores\": [3, 1.5]}\n{\"query\": \"free text\", \"positive\": \"yes\", \"negatives\": [\"no\"]}\n",
        )
        .unwrap();
        let got = read_negatives(&p, Some(&ds)).unwrap();
        assert_eq!(
            got,
            vec![
                Example {
                    anchor: "query one".into(),
                    positive: "doc one".into(),
                    negatives: vec!["doc three".into(), "doc four".into()],
                    teacher: Some(vec![9.5, 3.0, 1.5]),
                },
                Example {
                    negatives: vec!["no".into()],
                    ..Example::pair("free text", "yes")
                },
            ]
        );
        let e = read_negatives(&p, None).unwrap_err().to_string();
        assert!(
            e.ends_with("neg.jsonl:1: ids need a dataset to look texts up in (give --data)"),
            "{e}"
        );
        std::fs::write(
            &p,
            "\n{\"query_id\": \"q1\", \"positive_id\": \"d1\", \"negative_ids\": [\"d9\"]}\n",
        )
        .unwrap();
        let e = read_negatives(&p, Some(&ds)).unwrap_err().to_string();
        assert!(
            e.ends_with("neg.jsonl:2: negative_ids: document \"d9\" is not in the corpus"),
            "{e}"
        );
        std::fs::write(
            &p,
            "{\"query_id\": \"q1\", \"positive_id\": \"d1\", \"negative_ids\": [\"d2\"], \"positive_score\": 1, \"negative_scores\": [1, 2]}\n",
        )
        .unwrap();
        let e = read_negatives(&p, Some(&ds)).unwrap_err().to_string();
        assert!(
            e.ends_with("neg.jsonl:1: \"negative_scores\" has 2 scores for 1 negatives"),
            "{e}"
        );
    }
}
