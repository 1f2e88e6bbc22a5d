//! A scripting session, independent of any transport: a Rhai engine with a
//! persistent scope, where functions defined in earlier cells stay callable.
//! It answers what a REPL or a notebook kernel asks: run a cell, is this code
//! complete, what completes here, what is this name. The REPL and the Jupyter
//! kernel are thin adapters over it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};

use std::path::Path;

use rhai::{AST, Dynamic, Engine, Scope};

use crate::script::{ScriptError, describe_function, new_engine, registered};

/// Whether code can run as it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Completeness {
    /// It parses.
    Complete,
    /// Open braces, brackets or strings: more lines are expected (with this indent).
    Incomplete(String),
    /// A syntax error that more lines cannot fix.
    Invalid,
}

/// Completion matches replacing `code[start..end]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Completions {
    /// Start of the replaced text (byte offset).
    pub start: usize,
    /// End of the replaced text (the cursor).
    pub end: usize,
    /// Candidates, sorted.
    pub matches: Vec<String>,
}

/// Rhai's keywords, offered by completion.
const KEYWORDS: &[&str] = &[
    "let", "const", "fn", "if", "else", "for", "in", "while", "loop", "break", "continue",
    "return", "true", "false", "print", "debug", "switch", "throw", "try", "catch",
];

/// What a cell writes while it runs.
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    /// `print` text (with its newline).
    Stdout(String),
    /// `debug` text (with its newline).
    Stderr(String),
    /// A rich value shown by `display(x)`: (MIME type, data) pairs.
    Display(Vec<(String, String)>),
    /// A display that later updates replace (a live view): its id and bundle.
    DisplayWithId(String, Vec<(String, String)>),
    /// New content for the display with this id.
    Update(String, Vec<(String, String)>),
    /// `clear_output()`: the cell's outputs so far are cleared.
    Clear,
    /// `help("name")`: text for the notebook's pager.
    Page(String),
}

/// Where a session's outputs go.
pub type OutputSink = Arc<dyn Fn(Output) + Send + Sync>;

/// An engine, its scope and the functions defined so far.
pub struct Session {
    engine: Engine,
    scope: Scope<'static>,
    functions: AST,
    sink: Arc<RwLock<Option<OutputSink>>>,
    interrupt: Arc<AtomicBool>,
    /// What this session's bindings see while its cells run.
    host: RwLock<Option<crate::script::host::Host>>,
}

/// A `--set key=value` value as the script sees it: int, float, bool, else string.
fn script_value(v: &str) -> Dynamic {
    if let Ok(i) = v.parse::<i64>() {
        i.into()
    } else if let Ok(f) = v.parse::<f64>() {
        f.into()
    } else if let Ok(b) = v.parse::<bool>() {
        b.into()
    } else {
        v.to_string().into()
    }
}

/// Drops the variables a later `let` of the same name hides. Rhai's `let`
/// pushes a new entry even when the name exists, so a notebook cell re-run
/// (`let index = bm25(...)`) kept every earlier value alive: the kernel's
/// memory grew with each run. Values are moved, never cloned.
fn drop_shadowed(scope: &mut Scope<'static>) {
    // (`iter_raw` walks from the newest entry; this walks in push order, as
    // `into_iter` below does.)
    let mut last = std::collections::HashMap::new();
    for (i, (name, _, _)) in (&*scope).into_iter().enumerate() {
        last.insert(name.to_string(), i);
    }
    if last.len() == scope.len() {
        return;
    }
    let entries = std::mem::take(scope);
    for (i, (name, value, _)) in entries.into_iter().enumerate() {
        if last.get(&name) == Some(&i) {
            // The value carries its access mode: a constant stays one.
            scope.push_dynamic(name, value);
        }
    }
}

/// Queries and hits per query shown in a notebook table.
const TABLE_QUERIES: usize = 5;
const TABLE_HITS: usize = 10;

/// An evaluation's means (a map of measure names to numbers, as `evaluate`
/// returns) as an HTML table; None for any other map.
fn measures_html(m: &rhai::Map) -> Option<String> {
    let means = m
        .iter()
        .map(|(k, v)| Some((rankbook::eval::Measure::parse(k).ok()?, v.as_float().ok()?)))
        .collect::<Option<Vec<_>>>()?;
    (!means.is_empty()).then(|| rankbook::present::means_html(&means, None))
}

