//! BEIR dataset folders: `corpus.jsonl`, `queries.jsonl`, `qrels/<split>.tsv`.

use std::path::{Path, PathBuf};

use crate::data::qrels::Qrels;
use crate::data::texts::{TextRecord, read_texts};
use crate::error::{Error, Result};

/// The documents of a BEIR folder.
pub const CORPUS_FILE: &str = "corpus.jsonl";
/// The queries of a BEIR folder (all splits).
pub const QUERIES_FILE: &str = "queries.jsonl";

/// The corpus file a path names: a BEIR folder's `corpus.jsonl`, or the file itself.
pub fn corpus_file(path: &Path) -> PathBuf {
    if path.is_dir() {
        path.join(CORPUS_FILE)
    } else {
        path.to_path_buf()
    }
}

/// Reads a corpus given as a BEIR folder or a JSONL file.
pub fn read_corpus(path: &Path) -> Result<Vec<TextRecord>> {
    read_texts(&corpus_file(path))
}

/// The queries beside a corpus: its folder's `queries.jsonl` when the corpus
/// is a BEIR folder (None for a corpus file).
pub fn queries_beside(corpus: &Path) -> Option<PathBuf> {
    corpus.is_dir().then(|| corpus.join(QUERIES_FILE))
}

/// `qrels/<split>.tsv` of a BEIR folder.
pub fn split_qrels_path(dir: &Path, split: &str) -> PathBuf {
    dir.join("qrels").join(format!("{split}.tsv"))
}

/// Where a split's qrels are when only files are given: in the corpus folder,
/// else beside the queries file.
pub fn split_qrels_near(corpus: Option<&Path>, queries: Option<&Path>, split: &str) -> PathBuf {
    let beside_corpus = corpus.filter(|c| c.is_dir());
    let beside_queries = queries.and_then(Path::parent).unwrap_or(Path::new("."));
    split_qrels_path(beside_corpus.unwrap_or(beside_queries), split)
}

/// The queries judged in `qrels`, in their order.
pub fn judged(queries: &[TextRecord], qrels: &Qrels) -> Vec<TextRecord> {
    queries
        .iter()
        .filter(|q| qrels.get(&q.id).is_some())
        .cloned()
        .collect()
}

/// A BEIR-layout collection loaded in memory.
#[derive(Debug, Clone)]
pub struct BeirDataset {
    /// The folder.
    pub dir: PathBuf,
    /// Documents, text = `(title + " " + text).strip()`.
    pub corpus: Vec<TextRecord>,
    /// All queries of all splits.
    pub queries: Vec<TextRecord>,
}

impl BeirDataset {
    /// Reads `dir/corpus.jsonl` and `dir/queries.jsonl`.
    pub fn open(dir: &Path) -> Result<Self> {
        if !dir.is_dir() {
            return Err(Error::io(
                dir,
                std::io::Error::new(std::io::ErrorKind::NotFound, "no such folder"),
            ));
        }
        Ok(Self {
            dir: dir.to_path_buf(),
            corpus: read_texts(&dir.join(CORPUS_FILE))?,
            queries: read_texts(&dir.join(QUERIES_FILE))?,
        })
    }

    /// The path of a split's qrels.
    pub fn qrels_path(&self, split: &str) -> PathBuf {
        split_qrels_path(&self.dir, split)
    }

    /// Reads the judgements of `split` (`train`, `dev`, `test`).
    pub fn qrels(&self, split: &str) -> Result<Qrels> {
        Qrels::read(&self.qrels_path(split))
    }

    /// The queries judged in `qrels`, in file order.
    pub fn judged_queries(&self, qrels: &Qrels) -> Vec<TextRecord> {
        judged(&self.queries, qrels)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_follow_the_beir_layout_for_folders_and_files() {
        let d = tempfile::tempdir().unwrap();
        let dir = d.path();
        let file = dir.join("docs.jsonl");
        std::fs::write(&file, "").unwrap();
        assert_eq!(corpus_file(dir), dir.join("corpus.jsonl"));
        assert_eq!(corpus_file(&file), file);
        assert_eq!(queries_beside(dir), Some(dir.join("queries.jsonl")));
        assert_eq!(queries_beside(&file), None);
        // A split's qrels: in the corpus folder, else beside the queries file.
        let q = Path::new("elsewhere/q.jsonl");
        assert_eq!(
            split_qrels_near(Some(dir), Some(q), "dev"),
            dir.join("qrels/dev.tsv")
        );
        assert_eq!(
            split_qrels_near(Some(&file), Some(q), "dev"),
            Path::new("elsewhere/qrels/dev.tsv")
        );
        assert_eq!(
            split_qrels_near(None, None, "test"),
            Path::new("./qrels/test.tsv")
        );
    }
}
