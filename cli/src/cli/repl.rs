//! `rankbook repl`: an interactive Rhai session with line editing, a history
//! file, multi-line input while braces are open, and completion of functions,
//! variables and measure names (all from the same Session the kernel uses).

use std::cell::RefCell;
use std::path::PathBuf;
use std::rc::Rc;

use clap::Args;
use rankbook_script::{Completeness, Session};
use rustyline::completion::{Completer, Pair};
use rustyline::error::ReadlineError;
use rustyline::highlight::Highlighter;
use rustyline::hint::Hinter;
use rustyline::validate::{ValidationContext, ValidationResult, Validator};
use rustyline::{Context, Editor, Helper};

#[derive(Args)]
pub struct ReplArgs {
    /// History file (default: ~/.cache/rankbook/repl_history).
    #[arg(long)]
    history: Option<PathBuf>,
}

/// Connects the editor to the session's completion and completeness checks.
struct SessionHelper(Rc<RefCell<Session>>);

impl Completer for SessionHelper {
    type Candidate = Pair;
    fn complete(
        &self,
        line: &str,
        pos: usize,
        _: &Context<'_>,
    ) -> rustyline::Result<(usize, Vec<Pair>)> {
        let c = self.0.borrow().complete(line, pos);
        let pairs = c
            .matches
            .into_iter()
            .map(|m| Pair {
                display: m.clone(),
                replacement: m,
            })
            .collect();
        Ok((c.start, pairs))
    }
}

impl Hinter for SessionHelper {
    type Hint = String;
}

impl Highlighter for SessionHelper {}

impl Validator for SessionHelper {
    fn validate(&self, ctx: &mut ValidationContext) -> rustyline::Result<ValidationResult> {
        Ok(match self.0.borrow().is_complete(ctx.input()) {
            Completeness::Incomplete(_) => ValidationResult::Incomplete,
            // Invalid code runs anyway, so its error is shown.
            _ => ValidationResult::Valid(None),
        })
    }
}

impl Helper for SessionHelper {}

fn default_history() -> PathBuf {
    std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_default()
        .join(".cache/rankbook/repl_history")
}

pub fn run(a: ReplArgs) -> anyhow::Result<()> {
    let session = Rc::new(RefCell::new(Session::new()));
    let mut editor: Editor<SessionHelper, _> = Editor::new()?;
    editor.set_helper(Some(SessionHelper(session.clone())));
    let history = a.history.unwrap_or_else(default_history);
    let _ = editor.load_history(&history);
    eprintln!(
        "rankbook {} — Rhai REPL (Tab completes, Ctrl-D quits)",
        env!("CARGO_PKG_VERSION")
    );
    // Lines gathered while braces are open (piped input has no validator).
    let mut pending = String::new();
    loop {
        let prompt = if pending.is_empty() { "rb> " } else { "... " };
        match editor.readline(prompt) {
            Ok(line) => {
                if pending.is_empty() && line.trim().is_empty() {
                    continue;
                }
                pending.push_str(&line);
                pending.push('\n');
                if matches!(
                    session.borrow().is_complete(&pending),
                    Completeness::Incomplete(_)
                ) {
                    continue;
                }
                let cell = std::mem::take(&mut pending);
                let _ = editor.add_history_entry(cell.trim_end());
                let result = session.borrow_mut().execute(&cell);
                match result {
                    Ok(v) if v.is_unit() => {}
                    Ok(v) => println!("{}", session.borrow().result_text(&v)),
                    Err(e) => e.traceback().iter().for_each(|l| eprintln!("{l}")),
                }
            }
            Err(ReadlineError::Interrupted) => pending.clear(),
            Err(ReadlineError::Eof) => break,
            Err(e) => return Err(e.into()),
        }
    }
    if let Some(dir) = history.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    let _ = editor.save_history(&history);
    Ok(())
}
