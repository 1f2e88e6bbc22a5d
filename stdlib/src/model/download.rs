//! Downloading a model from the Hugging Face hub into its cache layout (the
//! `hub` feature): only the files rankbook reads, each written atomically.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::model::resolve::HubId;

/// Files of a repo worth downloading for rankbook: configs, tokenizers and
/// safetensors weights (PyTorch `.bin` only where no safetensors sits beside it).
fn wanted_files(files: &[String]) -> Vec<String> {
    let skip_dirs = ["onnx/", "openvino/", "tf/", "flax/", "coreml/"];
    let has_safetensors = |dir: &str| {
        files.iter().any(|f| {
            let d = f.rsplit_once('/').map(|(d, _)| d).unwrap_or("");
            d == dir && f.ends_with(".safetensors")
        })
    };
    files
        .iter()
        .filter(|f| !skip_dirs.iter().any(|d| f.starts_with(d)))
        .filter(|f| {
            let dir = f.rsplit_once('/').map(|(d, _)| d).unwrap_or("");
            let ext = f.rsplit_once('.').map(|(_, e)| e).unwrap_or("");
            match ext {
                "json" | "txt" | "safetensors" | "model" => true,
                "bin" => f.ends_with("pytorch_model.bin") && !has_safetensors(dir),
                _ => false,
            }
        })
        .cloned()
        .collect()
}

/// The hub's address: `HF_ENDPOINT`, else Hugging Face's.
fn endpoint() -> String {
    std::env::var("HF_ENDPOINT")
        .map(|e| e.trim_end_matches('/').to_string())
        .unwrap_or_else(|_| "https://huggingface.co".into())
}

/// What the hub says of a revision.
#[derive(serde::Deserialize)]
struct RevisionInfo {
    sha: String,
    siblings: Vec<Sibling>,
}

#[derive(serde::Deserialize)]
struct Sibling {
    rfilename: String,
}

/// Downloads the files of `id` into `cache`, laid out as Hugging Face's cache
/// (`snapshots/<commit>/`, `refs/<revision>`); returns the snapshot folder.
/// `HF_ENDPOINT` selects the server and `HF_TOKEN` authenticates. Each file is
/// written to a temporary name and renamed, so an interrupted download never
/// leaves a partial file where a later look-up would take it.
pub fn download(cache: &Path, id: &HubId) -> Result<PathBuf> {
    let fail = |e: &dyn std::fmt::Display| Error::ModelNotFound {
        spec: format!("{}@{}", id.repo, id.revision),
        reason: e.to_string(),
    };
    let agent = ureq::AgentBuilder::new()
        .timeout_connect(std::time::Duration::from_secs(10))
        .build();
    let token = std::env::var("HF_TOKEN").ok();
    // ureq's error carries the whole response; boxed, it stays cheap to return.
    let get = |url: &str| -> std::result::Result<ureq::Response, Box<ureq::Error>> {
        let req = agent.get(url);
        match &token {
            Some(t) => req.set("Authorization", &format!("Bearer {t}")),
            None => req,
        }
        .call()
        .map_err(Box::new)
    };
    let base = endpoint();
    let url = format!("{base}/api/models/{}/revision/{}", id.repo, id.revision);
    let info: RevisionInfo = get(&url)
        .map_err(|e| fail(&e))?
        .into_json()
        .map_err(|e| fail(&format!("{url}: {e}")))?;
    let names: Vec<String> = info.siblings.into_iter().map(|s| s.rfilename).collect();
    let files = wanted_files(&names);
    if !files
        .iter()
        .any(|f| f == "config.json" || f == "modules.json")
    {
        return Err(fail(&"the repo has no config.json or modules.json"));
    }
    let repo_dir = cache.join(id.cache_folder());
    let snapshot = repo_dir.join("snapshots").join(&info.sha);
    for f in &files {
        let target = snapshot.join(f);
        if target.is_file() {
            continue;
        }
        let url = format!("{base}/{}/resolve/{}/{f}", id.repo, info.sha);
        let response = get(&url).map_err(|e| fail(&format!("{f}: {e}")))?;
        // Whole or absent: a cut download is never taken for the file.
        crate::atomic::write_atomically(&target, |w| {
            std::io::copy(&mut response.into_reader(), w)
                .map(|_| ())
                .map_err(|e| fail(&format!("{f}: {e}")))
        })?;
    }
    // The revision asked for gets a ref, so later offline look-ups find it.
    let refs = repo_dir.join("refs");
    std::fs::create_dir_all(&refs).map_err(|e| Error::io(&refs, e))?;
    // Atomically: a truncated ref would send later offline look-ups astray.
    let ref_path = refs.join(&id.revision);
    crate::atomic::write_atomically(&ref_path, |w| {
        w.write_all(info.sha.as_bytes())
            .map_err(|e| Error::io(&ref_path, e))
    })?;
    Ok(snapshot)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn downloads_only_useful_files() {
        let files: Vec<String> = [
            "config.json",
            "model.safetensors",
            "pytorch_model.bin",
            "onnx/model.onnx",
            "1_Pooling/config.json",
            "2_Dense/pytorch_model.bin",
            "README.md",
            "vocab.txt",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        assert_eq!(
            wanted_files(&files),
            vec![
                "config.json",
                "model.safetensors",
                "1_Pooling/config.json",
                "2_Dense/pytorch_model.bin",
                "vocab.txt"
            ]
        );
    }
}
