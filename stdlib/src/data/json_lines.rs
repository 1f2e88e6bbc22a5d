//! JSON-lines records with errors that name the file, line and field: the
//! reader behind every JSONL training format.

use std::path::Path;

use serde_json::{Map, Value};

use crate::data::lines::for_each_line;
use crate::error::{Error, Result};

/// An object's field names, sorted (serde_json keeps them sorted unless a
/// dependency turns on its `preserve_order` feature, as LanceDB's does).
pub(crate) fn field_list(obj: &Map<String, Value>) -> String {
    let mut names: Vec<&str> = obj.keys().map(String::as_str).collect();
    names.sort_unstable();
    names.join(", ")
}

/// One JSON object of a JSONL file, with where it came from.
pub struct Record<'a> {
    path: &'a Path,
    /// 1-based line number.
    pub line: usize,
    obj: Map<String, Value>,
}

impl Record<'_> {
    /// An error at this record's line.
    pub fn error(&self, message: impl Into<String>) -> Error {
        Error::parse(self.path, self.line, None, message)
    }

    fn missing(&self, names: &[&str]) -> Error {
        let wanted: Vec<String> = names.iter().map(|n| format!("\"{n}\"")).collect();
        self.error(format!(
            "no {} field (fields: {})",
            wanted.join(" or "),
            field_list(&self.obj)
        ))
    }

    /// Whether any of `names` is present.
    pub fn has(&self, names: &[&str]) -> bool {
        names.iter().any(|n| self.obj.contains_key(*n))
    }

    fn get<'n>(&self, names: &[&'n str]) -> Option<(&'n str, &Value)> {
        names.iter().find_map(|n| self.obj.get(*n).map(|v| (*n, v)))
    }

    /// A string (or number, as written) field, under the first of `names` present.
    pub fn string(&self, names: &[&str]) -> Result<String> {
        match self.get(names) {
            Some((_, Value::String(s))) => Ok(s.clone()),
            Some((_, Value::Number(n))) => Ok(n.to_string()),
            Some((name, _)) => Err(self.error(format!("\"{name}\" is not a string"))),
            None => Err(self.missing(names)),
        }
    }

    /// A number field.
    pub fn number(&self, names: &[&str]) -> Result<f32> {
        match self.get(names) {
            Some((_, Value::Number(n))) => Ok(n.as_f64().unwrap_or(f64::NAN) as f32),
            Some((_, Value::Bool(b))) => Ok(f32::from(u8::from(*b))),
            Some((name, _)) => Err(self.error(format!("\"{name}\" is not a number"))),
            None => Err(self.missing(names)),
        }
    }

    /// A list under the first of `names` present, each item converted by `item`
    /// (None: the item is not `what`).
    fn list<T>(
        &self,
        names: &[&str],
        what: &str,
        item: impl Fn(&Value) -> Option<T>,
    ) -> Result<Vec<T>> {
        let Some((name, v)) = self.get(names) else {
            return Err(self.missing(names));
        };
        let Value::Array(items) = v else {
            return Err(self.error(format!("\"{name}\" is not a list")));
        };
        items
            .iter()
            .enumerate()
            .map(|(i, x)| {
                item(x).ok_or_else(|| self.error(format!("\"{name}\"[{i}] is not {what}")))
            })
            .collect()
    }

    /// A list of strings (ids or texts).
    pub fn strings(&self, names: &[&str]) -> Result<Vec<String>> {
        self.list(names, "a string", |x| match x {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        })
    }

    /// A list of numbers.
    pub fn numbers(&self, names: &[&str]) -> Result<Vec<f32>> {
        self.list(names, "a number", |x| x.as_f64().map(|f| f as f32))
    }
}

/// Calls `f` on each JSON object of a JSONL file, line by line (large files are
/// streamed); blank lines are skipped.
pub fn for_each_record<F>(path: &Path, mut f: F) -> Result<()>
where
    F: FnMut(Record) -> Result<()>,
{
    for_each_line(path, |line, text| {
        if text.trim().is_empty() {
            return Ok(());
        }
        let value: Value = serde_json::from_str(text)
            .map_err(|e| Error::parse(path, line, Some(e.column()), e.to_string()))?;
        let Value::Object(obj) = value else {
            return Err(Error::parse(path, line, None, "expected a JSON object"));
        };
        f(Record { path, line, obj })
    })
}
