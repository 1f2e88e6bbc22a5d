//! Fast reading of TREC run files: the file is memory-mapped, cut into chunks at
//! line ends and parsed on all cores into borrowed slices; results are grouped
//! per query without copying the text. `rankbook eval` evaluates straight from it.

use std::path::Path;

use rayon::prelude::*;

use crate::error::{Error, Result};

/// One result line: doc id and score, borrowed from the file's text.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RunLine<'a> {
    /// Document id.
    pub doc: &'a str,
    /// Score.
    pub score: f64,
}

/// A result as stored: the doc id as an offset into its chunk's text (16 bytes
/// instead of 24: on a 10-million-line run the page faults of a bigger array cost
/// a fifth of the evaluation, measured).
#[derive(Clone, Copy)]
struct Entry {
    start: u32,
    len: u32,
    score: f64,
}

/// One chunk's lines, grouped into runs of consecutive lines of one query.
struct Parsed<'a> {
    text: &'a str,
    lines: usize,
    results: Vec<Entry>,
    /// `(qid, start, end)` ranges into `results`.
    segments: Vec<(&'a str, usize, usize)>,
    error: Option<(usize, String)>,
}

impl<'a> Parsed<'a> {
    fn line(&self, e: &Entry) -> RunLine<'a> {
        let text: &'a str = self.text;
        RunLine {
            doc: &text[e.start as usize..(e.start + e.len) as usize],
            score: e.score,
        }
    }
}

/// The memory-mapped text of a run file.
pub struct RunText {
    map: Option<memmap2::Mmap>,
}

impl RunText {
    /// Maps `path` (an empty file maps to empty text).
    pub fn open(path: &Path) -> Result<Self> {
        let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
        let len = file.metadata().map_err(|e| Error::io(path, e))?.len();
        if len == 0 {
            return Ok(Self { map: None });
        }
        // SAFETY: read-only mapping; a run file changed by another process while we
        // read it is outside what rankbook promises (as with any reader).
        let map = unsafe { memmap2::Mmap::map(&file) }.map_err(|e| Error::io(path, e))?;
        Ok(Self { map: Some(map) })
    }

    /// The bytes of the file.
    pub fn bytes(&self) -> &[u8] {
        self.map.as_deref().unwrap_or(&[])
    }
}

/// Results grouped by query, in order of first appearance, borrowed from the text.
pub struct RunView<'a> {
    chunks: Vec<Parsed<'a>>,
    /// Per query: its id and `(chunk, segment)` pieces.
    queries: Vec<(&'a str, Vec<(u32, u32)>)>,
    index: foldhash::HashMap<&'a str, usize>,
}

impl<'a> RunView<'a> {
    fn lines(&self, q: usize) -> impl Iterator<Item = RunLine<'a>> + '_ {
        self.queries[q].1.iter().flat_map(|&(c, seg)| {
            let chunk = &self.chunks[c as usize];
            let (_, a, b) = chunk.segments[seg as usize];
            chunk.results[a..b].iter().map(|e| chunk.line(e))
        })
    }

    fn count(&self, q: usize) -> usize {
        self.queries[q]
            .1
            .iter()
            .map(|&(c, seg)| {
                let (_, a, b) = self.chunks[c as usize].segments[seg as usize];
                b - a
            })
            .sum()
    }

    /// The results of `qid` (in file order), if the run has it.
    pub fn get(&self, qid: &str) -> Option<Vec<RunLine<'a>>> {
        let &q = self.index.get(qid)?;
        Some(self.lines(q).collect())
    }

    /// Whether the run has `qid`.
    pub fn contains(&self, qid: &str) -> bool {
        self.index.contains_key(qid)
    }

    /// Query ids in order of first appearance.
    pub fn query_ids(&self) -> impl Iterator<Item = &'a str> + '_ {
        self.queries.iter().map(|(q, _)| *q)
    }

    /// Number of queries.
    pub fn len(&self) -> usize {
        self.queries.len()
    }

    /// Whether the run has no query.
    pub fn is_empty(&self) -> bool {
        self.queries.is_empty()
    }
}

