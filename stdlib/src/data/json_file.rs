//! Whole JSON files (configs, records), read with errors that name the file,
//! line and column.

use std::path::Path;

use serde::de::DeserializeOwned;

use crate::error::{Error, Result};

/// Parses a JSON file, naming it, its line and column on error.
pub fn read_json<T: DeserializeOwned>(path: &Path) -> Result<T> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    parse_json(path, &text)
}

/// Parses `text`, read from `path`, naming the file, line and column on error.
pub fn parse_json<T: DeserializeOwned>(path: &Path, text: &str) -> Result<T> {
    serde_json::from_str(text)
        .map_err(|e| Error::parse(path, e.line(), Some(e.column()), e.to_string()))
}
