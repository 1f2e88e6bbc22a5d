//! `rankbook encode` end to end: outputs readable by pyarrow/numpy, clear errors,
//! nothing half-written.

use std::path::Path;
use std::process::Command;

use rankbook_tests::{encode_args, python, rankbook, sample_data, text};

fn encode(input: &Path, output: &Path, extra: &[&str]) -> std::process::Output {
    let args = encode_args(input, output, extra);
    rankbook(&args.iter().map(String::as_str).collect::<Vec<_>>())
}

#[test]
fn arrow_jsonl_and_npy_outputs_agree_and_pyarrow_reads_them() {
    let d = tempfile::tempdir().unwrap();
    let queries = sample_data().join("queries.jsonl");
    let arrow = d.path().join("q.arrow");
    let jsonl = d.path().join("q.jsonl");
    let npy = d.path().join("q.npy");
    for (out, extra) in [
        (&arrow, &["--batch-size", "7"][..]),
        (&jsonl, &[][..]),
        (&npy, &["--threads", "1"][..]),
    ] {
        let o = encode(&queries, out, extra);
        let (stdout, stderr) = text(&o);
        assert!(o.status.success(), "{stderr}");
        assert!(
            stdout.is_empty(),
            "data goes to files, not stdout: {stdout}"
        );
        assert!(
            stderr.contains("encoded 50 texts"),
            "summary line: {stderr}"
        );
    }
    let script = r#"
import json, sys
import numpy as np, pyarrow.ipc as ipc
t = ipc.open_file(sys.argv[1]).read_all()
assert t.schema.field("id").type == "string", t.schema
assert str(t.schema.field("embedding").type).startswith("fixed_size_list<item: float not null>[384]"), t.schema
ids = t.column("id").to_pylist()
a = np.array(t.column("embedding").to_pylist(), dtype=np.float32)
rows = [json.loads(l) for l in open(sys.argv[2])]
j = np.array([r["embedding"] for r in rows], dtype=np.float32)
n = np.load(sys.argv[3])
nids = json.load(open(sys.argv[3][:-4] + ".ids.json"))
assert ids == [r["id"] for r in rows] == nids
assert a.shape == (50, 384) and n.shape == (50, 384)
print(float(np.abs(a - j).max()), float(np.abs(a - n).max()), float(np.abs(np.linalg.norm(a, axis=1) - 1).max()))
"#;
    let o = Command::new(python())
        .args([
            "-c",
            script,
            arrow.to_str().unwrap(),
            jsonl.to_str().unwrap(),
            npy.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    let (stdout, stderr) = text(&o);
    assert!(o.status.success(), "{stderr}");
    let v: Vec<f64> = stdout
        .split_whitespace()
        .map(|x| x.parse().unwrap())
        .collect();
    // Batch size and thread count must not change the vectors beyond float noise.
    assert!(v[0] < 1e-6 && v[1] < 1e-6, "outputs differ: {v:?}");
    assert!(v[2] < 1e-5, "vectors are unit length: {v:?}");
}

#[test]
fn malformed_input_names_file_line_column_and_writes_nothing() {
    let d = tempfile::tempdir().unwrap();
    let input = d.path().join("in.jsonl");
    let out = d.path().join("out.arrow");
    std::fs::write(
        &input,
        "{\"id\": \"a\", \"text\": \"ok\"}\n{\"id\": \"b\", \"text\": oops}\n",
    )
    .unwrap();
    let o = encode(&input, &out, &[]);
    let (_, stderr) = text(&o);
    assert!(!o.status.success());
    assert!(
        stderr.contains(&format!("error: {}:2:", input.display())),
        "{stderr}"
    );
    assert!(stderr.contains("hint:"), "{stderr}");
    std::fs::write(&input, "{\"id\": \"a\", \"body\": \"x\"}\n").unwrap();
    let (_, stderr) = text(&encode(&input, &out, &[]));
    assert!(
        stderr.contains(":1: no \"text\" field (fields: body, id)"),
        "{stderr}"
    );
    assert_eq!(
        std::fs::read_dir(d.path()).unwrap().count(),
        1,
        "no output, no temp file"
    );
}

#[test]
fn empty_text_is_valid_and_unknown_extension_or_device_is_refused() {
    let d = tempfile::tempdir().unwrap();
    let input = d.path().join("in.jsonl");
    std::fs::write(&input, "{\"id\": \"e\", \"text\": \"\"}\n").unwrap();
    let ok = encode(&input, &d.path().join("e.jsonl"), &[]);
    assert!(ok.status.success(), "{}", text(&ok).1);
    let bad = encode(&input, &d.path().join("e.csv"), &[]);
    assert!(text(&bad).1.contains("unknown output extension"));
    let cuda = encode(&input, &d.path().join("e2.jsonl"), &["--device", "cuda"]);
    assert!(
        text(&cuda).1.contains("`cuda` feature"),
        "{}",
        text(&cuda).1
    );
}
