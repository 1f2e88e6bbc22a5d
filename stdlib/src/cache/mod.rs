//! The content-addressed embedding cache. A model's vectors are filed under a key
//! of everything that decides them (weights, pooling, max length, prompt: see
//! [`EncoderIdentity::cache_key`]) and each text's SHA-256. Entries live in
//! Arrow files named by the SHA-256 of their own bytes: a file is written under a
//! temporary name and renamed, so two processes can add entries at once, and a
//! file whose bytes no longer match its name is detected, dropped and its texts
//! encoded again.

use std::collections::HashMap;
use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::Float32Type;
use arrow_array::{Array, FixedSizeBinaryArray, RecordBatch};
use arrow_schema::{DataType, Field, Schema};
use sha2::{Digest, Sha256};

use crate::atomic::write_atomically;
use crate::checksum::sha256_hex;
use crate::error::{Error, Result};
use crate::vectors::files::{embedding_column, embedding_field};

/// A text's SHA-256.
pub type TextHash = [u8; 32];

/// The SHA-256 of `text`.
pub fn text_hash(text: &str) -> TextHash {
    Sha256::digest(text.as_bytes()).into()
}

/// The cache under one root directory.
#[derive(Debug, Clone)]
pub struct EmbeddingCache {
    root: PathBuf,
}

/// The vectors cached under one key, loaded.
#[derive(Debug, Default)]
pub struct CachedVectors {
    dim: usize,
    rows: HashMap<TextHash, usize>,
    data: Vec<f32>,
    /// Files dropped because their bytes did not match their name.
    pub corrupted: usize,
}

impl CachedVectors {
    /// The cached vector of the text with hash `h`.
    pub fn get(&self, h: &TextHash) -> Option<&[f32]> {
        self.rows
            .get(h)
            .map(|&r| &self.data[r * self.dim..(r + 1) * self.dim])
    }

    /// Number of cached vectors.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// Whether nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }
}

/// Size of the cache.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheInfo {
    /// Keys (model settings) with entries.
    pub keys: usize,
    /// Entry files.
    pub files: usize,
    /// Bytes on disk.
    pub bytes: u64,
}

fn schema(dim: usize) -> Schema {
    Schema::new(vec![
        Field::new("text_sha256", DataType::FixedSizeBinary(32), false),
        embedding_field(dim),
    ])
}

impl EmbeddingCache {
    /// A cache rooted at `root` (created when first written).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// `RANKBOOK_CACHE_DIR`, else `$XDG_CACHE_HOME/rankbook`, else `~/.cache/rankbook`.
    pub fn default_root() -> PathBuf {
        let var = |n: &str| {
            std::env::var_os(n)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        };
        var("RANKBOOK_CACHE_DIR")
            .or_else(|| var("XDG_CACHE_HOME").map(|p| p.join("rankbook")))
            .or_else(|| var("HOME").map(|p| p.join(".cache/rankbook")))
            .unwrap_or_else(|| PathBuf::from(".rankbook-cache"))
    }

    /// The root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn dir(&self, key: &str) -> PathBuf {
        self.root.join("embeddings").join(key)
    }

    /// Loads every entry under `key` (vectors of width `dim`); damaged files are
    /// removed and counted.
    pub fn load(&self, key: &str, dim: usize) -> Result<CachedVectors> {
        let mut out = CachedVectors {
            dim,
            ..Default::default()
        };
        let dir = self.dir(key);
        let Ok(entries) = std::fs::read_dir(&dir) else {
            return Ok(out);
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let Some(stem) = entry_stem(&path) else {
                continue;
            };
            let bytes = std::fs::read(&path).map_err(|e| Error::io(&path, e))?;
            if sha256_hex(&bytes) != stem || out.add(&bytes).is_err() {
                // Altered or truncated: drop it; its texts are encoded again.
                let _ = std::fs::remove_file(&path);
                out.corrupted += 1;
            }
        }
        Ok(out)
    }

    /// Adds vectors (rows of `dim`) for the texts with the given hashes.
    pub fn store(&self, key: &str, dim: usize, hashes: &[TextHash], vectors: &[f32]) -> Result<()> {
        if hashes.is_empty() {
            return Ok(());
        }
        assert_eq!(hashes.len() * dim, vectors.len(), "one vector per hash");
        let schema = Arc::new(schema(dim));
        let keys = FixedSizeBinaryArray::try_from_iter(hashes.iter())?;
        let list = embedding_column(dim, vectors.to_vec())?;
        let batch = RecordBatch::try_new(schema.clone(), vec![Arc::new(keys), Arc::new(list)])?;
        let mut bytes = Vec::new();
        {
            let mut w = arrow_ipc::writer::FileWriter::try_new(&mut bytes, &schema)?;
            w.write(&batch)?;
            w.finish()?;
        }
        let path = self.dir(key).join(format!("{}.arrow", sha256_hex(&bytes)));
        write_atomically(&path, |w| {
            std::io::Write::write_all(w, &bytes).map_err(|e| Error::io(&path, e))
        })
    }

    /// Keys, files and bytes under the root.
    pub fn info(&self) -> Result<CacheInfo> {
        let mut info = CacheInfo::default();
        let Ok(keys) = std::fs::read_dir(self.root.join("embeddings")) else {
            return Ok(info);
        };
        for key in keys.flatten() {
            let Ok(files) = std::fs::read_dir(key.path()) else {
                continue;
            };
            let mut any = false;
            for f in files.flatten() {
                if entry_stem(&f.path()).is_some() {
                    any = true;
                    info.files += 1;
                    info.bytes += f.metadata().map(|m| m.len()).unwrap_or(0);
                }
            }
            info.keys += usize::from(any);
        }
        Ok(info)
    }

    /// Removes every entry; returns what was there.
    pub fn clear(&self) -> Result<CacheInfo> {
        let info = self.info()?;
        let dir = self.root.join("embeddings");
        match std::fs::remove_dir_all(&dir) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(Error::io(&dir, e)),
            _ => Ok(info),
        }
    }
}

