//! faiss index types through `rankbook index --factory` (feature `faiss`): the
//! index files open in Python's faiss and return the same neighbours; IVF and
//! HNSW take their search parameters.
#![cfg(feature = "faiss")]

use rankbook_tests::{python, rankbook, repo_root, text};

const SAMPLE: &str = "data/scifact-sample";

#[test]
fn faiss_indexes_open_in_python_and_search_alike() {
    let d = tempfile::tempdir().unwrap();
    let p = |name: &str| d.path().join(name).to_str().unwrap().to_string();
    let queries = format!("{SAMPLE}/queries.jsonl");
    // Vectors once, through `rankbook encode`, then indexed in several types.
    let docs = p("docs.arrow");
    let qvec = p("queries.arrow");
    for (input, out) in [
        (format!("{SAMPLE}/corpus.jsonl"), &docs),
        (queries.clone(), &qvec),
    ] {
        let o = rankbook(&[
            "encode",
            "--model",
            "sentence-transformers/all-MiniLM-L6-v2",
            "--input",
            &input,
            "--output",
            out,
            "--quiet",
        ]);
        assert!(o.status.success(), "{}", text(&o).1);
    }
    for (factory, param) in [
        ("Flat", None),
        ("IVF4,Flat", Some("--nprobe")),
        ("HNSW32", Some("--ef-search")),
    ] {
        let idx = p(&format!("idx-{}", factory.replace(',', "_")));
        let o = rankbook(&[
            "index",
            "--vectors",
            &docs,
            "--output",
            &idx,
            "--factory",
            factory,
        ]);
        assert!(o.status.success(), "{factory}: {}", text(&o).1);
        let run = p("run.trec");
        let mut args = vec![
            "search",
            "--index",
            &idx,
            "--query-vectors",
            &qvec,
            "--k",
            "10",
            "--output",
            &run,
        ];
        if let Some(flag) = param {
            args.extend([flag, "64"]);
        }
        let o = rankbook(&args);
        assert!(o.status.success(), "{factory}: {}", text(&o).1);
        if factory == "Flat" {
            continue; // rankbook's own format
        }
        // Python's faiss reads the file and, searching the same vectors, returns
        // the neighbours rankbook wrote.
        let check = format!(
            r#"
import json, sys, faiss, numpy as np, pyarrow.ipc as ipc
idx = faiss.read_index("{idx}/index.faiss")
ids = json.load(open("{idx}/ids.json"))
t = ipc.open_file("{qvec}").read_all()
q = np.stack(t.column("embedding").to_numpy(zero_copy_only=False)).astype("float32")
if {nprobe}: faiss.ParameterSpace().set_index_parameter(idx, "nprobe", 64)
if {ef}: faiss.ParameterSpace().set_index_parameter(idx, "efSearch", 64)
_, I = idx.search(q, 10)
mine = {{}}
for line in open("{run}"):
    f = line.split()
    mine.setdefault(f[0], []).append(f[2])
qids = t.column("id").to_pylist()
same = sum(set(mine[qid]) == {{ids[i] for i in I[n] if i >= 0}} for n, qid in enumerate(qids))
print(idx.ntotal, same, len(qids))
"#,
            nprobe = if factory.starts_with("IVF") {
                "True"
            } else {
                "False"
            },
            ef = if factory.starts_with("HNSW") {
                "True"
            } else {
                "False"
            },
        );
        let o = std::process::Command::new(python())
            .args(["-c", &check])
            .current_dir(repo_root())
            .output()
            .unwrap();
        let (stdout, stderr) = text(&o);
        assert!(o.status.success(), "{factory}: {stderr}");
        assert_eq!(stdout.trim(), "201 50 50", "{factory}: {stdout}");
    }
    // A wrong parameter for the type is an error, not ignored.
    let o = rankbook(&[
        "search",
        "--index",
        &p("idx-HNSW32"),
        "--query-vectors",
        &qvec,
        "--output",
        &p("x.trec"),
        "--nprobe",
        "4",
    ]);
    assert!(!o.status.success());
    assert!(
        text(&o).1.contains("has no parameter nprobe"),
        "{}",
        text(&o).1
    );
    let o = rankbook(&[
        "index",
        "--vectors",
        &docs,
        "--output",
        &p("bad"),
        "--factory",
        "IVF0,Nope",
    ]);
    assert!(
        text(&o)
            .1
            .contains("unknown or invalid index factory string"),
        "{}",
        text(&o).1
    );
}
