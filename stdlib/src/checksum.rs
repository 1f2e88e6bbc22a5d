//! SHA-256 of files, streamed (index files and model weights can be large).

use std::io::Read;
use std::path::Path;

use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

/// SHA-256 of the files' bytes, one after another, as hex.
pub fn sha256_files<P: AsRef<Path>>(paths: &[P]) -> Result<String> {
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    for p in paths {
        let p = p.as_ref();
        let mut file = std::fs::File::open(p).map_err(|e| Error::io(p, e))?;
        loop {
            let n = file.read(&mut buf).map_err(|e| Error::io(p, e))?;
            if n == 0 {
                break;
            }
            h.update(&buf[..n]);
        }
    }
    Ok(hex::encode(h.finalize()))
}

/// SHA-256 of one file, as hex.
pub fn sha256_file(path: &Path) -> Result<String> {
    sha256_files(&[path])
}

/// SHA-256 of bytes, as hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}
