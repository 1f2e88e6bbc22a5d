//! Fast reading of TREC run files in one pass on all cores. The file is
//! memory-mapped and cut into chunks at line ends; each chunk is parsed line by
//! line into a reused per-thread buffer, and each stretch of one query's lines is
//! checked and handed to the caller at once, so a 10-million-line run is
//! evaluated without a copy of it ever being built (building one was half the
//! time of `rankbook eval`, measured). A query whose lines are not all in one
//! stretch (cut by a chunk boundary, or not consecutive in the file) is gathered
//! and handed over again, whole, at the end.

use std::path::Path;

use rayon::prelude::*;

use crate::error::{Error, Result};

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

/// A bad line: its number (1-based; in its chunk until the chunks are joined)
/// and what is wrong.
struct LineError {
    line: usize,
    problem: Problem,
}

enum Problem {
    Bad(String),
    /// A doc seen before in the same query, at line `first`.
    Repeat {
        qid: String,
        doc: String,
        first: usize,
    },
}

impl LineError {
    fn bad(line: usize, msg: String) -> Self {
        Self {
            line,
            problem: Problem::Bad(msg),
        }
    }

    /// Moves the line numbers by `by` (from chunk-local to file lines).
    fn shifted(mut self, by: usize) -> Self {
        self.line += by;
        if let Problem::Repeat { first, .. } = &mut self.problem {
            *first += by;
        }
        self
    }

    fn into_error(self, path: &Path) -> Error {
        let msg = match self.problem {
            Problem::Bad(msg) => msg,
            Problem::Repeat { qid, doc, first } => {
                format!("query {qid} retrieves doc {doc} twice (first at line {first})")
            }
        };
        Error::parse(path, self.line, None, msg)
    }
}

/// Parses and checks a TREC run (6 columns, any after them ignored as trec_eval
/// does; a numeric score, no doc twice for a
/// query, UTF-8) and calls `f` on each query with its `(doc, score)` results in
/// file order. Returns `f`'s values in order of the queries' first appearance.
/// `f` may also be called on part of a query's results; that value is then
/// dropped, so `f` must not have side effects. On bad input the error names the
/// file's first bad line.
pub fn map_run<'a, T: Send + Sync>(
    path: &Path,
    bytes: &'a [u8],
    f: impl Fn(&'a str, &mut Vec<(&'a str, f64)>) -> T + Sync,
) -> Result<Vec<(&'a str, T)>> {
    let bytes = bytes.strip_prefix("\u{feff}".as_bytes()).unwrap_or(bytes);
    let ranges = chunks(bytes, rayon::current_num_threads() * 8);
    let chunks: Vec<Chunk<T>> = ranges
        .par_iter()
        .map_init(QueryBuffer::default, |buf, &(a, b)| {
            buf.chunk(bytes, a, b, &f)
        })
        .collect();

    // Number lines in the whole file; group the stretches by query.
    let mut errors: Vec<LineError> = Vec::new();
    let mut index: foldhash::HashMap<&str, usize> = foldhash::HashMap::default();
    let mut queries: Vec<(&str, Vec<Stretch<T>>)> = Vec::new();
    let mut first_line = 1;
    for chunk in chunks {
        errors.extend(chunk.error.map(|e| e.shifted(first_line - 1)));
        for mut s in chunk.stretches {
            s.line += first_line - 1;
            let q = *index.entry(s.qid).or_insert_with(|| {
                queries.push((s.qid, Vec::new()));
                queries.len() - 1
            });
            queries[q].1.push(s);
        }
        first_line += chunk.lines;
    }

    // Queries in several stretches: parsed again as a whole.
    let regathered: Vec<std::result::Result<Option<T>, LineError>> = queries
        .par_iter()
        .map_init(QueryBuffer::default, |buf, (qid, stretches)| {
            if stretches.len() == 1 {
                return Ok(None);
            }
            buf.results.clear();
            buf.lines.clear();
            for s in stretches {
                buf.parse(bytes, s.start, s.end, s.line, qid)?;
            }
            buf.check_unique(qid)?;
            Ok(Some(f(qid, &mut buf.results)))
        })
        .collect();
    let mut values = Vec::with_capacity(queries.len());
    for ((qid, mut stretches), again) in queries.into_iter().zip(regathered) {
        match again {
            Err(e) => errors.push(e),
            Ok(Some(v)) => values.push((qid, v)),
            // No value: its chunk stopped at an error, which is reported.
            Ok(None) => values.extend(stretches.pop().and_then(|s| s.value).map(|v| (qid, v))),
        }
    }
    match errors.into_iter().min_by_key(|e| e.line) {
        Some(e) => Err(e.into_error(path)),
        None => Ok(values),
    }
}

