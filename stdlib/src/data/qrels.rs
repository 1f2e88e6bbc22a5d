//! Relevance judgements: TREC qrels (`qid 0 docid rel`) and BEIR TSV
//! (`query-id corpus-id score`, header optional); lines starting with `#` are
//! comments, as in trec_eval.

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::Path;

use crate::data::lines::for_each_line;
use crate::error::{Error, Result};

/// The judgements of one query: docid -> grade.
pub type Judgements = foldhash::HashMap<String, i32>;

/// A query's judgements by subtopic (diversity qrels): docid -> (subtopic, grade) pairs.
pub type Intents = foldhash::HashMap<String, Vec<(u32, i32)>>;

/// Graded judgements per query: `qid -> docid -> grade` (grades may be negative).
/// Diversity qrels (TREC layout with subtopics in the second column, as ndeval
/// reads them) also keep each doc's grade per subtopic; its grade for the
/// query is the highest of them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Qrels {
    map: BTreeMap<String, Judgements>,
    intents: BTreeMap<String, Intents>,
}

/// Parses a relevance grade: an integer, or a float with no fractional part.
pub fn parse_grade(s: &str) -> Option<i32> {
    s.parse::<i32>().ok().or_else(|| {
        let f: f64 = s.parse().ok()?;
        (f.fract() == 0.0 && f.abs() < i32::MAX as f64).then_some(f as i32)
    })
}

impl Qrels {
    /// An empty set of judgements.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds (or replaces) one judgement.
    pub fn insert(&mut self, qid: &str, doc: &str, grade: i32) {
        self.map
            .entry(qid.to_string())
            .or_default()
            .insert(doc.to_string(), grade);
    }

    /// Reads TREC or BEIR qrels, detected from the first line. In TREC layout a
    /// second column with more than one value names subtopics (diversity qrels).
    pub fn read(path: &Path) -> Result<Self> {
        let mut qrels = Qrels::new();
        let mut columns: Option<usize> = None;
        let mut lines_of: HashMap<(String, String, String), usize> = HashMap::new();
        let mut subtopics: HashMap<String, u32> = HashMap::new();
        for_each_line(path, |no, line| {
            // trec_eval skips lines that start with `#` (a `#` inside an id is kept).
            if line.starts_with('#') {
                return Ok(());
            }
            let fields: Vec<&str> = line.split_whitespace().collect();
            if fields.is_empty() {
                return Ok(());
            }
            let expected = match columns {
                Some(c) => c,
                None => {
                    let c = fields.len();
                    if c != 3 && c != 4 {
                        return Err(Error::parse(
                            path,
                            no,
                            None,
                            format!(
                                "expected 4 columns (qid 0 docid rel) or 3 (query-id corpus-id score), found {c}"
                            ),
                        ));
                    }
                    columns = Some(c);
                    if c == 3 && parse_grade(fields[2]).is_none() {
                        return Ok(()); // BEIR header line
                    }
                    c
                }
            };
            if fields.len() != expected {
                let layout = if expected == 4 {
                    "4 columns (qid 0 docid rel)"
                } else {
                    "3 columns (query-id corpus-id score)"
                };
                return Err(Error::parse(
                    path,
                    no,
                    None,
                    format!("expected {layout}, found {}", fields.len()),
                ));
            }
            let (qid, subtopic, doc, grade) = if expected == 4 {
                (fields[0], fields[1], fields[2], fields[3])
            } else {
                (fields[0], "", fields[1], fields[2])
            };
            let grade = parse_grade(grade).ok_or_else(|| {
                Error::parse(
                    path,
                    no,
                    None,
                    format!("relevance \"{grade}\" is not an integer"),
                )
            })?;
            let key = (qid.to_string(), subtopic.to_string(), doc.to_string());
            if let Some(first) = lines_of.insert(key, no) {
                return Err(Error::parse(
                    path,
                    no,
                    None,
                    format!("query {qid} judges doc {doc} twice (first at line {first})"),
                ));
            }
            let next = subtopics.len() as u32;
            let subtopic = *subtopics.entry(subtopic.to_string()).or_insert(next);
            qrels
                .intents
                .entry(qid.to_string())
                .or_default()
                .entry(doc.to_string())
                .or_default()
                .push((subtopic, grade));
            let best = qrels.get(qid).and_then(|j| j.get(doc)).copied();
            qrels.insert(qid, doc, best.map_or(grade, |b| b.max(grade)));
            Ok(())
        })?;
        if columns.is_none() {
            return Err(Error::parse(path, 1, None, "empty file"));
        }
        // One value in the second column (trec_eval's unused "iteration"): no subtopics.
        if subtopics.len() < 2 {
            qrels.intents.clear();
        }
        Ok(qrels)
    }

    /// The subtopic judgements of a query, when the qrels are diversity qrels.
    pub fn intents(&self, qid: &str) -> Option<&Intents> {
        self.intents.get(qid)
    }

    /// Judgements of one query.
    pub fn get(&self, qid: &str) -> Option<&Judgements> {
        self.map.get(qid)
    }

    /// Query ids in sorted order.
    pub fn query_ids(&self) -> impl Iterator<Item = &str> {
        self.map.keys().map(String::as_str)
    }

