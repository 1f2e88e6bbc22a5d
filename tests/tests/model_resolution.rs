//! Model resolution through the Hugging Face cache and a (local, fake) hub.

use std::process::Command;

use rankbook::model::resolve::{HubId, find_in_cache};
use rankbook::model::{EncodeOptions, ModelOptions, SentenceEncoder};
use rankbook_tests::hub_server::HubServer;
use rankbook_tests::{rankbook_bin, text};

/// The installed SPLADE-tiny folder: small, and a BERT checkpoint with "bert." names.
fn tiny_folder() -> std::path::PathBuf {
    rankbook::model::resolve_model("rasyosef/splade-tiny")
        .expect("scripts/setup.sh installs rasyosef/splade-tiny")
}

#[test]
fn downloads_from_hub_endpoint_into_cache_then_resolves_offline() {
    let src = tiny_folder();
    let commit = "0123456789abcdef0123456789abcdef01234567";
    let server = HubServer::start("test-org/tiny", &src, commit);
    let cache = tempfile::tempdir().unwrap();
    let run = |extra_env: &[(&str, &str)]| {
        let d = tempfile::tempdir().unwrap();
        let input = d.path().join("t.jsonl");
        std::fs::write(&input, "{\"id\": \"1\", \"text\": \"hello world\"}\n").unwrap();
        let out = d.path().join("t.jsonl.out.jsonl");
        let mut cmd = Command::new(rankbook_bin());
        cmd.args([
            "encode",
            "--model",
            "test-org/tiny",
            "--input",
            input.to_str().unwrap(),
            "--output",
            out.to_str().unwrap(),
            "--quiet",
        ])
        .env("HF_HUB_CACHE", cache.path())
        .env("RANKBOOK_CACHE_DIR", rankbook_tests::test_cache_dir())
        .env("HF_ENDPOINT", &server.endpoint)
        .env_remove("HF_HUB_OFFLINE");
        for (k, v) in extra_env {
            cmd.env(k, v);
        }
        let o = cmd.output().unwrap();
        assert!(o.status.success(), "{}", text(&o).1);
        std::fs::read_to_string(out).unwrap()
    };
    let first = run(&[]);
    let served = server.requests.load(std::sync::atomic::Ordering::SeqCst);
    assert!(served > 3, "files came from the hub ({served} requests)");
    let snap =
        find_in_cache(cache.path(), &HubId::parse("test-org/tiny").unwrap()).expect("cached");
    assert!(snap.ends_with(commit), "{}", snap.display());
    assert!(snap.join("model.safetensors").is_file());
    // Second time: offline, from the cache only, same vectors.
    let second = run(&[("HF_HUB_OFFLINE", "1")]);
    assert_eq!(first, second);
    assert_eq!(
        server.requests.load(std::sync::atomic::Ordering::SeqCst),
        served
    );
    // And equal to loading the source folder directly.
    let direct = SentenceEncoder::from_dir(&src, &ModelOptions::default()).unwrap();
    let (v, _) = direct
        .encode(&["hello world"], &EncodeOptions::default())
        .unwrap();
    let line: serde_json::Value = serde_json::from_str(first.lines().next().unwrap()).unwrap();
    let got: Vec<f32> = serde_json::from_value(line["embedding"].clone()).unwrap();
    assert_eq!(got, v.row(0));
}

#[test]
fn missing_model_says_where_it_looked_and_why_the_hub_failed() {
    let cache = tempfile::tempdir().unwrap();
    let d = tempfile::tempdir().unwrap();
    let input = d.path().join("t.jsonl");
    std::fs::write(&input, "{\"id\": \"1\", \"text\": \"a\"}\n").unwrap();
    let o = Command::new(rankbook_bin())
        .args([
            "encode",
            "--model",
            "nobody/nothing",
            "--input",
            input.to_str().unwrap(),
            "--output",
            d.path().join("o.jsonl").to_str().unwrap(),
            "--quiet",
        ])
        .env("HF_HUB_CACHE", cache.path())
        .env("HF_ENDPOINT", "http://127.0.0.1:9")
        .env_remove("HF_HUB_OFFLINE")
        .output()
        .unwrap();
    let (_, stderr) = text(&o);
    assert!(stderr.contains("not in the cache at"), "{stderr}");
    assert!(stderr.contains("models--nobody--nothing"), "{stderr}");
    assert!(stderr.contains("the hub could not be reached"), "{stderr}");
    assert!(stderr.contains("run the set-up command"), "{stderr}");
    let offline = Command::new(rankbook_bin())
        .args([
            "encode",
            "--model",
            "nobody/nothing",
            "--input",
            input.to_str().unwrap(),
            "--output",
            d.path().join("o.jsonl").to_str().unwrap(),
        ])
        .env("HF_HUB_CACHE", cache.path())
        .env("HF_HUB_OFFLINE", "1")
        .output()
        .unwrap();
    assert!(
        text(&offline).1.contains("HF_HUB_OFFLINE is set"),
        "{}",
        text(&offline).1
    );
}