/// Consecutive lines of one query in one chunk, and `f`'s value on them.
struct Stretch<'a, T> {
    qid: &'a str,
    start: usize,
    end: usize,
    /// Number of the first line (in the chunk until the chunks are joined).
    line: usize,
    value: Option<T>,
}

/// What parsing one chunk gave.
struct Chunk<'a, T> {
    lines: usize,
    stretches: Vec<Stretch<'a, T>>,
    /// The chunk's first bad line (parsing stopped there).
    error: Option<LineError>,
}

/// A thread's reused buffers for one query's lines.
#[derive(Default)]
struct QueryBuffer<'a> {
    results: Vec<(&'a str, f64)>,
    lines: Vec<usize>,
    seen: DocSet,
}

impl<'a> QueryBuffer<'a> {
    /// Parses `bytes[start..end]`, calling `f` on each stretch of one query.
    fn chunk<T>(
        &mut self,
        bytes: &'a [u8],
        start: usize,
        end: usize,
        f: &(impl Fn(&'a str, &mut Vec<(&'a str, f64)>) -> T + Sync),
    ) -> Chunk<'a, T> {
        let mut out = Chunk {
            lines: 0,
            stretches: Vec::new(),
            error: None,
        };
        self.results.clear();
        self.lines.clear();
        // Closes the open stretch: checks it and computes its value.
        let close =
            |buf: &mut Self, out: &mut Chunk<'a, T>| -> std::result::Result<(), LineError> {
                if let Some(s) = out.stretches.last_mut() {
                    buf.check_unique(s.qid)?;
                    s.value = Some(f(s.qid, &mut buf.results));
                    buf.results.clear();
                    buf.lines.clear();
                }
                Ok(())
            };
        for line in Lines::new(bytes, start, end) {
            out.lines += 1;
            let parsed = match line.fields(bytes) {
                Err(msg) => Err(LineError::bad(out.lines, msg)),
                Ok(None) => continue, // a blank line
                Ok(Some(fields)) => Ok(fields),
            };
            let result = parsed.and_then(|(qid, doc, score)| {
                match out.stretches.last_mut() {
                    Some(s) if s.qid == qid => s.end = line.end,
                    _ => {
                        close(self, &mut out)?;
                        out.stretches.push(Stretch {
                            qid,
                            start: line.start,
                            end: line.end,
                            line: out.lines,
                            value: None,
                        });
                    }
                }
                self.results.push((doc, score));
                self.lines.push(out.lines);
                Ok(())
            });
            if let Err(e) = result {
                out.error = Some(e);
                return out;
            }
        }
        if let Err(e) = close(self, &mut out) {
            out.error = Some(e);
        }
        out
    }

    /// Appends the results in `bytes[start..end]`, whose first line is `line`.
    fn parse(
        &mut self,
        bytes: &'a [u8],
        start: usize,
        end: usize,
        mut line_no: usize,
        qid: &str,
    ) -> std::result::Result<(), LineError> {
        for line in Lines::new(bytes, start, end) {
            if let Some((q, doc, score)) =
                line.fields(bytes).map_err(|m| LineError::bad(line_no, m))?
            {
                debug_assert_eq!(q, qid);
                self.results.push((doc, score));
                self.lines.push(line_no);
            }
            line_no += 1;
        }
        Ok(())
    }

    /// No doc twice for one query (the buffers are then emptied by the caller):
    /// the error names both lines, as trec_eval refuses such runs.
    fn check_unique(&mut self, qid: &str) -> std::result::Result<(), LineError> {
        match self.seen.first_repeat(&self.results) {
            None => Ok(()),
            Some((first, second)) => Err(LineError {
                line: self.lines[second],
                problem: Problem::Repeat {
                    qid: qid.to_string(),
                    doc: self.results[second].0.to_string(),
                    first: self.lines[first],
                },
            }),
        }
    }
}

