//! Distillation examples from a teacher's run: for each judged-relevant
//! document the teacher scored, the query, that positive, the teacher's top
//! non-relevant documents as negatives, and the teacher's scores of all of them.

use crate::data::negatives::TextLookup;
use crate::data::training::Example;
use crate::data::{BeirDataset, Qrels, Run};
use crate::error::{Error, Result};

/// Examples with `negatives` negatives each (queries with fewer unjudged or
/// non-relevant results in the run are skipped).
pub fn distillation_examples(
    data: &BeirDataset,
    qrels: &Qrels,
    teacher: &Run,
    negatives: usize,
) -> Result<Vec<Example>> {
    let lookup = TextLookup::new(data);
    let mut out = Vec::new();
    for (qid, judged) in qrels.iter() {
        let (Some(query), Some(results)) = (lookup.query(qid), teacher.get(qid)) else {
            continue;
        };
        let mut ranked: Vec<_> = results.iter().collect();
        ranked.sort_by(|a, b| crate::data::run::ranking_order(a, b));
        let relevant = |doc: &str| judged.get(doc).is_some_and(|g| *g > 0);
        let negs: Vec<_> = ranked
            .iter()
            .filter(|r| !relevant(&r.doc))
            .take(negatives)
            .collect();
        if negs.len() < negatives {
            continue;
        }
        let text = |doc: &str| {
            lookup.doc(doc).ok_or_else(|| {
                Error::InvalidArgument(format!(
                    "the teacher run ranks \"{doc}\" for query \"{qid}\", which is not in the corpus"
                ))
            })
        };
        for pos in ranked.iter().filter(|r| relevant(&r.doc)) {
            let mut scores = vec![pos.score as f32];
            scores.extend(negs.iter().map(|n| n.score as f32));
            out.push(Example {
                anchor: query.to_string(),
                positive: text(&pos.doc)?.to_string(),
                negatives: negs
                    .iter()
                    .map(|n| text(&n.doc).map(str::to_string))
                    .collect::<Result<_>>()?,
                teacher: Some(scores),
            });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::testing::tiny_beir;

    #[test]
    fn positives_with_the_teachers_top_negatives() {
        let (_d, ds) = tiny_beir();
        let qrels = ds.qrels("train").unwrap();
        let mut run = Run::new();
        for (q, doc, s) in [
            ("q1", "d1", 5.0),
            ("q1", "d2", 7.0),
            ("q1", "d3", 6.0),
            ("q1", "d4", 1.0),
            // q2: d2 is relevant, d3 judged 0 (a negative), only one negative in all.
            ("q2", "d2", 3.0),
            ("q2", "d3", 4.0),
        ] {
            run.push(q, doc, s);
        }
        let got = distillation_examples(&ds, &qrels, &run, 2).unwrap();
        assert_eq!(
            got,
            vec![Example {
                anchor: "query one".into(),
                positive: "doc one".into(),
                negatives: vec!["doc two".into(), "doc three".into()],
                teacher: Some(vec![5.0, 7.0, 6.0]),
            }]
        );
        assert_eq!(
            distillation_examples(&ds, &qrels, &run, 1).unwrap().len(),
            2
        );
    }
}
