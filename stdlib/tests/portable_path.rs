//! The CPU inference path without AVX-512 (the `gemm` crate and AVX2/scalar
//! kernels), against the sentence-transformers reference. Its own test binary,
//! so the switch below cannot leak into other tests.

use rankbook::index::{FlatIndex, Metric};
use rankbook::model::{EncodeOptions, ModelOptions, SentenceEncoder};

#[test]
fn portable_kernels_reproduce_the_reference() {
    // SAFETY: set before any thread starts or reads the environment.
    unsafe { std::env::set_var("RANKBOOK_NO_AVX512", "1") };
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../data/reference/minilm_reference.jsonl");
    let refs: Vec<serde_json::Value> = std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let texts: Vec<&str> = refs.iter().map(|r| r["text"].as_str().unwrap()).collect();
    let m = SentenceEncoder::load(
        "sentence-transformers/all-MiniLM-L6-v2",
        &ModelOptions::default(),
    )
    .unwrap();
    let (e, _) = m
        .encode(
            &texts,
            &EncodeOptions {
                batch_size: 16,
                ..Default::default()
            },
        )
        .unwrap();
    for (i, r) in refs.iter().enumerate() {
        let want: Vec<f32> = serde_json::from_value(r["embedding"].clone()).unwrap();
        let diff = e
            .row(i)
            .iter()
            .zip(&want)
            .map(|(a, b)| (a - b).abs())
            .fold(0f32, f32::max);
        assert!(diff <= 1e-5, "{}: max abs diff {diff}", r["id"]);
    }

    // Exact search through the same portable product: equal to a plain ranking.
    let ids: Vec<String> = (0..texts.len()).map(|i| format!("t{i:02}")).collect();
    let index = FlatIndex::new(ids.clone(), e.clone(), Metric::Dot).unwrap();
    let hits = index.search_vectors(&e, 5).unwrap();
    for (qi, q) in e.rows().enumerate() {
        let mut want: Vec<(usize, f32)> = e
            .rows()
            .enumerate()
            .map(|(j, d)| (j, q.iter().zip(d).map(|(a, b)| a * b).sum()))
            .collect();
        want.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| ids[b.0].cmp(&ids[a.0])));
        let got: Vec<usize> = hits[qi].iter().map(|h| h.0).collect();
        let want: Vec<usize> = want.iter().take(5).map(|h| h.0).collect();
        assert_eq!(got, want, "query {qi}");
        assert!((hits[qi][0].1 - 1.0).abs() < 1e-5);
    }
}
