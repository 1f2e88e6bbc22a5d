//! Model resolution, used by every command: a local folder, a hub id found in the
//! Hugging Face cache, or a download with `hf-hub` when the network allows.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// A hub model id with an optional revision (`org/name[@revision]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HubId {
    /// `org/name` (or `name`).
    pub repo: String,
    /// Branch, tag or commit; `main` by default.
    pub revision: String,
}

impl HubId {
    /// Parses `org/name[@revision]`; None when it cannot be a hub id.
    pub fn parse(spec: &str) -> Option<Self> {
        let (repo, revision) = match spec.split_once('@') {
            Some((r, rev)) if !rev.is_empty() => (r, rev),
            Some(_) => return None,
            None => (spec, "main"),
        };
        let valid_part = |s: &str| {
            !s.is_empty()
                && !s.starts_with('.')
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        };
        let parts: Vec<&str> = repo.split('/').collect();
        if parts.len() > 2 || !parts.iter().all(|p| valid_part(p)) {
            return None;
        }
        Some(Self {
            repo: repo.to_string(),
            revision: revision.to_string(),
        })
    }

    /// The folder name of this repo in the cache (`models--org--name`).
    pub fn cache_folder(&self) -> String {
        format!("models--{}", self.repo.replace('/', "--"))
    }
}

/// The Hugging Face cache folders to look in, the first being where downloads go:
/// `HF_HUB_CACHE`, then `HF_HOME/hub`, then `~/.cache/huggingface/hub`.
pub fn hub_cache_dirs() -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    if let Some(p) = std::env::var_os("HF_HUB_CACHE").filter(|p| !p.is_empty()) {
        dirs.push(PathBuf::from(p));
    }
    if let Some(p) = std::env::var_os("HF_HOME").filter(|p| !p.is_empty()) {
        dirs.push(PathBuf::from(p).join("hub"));
    }
    if let Some(home) = std::env::var_os("HOME").filter(|p| !p.is_empty()) {
        dirs.push(PathBuf::from(home).join(".cache/huggingface/hub"));
    }
    dirs.dedup();
    dirs
}

/// Finds `id` in the cache layout under `cache`: `refs/<revision>` names a commit
/// whose files are in `snapshots/<commit>/`; a commit hash may be given directly.
pub fn find_in_cache(cache: &Path, id: &HubId) -> Option<PathBuf> {
    let repo_dir = cache.join(id.cache_folder());
    let commit = std::fs::read_to_string(repo_dir.join("refs").join(&id.revision))
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| id.revision.clone());
    let snap = repo_dir.join("snapshots").join(commit);
    let complete = snap.join("config.json").is_file() || snap.join("modules.json").is_file();
    complete.then_some(snap)
}

fn offline() -> bool {
    std::env::var("HF_HUB_OFFLINE")
        .map(|v| matches!(v.to_ascii_lowercase().as_str(), "1" | "true" | "yes" | "on"))
        .unwrap_or(false)
}

/// Downloads `id` into `cache` (a build with the `hub` feature).
#[cfg(feature = "hub")]
fn fetch(cache: &Path, id: &HubId) -> Result<PathBuf> {
    crate::model::download::download(cache, id)
}

/// Without the `hub` feature nothing is downloaded.
#[cfg(not(feature = "hub"))]
fn fetch(_cache: &Path, id: &HubId) -> Result<PathBuf> {
    Err(Error::ModelNotFound {
        spec: id.repo.clone(),
        reason: "this build does not download (built without the `hub` feature)".into(),
    })
}

/// Resolves `--model` to a local folder: (a) an existing folder, (b) a hub id in
/// the cache, (c) a download when the hub can be reached (not with `HF_HUB_OFFLINE=1`).
pub fn resolve_model(spec: &str) -> Result<PathBuf> {
    let as_path = Path::new(spec);
    if as_path.is_dir() {
        return Ok(as_path.to_path_buf());
    }
    let Some(id) = HubId::parse(spec) else {
        return Err(Error::ModelNotFound {
            spec: spec.to_string(),
            reason: "it is neither an existing folder nor a hub id (org/name[@revision])".into(),
        });
    };
    let caches = hub_cache_dirs();
    if let Some(found) = caches.iter().find_map(|c| find_in_cache(c, &id)) {
        return Ok(found);
    }
    let looked = caches
        .iter()
        .map(|c| c.join(id.cache_folder()).display().to_string())
        .collect::<Vec<_>>()
        .join(", ");
    let hint = "run the set-up command (bash scripts/setup.sh) or pass a folder";
    if offline() {
        return Err(Error::ModelNotFound {
            spec: spec.to_string(),
            reason: format!("not in the cache at {looked}, and HF_HUB_OFFLINE is set; {hint}"),
        });
    }
    let Some(target) = caches.first() else {
        return Err(Error::ModelNotFound {
            spec: spec.to_string(),
            reason: "no cache folder (set HF_HUB_CACHE or HOME)".into(),
        });
    };
    fetch(target, &id).map_err(|e| Error::ModelNotFound {
        spec: spec.to_string(),
        reason: format!(
            "not in the cache at {looked}, and the hub could not be reached: {}; {hint}",
            match e {
                Error::ModelNotFound { reason, .. } => reason,
                other => other.to_string(),
            }
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_hub_ids() {
        let id = HubId::parse("sentence-transformers/all-MiniLM-L6-v2@abc").unwrap();
        assert_eq!(id.repo, "sentence-transformers/all-MiniLM-L6-v2");
        assert_eq!(id.revision, "abc");
        assert_eq!(
            id.cache_folder(),
            "models--sentence-transformers--all-MiniLM-L6-v2"
        );
        assert_eq!(HubId::parse("bert-base-uncased").unwrap().revision, "main");
        assert!(HubId::parse("a/b/c").is_none());
        assert!(HubId::parse("./x").is_none());
        assert!(HubId::parse("a/b@").is_none());
    }

    #[test]
    fn finds_snapshot_through_refs() {
        let d = tempfile::tempdir().unwrap();
        let id = HubId::parse("org/m").unwrap();
        let repo = d.path().join("models--org--m");
        std::fs::create_dir_all(repo.join("refs")).unwrap();
        std::fs::create_dir_all(repo.join("snapshots/c0ffee")).unwrap();
        std::fs::write(repo.join("refs/main"), "c0ffee\n").unwrap();
        assert_eq!(find_in_cache(d.path(), &id), None, "no config yet");
        std::fs::write(repo.join("snapshots/c0ffee/config.json"), "{}").unwrap();
        assert_eq!(
            find_in_cache(d.path(), &id),
            Some(repo.join("snapshots/c0ffee"))
        );
        let by_commit = HubId::parse("org/m@c0ffee").unwrap();
        assert_eq!(
            find_in_cache(d.path(), &by_commit),
            Some(repo.join("snapshots/c0ffee"))
        );
    }
}
