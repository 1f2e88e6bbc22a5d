//! The content-addressed embedding cache. A model's vectors are filed under a key
//! of everything that decides them (weights, pooling, max length, prompt: see
//! [`EncoderIdentity::cache_key`]) and each text's SHA-256. Entries live in
//! Arrow files named by the SHA-256 of their own bytes: a file is written under a
//! temporary name and renamed, so two processes can add entries at once, and a
//! file whose bytes no longer match its name is detected, dropped and its texts
//! encoded again. An entry holds one vector per text, or (a ColBERT's) a list
//! of token vectors per text.

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
use crate::vectors::MultiVectors;
use crate::vectors::files::{embedding_column, embedding_field};
use crate::vectors::multi_file::{token_lists_column, token_lists_field};

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
    /// Each text's first row in `data` and its number of rows.
    rows: HashMap<TextHash, (usize, usize)>,
    data: Vec<f32>,
    /// Files dropped because their bytes did not match their name.
    pub corrupted: usize,
}

impl CachedVectors {
    /// The cached vector (or token vectors, row after row) of the text with hash `h`.
    pub fn get(&self, h: &TextHash) -> Option<&[f32]> {
        self.rows
            .get(h)
            .map(|&(r, n)| &self.data[r * self.dim..(r + n) * self.dim])
    }

