//! A tiny BEIR folder for the data formats' tests.

use crate::data::BeirDataset;

/// Queries q1, q2; documents d1..d4; train qrels q1 -> d1, q2 -> d2 (and d3 at 0).
pub fn tiny_beir() -> (tempfile::TempDir, BeirDataset) {
    let d = tempfile::tempdir().unwrap();
    let w = |name: &str, text: &str| {
        let p = d.path().join(name);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    };
    w(
        "corpus.jsonl",
        "{\"_id\": \"d1\", \"title\": \"\", \"text\": \"doc one\"}\n{\"_id\": \"d2\", \"text\": \"doc two\"}\n{\"_id\": \"d3\", \"text\": \"doc three\"}\n{\"_id\": \"d4\", \"text\": \"doc four\"}\n",
    );
    w(
        "queries.jsonl",
        "{\"_id\": \"q1\", \"text\": \"query one\"}\n{\"_id\": \"q2\", \"text\": \"query two\"}\n",
    );
    w(
        "qrels/train.tsv",
        "query-id\tcorpus-id\tscore\nq1\td1\t1\nq2\td2\t2\nq2\td3\t0\n",
    );
    let ds = BeirDataset::open(d.path()).unwrap();
    (d, ds)
}
