//! Running a script file with errors that point at `file:line:col`.

use std::path::{Path, PathBuf};

use rankbook::progress::CancelFlag;
use rhai::{Dynamic, Engine, EvalAltResult, Position, Scope};

/// A script failure: where, what, and the line of source.
#[derive(Debug)]
pub struct ScriptError {
    /// The script file.
    pub file: PathBuf,
    /// 1-based line and column, when known.
    pub position: Option<(usize, usize)>,
    /// The error message (with the Rust cause).
    pub message: String,
    /// The offending source line with a caret under the column.
    pub snippet: Option<String>,
}

impl std::fmt::Display for ScriptError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.position {
            Some((l, c)) => write!(f, "{}:{l}:{c}: {}", self.file.display(), self.message)?,
            None => write!(f, "{}: {}", self.file.display(), self.message)?,
        }
        if let Some(s) = &self.snippet {
            write!(f, "\n{s}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ScriptError {}

/// Limits against runaway scripts, and a flag that stops one.
#[derive(Clone, Debug)]
pub struct Limits {
    /// Operations before the script is stopped (0: no limit).
    pub max_operations: u64,
    /// Deepest nesting of function calls.
    pub max_call_depth: usize,
    /// When set, the script stops at its next operation.
    pub stop: Option<CancelFlag>,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_operations: 0,
            max_call_depth: 256,
            stop: None,
        }
    }
}

/// An engine with rankbook registered and the default limits.
pub fn new_engine() -> Engine {
    new_engine_with(&Limits::default())
}

/// An engine with rankbook registered and `limits`.
pub fn new_engine_with(limits: &Limits) -> Engine {
    let mut engine = Engine::new();
    engine.set_max_call_levels(limits.max_call_depth);
    engine.set_max_expr_depths(512, 256);
    engine.set_max_operations(limits.max_operations);
    if let Some(stop) = limits.stop.clone() {
        engine.on_progress(move |_| stop.is_cancelled().then_some(Dynamic::UNIT));
    }
    super::register(&mut engine);
    engine
}

/// The source line at `pos` and a caret under its column, each line after `margin`.
pub fn snippet_with(source: &str, pos: Position, margin: &str) -> Option<String> {
    let line = source.lines().nth(pos.line()?.checked_sub(1)?)?;
    let col = pos.position().unwrap_or(1).max(1);
    Some(format!("{margin}{line}\n{margin}{}^", " ".repeat(col - 1)))
}

fn snippet(source: &str, pos: Position) -> Option<String> {
    snippet_with(source, pos, "  | ")
}

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

/// Runs `path` with `vars` injected into the scope (values parsed as int, float,
/// bool, else string). Returns the script's final value.
pub fn run_file(
    engine: &Engine,
    path: &Path,
    vars: &[(String, String)],
) -> Result<Dynamic, ScriptError> {
    let source = std::fs::read_to_string(path).map_err(|e| ScriptError {
        file: path.to_path_buf(),
        position: None,
        message: e.to_string(),
        snippet: None,
    })?;
    let mut scope = Scope::new();
    for (k, v) in vars {
        let value: Dynamic = if let Ok(i) = v.parse::<i64>() {
            i.into()
        } else if let Ok(f) = v.parse::<f64>() {
            f.into()
        } else if let Ok(b) = v.parse::<bool>() {
            b.into()
        } else {
            v.clone().into()
        };
        scope.push(k.clone(), value);
    }
    let fail = |pos: Position, message: String| ScriptError {
        file: path.to_path_buf(),
        position: pos.line().map(|l| (l, pos.position().unwrap_or(1))),
        snippet: snippet(&source, pos),
        message,
    };
    let ast = engine
        .compile_with_scope(&scope, &source)
        .map_err(|e| fail(e.position(), e.err_type().to_string()))?;
    engine
        .eval_ast_with_scope::<Dynamic>(&mut scope, &ast)
        .map_err(|e| fail(e.position(), describe_error(&e, &source)))
}
