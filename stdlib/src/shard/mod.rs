//! Sharding by rank, Trove's way: shard `i` of `N` takes a deterministic,
//! contiguous slice of the input, writes its own part with a record of what it
//! holds (`<part>.part.json`: the shard, the slice, the input's and the part's
//! checksums), and [`merge_parts`] puts a complete set of parts back
//! together, refusing a missing, repeated or foreign part. Parts may be made on
//! different hosts and copied together: nothing assumes a shared file system.

use std::io::Write;
use std::ops::Range;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::atomic::write_atomically;
use crate::checksum::sha256_file;
use crate::data::TextRecord;
use crate::data::json_file::read_json;
use crate::error::{Error, Result};

mod merge;
pub use merge::{Merged, merge_parts};

/// Shard `index` of `count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// 0-based rank.
    pub index: usize,
    /// Number of shards (world size).
    pub count: usize,
}

impl Shard {
    /// Parses `i/N` (0 <= i < N).
    pub fn parse(s: &str) -> Result<Self> {
        let bad = || Error::InvalidArgument(format!("shard \"{s}\" is not i/N with 0 <= i < N"));
        let (i, n) = s.split_once('/').ok_or_else(bad)?;
        let (index, count) = (
            i.trim().parse().map_err(|_| bad())?,
            n.trim().parse().map_err(|_| bad())?,
        );
        Self::new(index, count).map_err(|_| bad())
    }

    /// Shard `index` of `count`, checked.
    pub fn new(index: usize, count: usize) -> Result<Self> {
        if count == 0 || index >= count {
            return Err(Error::InvalidArgument(format!(
                "shard {index} of {count}: the rank must be below the number of shards"
            )));
        }
        Ok(Self { index, count })
    }

    /// The shard `arg` (a `--shard i/N` value) names, else the one the
    /// launcher's environment names, else none.
    pub fn chosen(arg: Option<&str>) -> Result<Option<Self>> {
        match arg {
            Some(s) => Self::parse(s).map(Some),
            None => Self::from_env(),
        }
    }

    /// Keeps this shard's slice of `items` (an input of `source_sha256`) and
    /// returns the record of the part made from it.
    pub fn take<T>(&self, kind: PartKind, source_sha256: String, items: &mut Vec<T>) -> PartInfo {
        let info = PartInfo::new(kind, *self, source_sha256, items.len());
        let range = self.range(items.len());
        items.truncate(range.end);
        items.drain(..range.start);
        info
    }

    /// The shard the launcher's environment names (`RANK` and `WORLD_SIZE`, as
    /// torchrun and MPI wrappers set them), if both are set.
    pub fn from_env() -> Result<Option<Self>> {
        Self::from_vars(std::env::var("RANK").ok(), std::env::var("WORLD_SIZE").ok())
    }

    fn from_vars(rank: Option<String>, world: Option<String>) -> Result<Option<Self>> {
        let (Some(rank), Some(world)) = (rank, world) else {
            return Ok(None);
        };
        let num = |name: &str, v: &str| {
            v.trim().parse::<usize>().map_err(|_| {
                Error::InvalidArgument(format!("{name}=\"{v}\" is not a whole number"))
            })
        };
        Self::new(num("RANK", &rank)?, num("WORLD_SIZE", &world)?).map(Some)
    }

    /// This shard's rows of `n`: `[n i / N, n (i + 1) / N)`, so shards differ
    /// in size by at most one and together cover `0..n` once, in order.
    pub fn range(&self, n: usize) -> Range<usize> {
        (n * self.index / self.count)..(n * (self.index + 1) / self.count)
    }
}

/// What a part holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PartKind {
    /// Vectors of a slice of the texts (`encode`).
    #[default]
    Vectors,
    /// An index of a slice of the corpus (`index`): a folder.
    Index,
    /// A run of a slice of the queries (`search --shard`).
    Run,
    /// The best k docs of one index part for every query (`search --index
    /// PART` on the host holding that part); merged by score, not by query.
    Hits,
    /// Negatives mined for a slice of the judged queries (`mine`).
    Mined,
    /// Per-query measures of a slice of the judged queries (`eval`).
    Eval,
}

impl PartKind {
    /// The command that writes such parts.
    pub fn command(&self) -> &'static str {
        match self {
            Self::Vectors => "encode",
            Self::Index => "index",
            Self::Run | Self::Hits => "search",
            Self::Mined => "mine",
            Self::Eval => "eval",
        }
    }
}