/// A MIME bundle for a value: plots as SVG and PNG, comparisons as HTML
/// tables, everything with a text/plain fallback (`to_string`).
pub fn mime_bundle(engine: &Engine, value: &Dynamic) -> Vec<(String, String)> {
    if let Some(plot) = value.clone().try_cast::<rankbook::plot::Plot>()
        && let Ok(bundle) = plot.mime_bundle()
    {
        return bundle
            .into_iter()
            .map(|(m, d)| (m.to_string(), d))
            .collect();
    }
    let mut out = Vec::new();
    let html = if let Some(c) = value.clone().try_cast::<rankbook::eval::Comparison>() {
        Some(rankbook::present::format_comparison_html(&c))
    } else if let Some(r) = value.clone().try_cast::<rankbook::data::Run>() {
        Some(rankbook::present::run_html(&r, TABLE_QUERIES, TABLE_HITS))
    } else if let Some(q) = value.clone().try_cast::<rankbook::data::Qrels>() {
        Some(rankbook::present::qrels_html(&q, TABLE_QUERIES))
    } else {
        value
            .read_lock::<rhai::Map>()
            .and_then(|m| measures_html(&m))
    };
    if let Some(h) = html {
        out.push(("text/html".to_string(), h));
    }
    let mut scope = Scope::new();
    scope.push("__value", value.clone());
    let text = engine
        .eval_with_scope::<String>(&mut scope, "to_string(__value)")
        .unwrap_or_else(|_| value.to_string());
    out.push(("text/plain".to_string(), text));
    out
}

impl Default for Session {
    fn default() -> Self {
        Self::new()
    }
}

impl Session {
    /// A session with rankbook registered.
    pub fn new() -> Self {
        Self::with_engine(new_engine())
    }

    /// A session on a configured engine: print, debug and `display(x)` go to
    /// the output sink, and the interrupt flag stops a running cell.
    pub fn with_engine(mut engine: Engine) -> Self {
        let sink: Arc<RwLock<Option<OutputSink>>> = Arc::default();
        let emit = {
            let sink = sink.clone();
            move |o: Output| match sink.read().ok().and_then(|s| s.clone()) {
                Some(f) => f(o),
                None => match o {
                    Output::Stdout(t) => print!("{t}"),
                    Output::Stderr(t) => eprint!("{t}"),
                    Output::Display(b) => {
                        let text = b.iter().find(|(m, _)| m == "text/plain");
                        println!("{}", text.map_or("", |(_, d)| d.as_str()));
                    }
                    Output::Page(t) => println!("{t}"),
                    Output::Clear | Output::DisplayWithId(..) | Output::Update(..) => {}
                },
            }
        };
        let e = emit.clone();
        engine.on_print(move |t| e(Output::Stdout(format!("{t}\n"))));
        let e = emit.clone();
        engine.on_debug(move |t, _, _| e(Output::Stderr(format!("{t}\n"))));
        let e = emit.clone();
        engine.register_fn("clear_output", move || e(Output::Clear));
        let e = emit.clone();
        engine.register_fn("help", move |ctx: rhai::NativeCallContext, name: &str| {
            e(Output::Page(help_text(ctx.engine(), name)));
        });
        engine.register_fn(
            "display",
            move |ctx: rhai::NativeCallContext, v: Dynamic| {
                emit(Output::Display(mime_bundle(ctx.engine(), &v)));
            },
        );
        let interrupt = Arc::new(AtomicBool::new(false));
        let flag = interrupt.clone();
        engine.on_progress(move |_| flag.load(Ordering::Relaxed).then_some(Dynamic::UNIT));
        Self {
            engine,
            scope: Scope::new(),
            functions: AST::empty(),
            sink,
            interrupt,
            host: RwLock::new(None),
        }
    }

