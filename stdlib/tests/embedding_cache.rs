//! The embedding cache with the real model: hits return the same vectors, a
//! changed setting misses, a damaged file is re-encoded.

use rankbook::cache::EmbeddingCache;
use rankbook::model::{EncodeOptions, ModelOptions, SentenceEncoder};

fn model(max_length: Option<usize>) -> SentenceEncoder {
    SentenceEncoder::load(
        "sentence-transformers/all-MiniLM-L6-v2",
        &ModelOptions {
            max_length,
            ..Default::default()
        },
    )
    .unwrap()
}

#[test]
fn cache_hits_misses_and_repairs() {
    let dir = tempfile::tempdir().unwrap();
    let cache = EmbeddingCache::new(dir.path());
    let opts = EncodeOptions {
        cache: Some(&cache),
        ..Default::default()
    };
    let m = model(None);
    let texts = [
        "a first text",
        "a second, longer text about retrieval",
        "third",
    ];
    let (plain, _) = m.encode(&texts, &EncodeOptions::default()).unwrap();

    let (first, s) = m.encode(&texts[..2], &opts).unwrap();
    assert_eq!((s.texts, s.cached), (2, 0));
    assert_eq!(first.as_slice(), &plain.as_slice()[..2 * 384]);
    // Overlapping corpus: only the new text is encoded; order is kept.
    let (again, s) = m.encode(&texts, &opts).unwrap();
    assert_eq!((s.texts, s.cached), (3, 2));
    assert_eq!(again, plain);
    let (_, s) = m.encode(&texts, &opts).unwrap();
    assert_eq!(s.cached, 3);

    // Another max length is another key: nothing cached for it.
    let (_, s) = model(Some(64)).encode(&texts, &opts).unwrap();
    assert_eq!(s.cached, 0);
    // A prompt too.
    let prompted = EncodeOptions {
        prompt: Some("query: "),
        ..opts
    };
    assert_eq!(m.encode(&texts, &prompted).unwrap().1.cached, 0);

    // Damage every file of the first key: detected, dropped, encoded again.
    let key = m.identity().unwrap().cache_key(None);
    let key_dir = dir.path().join("embeddings").join(&key);
    for f in std::fs::read_dir(&key_dir).unwrap() {
        let p = f.unwrap().path();
        let mut b = std::fs::read(&p).unwrap();
        let at = b.len() - 40;
        b[at] ^= 1;
        std::fs::write(&p, b).unwrap();
    }
    let (repaired, s) = m.encode(&texts, &opts).unwrap();
    assert_eq!((s.cached, s.damaged_cache_files), (0, 2));
    assert_eq!(repaired, plain);
    assert_eq!(m.encode(&texts, &opts).unwrap().1.cached, 3);
}