/// ASCII whitespace as a table: one load per byte in the hot loop.
const SPACE: [bool; 256] = {
    let mut t = [false; 256];
    t[b' ' as usize] = true;
    t[b'\t' as usize] = true;
    t[b'\r' as usize] = true;
    t[0x0b] = true;
    t[0x0c] = true;
    t
};

#[inline(always)]
fn is_space(b: u8) -> bool {
    SPACE[b as usize]
}

/// Splits on ASCII whitespace into at most 7 fields (7 means "too many").
fn fields(line: &str) -> ([&str; 7], usize) {
    let b = line.as_bytes();
    let mut out = [""; 7];
    let (mut n, mut i) = (0, 0);
    while i < b.len() && n < 7 {
        while i < b.len() && is_space(b[i]) {
            i += 1;
        }
        if i == b.len() {
            break;
        }
        let start = i;
        while i < b.len() && !is_space(b[i]) {
            i += 1;
        }
        out[n] = &line[start..i];
        n += 1;
    }
    (out, n)
}

fn parse_chunk(text: &str) -> Parsed<'_> {
    let mut p = Parsed {
        text,
        lines: 0,
        // A line holds at least 12 bytes, so this never reallocates; untouched
        // capacity costs nothing (pages are only faulted in when written).
        results: Vec::with_capacity(text.len() / 12 + 1),
        segments: Vec::new(),
        error: None,
    };
    let base = text.as_ptr() as usize;
    let mut from = 0;
    let bytes = text.as_bytes();
    while from < bytes.len() {
        let end = memchr::memchr(b'\n', &bytes[from..]).map_or(bytes.len(), |i| from + i);
        let line = &text[from..end];
        from = end + 1;
        p.lines += 1;
        let (f, n) = fields(line);
        if n == 0 {
            continue;
        }
        if n != 6 {
            let found = if n == 7 {
                "more than 6".to_string()
            } else {
                n.to_string()
            };
            p.error = Some((
                p.lines,
                format!("expected 6 columns (qid Q0 docid rank score tag), found {found}"),
            ));
            return p;
        }
        let score = match f[4].parse::<f64>() {
            Ok(s) if !s.is_nan() => s,
            _ => {
                p.error = Some((p.lines, format!("score \"{}\" is not a number", f[4])));
                return p;
            }
        };
        let at = p.results.len();
        match p.segments.last_mut() {
            Some((q, _, end)) if *q == f[0] => *end = at + 1,
            _ => p.segments.push((f[0], at, at + 1)),
        }
        let start = (f[2].as_ptr() as usize - base) as u32;
        p.results.push(Entry {
            start,
            len: f[2].len() as u32,
            score,
        });
    }
    p
}

/// Cuts `text` into about `n` pieces that end at line ends.
fn chunks(text: &str, n: usize) -> Vec<&str> {
    let mut out = Vec::with_capacity(n);
    let target = text.len() / n.max(1) + 1;
    let mut rest = text;
    while !rest.is_empty() {
        let cut = if rest.len() <= target {
            rest.len()
        } else {
            rest.as_bytes()[target..]
                .iter()
                .position(|&b| b == b'\n')
                .map_or(rest.len(), |i| target + i + 1)
        };
        out.push(&rest[..cut]);
        rest = &rest[cut..];
    }
    out
}

