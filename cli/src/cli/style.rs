//! Output conventions: data on stdout; progress, logs and errors on stderr;
//! errors as `error: …` followed by `hint: …` lines when there is advice.

/// Prints `error: …` (with its causes) and any `hint:` to stderr.
pub fn print_error(e: &anyhow::Error) {
    eprintln!("error: {e:#}");
    if let Some(rankbook::Error::Parse { .. }) = e.downcast_ref::<rankbook::Error>() {
        eprintln!("hint: nothing was written; fix the line above and run again");
    }
    if let Some(e) = e.downcast_ref::<rankbook_script::ScriptError>() {
        let hint = match e.message.as_str() {
            "Too many operations" => Some("raise the limit with --max-operations N (0: none)"),
            "Stack overflow" => Some("raise the limit with --max-call-depth N"),
            _ => None,
        };
        if let Some(h) = hint {
            eprintln!("hint: {h}");
        }
    }
}

/// A log line on stderr (never mixed into data on stdout).
pub fn log(msg: impl std::fmt::Display) {
    eprintln!("{msg}");
}
