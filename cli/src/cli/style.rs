//! Output conventions: data on stdout; progress, logs and errors on stderr;
//! errors as `error: …` followed by `hint: …` lines when there is advice.

/// Prints `error: …` (with its causes) and any `hint:` to stderr.
pub fn print_error(e: &anyhow::Error) {
    eprintln!("error: {}", error_line(e));
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

/// The error and its causes on one line; a cause the message already quotes
/// (an I/O error names its path and its cause) is not repeated.
fn error_line(e: &anyhow::Error) -> String {
    let mut line = e.to_string();
    for cause in e.chain().skip(1) {
        let c = cause.to_string();
        if !line.contains(&c) {
            line.push_str(": ");
            line.push_str(&c);
        }
    }
    line
}

/// A log line on stderr (never mixed into data on stdout).
pub fn log(msg: impl std::fmt::Display) {
    eprintln!("{msg}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn causes_are_not_repeated() {
        let io = std::io::Error::new(std::io::ErrorKind::StorageFull, "No space left on device");
        let e = anyhow::Error::from(rankbook::Error::io("/d/idx/terms.txt", io));
        assert_eq!(error_line(&e), "/d/idx/terms.txt: No space left on device");
        let e = anyhow::anyhow!("inner").context("outer");
        assert_eq!(error_line(&e), "outer: inner");
    }
}
