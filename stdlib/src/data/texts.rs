//! Texts with ids from JSONL: `{"id"|"_id": …, "text": …}` and BEIR corpus lines
//! (`_id`, `title`, `text`), whose text is `(title + " " + text).strip()` as
//! sentence-transformers and BEIR build it.

use std::collections::HashMap;
use std::ops::Range;
use std::path::Path;

use serde_json::{Map, Value};

use crate::data::json_lines::field_list;
use crate::data::lines::for_each_line;
use crate::error::{Error, Result};
use crate::shard::Shard;

/// One text and its id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextRecord {
    /// Document or query id.
    pub id: String,
    /// The text to encode.
    pub text: String,
}

fn id_of(obj: &Map<String, Value>) -> Option<String> {
    match obj.get("_id").or_else(|| obj.get("id"))? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// The texts of `records`, in order (what an encoder takes).
pub fn texts_of(records: &[TextRecord]) -> Vec<&str> {
    records.iter().map(|r| r.text.as_str()).collect()
}

/// Reads `{id, text}` records from a JSONL file. Blank lines are skipped; a
/// duplicate id is an error naming both lines.
pub fn read_texts(path: &Path) -> Result<Vec<TextRecord>> {
    let mut out = Vec::new();
    for_each_text(path, |_, t| {
        out.push(t);
        Ok(())
    })?;
    Ok(out)
}

/// Shard `shard`'s slice of the texts of `path`, and how many texts the whole
/// file holds. Every line is checked as [`read_texts`] checks it (ids unique
/// over the whole file), but only the slice is kept: a shard's memory does
/// not grow with the corpus's text.
pub fn read_texts_shard(path: &Path, shard: Shard) -> Result<(Vec<TextRecord>, usize)> {
    let mut out = Vec::new();
    let rows = shard.range(count_texts(path)?);
    let total = stream_texts(path, rows, usize::MAX, |chunk| {
        out.extend(chunk);
        Ok(())
    })?;
    Ok((out, total))
}

/// The number of texts (non-blank lines) of `path`, without parsing them.
pub fn count_texts(path: &Path) -> Result<usize> {
    let mut total = 0;
    for_each_line(path, |_, line| {
        total += usize::from(!line.trim().is_empty());
        Ok(())
    })?;
    Ok(total)
}

/// Hands the texts of `path` numbered in `rows` (all: `0..usize::MAX`; a
/// shard's: `shard.range(count_texts(path)?)`) to `f` in chunks of up to
/// `chunk`, every text checked as [`read_texts`] checks it, so that a corpus
/// is processed without being held whole; returns the number of texts in the
/// whole file.
pub fn stream_texts(
    path: &Path,
    range: Range<usize>,
    chunk: usize,
    mut f: impl FnMut(Vec<TextRecord>) -> Result<()>,
) -> Result<usize> {
    let mut buf = Vec::new();
    let total = for_each_text(path, |i, t| {
        if range.contains(&i) {
            buf.push(t);
            if buf.len() >= chunk {
                f(std::mem::take(&mut buf))?;
            }
        }
        Ok(())
    })?;
    if !buf.is_empty() {
        f(buf)?;
    }
    Ok(total)
}

/// Calls `f(index, text)` for each text of `path`, in order; returns how many.
fn for_each_text(path: &Path, mut f: impl FnMut(usize, TextRecord) -> Result<()>) -> Result<usize> {
    let mut index = 0;
    let mut seen: HashMap<String, usize> = HashMap::new();
    for_each_line(path, |no, line| {
        if line.trim().is_empty() {
            return Ok(());
        }
        let value: Value = serde_json::from_str(line)
            .map_err(|e| Error::parse(path, no, Some(e.column()), e.to_string()))?;
        let Value::Object(obj) = value else {
            return Err(Error::parse(path, no, None, "expected a JSON object"));
        };
        let id = id_of(&obj).ok_or_else(|| {
            Error::parse(
                path,
                no,
                None,
                format!("no \"_id\" or \"id\" field (fields: {})", field_list(&obj)),
            )
        })?;
        let text = match obj.get("text") {
            Some(Value::String(t)) => t.as_str(),
            Some(Value::Null) => "",
            Some(_) => return Err(Error::parse(path, no, None, "\"text\" is not a string")),
            None => {
                return Err(Error::parse(
                    path,
                    no,
                    None,
                    format!("no \"text\" field (fields: {})", field_list(&obj)),
                ));
            }
        };
        let text = match obj.get("title") {
            Some(Value::String(title)) => format!("{title} {text}").trim().to_string(),
            _ => text.to_string(),
        };
        if let Some(first) = seen.insert(id.clone(), no) {
            return Err(Error::parse(
                path,
                no,
                None,
                format!("duplicate id \"{id}\" (first at line {first})"),
            ));
        }
        f(index, TextRecord { id, text })?;
        index += 1;
        Ok(())
    })?;
    Ok(index)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(text: &str) -> (tempfile::TempDir, std::path::PathBuf) {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("in.jsonl");
        std::fs::write(&p, text).unwrap();
        (d, p)
    }

    #[test]
    fn a_shard_reads_its_slice_and_checks_the_whole_file() {
        let lines: String = (0..7)
            .map(|i| format!("{{\"_id\": \"d{i}\", \"text\": \"t{i}\"}}\n\n"))
            .collect();
        let (_d, p) = write(&lines);
        let all = read_texts(&p).unwrap();
        for n in 1..=4 {
            let mut joined = Vec::new();
            for i in 0..n {
                let (slice, total) = read_texts_shard(&p, Shard::new(i, n).unwrap()).unwrap();
                assert_eq!(total, 7);
                joined.extend(slice);
            }
            assert_eq!(joined, all, "N = {n}");
        }
        // Streamed in chunks of 3: the same texts.
        let mut chunks = Vec::new();
        let total = stream_texts(&p, 0..usize::MAX, 3, |c| {
            chunks.push(c.len());
            Ok(())
        })
        .unwrap();
        assert_eq!((total, chunks), (7, vec![3, 3, 1]));
        // A repeated id outside the shard's slice is still an error.
        let (_d, p) = write(&(lines + "{\"_id\": \"d0\", \"text\": \"again\"}\n"));
        let e = read_texts_shard(&p, Shard::new(0, 2).unwrap()).unwrap_err();
        assert!(e.to_string().contains("duplicate id \"d0\""), "{e}");
    }

    #[test]
    fn reads_plain_and_beir_records() {
        let (_d, p) = write(
            "\u{feff}{\"id\": \"a\", \"text\": \"hello\"}\r\n\n{\"_id\": 7, \"title\": \"T\", \"text\": \"body \"}\n{\"_id\": \"e\", \"title\": \"\", \"text\": \"\"}\n",
        );
        let r = read_texts(&p).unwrap();
        assert_eq!(
            r,
            vec![
                TextRecord {
                    id: "a".into(),
                    text: "hello".into()
                },
                TextRecord {
                    id: "7".into(),
                    text: "T body".into()
                },
                TextRecord {
                    id: "e".into(),
                    text: "".into()
                },
            ]
        );
    }

    #[test]
    fn errors_name_file_line_and_column() {
        let (_d, p) = write("{\"id\": \"a\", \"text\": \"x\"}\n{\"id\": \"b\", \"text\" \"x\"}\n");
        let e = read_texts(&p).unwrap_err().to_string();
        assert!(e.starts_with(&format!("{}:2:", p.display())), "{e}");
        let (_d, p) = write("{\"id\": \"a\", \"body\": \"x\"}\n");
        let e = read_texts(&p).unwrap_err().to_string();
        assert!(
            e.ends_with(":1: no \"text\" field (fields: body, id)"),
            "{e}"
        );
        let (_d, p) = write("{\"id\": \"a\", \"text\": \"x\"}\n{\"id\": \"a\", \"text\": \"y\"}\n");
        let e = read_texts(&p).unwrap_err().to_string();
        assert!(
            e.contains(":2: duplicate id \"a\" (first at line 1)"),
            "{e}"
        );
    }
}
