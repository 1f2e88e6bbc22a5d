//! The one error a script or a cell fails with: what kind, where (file, line,
//! column), the message, and the source line to point at.

use std::path::{Path, PathBuf};

use rhai::{EvalAltResult, ParseError, Position};

/// What went wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The code does not parse.
    Parse,
    /// It failed while running (or the file could not be read).
    Runtime,
    /// An interrupt stopped it.
    Interrupted,
}

impl ErrorKind {
    /// `ParseError`, `RuntimeError` or `Interrupted` (a Jupyter error's `ename`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Parse => "ParseError",
            Self::Runtime => "RuntimeError",
            Self::Interrupted => "Interrupted",
        }
    }
}

/// A failed script or cell.
#[derive(Debug, Clone, PartialEq)]
pub struct ScriptError {
    /// What went wrong.
    pub kind: ErrorKind,
    /// The script file (None for a cell).
    pub file: Option<PathBuf>,
    /// 1-based line and column, when known.
    pub position: Option<(usize, usize)>,
    /// The message (the Rust cause for errors inside calls).
    pub message: String,
    /// The source line at `position`.
    pub line: Option<String>,
}

impl ScriptError {
    /// `ParseError`, `RuntimeError` or `Interrupted`.
    pub fn name(&self) -> &'static str {
        self.kind.name()
    }

    /// The source line and a caret under the column, each line after `margin`.
    pub fn snippet(&self, margin: &str) -> Option<String> {
        let (line, (_, col)) = (self.line.as_ref()?, self.position?);
        Some(format!(
            "{margin}{line}\n{margin}{}^",
            " ".repeat(col.max(1) - 1)
        ))
    }

    /// Traceback lines as a notebook shows them: `Kind: message`, then the
    /// line with a caret.
    pub fn traceback(&self) -> Vec<String> {
        let mut lines = vec![format!("{}: {}", self.name(), self.message)];
        if let Some(s) = self.snippet("") {
            lines.extend(s.lines().map(str::to_string));
        }
        lines
    }

    fn at(
        kind: ErrorKind,
        message: String,
        pos: Position,
        code: &str,
        file: Option<&Path>,
    ) -> Self {
        let line = pos
            .line()
            .and_then(|l| code.lines().nth(l.checked_sub(1)?))
            .map(str::to_string);
        Self {
            kind,
            file: file.map(Path::to_path_buf),
            position: pos.line().map(|l| (l, pos.position().unwrap_or(1))),
            message,
            line,
        }
    }

    /// A parse failure of `code`.
    pub(crate) fn parse(e: &ParseError, code: &str, file: Option<&Path>) -> Self {
        Self::at(
            ErrorKind::Parse,
            e.err_type().to_string(),
            e.position(),
            code,
            file,
        )
    }

    /// A failure while running `code`.
    pub(crate) fn runtime(e: &EvalAltResult, code: &str, file: Option<&Path>) -> Self {
        let kind = match root_cause(e) {
            EvalAltResult::ErrorTerminated(..) => ErrorKind::Interrupted,
            _ => ErrorKind::Runtime,
        };
        Self::at(kind, describe_error(e, code), e.position(), code, file)
    }

    /// A script file that could not be read.
    pub(crate) fn unreadable(file: &Path, e: &std::io::Error) -> Self {
        Self {
            kind: ErrorKind::Runtime,
            file: Some(file.to_path_buf()),
            position: None,
            message: e.to_string(),
            line: None,
        }
    }
}

impl std::fmt::Display for ScriptError {
    /// A file's error as `file:line:col: message` and the line with a caret; a
    /// cell's as its traceback.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let Some(file) = &self.file else {
            return write!(f, "{}", self.traceback().join("\n"));
        };
        match self.position {
            Some((l, c)) => write!(f, "{}:{l}:{c}: {}", file.display(), self.message)?,
            None => write!(f, "{}: {}", file.display(), self.message)?,
        }
        if let Some(s) = self.snippet("  | ") {
            write!(f, "\n{s}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ScriptError {}

/// The function called at `pos` (`name(` or `.name(` starting there), if any.
fn called_at(source: &str, pos: Position) -> Option<&str> {
    let line = source.lines().nth(pos.line()?.checked_sub(1)?)?;
    let rest = line.get(pos.position()?.checked_sub(1)?..)?;
    let end = rest
        .find(|c: char| !(c.is_alphanumeric() || c == '_'))
        .unwrap_or(rest.len());
    (end > 0 && rest[end..].starts_with('(')).then(|| &rest[..end])
}

/// The error's message; an error raised by a rankbook function (a Rust error)
/// is prefixed by the call it happened in (`in fit(): ...`). Rhai's own
/// errors (unknown function, limits) say what they are already.
pub fn describe_error(e: &EvalAltResult, source: &str) -> String {
    let message = error_message(e);
    match (root_cause(e), called_at(source, e.position())) {
        (EvalAltResult::ErrorRuntime(..), Some(name)) => format!("in {name}(): {message}"),
        _ => message,
    }
}

/// The error under the "in call to function f" layers (the real cause).
fn root_cause(e: &EvalAltResult) -> &EvalAltResult {
    let mut inner = e;
    while let EvalAltResult::ErrorInFunctionCall(_, _, cause, _) = inner {
        inner = cause;
    }
    inner
}

/// Strips Rhai's own " (line x, position y)" suffix: the position is printed in front.
pub fn error_message(e: &EvalAltResult) -> String {
    let inner = root_cause(e);
    if let EvalAltResult::ErrorTerminated(..) = inner {
        return "interrupted".to_string();
    }
    let text = inner.to_string();
    let text = text.strip_prefix("Runtime error: ").unwrap_or(&text);
    match text.rfind(" (line ") {
        Some(i) if text.ends_with(')') => text[..i].to_string(),
        _ => text.to_string(),
    }
}