    /// Sends print, debug and display output to `sink` (None: the process's
    /// stdout and stderr); with a sink, bindings also show live views there
    /// and stop long operations on an interrupt.
    pub fn set_output(&self, sink: Option<OutputSink>) {
        if let Ok(mut s) = self.sink.write() {
            *s = sink.clone();
        }
        let host = sink.map(|sink| crate::script::host::Host {
            progress: Arc::new(crate::script::DisplayProgress::new(sink.clone())),
            sink: Some(sink),
            cancel: rankbook::progress::CancelFlag::from_shared(self.interrupt.clone()),
        });
        if let Ok(mut h) = self.host.write() {
            *h = host;
        }
    }

    /// In a terminal: output to stdout and stderr, long operations report to
    /// `progress` and stop on this session's interrupt flag.
    pub fn set_terminal_progress(&self, progress: Arc<dyn rankbook::progress::Progress>) {
        if let Ok(mut s) = self.sink.write() {
            *s = None;
        }
        if let Ok(mut h) = self.host.write() {
            *h = Some(crate::script::host::Host {
                sink: None,
                cancel: rankbook::progress::CancelFlag::from_shared(self.interrupt.clone()),
                progress,
            });
        }
    }

    /// Setting this flag stops the running cell at its next operation (the
    /// scope and earlier variables are kept); it is cleared when a cell starts.
    pub fn interrupt_flag(&self) -> Arc<AtomicBool> {
        self.interrupt.clone()
    }

    /// The MIME bundle of a cell's value (see [`mime_bundle`]). A string or
    /// character shows in its literal form (`"abc"`), as Rhai's REPL, IPython
    /// and evcxr show it, so that `"42"` and `42` are told apart.
    pub fn bundle(&self, value: &Dynamic) -> Vec<(String, String)> {
        if value.is_string() || value.is_char() {
            return vec![("text/plain".to_string(), format!("{value:?}"))];
        }
        mime_bundle(&self.engine, value)
    }

    /// The text a REPL prints for a cell's value (text/plain of [`Self::bundle`]).
    pub fn result_text(&self, value: &Dynamic) -> String {
        self.bundle(value)
            .into_iter()
            .find(|(m, _)| m == "text/plain")
            .map(|(_, t)| t)
            .unwrap_or_default()
    }

    /// The engine (to register display hooks, progress, limits).
    pub fn engine_mut(&mut self) -> &mut Engine {
        &mut self.engine
    }

