//! The interpreter the kernel drives, with no knowledge of the transport (the
//! xeus split): a scripting Session plus execution counts and input history.
//! Tested without sockets.

use rankbook_script::{Completeness, Completions, ScriptError, Session};

/// What an execute request produced.
#[derive(Debug, Clone, PartialEq)]
pub enum Executed {
    /// Ran; the value of the last expression as a MIME bundle, unless silent,
    /// unit, or the cell ends with `;`.
    Ok {
        /// The execution count of the cell.
        count: usize,
        /// (MIME type, data) pairs.
        result: Option<Vec<(String, String)>>,
    },
    /// Failed.
    Error {
        /// The execution count of the cell.
        count: usize,
        /// The failure.
        error: ScriptError,
    },
}

/// A session with Jupyter's bookkeeping.
pub struct Interpreter {
    session: Session,
    count: usize,
    /// (count, input, text/plain of its result or "").
    history: Vec<Cell>,
}

/// A stored cell: its count, input, and the text of its result (or empty).
pub type Cell = (usize, String, String);

impl Default for Interpreter {
    fn default() -> Self {
        Self::new(Session::new())
    }
}

impl Interpreter {
    /// An interpreter over `session`.
    pub fn new(session: Session) -> Self {
        Self {
            session,
            count: 0,
            history: Vec::new(),
        }
    }

    /// The session (for completion and inspection).
    pub fn session(&self) -> &Session {
        &self.session
    }

    /// The execution count of the last stored cell.
    pub fn count(&self) -> usize {
        self.count
    }

    /// Runs a cell. `store_history` (and not `silent`) numbers it and keeps it
    /// in the history, as IPython does.
    pub fn execute(&mut self, code: &str, silent: bool, store_history: bool) -> Executed {
        let store = store_history && !silent;
        if store {
            self.count += 1;
            self.history
                .push((self.count, code.to_string(), String::new()));
        }
        let count = self.count;
        let executed = match self.session.execute(code) {
            Ok(v) => {
                let quiet = silent || v.is_unit() || code.trim_end().ends_with(';');
                Executed::Ok {
                    count,
                    result: (!quiet).then(|| self.session.bundle(&v)),
                }
            }
            Err(error) => Executed::Error { count, error },
        };
        if store
            && let (
                Some(cell),
                Executed::Ok {
                    result: Some(r), ..
                },
            ) = (self.history.last_mut(), &executed)
        {
            cell.2 = r
                .iter()
                .find(|(m, _)| m == "text/plain")
                .map(|(_, t)| t.clone())
                .unwrap_or_default();
        }
        executed
    }

    /// Whether code is complete (see [`Session::is_complete`]).
    pub fn is_complete(&self, code: &str) -> Completeness {
        self.session.is_complete(code)
    }

    /// Completions at a cursor (a character offset, as Jupyter counts).
    pub fn complete(&self, code: &str, cursor_chars: usize) -> Completions {
        let byte = char_to_byte(code, cursor_chars);
        let mut c = self.session.complete(code, byte);
        c.start = code[..c.start].chars().count();
        c.end = code[..c.end].chars().count();
        c
    }

    /// Signature and doc of the name at a cursor (character offset).
    pub fn inspect(&self, code: &str, cursor_chars: usize) -> Option<String> {
        self.session.inspect(code, char_to_byte(code, cursor_chars))
    }

    /// The last `n` cells, oldest first.
    pub fn history_tail(&self, n: usize) -> Vec<Cell> {
        self.history[self.history.len().saturating_sub(n)..].to_vec()
    }

    /// Cells matching a glob `pattern` (`*` any text, `?` one character), the
    /// last `n` of them (0: all), oldest first; `unique`: each input once.
    pub fn history_search(&self, pattern: &str, n: usize, unique: bool) -> Vec<Cell> {
        let mut hits: Vec<Cell> = self
            .history
            .iter()
            .filter(|(_, c, _)| glob(pattern, c))
            .cloned()
            .collect();
        if unique {
            // The latest of each distinct input.
            let mut seen = std::collections::HashSet::new();
            hits.reverse();
            hits.retain(|(_, c, _)| seen.insert(c.clone()));
            hits.reverse();
        }
        let skip = if n == 0 {
            0
        } else {
            hits.len().saturating_sub(n)
        };
        hits[skip..].to_vec()
    }

    /// Cells with counts in `start..stop` (stop 0 or negative: to the end).
    pub fn history_range(&self, start: i64, stop: i64) -> Vec<Cell> {
        self.history
            .iter()
            .filter(|(i, _, _)| *i as i64 >= start && (stop <= 0 || (*i as i64) < stop))
            .cloned()
            .collect()
    }
}

fn char_to_byte(s: &str, chars: usize) -> usize {
    s.char_indices().nth(chars).map_or(s.len(), |(i, _)| i)
}

/// Glob matching with `*` and `?`.
fn glob(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti, mut star, mut mark) = (0, 0, None, 0);
    while ti < t.len() {
        if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_results_and_history() {
        let mut i = Interpreter::default();
        assert_eq!(
            i.execute("let x = 20;", false, true),
            Executed::Ok {
                count: 1,
                result: None
            }
        );
        assert_eq!(
            i.execute("x * 2 + 2", false, true),
            Executed::Ok {
                count: 2,
                result: Some(vec![("text/plain".into(), "42".into())])
            }
        );
        // Silent: no count, no result.
        assert_eq!(
            i.execute("x", true, false),
            Executed::Ok {
                count: 2,
                result: None
            }
        );
        let Executed::Error { count, error } = i.execute("x +", false, true) else {
            panic!("a parse error")
        };
        assert_eq!((count, error.name()), (3, "ParseError"));
        let cell = |n: usize, code: &str, out: &str| (n, code.to_string(), out.to_string());
        assert_eq!(
            i.history_tail(2),
            vec![cell(2, "x * 2 + 2", "42"), cell(3, "x +", "")]
        );
        assert_eq!(
            i.history_search("let*", 0, false),
            vec![cell(1, "let x = 20;", "")]
        );
        assert_eq!(
            i.history_search("x*2*", 0, false),
            vec![cell(2, "x * 2 + 2", "42")]
        );
        assert_eq!(i.history_range(2, 3), vec![cell(2, "x * 2 + 2", "42")]);
        let _ = i.execute("x * 2 + 2", false, true);
        assert_eq!(i.history_search("x*", 0, false).len(), 3);
        assert_eq!(
            i.history_search("x*", 0, true),
            vec![cell(3, "x +", ""), cell(4, "x * 2 + 2", "42")]
        );
        assert_eq!(
            i.history_search("x*", 1, false),
            vec![cell(4, "x * 2 + 2", "42")]
        );
        // Completion counts characters, not bytes.
        let c = i.complete("let é = 1; load_q", 17);
        assert_eq!((c.start, c.end), (11, 17));
        assert_eq!(c.matches, vec!["load_qrels".to_string()]);
    }
}