    /// Adds one text's rows.
    fn insert(&mut self, h: TextHash, rows: &[f32]) {
        let first = self.data.len() / self.dim;
        self.data.extend_from_slice(rows);
        self.rows.insert(h, (first, rows.len() / self.dim));
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

/// Which of some texts the cache holds under a key, and which it lacks.
pub struct Lookup {
    cached: CachedVectors,
    hashes: Vec<TextHash>,
    /// Positions of the texts to encode.
    pub missing: Vec<usize>,
}

impl Lookup {
    /// The texts to encode.
    pub fn missing_texts<'a>(&self, texts: &[&'a str]) -> Vec<&'a str> {
        self.missing.iter().map(|&i| texts[i]).collect()
    }

    /// The hashes of the texts to encode.
    pub fn missing_hashes(&self) -> Vec<TextHash> {
        self.missing.iter().map(|&i| self.hashes[i]).collect()
    }

    /// Each text's vectors in input order: the cached ones, and for the
    /// missing ones (in their order) `fresh(j)`.
    pub fn merged<'a>(
        &'a self,
        fresh: impl Fn(usize) -> &'a [f32] + 'a,
    ) -> impl Iterator<Item = &'a [f32]> + 'a {
        let mut next = 0;
        self.hashes.iter().map(move |h| match self.cached.get(h) {
            Some(v) => v,
            None => {
                next += 1;
                fresh(next - 1)
            }
        })
    }

    /// Files dropped because they were damaged.
    pub fn damaged_files(&self) -> usize {
        self.cached.corrupted
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

/// An entry's schema: each text's hash and its `embedding`.
fn schema(embedding: Field) -> Schema {
    Schema::new(vec![
        Field::new("text_sha256", DataType::FixedSizeBinary(32), false),
        embedding,
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

    /// Loads what is cached under `key` of `texts`.
    pub fn lookup(&self, key: &str, dim: usize, texts: &[&str]) -> Result<Lookup> {
        let cached = self.load(key, dim)?;
        let hashes: Vec<TextHash> = texts.iter().map(|t| text_hash(t)).collect();
        let missing = (0..texts.len())
            .filter(|&i| cached.get(&hashes[i]).is_none())
            .collect();
        Ok(Lookup {
            cached,
            hashes,
            missing,
        })
    }

    /// Adds vectors (rows of `dim`) for the texts with the given hashes.
    pub fn store(&self, key: &str, dim: usize, hashes: &[TextHash], vectors: &[f32]) -> Result<()> {
        assert_eq!(hashes.len() * dim, vectors.len(), "one vector per hash");
        let column = embedding_column(dim, vectors.to_vec())?;
        self.write_entry(key, schema(embedding_field(dim)), hashes, Arc::new(column))
    }

    /// Adds each text's token vectors for the texts with the given hashes.
    pub fn store_multi(
        &self,
        key: &str,
        hashes: &[TextHash],
        vectors: &MultiVectors,
    ) -> Result<()> {
        assert_eq!(hashes.len(), vectors.len(), "one list of vectors per hash");
        let column = token_lists_column(vectors)?;
        let field = token_lists_field(vectors.dim());
        self.write_entry(key, schema(field), hashes, Arc::new(column))
    }

    /// Writes one entry file of `hashes` and their `column`.
    fn write_entry(
        &self,
        key: &str,
        schema: Schema,
        hashes: &[TextHash],
        column: arrow_array::ArrayRef,
    ) -> Result<()> {
        if hashes.is_empty() {
            return Ok(());
        }
        let schema = Arc::new(schema);
        let keys = FixedSizeBinaryArray::try_from_iter(hashes.iter())?;
        let batch = RecordBatch::try_new(schema.clone(), vec![Arc::new(keys), column])?;
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

    /// Adds every entry of the cache at `other` (a shard's cache made on
    /// another host, say) that this one lacks. Entries are named by their
    /// bytes' SHA-256, so the union of caches is one cache; an entry whose
    /// bytes do not match its name is skipped and counted.
    pub fn import(&self, other: &Path) -> Result<ImportStats> {
        let mut stats = ImportStats::default();
        let src = other.join("embeddings");
        let keys = std::fs::read_dir(&src).map_err(|e| Error::io(&src, e))?;
        for key in keys.flatten() {
            let Ok(files) = std::fs::read_dir(key.path()) else {
                continue;
            };
            for f in files.flatten() {
                let path = f.path();
                let Some(stem) = entry_stem(&path) else {
                    continue;
                };
                let to = self
                    .root
                    .join("embeddings")
                    .join(key.file_name())
                    .join(f.file_name());
                if to.is_file() {
                    stats.present += 1;
                    continue;
                }
                let bytes = std::fs::read(&path).map_err(|e| Error::io(&path, e))?;
                if sha256_hex(&bytes) != stem {
                    stats.damaged += 1;
                    continue;
                }
                write_atomically(&to, |w| {
                    std::io::Write::write_all(w, &bytes).map_err(|e| Error::io(&to, e))
                })?;
                stats.added += 1;
            }
        }
        Ok(stats)
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

/// What [`EmbeddingCache::import`] did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ImportStats {
    /// Entries copied in.
    pub added: usize,
    /// Entries this cache held already.
    pub present: usize,
    /// Entries skipped because their bytes did not match their name.
    pub damaged: usize,
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
            let Some(keys) = keys.as_fixed_size_binary_opt() else {
                return Err(Error::InvalidArgument("not a cache entry".into()));
            };
            // One vector per text, or a list of token vectors per text.
            let (rows, offsets): (_, Option<&[i32]>) = match emb.as_list_opt::<i32>() {
                Some(lists) => (
                    lists.values().as_fixed_size_list_opt(),
                    Some(lists.value_offsets()),
                ),
                None => (emb.as_fixed_size_list_opt(), None),
            };
            let Some(rows) = rows else {
                return Err(Error::InvalidArgument("not a cache entry".into()));
            };
            if rows.value_length() as usize != self.dim || keys.value_length() != 32 {
                return Err(Error::InvalidArgument("wrong width".into()));
            }
            let values = rows
                .values()
                .as_primitive_opt::<Float32Type>()
                .ok_or_else(|| Error::InvalidArgument("not f32".into()))?;
            let values = &values.values()[rows.offset() * self.dim..];
            for i in 0..keys.len() {
                let h: TextHash = keys.value(i).try_into().expect("32 bytes");
                let (a, b) = offsets.map_or((i, i + 1), |o| (o[i] as usize, o[i + 1] as usize));
                let slice = values
                    .get(a * self.dim..b * self.dim)
                    .ok_or_else(|| Error::InvalidArgument("short entry".into()))?;
                self.insert(h, slice);
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

    #[test]
    fn token_vectors_round_trip_and_merge_with_fresh_ones() {
        let dir = tempfile::tempdir().unwrap();
        let cache = EmbeddingCache::new(dir.path());
        let mut m = MultiVectors::empty(2);
        m.push(&[1.0, 2.0, 3.0, 4.0]);
        m.push(&[5.0, 6.0]);
        cache
            .store_multi("q", &[text_hash("a"), text_hash("b")], &m)
            .unwrap();
        let l = cache.lookup("q", 2, &["b", "c", "a"]).unwrap();
        assert_eq!(l.missing, [1]);
        assert_eq!(l.missing_texts(&["b", "c", "a"]), ["c"]);
        let fresh = [9.0f32, 9.0];
        let merged: Vec<&[f32]> = l.merged(|_| &fresh[..]).collect();
        assert_eq!(
            merged,
            [
                &[5.0f32, 6.0][..],
                &[9.0, 9.0][..],
                &[1.0, 2.0, 3.0, 4.0][..]
            ]
        );
    }
}
