//! The CPU inference path without AVX-512 (the `gemm` crate and AVX2/scalar
//! kernels), against the sentence-transformers reference. Its own test binary,
//! so the switch below cannot leak into other tests.

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
}