/// What a part holds: beside a part file as `<part>.part.json`, inside an
/// index part's manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartInfo {
    /// What kind of output the part is.
    #[serde(default)]
    pub kind: PartKind,
    /// The shard's rank.
    pub shard: usize,
    /// The number of shards.
    pub shards: usize,
    /// SHA-256 of the input file the slice was taken from.
    pub source_sha256: String,
    /// Rows of the whole input.
    pub total: usize,
    /// The first row of the slice.
    pub first: usize,
    /// Rows in the slice.
    pub rows: usize,
    /// Hits parts: the results kept per query.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub k: Option<usize>,
    /// SHA-256 of the part file itself (an index part's files are
    /// checksummed by its manifest instead).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub part_sha256: String,
}

impl PartInfo {
    /// The record of `shard`'s slice of an input of `total` rows (checksum `source`).
    pub fn new(kind: PartKind, shard: Shard, source_sha256: String, total: usize) -> Self {
        let r = shard.range(total);
        Self {
            kind,
            shard: shard.index,
            shards: shard.count,
            source_sha256,
            total,
            first: r.start,
            rows: r.len(),
            k: None,
            part_sha256: String::new(),
        }
    }
}

/// The SHA-256 of texts held in memory (ids and texts), naming the input of
/// parts made from them rather than from a file.
pub fn texts_sha256(texts: &[TextRecord]) -> String {
    let mut h = Sha256::new();
    for t in texts {
        for field in [&t.id, &t.text] {
            h.update((field.len() as u64).to_le_bytes());
            h.update(field.as_bytes());
        }
    }
    hex::encode(h.finalize())
}

/// Writes `n` index parts of `corpus` in one process, `dir/part-<i>`, each
/// through `build(slice, path, record)`; returns their paths. (A tutorial's
/// way to make parts; on a cluster each rank runs `rankbook index --shard`.)
pub fn write_index_parts(
    corpus: &[TextRecord],
    n: usize,
    dir: &Path,
    mut build: impl FnMut(&[TextRecord], &Path, PartInfo) -> Result<()>,
) -> Result<Vec<PathBuf>> {
    let source = texts_sha256(corpus);
    (0..n)
        .map(|i| {
            let shard = Shard::new(i, n)?;
            let info = PartInfo::new(PartKind::Index, shard, source.clone(), corpus.len());
            let path = dir.join(format!("part-{i}"));
            build(&corpus[shard.range(corpus.len())], &path, info)?;
            Ok(path)
        })
        .collect()
}

/// Where a part's record lives: `<part>.part.json`.
pub fn part_info_path(part: &Path) -> PathBuf {
    let mut name = part.as_os_str().to_owned();
    name.push(".part.json");
    PathBuf::from(name)
}

/// Writes `info` beside the finished part file `part`, with its checksum.
pub fn write_part_info(part: &Path, mut info: PartInfo) -> Result<()> {
    info.part_sha256 = sha256_file(part)?;
    let path = part_info_path(part);
    let text = serde_json::to_string_pretty(&info).expect("a part record serialises");
    write_atomically(&path, |w| {
        writeln!(w, "{text}").map_err(|e| Error::io(&path, e))
    })
}

/// Reads `part`'s record and checks the part is the file it describes (an
/// index part's files are verified when it is opened).
pub fn read_part_info(part: &Path) -> Result<PartInfo> {
    if crate::index::is_index(part) {
        return crate::index::read_manifest(part)?.part.ok_or_else(|| {
            Error::InvalidArgument(format!(
                "{}: a whole index, not a part (parts are written with `rankbook index --shard i/N`)",
                part.display()
            ))
        });
    }
    let path = part_info_path(part);
    if !path.is_file() {
        return Err(Error::InvalidArgument(format!(
            "{}: not a part (no {} beside it; parts are written with --shard)",
            part.display(),
            path.display()
        )));
    }
    let info: PartInfo = read_json(&path)?;
    let actual = sha256_file(part)?;
    if actual != info.part_sha256 {
        return Err(Error::InvalidArgument(format!(
            "{}: its checksum differs from the one {} records (a changed or partly copied part)",
            part.display(),
            path.display()
        )));
    }
    Ok(info)
}

