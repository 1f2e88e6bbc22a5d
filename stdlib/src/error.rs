//! The library's error type.

use std::path::PathBuf;

/// Everything that can go wrong inside rankbook.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An I/O failure on a named file.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Malformed input at a known place: `file:line[:column]: reason`.
    #[error("{}", format_location(path, *line, *column, message))]
    Parse {
        path: PathBuf,
        line: usize,
        column: Option<usize>,
        message: String,
    },
    /// A model could not be found locally nor fetched.
    #[error("model `{spec}` not found: {reason}")]
    ModelNotFound { spec: String, reason: String },
    /// A model folder whose configuration is missing or not understood.
    #[error("{}: {message}", path.display())]
    ModelConfig { path: PathBuf, message: String },
    /// A tensor operation failed.
    #[error("tensor error: {0}")]
    Candle(#[from] candle_core::Error),
    /// The tokenizer failed to load or to encode.
    #[error("tokenizer: {0}")]
    Tokenizer(String),
    /// An argument that makes no sense (with the reason).
    #[error("{0}")]
    InvalidArgument(String),
    /// Arrow IPC read or write failure.
    #[error("arrow: {0}")]
    Arrow(#[from] arrow_schema::ArrowError),
    /// The operation was cancelled by the user (interrupt).
    #[error("cancelled")]
    Cancelled,
}

/// Result with the library's error type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

fn format_location(
    path: &std::path::Path,
    line: usize,
    column: Option<usize>,
    message: &str,
) -> String {
    match column {
        Some(c) => format!("{}:{line}:{c}: {message}", path.display()),
        None => format!("{}:{line}: {message}", path.display()),
    }
}

impl Error {
    /// Wraps an I/O error with the path it happened on.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }

    /// A parse error at `path:line` (1-based), optionally with a column.
    pub fn parse(
        path: impl Into<PathBuf>,
        line: usize,
        column: Option<usize>,
        message: impl Into<String>,
    ) -> Self {
        Error::Parse {
            path: path.into(),
            line,
            column,
            message: message.into(),
        }
    }

    /// A configuration problem in a model folder.
    pub fn model_config(path: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        Error::ModelConfig {
            path: path.into(),
            message: message.into(),
        }
    }
}
