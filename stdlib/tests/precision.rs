//! bf16 and int8 encoders against sentence-transformers' f32 embeddings of the
//! 16 reference texts (data/reference/minilm_reference.jsonl), the precision in
//! the fingerprint, and the refusal on a CPU without the instructions (simulated
//! with RANKBOOK_NO_AVX512 in a child process, since the switch is read once).

use std::path::PathBuf;
use std::process::Command;

use rankbook::compute::Precision;
use rankbook::model::{Backend, EncodeOptions, ModelOptions, SentenceEncoder};

const MODEL: &str = "sentence-transformers/all-MiniLM-L6-v2";

fn references() -> Vec<(String, Vec<f32>)> {
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../data/reference/minilm_reference.jsonl");
    std::fs::read_to_string(&path)
        .unwrap()
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            (
                v["text"].as_str().unwrap().to_string(),
                serde_json::from_value(v["embedding"].clone()).unwrap(),
            )
        })
        .collect()
}

fn load(precision: Precision) -> rankbook::Result<SentenceEncoder> {
    SentenceEncoder::load(
        MODEL,
        &ModelOptions {
            precision: Some(precision),
            ..Default::default()
        },
    )
}

fn cosine(a: &[f32], b: &[f32]) -> f64 {
    let dot: f64 = a.iter().zip(b).map(|(x, y)| *x as f64 * *y as f64).sum();
    let n = |v: &[f32]| v.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt();
    dot / (n(a) * n(b))
}

/// (min, mean) cosine of `precision`'s embeddings to the reference.
fn agreement(precision: Precision) -> (f64, f64) {
    let refs = references();
    let texts: Vec<&str> = refs.iter().map(|(t, _)| t.as_str()).collect();
    let model = load(precision).unwrap_or_else(|e| panic!("{e}\nhint: run bash scripts/setup.sh"));
    let emb = model.encode(&texts, &EncodeOptions::default()).unwrap().0;
    let cos: Vec<f64> = refs
        .iter()
        .enumerate()
        .map(|(i, (_, want))| cosine(emb.row(i), want))
        .collect();
    let min = cos.iter().copied().fold(1.0, f64::min);
    (min, cos.iter().sum::<f64>() / cos.len() as f64)
}

#[test]
fn bf16_embeddings_stay_within_cosine_0_999_of_f32() {
    if let Err(e) = Precision::Bf16.check_supported() {
        eprintln!("skipped: {e}");
        return;
    }
    let (min, mean) = agreement(Precision::Bf16);
    eprintln!("bf16: min cosine {min:.6}, mean {mean:.6}");
    assert!(min >= 0.999, "min cosine {min}");
}

#[test]
fn int8_embeddings_stay_within_cosine_0_99_of_f32() {
    if let Err(e) = Precision::Int8.check_supported() {
        eprintln!("skipped: {e}");
        return;
    }
    let (min, mean) = agreement(Precision::Int8);
    eprintln!("int8: min cosine {min:.6}, mean {mean:.6}");
    assert!(min >= 0.99, "min cosine {min}");
    // Not the f32 numbers: a quantised path that silently ran in f32 fails here.
    assert!(mean < 0.99999, "mean cosine {mean}: int8 looks like f32");
}

#[test]
fn precision_is_part_of_the_fingerprint_and_refused_off_the_packed_path() {
    if Precision::Int8.check_supported().is_err() {
        eprintln!("skipped: no AVX512-VNNI here");
        return;
    }
    let f32 = load(Precision::F32).unwrap();
    let int8 = load(Precision::Int8).unwrap();
    let (a, b) = (f32.identity().unwrap(), int8.identity().unwrap());
    assert!(!a.same_vectors(b));
    assert_ne!(a.cache_key(None), b.cache_key(None));
    assert!(b.to_string().contains("precision int8"), "{b}");
    let e = SentenceEncoder::load(
        MODEL,
        &ModelOptions {
            backend: Backend::Candle,
            precision: Some(Precision::Int8),
            ..Default::default()
        },
    )
    .err()
    .expect("candle has no int8 path")
    .to_string();
    assert!(e.contains("packed CPU back-end only"), "{e}");
}

/// In a child process with AVX-512 switched off, loading in bf16 or int8 fails
/// with a one-line error naming the missing instructions.
#[test]
fn a_cpu_without_the_instructions_gets_an_error_naming_them() {
    if std::env::var_os("RANKBOOK_PRECISION_CHILD").is_some() {
        for (p, names) in [
            (Precision::Bf16, "avx512f, avx512bf16"),
            (Precision::Int8, "avx512f, avx512bw, avx512vnni"),
        ] {
            let e = load(p).err().expect("refused").to_string();
            assert!(
                e.contains(&format!(
                    "precision {p} needs CPU instructions this machine lacks: {names}"
                )),
                "{e}"
            );
            assert!(!e.contains('\n'), "{e}");
        }
        assert!(load(Precision::F32).is_ok());
        return;
    }
    let out = Command::new(std::env::current_exe().unwrap())
        .args([
            "a_cpu_without_the_instructions_gets_an_error_naming_them",
            "--exact",
            "--nocapture",
        ])
        .env("RANKBOOK_PRECISION_CHILD", "1")
        .env("RANKBOOK_NO_AVX512", "1")
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("1 passed"), "{text}");
}