/// Orders a set of parts by rank and checks it is complete: the same input
/// and number of shards, every rank exactly once, slices that tile the input.
pub fn order_parts(mut parts: Vec<(PathBuf, PartInfo)>) -> Result<Vec<(PathBuf, PartInfo)>> {
    let Some((first_path, first)) = parts.first().cloned() else {
        return Err(Error::InvalidArgument("no parts to merge".into()));
    };
    for (p, info) in &parts {
        if info.kind != first.kind {
            return Err(Error::InvalidArgument(format!(
                "{} is a part of `rankbook {}`, {} of `rankbook {}`: parts of one output only",
                p.display(),
                info.kind.command(),
                first_path.display(),
                first.kind.command()
            )));
        }
        if info.source_sha256 != first.source_sha256 || info.shards != first.shards {
            return Err(Error::InvalidArgument(format!(
                "{} is shard {} of {} of another input than {} (shard {} of {})",
                p.display(),
                info.shard,
                info.shards,
                first_path.display(),
                first.shard,
                first.shards
            )));
        }
    }
    parts.sort_by_key(|(_, info)| info.shard);
    for pair in parts.windows(2) {
        if pair[0].1.shard == pair[1].1.shard {
            return Err(Error::InvalidArgument(format!(
                "shard {} is given twice ({} and {}); a part is merged once",
                pair[0].1.shard,
                pair[0].0.display(),
                pair[1].0.display()
            )));
        }
    }
    let missing: Vec<String> = (0..first.shards)
        .filter(|r| parts.iter().all(|(_, i)| i.shard != *r))
        .map(|r| r.to_string())
        .collect();
    if !missing.is_empty() {
        return Err(Error::InvalidArgument(format!(
            "shards {} of {} are missing",
            missing.join(", "),
            first.shards
        )));
    }
    let mut next = 0;
    for (p, info) in &parts {
        if info.first != next || info.total != first.total {
            return Err(Error::InvalidArgument(format!(
                "{}: its rows {}..{} do not follow the previous shard's",
                p.display(),
                info.first,
                info.first + info.rows
            )));
        }
        next += info.rows;
    }
    Ok(parts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_tile_the_input_in_order() {
        for n in [0, 1, 5, 201] {
            for count in 1..=4 {
                let mut next = 0;
                for index in 0..count {
                    let r = Shard::new(index, count).unwrap().range(n);
                    assert_eq!(r.start, next);
                    assert!(r.len() <= n / count + 1);
                    next = r.end;
                }
                assert_eq!(next, n);
            }
        }
        assert_eq!(Shard::parse("1/3").unwrap().range(10), 3..6);
    }

    #[test]
    fn bad_shards_and_environments_are_refused() {
        for s in ["3/3", "1", "a/2", "0/0", "-1/2"] {
            let e = Shard::parse(s).unwrap_err().to_string();
            assert!(e.contains("is not i/N"), "{s}: {e}");
        }
        let env = |r: Option<&str>, w: Option<&str>| {
            Shard::from_vars(r.map(String::from), w.map(String::from))
        };
        assert_eq!(env(None, Some("2")).unwrap(), None);
        assert_eq!(
            env(Some("1"), Some("2")).unwrap(),
            Some(Shard::new(1, 2).unwrap())
        );
        let e = env(Some("x"), Some("2")).unwrap_err().to_string();
        assert!(e.contains("RANK=\"x\""), "{e}");
        assert!(env(Some("2"), Some("2")).is_err());
    }

    fn info(shard: usize, shards: usize, total: usize) -> (PathBuf, PartInfo) {
        let s = Shard::new(shard, shards).unwrap();
        (
            PathBuf::from(format!("p{shard}")),
            PartInfo::new(PartKind::Vectors, s, "abc".into(), total),
        )
    }

    #[test]
    fn a_set_of_parts_must_be_whole_and_once() {
        let got = order_parts(vec![info(2, 3, 10), info(0, 3, 10), info(1, 3, 10)]).unwrap();
        let ranks: Vec<usize> = got.iter().map(|(_, i)| i.shard).collect();
        assert_eq!(ranks, [0, 1, 2]);
        let e = order_parts(vec![info(0, 3, 10), info(2, 3, 10)])
            .unwrap_err()
            .to_string();
        assert!(e.contains("shards 1 of 3 are missing"), "{e}");
        let e = order_parts(vec![info(0, 2, 10), info(0, 2, 10), info(1, 2, 10)])
            .unwrap_err()
            .to_string();
        assert!(e.contains("shard 0 is given twice"), "{e}");
        let mut other = info(1, 2, 10);
        other.1.source_sha256 = "def".into();
        let e = order_parts(vec![info(0, 2, 10), other])
            .unwrap_err()
            .to_string();
        assert!(e.contains("of another input"), "{e}");
    }
}
