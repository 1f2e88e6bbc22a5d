//! Training examples as texts: (query, positive) pairs from BEIR qrels, MS MARCO
//! triples, and the no-duplicates batch sampler for in-batch-negative losses.

use std::collections::HashSet;
use std::path::Path;

use crate::data::lines::for_each_line;
use crate::data::{BeirDataset, Qrels};
use crate::error::{Error, Result};
use crate::eval::stats::SplitMix;

/// An anchor, its positive and optionally a hard negative.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Example {
    /// The query (or first text).
    pub anchor: String,
    /// The text that must score high.
    pub positive: String,
    /// A text that must score lower than the positive.
    pub negative: Option<String>,
}

impl Example {
    /// The example's texts.
    pub fn texts(&self) -> impl Iterator<Item = &str> {
        [
            Some(self.anchor.as_str()),
            Some(self.positive.as_str()),
            self.negative.as_deref(),
        ]
        .into_iter()
        .flatten()
    }
}

/// (query, positive) pairs for every judgement with a grade above 0, ordered by
/// query id then doc id (so a seed fixes the whole run).
pub fn pairs_from_qrels(data: &BeirDataset, qrels: &Qrels) -> Result<Vec<Example>> {
    let queries: std::collections::HashMap<&str, &str> = data
        .queries
        .iter()
        .map(|q| (q.id.as_str(), q.text.as_str()))
        .collect();
    let docs: std::collections::HashMap<&str, &str> = data
        .corpus
        .iter()
        .map(|d| (d.id.as_str(), d.text.as_str()))
        .collect();
    let mut judged: Vec<(&str, &str)> = qrels
        .iter()
        .flat_map(|(q, j)| {
            j.iter()
                .filter(|(_, g)| **g > 0)
                .map(move |(d, _)| (q, d.as_str()))
        })
        .collect();
    judged.sort_unstable();
    judged
        .into_iter()
        .map(|(q, d)| {
            let missing = |what: &str, id: &str| {
                Error::InvalidArgument(format!(
                    "{}: the qrels judge {what} \"{id}\", which is not in the dataset",
                    data.dir.display()
                ))
            };
            Ok(Example {
                anchor: queries
                    .get(q)
                    .ok_or_else(|| missing("query", q))?
                    .to_string(),
                positive: docs.get(d).ok_or_else(|| missing("doc", d))?.to_string(),
                negative: None,
            })
        })
        .collect()
}

/// MS MARCO training triples: `query \t positive \t negative` per line.
pub fn read_triples(path: &Path) -> Result<Vec<Example>> {
    let mut out = Vec::new();
    for_each_line(path, |n, line| {
        if line.is_empty() {
            return Ok(());
        }
        let f: Vec<&str> = line.split('\t').collect();
        let [q, p, neg] = f[..] else {
            return Err(Error::parse(
                path,
                n,
                None,
                format!(
                    "expected 3 tab-separated columns (query, positive, negative), found {}",
                    f.len()
                ),
            ));
        };
        out.push(Example {
            anchor: q.to_string(),
            positive: p.to_string(),
            negative: Some(neg.to_string()),
        });
        Ok(())
    })?;
    Ok(out)
}

/// Batches of example indices in which no text appears twice (a repeated text
/// would be its own in-batch negative), shuffled by `seed`. Examples that would
/// repeat a text wait for a later batch, as in sentence-transformers'
/// NoDuplicatesBatchSampler; the last batch may be short.
pub fn no_duplicate_batches(
    examples: &[Example],
    batch_size: usize,
    seed: u64,
) -> Result<Vec<Vec<usize>>> {
    if batch_size == 0 || batch_size > examples.len() {
        return Err(Error::InvalidArgument(format!(
            "batch size {batch_size} for {} examples",
            examples.len()
        )));
    }
    let mut order: Vec<usize> = (0..examples.len()).collect();
    let mut rng = SplitMix::new(seed);
    for i in (1..order.len()).rev() {
        order.swap(i, rng.below(i + 1));
    }
    let mut batches = Vec::new();
    while !order.is_empty() {
        let mut batch = Vec::with_capacity(batch_size);
        let mut seen: HashSet<&str> = HashSet::new();
        let mut waiting = Vec::new();
        for i in order {
            let texts: Vec<&str> = examples[i].texts().collect();
            if batch.len() < batch_size && texts.iter().all(|t| !seen.contains(t)) {
                seen.extend(texts);
                batch.push(i);
            } else {
                waiting.push(i);
            }
        }
        batches.push(batch);
        order = waiting;
    }
    Ok(batches)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ex(a: &str, p: &str) -> Example {
        Example {
            anchor: a.into(),
            positive: p.into(),
            negative: None,
        }
    }

    #[test]
    fn batches_never_repeat_a_text_and_cover_everything_once() {
        // Query "q0" has three positives: at most one of them per batch.
        let mut examples = vec![ex("q0", "a"), ex("q0", "b"), ex("q0", "c")];
        examples.extend((1..20).map(|i| ex(&format!("q{i}"), &format!("d{i}"))));
        let batches = no_duplicate_batches(&examples, 8, 42).unwrap();
        let mut all: Vec<usize> = batches.concat();
        all.sort_unstable();
        assert_eq!(all, (0..examples.len()).collect::<Vec<_>>());
        for b in &batches {
            let texts: Vec<&str> = b.iter().flat_map(|&i| examples[i].texts()).collect();
            let unique: HashSet<&str> = texts.iter().copied().collect();
            assert_eq!(unique.len(), texts.len(), "{b:?}");
            assert!(b.len() <= 8);
        }
        assert_eq!(batches, no_duplicate_batches(&examples, 8, 42).unwrap());
        assert_ne!(batches, no_duplicate_batches(&examples, 8, 7).unwrap());
        let e = no_duplicate_batches(&examples, 100, 1)
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("batch size 100 for 22 examples"), "{e}");
    }

    #[test]
    fn triples_are_read_and_bad_lines_named() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("t.tsv");
        std::fs::write(&p, "q\tpos\tneg\r\nq2\tonly two\n").unwrap();
        let e = read_triples(&p).err().unwrap().to_string();
        assert!(
            e.ends_with(
                "t.tsv:2: expected 3 tab-separated columns (query, positive, negative), found 2"
            ),
            "{e}"
        );
        std::fs::write(&p, "q\tpos\tneg\r\n").unwrap();
        assert_eq!(
            read_triples(&p).unwrap(),
            vec![Example {
                anchor: "q".into(),
                positive: "pos".into(),
                negative: Some("neg".into())
            }]
        );
    }
}