    /// The variables defined so far.
    pub fn scope(&self) -> &Scope<'static> {
        &self.scope
    }

    /// Runs a cell: variables persist, functions it defines stay callable; the
    /// value of its last expression is returned (unit when none).
    pub fn execute(&mut self, code: &str) -> Result<Dynamic, ScriptError> {
        self.run(code, None)
    }

    /// Runs the script `path` with `vars` in its scope (values read as int,
    /// float, bool, else string); errors name the file. `rankbook run` is this.
    pub fn run_file(
        &mut self,
        path: &Path,
        vars: &[(String, String)],
    ) -> Result<Dynamic, ScriptError> {
        let code = std::fs::read_to_string(path).map_err(|e| ScriptError::unreadable(path, &e))?;
        for (k, v) in vars {
            self.scope.push(k.clone(), script_value(v));
        }
        self.run(&code, Some(path))
    }

    /// Runs `code` (from `file`, when it came from one) under this session's
    /// host, with its interrupt flag cleared first.
    fn run(&mut self, code: &str, file: Option<&Path>) -> Result<Dynamic, ScriptError> {
        self.interrupt.store(false, Ordering::Relaxed);
        let ast = self
            .engine
            .compile_with_scope(&self.scope, code)
            .map_err(|e| ScriptError::parse(&e, code, file))?;
        // Earlier cells' functions, then this cell's (which win on a clash).
        let program = self.functions.merge(&ast);
        let host = self.host.read().ok().and_then(|h| h.clone());
        let (engine, scope) = (&self.engine, &mut self.scope);
        let result = crate::script::host::with_host(host, || {
            engine.eval_ast_with_scope::<Dynamic>(scope, &program)
        });
        self.functions = self.functions.merge(&ast.clone_functions_only());
        drop_shadowed(&mut self.scope);
        result.map_err(|e| ScriptError::runtime(&e, code, file))
    }

    /// Whether `code` is complete, needs more lines, or is invalid.
    pub fn is_complete(&self, code: &str) -> Completeness {
        let depth = open_depth(code);
        if depth.unclosed_string || depth.brackets > 0 {
            return Completeness::Incomplete("    ".repeat(depth.brackets.max(0) as usize));
        }
        if depth.brackets < 0 {
            return Completeness::Invalid;
        }
        match self.engine.compile_with_scope(&self.scope, code) {
            Ok(_) => Completeness::Complete,
            Err(_) => Completeness::Invalid,
        }
    }

    /// Completions at byte offset `cursor`: functions, variables and keywords;
    /// after `value.`, the functions taking that value's type first; inside a
    /// string, measure and loss names.
    pub fn complete(&self, code: &str, cursor: usize) -> Completions {
        let cursor = cursor.min(code.len());
        let before = &code[..cursor];
        let start = before
            .char_indices()
            .rev()
            .take_while(|(_, c)| c.is_alphanumeric() || *c == '_' || *c == '@' || *c == '-')
            .last()
            .map_or(cursor, |(i, _)| i);
        let prefix = &code[start..cursor];
        let mut candidates: Vec<String> = Vec::new();
        if open_depth(before).unclosed_string {
            candidates.extend(
                rankbook::eval::measure_names()
                    .iter()
                    .map(|s| s.to_string()),
            );
            candidates.extend(
                rankbook::loss::KNOWN_LOSSES
                    .iter()
                    .map(|(n, _)| n.to_string()),
            );
        } else if let Some(receiver) = before[..start].strip_suffix('.') {
            let var: String = receiver
                .chars()
                .rev()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect();
            let ty = self
                .scope
                .get(&var)
                .map(|v| self.engine.map_type_name(v.type_name()).to_string());
            candidates.extend(self.methods(ty.as_deref()));
        } else {
            candidates.extend(self.function_names());
            candidates.extend(self.scope.iter_raw().map(|(n, _, _)| n.to_string()));
            candidates.extend(declared_names(&before[..start]));
            candidates.extend(KEYWORDS.iter().map(|k| k.to_string()));
        }
        let mut matches: Vec<String> = candidates
            .into_iter()
            .filter(|c| c.starts_with(prefix) && !c.contains('$'))
            .collect();
        matches.sort();
        matches.dedup();
        Completions {
            start,
            end: cursor,
            matches,
        }
    }

    /// Registered and script-defined function names.
    fn function_names(&self) -> Vec<String> {
        let mut names: Vec<String> = registered(&self.engine)
            .into_iter()
            .map(|f| f.name)
            .collect();
        names.extend(self.functions.iter_functions().map(|f| f.name.to_string()));
        names
    }

    /// Functions whose first parameter is of type `ty` (all when unknown),
    /// and property names.
    fn methods(&self, ty: Option<&str>) -> Vec<String> {
        registered(&self.engine)
            .into_iter()
            .filter(|f| {
                ty.is_none_or(|ty| {
                    f.signatures.iter().any(|s| {
                        let sig = crate::script::friendly_signature(s);
                        sig.split_once('(').is_some_and(|(_, args)| {
                            args.starts_with(&format!("{ty},"))
                                || args.starts_with(&format!("{ty})"))
                        })
                    })
                })
            })
            .map(|f| f.name.strip_prefix("get$").unwrap_or(&f.name).to_string())
            .collect()
    }

    /// Signatures and doc of the name at byte offset `cursor`, if it is a
    /// function or a variable.
    pub fn inspect(&self, code: &str, cursor: usize) -> Option<String> {
        let cursor = cursor.min(code.len());
        let is_word = |c: char| c.is_alphanumeric() || c == '_';
        let start = code[..cursor]
            .char_indices()
            .rev()
            .take_while(|(_, c)| is_word(*c))
            .last()
            .map_or(cursor, |(i, _)| i);
        let end = code[cursor..]
            .char_indices()
            .find(|(_, c)| !is_word(*c))
            .map_or(code.len(), |(i, _)| cursor + i);
        let word = &code[start..end];
        if word.is_empty() {
            return None;
        }
        if let Some(v) = self.scope.get(word) {
            let ty = self.engine.map_type_name(v.type_name());
            return Some(format!("{word}: {ty}\n{v}"));
        }
        describe_function(&self.engine, word)
    }
}