/// The name of an entry file without `.arrow`, when it looks like one.
fn entry_stem(path: &Path) -> Option<&str> {
    let name = path.file_name()?.to_str()?;
    let stem = name.strip_suffix(".arrow")?;
    (stem.len() == 64 && stem.bytes().all(|b| b.is_ascii_hexdigit())).then_some(stem)
}

impl CachedVectors {
    /// Adds the rows of one entry file's bytes.
    fn add(&mut self, bytes: &[u8]) -> Result<()> {
        let reader = arrow_ipc::reader::FileReader::try_new(Cursor::new(bytes), None)?;
        for batch in reader {
            let batch = batch?;
            let (Some(keys), Some(emb)) = (
                batch.column_by_name("text_sha256"),
                batch.column_by_name("embedding"),
            ) else {
                return Err(Error::InvalidArgument("not a cache entry".into()));
            };
            let keys = keys.as_fixed_size_binary_opt();
            let emb = emb.as_fixed_size_list_opt();
            let (Some(keys), Some(emb)) = (keys, emb) else {
                return Err(Error::InvalidArgument("not a cache entry".into()));
            };
            if emb.value_length() as usize != self.dim || keys.value_length() != 32 {
                return Err(Error::InvalidArgument("wrong width".into()));
            }
            let values = emb
                .values()
                .as_primitive_opt::<Float32Type>()
                .ok_or_else(|| Error::InvalidArgument("not f32".into()))?;
            for i in 0..keys.len() {
                let h: TextHash = keys.value(i).try_into().expect("32 bytes");
                let start = (emb.offset() + i) * self.dim;
                let row = self.data.len() / self.dim;
                self.data
                    .extend_from_slice(&values.values()[start..start + self.dim]);
                self.rows.insert(h, row);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stores_loads_detects_damage_and_clears() {
        let dir = tempfile::tempdir().unwrap();
        let cache = EmbeddingCache::new(dir.path());
        let (a, b) = (text_hash("a"), text_hash("b"));
        cache.store("k", 2, &[a, b], &[1.0, 2.0, 3.0, 4.0]).unwrap();
        cache.store("k", 2, &[a], &[1.0, 2.0]).unwrap(); // same content: same file
        let got = cache.load("k", 2).unwrap();
        assert_eq!((got.len(), got.corrupted), (2, 0));
        assert_eq!(got.get(&b), Some(&[3.0f32, 4.0][..]));
        assert!(cache.load("other", 2).unwrap().is_empty());
        assert_eq!(
            cache.info().unwrap(),
            CacheInfo {
                keys: 1,
                files: 2,
                bytes: cache.info().unwrap().bytes
            }
        );
        // Flip a byte of one file: it is dropped, the other still serves.
        let files: Vec<PathBuf> = std::fs::read_dir(cache.dir("k"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        let mut bytes = std::fs::read(&files[0]).unwrap();
        let at = bytes.len() / 2;
        bytes[at] ^= 0x40;
        std::fs::write(&files[0], bytes).unwrap();
        let got = cache.load("k", 2).unwrap();
        assert_eq!(got.corrupted, 1);
        assert!(!files[0].exists());
        assert_eq!(cache.clear().unwrap().files, 1);
        assert_eq!(cache.info().unwrap(), CacheInfo::default());
    }
}