fn pearson(a: &[f32], b: &[f32]) -> f64 {
    let n = a.len() as f64;
    let (ma, mb) = (
        a.iter().map(|x| *x as f64).sum::<f64>() / n,
        b.iter().map(|x| *x as f64).sum::<f64>() / n,
    );
    let cov: f64 = a
        .iter()
        .zip(b)
        .map(|(x, y)| (*x as f64 - ma) * (*y as f64 - mb))
        .sum();
    let va: f64 = a.iter().map(|x| (*x as f64 - ma).powi(2)).sum();
    let vb: f64 = b.iter().map(|y| (*y as f64 - mb).powi(2)).sum();
    cov / (va * vb).sqrt()
}

/// Sparse cosine of two SPLADE vectors (both sorted by term id).
fn sparse_cosine(a: &[(u32, f32)], b: &[(u32, f32)]) -> f64 {
    use rankbook::model::splade::sparse_dot;
    let n = |v: &[(u32, f32)]| (sparse_dot(&v.to_vec(), &v.to_vec()) as f64).sqrt();
    sparse_dot(&a.to_vec(), &b.to_vec()) as f64 / (n(a) * n(b))
}

#[test]
fn splade_in_bf16_and_int8_keeps_its_terms() {
    use rankbook::model::splade::{SpladeEncoder, SpladeOptions};
    let texts: Vec<String> = references().into_iter().map(|(t, _)| t).collect();
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let load = |precision| {
        SpladeEncoder::load(
            "rasyosef/splade-tiny",
            &SpladeOptions {
                precision,
                ..Default::default()
            },
        )
    };
    let want = load(Precision::F32)
        .unwrap()
        .encode(&refs, 8, &rankbook::progress::NoProgress)
        .unwrap();
    for (precision, floor) in [(Precision::Bf16, 0.999), (Precision::Int8, 0.98)] {
        if let Err(e) = precision.check_supported() {
            eprintln!("skipped {precision}: {e}");
            continue;
        }
        let model = load(precision).unwrap();
        assert!(
            model
                .identity()
                .unwrap()
                .to_string()
                .contains(&format!("precision {precision}"))
        );
        let got = model
            .encode(&refs, 8, &rankbook::progress::NoProgress)
            .unwrap();
        let cos: Vec<f64> = want
            .iter()
            .zip(&got)
            .map(|(a, b)| sparse_cosine(a, b))
            .collect();
        let min = cos.iter().copied().fold(1.0, f64::min);
        eprintln!("SPLADE {precision}: min sparse cosine {min:.5}");
        assert!(min >= floor, "{precision}: min sparse cosine {min}");
        // The heaviest term of every text is the same.
        for (a, b) in want.iter().zip(&got) {
            let top = |v: &[(u32, f32)]| v.iter().max_by(|x, y| x.1.total_cmp(&y.1)).map(|e| e.0);
            assert_eq!(top(a), top(b), "{precision}: heaviest term");
        }
    }
}

#[test]
fn cross_encoder_scores_in_int8_follow_f32_and_it_does_not_train() {
    use rankbook::compute::dropout::Dropout;
    use rankbook::model::cross_encoder::{CrossEncoder, CrossEncoderOptions};
    if Precision::Int8.check_supported().is_err() {
        eprintln!("skipped: no AVX512-VNNI here");
        return;
    }
    let texts: Vec<String> = references().into_iter().map(|(t, _)| t).collect();
    let pairs: Vec<(&str, &str)> = texts
        .windows(2)
        .map(|w| (w[0].as_str(), w[1].as_str()))
        .collect();
    let load = |precision| {
        CrossEncoder::load(
            MODEL,
            &CrossEncoderOptions {
                precision,
                ..Default::default()
            },
        )
        .unwrap()
    };
    let want = load(Precision::F32).predict(&pairs, 8).unwrap();
    let int8 = load(Precision::Int8);
    let got = int8.predict(&pairs, 8).unwrap();
    // A seeded head on an untrained encoder scores every pair near 0.01, so
    // the check is that int8 orders and spaces the pairs as f32 does.
    let corr = pearson(&want, &got);
    eprintln!(
        "cross-encoder int8: Pearson correlation to f32 scores {corr:.4} over {} pairs",
        want.len()
    );
    assert!(corr >= 0.95, "correlation {corr}: {want:?} vs {got:?}");
    assert!(
        want != got,
        "int8 scores equal f32: the quantised path did not run"
    );
    let e = int8
        .forward_t(&pairs[..1], Some(&Dropout::seeded(1, 0)))
        .expect_err("no training in int8")
        .to_string();
    assert!(e.contains("does not train"), "{e}");
}
