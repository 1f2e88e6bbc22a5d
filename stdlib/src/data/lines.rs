//! Line reading shared by the text formats: BOM and CRLF tolerant, 1-based numbers.

use std::io::{BufRead, BufReader};
use std::path::Path;

use crate::error::{Error, Result};

/// Calls `f(line_number, line)` for each line of `path`, with a leading UTF-8 BOM
/// and trailing `\r` removed. Stops at the first error `f` returns.
pub fn for_each_line<F>(path: &Path, mut f: F) -> Result<()>
where
    F: FnMut(usize, &str) -> Result<()>,
{
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut reader = BufReader::with_capacity(1 << 16, file);
    let mut buf = String::new();
    let mut number = 0;
    loop {
        buf.clear();
        let n = reader.read_line(&mut buf).map_err(|e| {
            let msg = if e.kind() == std::io::ErrorKind::InvalidData {
                "not valid UTF-8".to_string()
            } else {
                e.to_string()
            };
            Error::parse(path, number + 1, None, msg)
        })?;
        if n == 0 {
            return Ok(());
        }
        number += 1;
        let mut line = buf.trim_end_matches(['\n', '\r']);
        if number == 1 {
            line = line.strip_prefix('\u{feff}').unwrap_or(line);
        }
        f(number, line)?;
    }
}