/// An open-addressing set of doc ids, kept between queries (a fresh hash set per
/// query cost more than the rest of the duplicate check).
#[derive(Default)]
struct DocSet {
    /// High 32 bits of the hash, then index + 1 into the results; 0 is empty.
    slots: Vec<u64>,
}

impl DocSet {
    /// The indices of the first doc seen twice, if any.
    fn first_repeat(&mut self, results: &[(&str, f64)]) -> Option<(usize, usize)> {
        use std::hash::BuildHasher;
        const LOW: u64 = 0xffff_ffff;
        let size = (results.len() * 2).next_power_of_two().max(16);
        self.slots.clear();
        self.slots.resize(size, 0);
        let mask = size - 1;
        let hasher = foldhash::fast::FixedState::default();
        for (i, (doc, _)) in results.iter().enumerate() {
            let hash = hasher.hash_one(doc);
            let tag = hash & !LOW;
            let mut at = hash as usize & mask;
            loop {
                let slot = self.slots[at];
                if slot == 0 {
                    self.slots[at] = tag | (i as u64 + 1);
                    break;
                }
                let j = (slot & LOW) as usize - 1;
                // Strings are compared only when the tags agree.
                if slot & !LOW == tag && results[j].0 == *doc {
                    return Some((j, i));
                }
                at = (at + 1) & mask;
            }
        }
        None
    }
}

/// A line: its byte range (without the `\n`) and, when it was classified 64 bytes
/// at once, its whitespace and non-ASCII bits.
struct Line {
    start: usize,
    end: usize,
    bits: Option<Bits>,
}

#[derive(Clone, Copy)]
struct Bits {
    space: u64,
    high: u64,
}

impl Line {
    /// The line's qid, doc id and score; None for a blank line.
    #[inline]
    fn fields<'a>(
        &self,
        bytes: &'a [u8],
    ) -> std::result::Result<Option<(&'a str, &'a str, f64)>, String> {
        let raw = &bytes[self.start..self.end];
        let text = match self.bits {
            // SAFETY: every byte is below 0x80.
            Some(b) if b.high == 0 => unsafe { std::str::from_utf8_unchecked(raw) },
            _ => std::str::from_utf8(raw).map_err(|_| "not valid UTF-8".to_string())?,
        };
        let (f, n) = match self.bits {
            Some(b) => fields_from_bits(text, b.space),
            None => fields(text),
        };
        match n {
            0 => Ok(None),
            // Fields after the run tag are ignored, as trec_eval does.
            6 | 7 => match f[4].parse::<f64>() {
                Ok(s) if !s.is_nan() => Ok(Some((f[0], f[2], s))),
                _ => Err(format!("score \"{}\" is not a number", f[4])),
            },
            _ => Err(format!(
                "expected 6 columns (qid Q0 docid rank score tag), found {n}"
            )),
        }
    }
}

/// The lines of `bytes[start..end]`. Short lines are found and classified from
/// one 64-byte look (reading ahead within `bytes`); a memchr per line cost more
/// than the rest of the parse.
struct Lines<'a> {
    bytes: &'a [u8],
    at: usize,
    end: usize,
}

impl<'a> Lines<'a> {
    fn new(bytes: &'a [u8], start: usize, end: usize) -> Self {
        Self {
            bytes,
            at: start,
            end,
        }
    }
}