/// Signatures and doc of the function `name`, or where to look.
fn help_text(engine: &Engine, name: &str) -> String {
    describe_function(engine, name)
        .unwrap_or_else(|| format!("no function named {name} (the reference: docs/rhai-api.md)"))
}

/// Names the code declares (`let x`, `const x`, `fn f`), so completion offers
/// them before the cell has run.
fn declared_names(code: &str) -> Vec<String> {
    let words: Vec<&str> = code
        .split(|c: char| !(c.is_alphanumeric() || c == '_'))
        .filter(|w| !w.is_empty())
        .collect();
    words
        .windows(2)
        .filter(|w| matches!(w[0], "let" | "const" | "fn"))
        .map(|w| w[1].to_string())
        .collect()
}

/// Unclosed brackets (negative: more closed than opened) and whether a string
/// is open, outside comments.
struct Depth {
    brackets: i32,
    unclosed_string: bool,
}

fn open_depth(code: &str) -> Depth {
    let (mut depth, mut quote, mut chars) = (0i32, None::<char>, code.chars().peekable());
    while let Some(c) = chars.next() {
        match quote {
            Some(q) => {
                if c == '\\' {
                    chars.next();
                } else if c == q {
                    quote = None;
                }
            }
            None => match c {
                '"' | '`' => quote = Some(c),
                '/' if chars.peek() == Some(&'/') => {
                    for c in chars.by_ref() {
                        if c == '\n' {
                            break;
                        }
                    }
                }
                '{' | '[' | '(' => depth += 1,
                '}' | ']' | ')' => depth -= 1,
                _ => {}
            },
        }
    }
    Depth {
        brackets: depth,
        unclosed_string: quote.is_some(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_sessions_in_one_process_keep_their_own_hosts() {
        // A's progress (building a BM25 index) goes to A's sink only, though B's
        // output was set after A's.
        let sample = concat!(env!("CARGO_MANIFEST_DIR"), "/../data/scifact-sample");
        let sink = |log: &Arc<std::sync::Mutex<Vec<Output>>>| -> OutputSink {
            let log = log.clone();
            Arc::new(move |o| log.lock().unwrap().push(o))
        };
        let (a_log, b_log) = (Arc::default(), Arc::default());
        let mut a = Session::new();
        let mut b = Session::new();
        a.set_output(Some(sink(&a_log)));
        b.set_output(Some(sink(&b_log)));
        let cell = format!("let i = bm25(beir(\"{sample}\").corpus()); i.len()");
        assert_eq!(a.execute(&cell).unwrap().as_int().unwrap(), 201);
        let progress = |log: &Arc<std::sync::Mutex<Vec<Output>>>| {
            log.lock()
                .unwrap()
                .iter()
                .filter(|o| matches!(o, Output::DisplayWithId(..) | Output::Update(..)))
                .count()
        };
        assert!(progress(&a_log) >= 1, "A's progress reached A");
        assert_eq!(progress(&b_log), 0, "B saw A's progress");
        // B's own run reports to B; a session without a sink reports nowhere.
        assert_eq!(b.execute(&cell).unwrap().as_int().unwrap(), 201);
        assert!(progress(&b_log) >= 1);
        let mut c = Session::new();
        assert_eq!(c.execute(&cell).unwrap().as_int().unwrap(), 201);
    }

    #[test]
    fn an_index_shows_the_encoder_its_queries_go_through() {
        let mut s = Session::new();
        let fixture = "../stdlib/tests/fixtures/tiny/distilbert-mlm";
        let cell = format!(
            "let c = beir(\"../data/scifact-sample\").corpus(); \
             [bm25(c).encoder, index(splade(\"{fixture}\"), c).encoder]"
        );
        let v = s.execute(&cell).unwrap().into_array().unwrap();
        assert!(v[0].is_unit(), "BM25 has no encoder");
        let splade = v[1].clone().into_string().unwrap();
        assert!(
            splade.starts_with(&format!("{fixture} (weights ")) && splade.contains(", splade, "),
            "{splade}"
        );
    }

    #[test]
    fn a_colbert_is_built_indexed_and_searched_from_a_script() {
        let mut s = Session::new();
        let d = tempfile::tempdir().unwrap();
        let out = d.path().join("colbert").display().to_string();
        let cell = format!(
            "let m = colbert_from(\"../stdlib/tests/fixtures/tiny/xlm-roberta-st\", \"{out}\", #{{dim: 8}}); \
             let d = beir(\"../data/scifact-sample\"); \
             let i = m.index(d.corpus()); \
             let q = m.encode([\"a query\"], \"query\"); \
             [i.len(), i.search(d.queries(), 3).len(), q[0].len(), q[0][0].len(), i.encoder]"
        );
        let v = s.execute(&cell).unwrap().into_array().unwrap();
        assert_eq!(v[0].as_int().unwrap(), 201);
        assert_eq!(v[1].as_int().unwrap(), 50);
        assert_eq!((v[2].as_int().unwrap(), v[3].as_int().unwrap()), (32, 8));
        assert!(
            v[4].clone()
                .into_string()
                .unwrap()
                .contains("colbert+dense8")
        );
    }

    #[test]
    fn state_and_functions_persist_across_cells() {
        let mut s = Session::new();
        let _ = s.execute("let x = 40; fn twice(v) { v * 2 }").unwrap();
        assert_eq!(s.execute("x + 2").unwrap().as_int().unwrap(), 42);
        assert_eq!(s.execute("twice(x)").unwrap().as_int().unwrap(), 80);
        let e = s.execute("let y = 1;\nlet z = nope(y);").unwrap_err();
        assert_eq!(e.name(), "RuntimeError");
        assert_eq!(e.position, Some((2, 9)));
        assert_eq!(e.traceback()[1], "let z = nope(y);");
        assert_eq!(e.traceback()[2], "        ^");
        // Variables defined before the error survive it.
        assert_eq!(s.execute("y").unwrap().as_int().unwrap(), 1);
        assert_eq!(s.execute("let = ;").unwrap_err().name(), "ParseError");
    }

    #[test]
    fn a_cell_run_again_replaces_its_variables() {
        let mut s = Session::new();
        let _ = s
            .execute("const k = 1; let a = [1, 2]; let b = 0;")
            .unwrap();
        for n in 0..50 {
            let _ = s
                .execute(&format!("let a = [{n}]; let b = b + 1;"))
                .unwrap();
        }
        // One entry per name, each the latest value.
        assert_eq!(s.scope().len(), 3);
        assert_eq!(s.execute("b").unwrap().as_int().unwrap(), 50);
        assert_eq!(s.execute("a[0]").unwrap().as_int().unwrap(), 49);
        assert_eq!(s.scope().is_constant("k"), Some(true));
        assert!(s.execute("k = 2").is_err());
    }

    #[test]
    fn outputs_go_to_the_sink_and_an_interrupt_keeps_the_scope() {
        let s = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let mut session = Session::new();
        let got = s.clone();
        session.set_output(Some(Arc::new(move |o| got.lock().unwrap().push(o))));
        let _ = session
            .execute("print(\"hi\"); debug(\"dbg\"); display(40 + 2);")
            .unwrap();
        let outs = s.lock().unwrap().clone();
        assert_eq!(outs[0], Output::Stdout("hi\n".into()));
        assert_eq!(outs[1], Output::Stderr("\"dbg\"\n".into()));
        assert_eq!(
            outs[2],
            Output::Display(vec![("text/plain".into(), "42".into())])
        );
        // Evaluation results, runs and qrels come with HTML tables.
        let v = session
            .execute("let q = load_qrels(\"../data/scifact-sample/qrels/test.tsv\"); evaluate(q, load_run(\"../data/scifact-sample/runs/all-MiniLM-L6-v2.trec\"), [\"nDCG@10\"])")
            .unwrap();
        let b = session.bundle(&v);
        assert!(b[0].1.contains("<td>nDCG@10</td><td>0.9311</td>"), "{b:?}");
        let q = session.execute("q").unwrap();
        let b = session.bundle(&q);
        assert!(b[0].1.contains("50 queries"), "{b:?}");

        // Long operations show their progress as one display updated in place.
        let before = s.lock().unwrap().len();
        let _ = session
            .execute("let i = bm25(beir(\"../data/scifact-sample\").corpus());")
            .unwrap();
        let outs = s.lock().unwrap()[before..].to_vec();
        let Some(Output::DisplayWithId(id, _)) = outs.first() else {
            panic!("no progress display: {outs:?}");
        };
        assert!(id.starts_with("rankbook-progress-"), "{id}");
        let Some(Output::Update(last_id, last)) = outs.last() else {
            panic!("no final update: {outs:?}");
        };
        assert_eq!(last_id, id);
        assert!(last[0].1.ends_with(": 201/201"), "{last:?}");

        let _ = session.execute("let kept = 7;").unwrap();
        let flag = session.interrupt_flag();
        let t = std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(200));
            flag.store(true, Ordering::Relaxed);
        });
        let e = session.execute("let n = 0; loop { n += 1; }").unwrap_err();
        t.join().unwrap();
        assert_eq!(e.name(), "Interrupted");
        assert_eq!(session.execute("kept").unwrap().as_int().unwrap(), 7);
    }

    #[test]
    fn completeness_completion_and_inspection() {
        let mut s = Session::new();
        assert_eq!(s.is_complete("let x = 1;"), Completeness::Complete);
        assert_eq!(
            s.is_complete("fn f() {\n"),
            Completeness::Incomplete("    ".into())
        );
        assert_eq!(
            s.is_complete("let s = \"abc"),
            Completeness::Incomplete(String::new())
        );
        assert_eq!(s.is_complete("let x = ;"), Completeness::Invalid);
        assert_eq!(s.is_complete("}"), Completeness::Invalid);

        let _ = s
            .execute(
                "let my_run = load_run(\"../data/scifact-sample/runs/all-MiniLM-L6-v2.trec\");",
            )
            .unwrap();
        let c = s.complete("load_q", 6);
        assert_eq!(
            (c.start, c.matches.clone()),
            (0, vec!["load_qrels".to_string()])
        );
        assert!(s.complete("my_", 3).matches.contains(&"my_run".to_string()));
        let m = s.complete("my_run.t", 8).matches;
        assert!(
            m.contains(&"top".to_string()) && !m.contains(&"trainer".to_string()),
            "{m:?}"
        );
        let m = s.complete("evaluate(q, r, [\"nDC", 20).matches;
        assert_eq!(m, vec!["nDCG".to_string()]);
        assert!(
            s.complete("trainer(#{loss: \"mn", 19)
                .matches
                .contains(&"mnrl".to_string())
        );

        let doc = s.inspect("bm25(c)", 2).unwrap();
        assert!(
            doc.contains("bm25(Texts, map) -> TermIndex") && doc.contains("BM25 index"),
            "{doc}"
        );
        assert!(s.inspect("my_run", 3).unwrap().starts_with("my_run: Run"));
        assert!(s.inspect("  ", 1).is_none());
        // Rhai's keyword functions and its standard library are inspected too.
        let print = s.inspect("print(1)", 2).unwrap();
        assert!(print.starts_with("print(value)\n\nPrints"), "{print}");
        assert!(s.inspect("type_of", 3).unwrap().contains("value's type"));
        assert!(s.inspect("is_def_var", 3).is_some());
        let len = s.inspect("len", 1).unwrap();
        assert!(
            len.contains("len(Run) -> int") && len.contains("len(array: Array) -> int"),
            "{len}"
        );
        assert!(s.inspect("no_such_function_anywhere", 3).is_none());
        // A string value shows in its literal form, a number as is.
        assert_eq!(s.result_text(&Dynamic::from("4\"2")), "\"4\\\"2\"");
        assert_eq!(s.result_text(&Dynamic::from(42_i64)), "42");
    }
}