/// Parses and checks a run: 6 columns, numeric score, no doc twice for a query
/// (the error names both lines, as trec_eval refuses such runs).
pub fn parse_run<'a>(path: &Path, bytes: &'a [u8]) -> Result<RunView<'a>> {
    let text = std::str::from_utf8(bytes).map_err(|e| {
        let line = bytes[..e.valid_up_to()]
            .iter()
            .filter(|&&b| b == b'\n')
            .count()
            + 1;
        Error::parse(path, line, None, "not valid UTF-8")
    })?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    // Chunks stay under 1 GiB so offsets fit an Entry's u32.
    let pieces = chunks(
        text,
        (rayon::current_num_threads() * 8).max(text.len() / (1 << 30) + 1),
    );
    let chunks: Vec<Parsed> = pieces.par_iter().map(|c| parse_chunk(c)).collect();
    let mut first_line = 1;
    for c in &chunks {
        if let Some((local, msg)) = &c.error {
            return Err(Error::parse(
                path,
                first_line + local - 1,
                None,
                msg.clone(),
            ));
        }
        first_line += c.lines;
    }
    let mut index: foldhash::HashMap<&str, usize> = foldhash::HashMap::default();
    let mut queries: Vec<(&str, Vec<(u32, u32)>)> = Vec::new();
    for (ci, c) in chunks.iter().enumerate() {
        for (si, &(qid, _, _)) in c.segments.iter().enumerate() {
            let q = *index.entry(qid).or_insert_with(|| {
                queries.push((qid, Vec::new()));
                queries.len() - 1
            });
            queries[q].1.push((ci as u32, si as u32));
        }
    }
    let view = RunView {
        chunks,
        queries,
        index,
    };
    // Duplicate docs, checked per query in parallel; line numbers only on failure.
    let dup = (0..view.queries.len()).into_par_iter().find_map_first(|q| {
        let mut seen: foldhash::HashSet<&str> = foldhash::HashSet::default();
        seen.reserve(view.count(q));
        view.lines(q)
            .find(|l| !seen.insert(l.doc))
            .map(|l| (view.queries[q].0, l.doc))
    });
    if let Some((qid, doc)) = dup {
        let lines: Vec<usize> = text
            .split_terminator('\n')
            .enumerate()
            .filter(|(_, l)| {
                let (f, n) = fields(l);
                n == 6 && f[0] == qid && f[2] == doc
            })
            .map(|(i, _)| i + 1)
            .take(2)
            .collect();
        return Err(Error::parse(
            path,
            lines[1],
            None,
            format!(
                "query {qid} retrieves doc {doc} twice (first at line {})",
                lines[0]
            ),
        ));
    }
    Ok(view)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_queries_and_names_errors_with_global_lines() {
        let text = "q1 Q0 a 1 2.5 t\nq2 Q0 a 1 1 t\r\n\nq1 Q0 b 2 -1e3 t\n";
        let v = parse_run(Path::new("r"), text.as_bytes()).unwrap();
        assert_eq!(v.len(), 2);
        assert_eq!(v.query_ids().collect::<Vec<_>>(), ["q1", "q2"]);
        assert_eq!(
            v.get("q1").unwrap(),
            vec![
                RunLine {
                    doc: "a",
                    score: 2.5
                },
                RunLine {
                    doc: "b",
                    score: -1000.0
                }
            ]
        );
        // Many chunks: errors still carry the file's line number.
        let mut big = String::new();
        for i in 0..5000 {
            big.push_str(&format!("q{} Q0 d{i} 1 0.5 t\n", i % 7));
        }
        big.push_str("q1 Q0 x 1 zero t\n");
        let e = parse_run(Path::new("r"), big.as_bytes())
            .err()
            .unwrap()
            .to_string();
        assert_eq!(e, "r:5001: score \"zero\" is not a number");
        let e = parse_run(Path::new("r"), b"q Q0 a 1 1 t\nq Q0 a 2 0 t\n")
            .err()
            .unwrap()
            .to_string();
        assert_eq!(e, "r:2: query q retrieves doc a twice (first at line 1)");
        let e = parse_run(Path::new("r"), b"q Q0 a 1 1 t extra\n")
            .err()
            .unwrap()
            .to_string();
        assert!(e.ends_with("found more than 6"), "{e}");
    }
}
