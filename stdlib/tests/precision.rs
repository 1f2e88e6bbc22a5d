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