impl Iterator for Lines<'_> {
    type Item = Line;

    #[inline]
    fn next(&mut self) -> Option<Line> {
        let at = self.at;
        if at >= self.end {
            return None;
        }
        if at + 64 <= self.bytes.len() {
            let block: &[u8; 64] = self.bytes[at..at + 64].try_into().expect("64 bytes");
            let m = classify(block);
            let len = (m.newline.trailing_zeros() as usize).min(self.end - at);
            if len < 64 {
                let keep = (1u64 << len) - 1;
                self.at = at + len + 1;
                return Some(Line {
                    start: at,
                    end: at + len,
                    bits: Some(Bits {
                        space: m.space & keep,
                        high: m.high & keep,
                    }),
                });
            }
        }
        let stop = memchr::memchr(b'\n', &self.bytes[at..self.end]).map_or(self.end, |i| at + i);
        self.at = stop + 1;
        Some(Line {
            start: at,
            end: stop,
            bits: None,
        })
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

/// [`fields`] for a line shorter than 64 bytes whose whitespace bits are known.
#[inline]
fn fields_from_bits(line: &str, space: u64) -> ([&str; 7], usize) {
    let words = !space & ((1u64 << line.len()) - 1);
    let mut starts = words & !(words << 1);
    let mut lasts = words & !(words >> 1);
    let n = (starts.count_ones() as usize).min(7);
    let mut out = [""; 7];
    for field in out.iter_mut().take(n) {
        let (s, e) = (
            starts.trailing_zeros() as usize,
            lasts.trailing_zeros() as usize,
        );
        *field = &line[s..e + 1];
        starts &= starts - 1;
        lasts &= lasts - 1;
    }
    (out, n)
}

/// Per byte of a 64-byte block, bit i: newline, other whitespace, non-ASCII.
struct Masks {
    newline: u64,
    space: u64,
    high: u64,
}

/// Classifies 64 bytes with SSE2 (part of every x86-64).
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn classify(block: &[u8; 64]) -> Masks {
    use std::arch::x86_64::*;
    let mut m = Masks {
        newline: 0,
        space: 0,
        high: 0,
    };
    for k in 0..4 {
        // SAFETY: 16 bytes at 16*k lie inside the 64-byte block; SSE2 is baseline.
        unsafe {
            let v = _mm_loadu_si128(block.as_ptr().add(16 * k) as *const __m128i);
            let newline = _mm_cmpeq_epi8(v, _mm_set1_epi8(b'\n' as i8));
            let space = _mm_cmpeq_epi8(v, _mm_set1_epi8(b' ' as i8));
            // \t \n \v \f \r are 9..=13: (b - 9) <= 4 unsigned.
            let t = _mm_sub_epi8(v, _mm_set1_epi8(9));
            let control = _mm_cmpeq_epi8(_mm_min_epu8(t, _mm_set1_epi8(4)), t);
            let shift = 16 * k;
            m.newline |= (_mm_movemask_epi8(newline) as u16 as u64) << shift;
            m.space |= (_mm_movemask_epi8(_mm_or_si128(space, control)) as u16 as u64) << shift;
            m.high |= (_mm_movemask_epi8(v) as u16 as u64) << shift;
        }
    }
    m
}

#[cfg(not(target_arch = "x86_64"))]
#[inline(always)]
fn classify(block: &[u8; 64]) -> Masks {
    let bits = |f: &dyn Fn(u8) -> bool| {
        block
            .iter()
            .enumerate()
            .fold(0u64, |m, (i, &b)| m | ((f(b) as u64) << i))
    };
    Masks {
        newline: bits(&|b| b == b'\n'),
        space: bits(&|b| is_space(b) || b == b'\n'),
        high: bits(&|b| b >= 0x80),
    }
}

/// Cuts `bytes` into about `n` ranges that end after a line end.
fn chunks(bytes: &[u8], n: usize) -> Vec<(usize, usize)> {
    let mut out = Vec::with_capacity(n);
    let target = bytes.len() / n.max(1) + 1;
    let mut at = 0;
    while at < bytes.len() {
        let end = if bytes.len() - at <= target {
            bytes.len()
        } else {
            memchr::memchr(b'\n', &bytes[at + target..])
                .map_or(bytes.len(), |i| at + target + i + 1)
        };
        out.push((at, end));
        at = end;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    type Queries = Vec<(String, Vec<(String, f64)>)>;

    fn read(text: &[u8]) -> Result<Queries> {
        let queries = map_run(Path::new("r"), text, |_, r| {
            r.iter().map(|(d, s)| (d.to_string(), *s)).collect()
        })?;
        Ok(queries
            .into_iter()
            .map(|(q, r)| (q.to_string(), r))
            .collect())
    }

    fn error(text: &str) -> String {
        read(text.as_bytes()).err().unwrap().to_string()
    }

    #[test]
    fn groups_queries_and_names_errors_with_global_lines() {
        let text = "\u{feff}q1 Q0 a 1 2.5 t\nq2\tQ0 a 1 1 t\r\n\n  q1 Q0 b 2 -1e3 t\n";
        assert_eq!(
            read(text.as_bytes()).unwrap(),
            vec![
                (
                    "q1".to_string(),
                    vec![("a".to_string(), 2.5), ("b".to_string(), -1000.0)]
                ),
                ("q2".to_string(), vec![("a".to_string(), 1.0)]),
            ]
        );
        // Many chunks and both splitters (short and long lines): queries cut by a
        // chunk boundary come back whole, errors carry the file's line number, and
        // the first bad line wins.
        let mut big = String::new();
        for i in 0..5000 {
            let pad = if i % 3 == 0 {
                "x".repeat(70)
            } else {
                String::new()
            };
            // The same doc ids in every query: a buffer not emptied between
            // queries would show up as a repeated doc.
            let doc = i % 1000;
            big.push_str(&format!("q{} Q0 d{doc}{pad} 1 0.5 t\n", i / 1000));
        }
        let got = read(big.as_bytes()).unwrap();
        assert_eq!(got.len(), 5);
        assert!(got.iter().all(|(_, r)| r.len() == 1000));
        let mut repeat = big.clone();
        repeat.push_str("z Q0 a 1 1 t\nz Q0 a 1 1 t\n");
        assert_eq!(
            error(&repeat),
            "r:5002: query z retrieves doc a twice (first at line 5001)"
        );
        let mut bad = big.clone();
        bad.push_str("q1 Q0 x 1 zero t\nq2 Q0 y 1 1\n");
        assert_eq!(error(&bad), "r:5001: score \"zero\" is not a number");
        big.push_str("q3 Q0 y 1 1\nq1 Q0 x 1 zero t\n");
        assert_eq!(
            error(&big),
            "r:5001: expected 6 columns (qid Q0 docid rank score tag), found 5"
        );
        assert_eq!(
            error("q Q0 a 1 1 t\nq Q0 a 2 0 t\n"),
            "r:2: query q retrieves doc a twice (first at line 1)"
        );
        // trec_eval's results.trunc: junk after the tag is ignored.
        let junk = read(b"q Q0 a 1 1 t more junk at\nq Q0 b 2 0.5 t end\n").unwrap();
        assert_eq!(
            junk[0].1,
            vec![("a".to_string(), 1.0), ("b".to_string(), 0.5)]
        );
    }

    #[test]
    fn invalid_utf8_names_its_line() {
        let e = read(b"q Q0 a 1 1 t\nq Q0 \xff 2 0 t\n").err().unwrap();
        assert_eq!(e.to_string(), "r:2: not valid UTF-8");
    }

    #[test]
    fn fast_and_scalar_splitters_agree() {
        let lines = [
            "q1 Q0 doc 1 0.5 tag",
            "  q1\tQ0  doc\t1 0.5 tag  \r",
            "a b c d e f g h",
            "",
            "   ",
            "\u{b}x\u{c}y",
            "q Q0 d 1 1 t\u{a0}",
        ];
        for line in lines {
            let padded = format!("{line}\n{}", " ".repeat(80));
            let found = Lines::new(padded.as_bytes(), 0, padded.len())
                .next()
                .unwrap();
            let bits = found.bits.expect("a short line is classified at once");
            assert_eq!(found.end, line.len());
            assert_eq!(fields_from_bits(line, bits.space), fields(line), "{line:?}");
        }
    }

    #[test]
    fn queries_in_several_stretches_are_checked_whole() {
        assert_eq!(
            error("q Q0 a 1 1 t\np Q0 a 1 1 t\nq Q0 b 1 1 t\nq Q0 a 1 1 t\n"),
            "r:4: query q retrieves doc a twice (first at line 1)"
        );
        // Interleaved queries with the same doc ids: each comes back whole and
        // alone (the reused buffers are emptied between queries).
        let mut mixed = String::new();
        for d in 0..10 {
            for q in 0..300 {
                mixed.push_str(&format!("q{q} Q0 d{d} 1 {d} t\n"));
            }
        }
        let got = read(mixed.as_bytes()).unwrap();
        assert_eq!(got.len(), 300);
        for (q, results) in &got {
            let docs: Vec<&str> = results.iter().map(|(d, _)| d.as_str()).collect();
            assert_eq!(
                docs,
                ["d0", "d1", "d2", "d3", "d4", "d5", "d6", "d7", "d8", "d9"],
                "{q}"
            );
        }
        let got = read(b"q Q0 a 1 1 t\np Q0 a 1 1 t\nq Q0 b 1 2 t\n").unwrap();
        assert_eq!(
            got[0],
            (
                "q".to_string(),
                vec![("a".to_string(), 1.0), ("b".to_string(), 2.0)]
            )
        );
    }
}
