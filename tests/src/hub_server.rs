//! A minimal Hugging Face hub on 127.0.0.1 serving one model folder, enough for
//! rankbook's downloader to resolve and download it (`/api/models/...` and `/.../resolve/...`).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// A running fake hub; it stops serving when dropped (the thread ends with the test).
pub struct HubServer {
    /// `http://127.0.0.1:PORT`.
    pub endpoint: String,
    /// Requests answered so far.
    pub requests: Arc<AtomicUsize>,
}

fn files_under(root: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(
                    p.strip_prefix(root)
                        .unwrap()
                        .to_string_lossy()
                        .replace('\\', "/"),
                );
            }
        }
    }
    out.sort();
    out
}

impl HubServer {
    /// Serves `folder` as model `repo` at commit `commit`.
    pub fn start(repo: &str, folder: &Path, commit: &str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let requests = Arc::new(AtomicUsize::new(0));
        let (repo, folder, commit) = (repo.to_string(), folder.to_path_buf(), commit.to_string());
        let counter = requests.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                counter.fetch_add(1, Ordering::SeqCst);
                let _ = serve(stream, &repo, &folder, &commit);
            }
        });
        Self { endpoint, requests }
    }
}

fn serve(mut stream: TcpStream, repo: &str, folder: &Path, commit: &str) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    let path = request_line
        .split_whitespace()
        .nth(1)
        .unwrap_or("/")
        .to_string();
    let mut range: Option<(u64, Option<u64>)> = None;
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h)? == 0 || h == "\r\n" {
            break;
        }
        let lower = h.to_ascii_lowercase();
        if let Some(v) = lower.strip_prefix("range: bytes=") {
            let (a, b) = v.trim().split_once('-').unwrap_or((v.trim(), ""));
            range = a.parse().ok().map(|a| (a, b.parse().ok()));
        }
    }
    let api = format!("/api/models/{repo}/revision/");
    let resolve = format!("/{repo}/resolve/");
    if path.starts_with(&api) {
        let siblings: Vec<serde_json::Value> = files_under(folder)
            .into_iter()
            .map(|f| serde_json::json!({"rfilename": f}))
            .collect();
        let body = serde_json::json!({"sha": commit, "siblings": siblings}).to_string();
        return respond(
            &mut stream,
            "200 OK",
            &[("Content-Type", "application/json".into())],
            body.as_bytes(),
        );
    }
    if let Some(rest) = path.strip_prefix(&resolve) {
        let file = rest.split_once('/').map(|(_, f)| f).unwrap_or("");
        let full = folder.join(file);
        let Ok(mut f) = std::fs::File::open(&full) else {
            return respond(&mut stream, "404 Not Found", &[], b"not found");
        };
        let mut data = Vec::new();
        f.read_to_end(&mut data)?;
        use sha2::{Digest, Sha256};
        let etag = hex::encode(Sha256::digest(&data));
        let size = data.len() as u64;
        let (start, last) = range.unwrap_or((0, None));
        let start = start.min(size);
        let end = last.map_or(size, |l| (l + 1).min(size));
        let body = &data[start as usize..end as usize];
        let headers = [
            ("ETag", format!("\"{etag}\"")),
            ("X-Repo-Commit", commit.to_string()),
            (
                "Content-Range",
                format!("bytes {start}-{}/{size}", end.saturating_sub(1)),
            ),
        ];
        return respond(&mut stream, "206 Partial Content", &headers, body);
    }
    respond(&mut stream, "404 Not Found", &[], b"not found")
}

fn respond(
    stream: &mut TcpStream,
    status: &str,
    headers: &[(&str, String)],
    body: &[u8],
) -> std::io::Result<()> {
    let mut head = format!(
        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes())?;
    stream.write_all(body)?;
    stream.flush()
}
