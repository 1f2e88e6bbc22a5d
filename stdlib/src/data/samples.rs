//! Quaterion's sample shapes from JSONL: pair samples
//! `{"text_a", "text_b", "score"}` and group samples `{"text", "group"}`.

use std::path::Path;

use crate::data::json_lines::for_each_record;
use crate::data::training::{GroupSample, ScoredPair};
use crate::error::Result;

/// Reads `(text_a, text_b, score)` pairs (`sentence1`/`sentence2`/`label` also accepted).
pub fn read_pairs(path: &Path) -> Result<Vec<ScoredPair>> {
    let mut out = Vec::new();
    for_each_record(path, |r| {
        out.push(ScoredPair {
            text_a: r.string(&["text_a", "sentence1", "anchor"])?,
            text_b: r.string(&["text_b", "sentence2", "positive"])?,
            score: r.number(&["score", "label"])?,
        });
        Ok(())
    })?;
    Ok(out)
}

/// Reads `(text, group)` samples.
pub fn read_groups(path: &Path) -> Result<Vec<GroupSample>> {
    let mut out = Vec::new();
    for_each_record(path, |r| {
        out.push(GroupSample {
            text: r.string(&["text"])?,
            group: r.string(&["group", "label"])?,
        });
        Ok(())
    })?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_and_errors_name_line_and_field() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("pairs.jsonl");
        std::fs::write(
            &p,
            "{\"text_a\": \"a\", \"text_b\": \"b\", \"score\": 0.5}\n\n{\"sentence1\": \"c\", \"sentence2\": \"d\", \"label\": 1}\n",
        )
        .unwrap();
        let pairs = read_pairs(&p).unwrap();
        assert_eq!(pairs.len(), 2);
        assert_eq!((pairs[1].text_a.as_str(), pairs[1].score), ("c", 1.0));
        std::fs::write(
            &p,
            "{\"text_a\": \"a\", \"text_b\": \"b\", \"score\": \"high\"}\n",
        )
        .unwrap();
        let e = read_pairs(&p).unwrap_err().to_string();
        assert!(
            e.ends_with("pairs.jsonl:1: \"score\" is not a number"),
            "{e}"
        );
        std::fs::write(&p, "{\"text\": \"x\", \"group\": 3}\n{\"text\": \"y\"}\n").unwrap();
        let e = read_groups(&p).unwrap_err().to_string();
        assert!(
            e.ends_with("pairs.jsonl:2: no \"group\" or \"label\" field (fields: text)"),
            "{e}"
        );
    }
}