    /// `(qid, judgements)` pairs in query-id order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Judgements)> {
        self.map.iter().map(|(q, d)| (q.as_str(), d))
    }

    /// Number of judged queries.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether no query is judged.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Number of judgements over all queries.
    pub fn judgements(&self) -> usize {
        self.map.values().map(|j| j.len()).sum()
    }

    /// The judgements of the queries `keep` accepts.
    pub fn filter(&self, keep: impl Fn(&str) -> bool) -> Qrels {
        Qrels {
            map: self
                .map
                .iter()
                .filter(|(q, _)| keep(q))
                .map(|(q, j)| (q.clone(), j.clone()))
                .collect(),
            intents: self
                .intents
                .iter()
                .filter(|(q, _)| keep(q))
                .map(|(q, i)| (q.clone(), i.clone()))
                .collect(),
        }
    }

    /// Writes TREC qrels (`qid 0 docid grade`, queries and docs sorted), atomically;
    /// subtopics are not written (each doc keeps its highest grade).
    pub fn write(&self, path: &Path) -> Result<()> {
        crate::atomic::write_atomically(path, |w| {
            for (qid, judged) in &self.map {
                let mut docs: Vec<(&String, &i32)> = judged.iter().collect();
                docs.sort();
                for (doc, grade) in docs {
                    writeln!(w, "{qid} 0 {doc} {grade}").map_err(|e| Error::io(path, e))?;
                }
            }
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filter_then_write_round_trips() {
        let mut q = Qrels::new();
        q.insert("q2", "d9", 0);
        q.insert("q1", "d2", 2);
        q.insert("q1", "d1", 1);
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("q.txt");
        q.write(&p).unwrap();
        assert_eq!(
            std::fs::read_to_string(&p).unwrap(),
            "q1 0 d1 1\nq1 0 d2 2\nq2 0 d9 0\n"
        );
        assert_eq!(Qrels::read(&p).unwrap(), q);
        let only = q.filter(|id| id == "q2");
        assert_eq!(only.len(), 1);
        assert_eq!(only.judgements(), 1);
    }

    fn read(text: &str) -> Result<Qrels> {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("q.txt");
        std::fs::write(&p, text).unwrap();
        Qrels::read(&p)
    }

    #[test]
    fn reads_trec_and_beir_layouts() {
        let t = read("\u{feff}q1 0 d1 2\r\nq1 0 d2 -1\r\nq2\t0\td1\t0\n").unwrap();
        assert_eq!(t.get("q1").unwrap()["d1"], 2);
        assert_eq!(t.get("q1").unwrap()["d2"], -1);
        assert_eq!(t.len(), 2);
        let b = read("query-id\tcorpus-id\tscore\r\n1\t31715818\t1\r\n").unwrap();
        assert_eq!(b.get("1").unwrap()["31715818"], 1);
        assert_eq!(b.judgements(), 1);
    }

    #[test]
    fn comment_lines_are_skipped_and_hash_inside_ids_kept() {
        // trec_eval's qrels.test.with-comments starts with "# comment here".
        let t = read("# comment here\nq1 0 doc#4_17 1\n#q1 0 d2 1\nq1 0 d3 0\n").unwrap();
        assert_eq!(t.get("q1").unwrap()["doc#4_17"], 1);
        assert_eq!(t.judgements(), 2);
        let e = read("# only a comment\n").unwrap_err().to_string();
        assert!(e.ends_with(":1: empty file"), "{e}");
    }

    #[test]
    fn diversity_qrels_keep_subtopics() {
        let t = read("1 1 a 1\n1 2 a 0\n1 2 b 2\n1 3 c 0\n").unwrap();
        assert_eq!(t.get("1").unwrap()["a"], 1);
        assert_eq!(t.get("1").unwrap()["b"], 2);
        let intents = t.intents("1").unwrap();
        assert_eq!(intents["a"], vec![(0, 1), (1, 0)]);
        assert_eq!(intents["b"], vec![(1, 2)]);
        // trec_eval's layout (one value in the second column) has none.
        assert!(read("1 0 a 1\n1 0 b 0\n").unwrap().intents("1").is_none());
        let e = read("1 1 a 1\n1 1 a 0\n").unwrap_err().to_string();
        assert!(
            e.contains(":2: query 1 judges doc a twice (first at line 1)"),
            "{e}"
        );
    }

    #[test]
    fn bad_lines_are_named() {
        let e = read("q1 0 d1 1\nq1 0 d2\n").unwrap_err().to_string();
        assert!(
            e.ends_with(":2: expected 4 columns (qid 0 docid rel), found 3"),
            "{e}"
        );
        let e = read("q1 0 d1 high\n").unwrap_err().to_string();
        assert!(
            e.ends_with(":1: relevance \"high\" is not an integer"),
            "{e}"
        );
        let e = read("").unwrap_err().to_string();
        assert!(e.ends_with(":1: empty file"), "{e}");
        let e = read("q 0 d 1\nq 0 d 0\n").unwrap_err().to_string();
        assert!(
            e.contains(":2: query q judges doc d twice (first at line 1)"),
            "{e}"
        );
    }
}
