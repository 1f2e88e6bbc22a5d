//! `rankbook run` on Rhai scripts.

use rankbook_tests::{rankbook, text};

fn script(body: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("exp.rhai");
    std::fs::write(&p, body).unwrap();
    (d, p)
}

#[test]
fn hello_world_encodes_one_vector() {
    let (_d, p) = script(
        "let m = model(\"sentence-transformers/all-MiniLM-L6-v2\");\nlet e = m.encode([\"hello world\"]);\nprint(e.len());\nprint(e.dim);\n",
    );
    let o = rankbook(&["run", p.to_str().unwrap()]);
    let (stdout, stderr) = text(&o);
    assert!(o.status.success(), "{stderr}");
    assert_eq!(stdout, "1\n384\n");
}

#[test]
fn errors_point_at_file_line_and_column() {
    let (_d, p) = script("let x = 1;\nlet m = model(\"no/such-model-here\");\n");
    let o = rankbook(&["run", p.to_str().unwrap(), "--set", "unused=3"]);
    let (_, stderr) = text(&o);
    assert!(!o.status.success());
    assert!(
        stderr.contains(&format!("{}:2:9:", p.display())),
        "{stderr}"
    );
    assert!(
        stderr.contains(":2:9: in model(): model `no/such-model-here` not found"),
        "{stderr}"
    );
    assert!(
        stderr.contains("  | let m = model(\"no/such-model-here\");\n  |         ^"),
        "{stderr}"
    );
    // A Rust error inside a method call names the call and gives the cause.
    let (_d, p) = script(&format!(
        "let d = beir(\"{}\");\nlet t = trainer(#{{ loss: \"triplet\", batch_size: 4 }});\nlet m = t.fit(model(\"sentence-transformers/all-MiniLM-L6-v2\"), training_pairs(d, \"test\"));\n",
        rankbook_tests::sample_data().display()
    ));
    let (_, stderr) = text(&rankbook(&["run", p.to_str().unwrap()]));
    assert!(
        stderr.contains(":3:11: in fit(): triplet loss needs (anchor, positive, negative) triples; this dataset yields (anchor, positive) pairs"),
        "{stderr}"
    );
    let (_d, p) = script("let x = ;\n");
    let (_, stderr) = text(&rankbook(&["run", p.to_str().unwrap()]));
    assert!(
        stderr.contains(&format!("{}:1:9:", p.display())),
        "{stderr}"
    );
}

#[test]
fn set_injects_values() {
    let (_d, p) = script("print(k * 2); print(name);\n");
    let o = rankbook(&[
        "run",
        p.to_str().unwrap(),
        "--set",
        "k=21",
        "--set",
        "name=x",
    ]);
    assert_eq!(text(&o).0, "42\nx\n");
}

#[test]
fn evaluate_compare_and_fuse_from_a_script() {
    let (_d, p) = script(
        r#"
let q = load_qrels("data/scifact-sample/qrels/test.tsv");
let a = load_run("data/scifact-sample/runs/all-MiniLM-L6-v2.trec");
let f = fuse([a, a], #{method: "rrf", k: 60});
let c = compare(q, #{dense: a, fused: f}, ["RR"], #{baseline: "dense", test: "wilcoxon"});
print(c.deltas("fused", "RR").len());
print(evaluate(q, a, ["RR"], #{complete: true}).RR);
print(evaluate(q, a, ["RR"], #{compleet: true}));
"#,
    );
    let o = rankbook(&["run", p.to_str().unwrap()]);
    let (stdout, stderr) = text(&o);
    assert_eq!(stdout, "50\n0.9102222222222223\n", "{stderr}");
    assert!(
        stderr.contains("unknown option \"compleet\" (known: complete, ignore_identical_ids)"),
        "{stderr}"
    );
    assert!(stderr.contains(":8:"), "{stderr}");
}

#[test]
fn an_index_saved_from_a_script_loads_and_searches_the_same() {
    let d = tempfile::tempdir().unwrap();
    let idx = d.path().join("idx");
    let (_s, p) = script(&format!(
        r#"let ds = beir("data/scifact-sample");
let qrels = ds.qrels("test");
let queries = ds.queries(qrels);
let idx = index(model("sentence-transformers/all-MiniLM-L6-v2"), ds.corpus());
idx.save("{0}");
let again = load_index("{0}");
print(again.len());
let a = evaluate(qrels, idx.search(queries, 100), ["nDCG@10"]);
let b = evaluate(qrels, again.search(queries, 100), ["nDCG@10"]);
print(a["nDCG@10"] == b["nDCG@10"]);
print(a["nDCG@10"]);
load_index("{1}");
"#,
        idx.display(),
        d.path().display()
    ));
    let o = rankbook(&["run", p.to_str().unwrap()]);
    let (stdout, stderr) = text(&o);
    assert!(!o.status.success());
    assert!(stdout.starts_with("201\ntrue\n0.931"), "{stdout}{stderr}");
    assert!(
        stderr.contains("not a rankbook index (no manifest.json)"),
        "{stderr}"
    );
}

#[test]
fn lexical_sparse_rerank_and_mining_from_rhai() {
    let data = rankbook_tests::sample_data();
    let out = tempfile::tempdir().unwrap();
    let body = format!(
        r#"
let d = beir("{data}");
let qrels = load_qrels("{data}/qrels/test.tsv");
let q = d.queries(qrels);
let bm = bm25(d.corpus(), #{{ k1: 0.9, b: 0.4 }});
print(bm);
let run = bm.search(q, 50);
bm.save("{out}/bm25");
let again = load_index("{out}/bm25");
print(again.search(q, 50).len() == run.len());
let sp = splade("rasyosef/splade-tiny");
let t = sp.terms("The weather is lovely today.", 1);
print(t.keys()[0]);
let sparse = sp.index(d.corpus());
print(sparse);
let m = model("sentence-transformers/all-MiniLM-L6-v2");
let re = rerank(m, run, q, d.corpus(), #{{ k: 10 }});
print(re.top(q[0].id, 20).len());
let negs = mine(m, d, #{{ split: "test", depth: [2, 30], negatives: 2 }});
print(negs);
negs.save("{out}/negs.jsonl");
let x = bm25(d.corpus(), #{{ stemmer: "klingon" }});
"#,
        data = data.display(),
        out = out.path().display()
    );
    let (_d, p) = script(&body);
    let o = rankbook(&["run", p.to_str().unwrap()]);
    let (stdout, stderr) = text(&o);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines[0], "BM25 index of 201 docs", "{stdout}{stderr}");
    assert_eq!(lines[1], "true");
    assert_eq!(lines[2], "today");
    assert_eq!(lines[3], "SPLADE index of 201 docs");
    assert_eq!(lines[4], "10");
    assert!(lines[5].ends_with("(query, positive) pairs"), "{stdout}");
    assert!(out.path().join("negs.jsonl").is_file());
    // The last line fails with the analyser's own message, at its place.
    assert!(!o.status.success());
    assert!(stderr.contains("unknown stemmer `klingon`"), "{stderr}");
}

#[test]
fn repl_keeps_state_reads_multi_line_input_and_survives_errors() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let history = dir.path().join("history");
    let mut child = std::process::Command::new(rankbook_tests::rankbook_bin())
        .args(["repl", "--history", history.to_str().unwrap()])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"let x = 2;\nfn f(v) {\n  v * 21\n}\nf(x)\nnope()\nx + 1\n\"4\" + \"2\"\n")
        .unwrap();
    let o = child.wait_with_output().unwrap();
    let (stdout, stderr) = text(&o);
    assert!(o.status.success(), "{stderr}");
    // A string shows in its literal form, told apart from a number.
    assert_eq!(stdout, "42\n3\n\"42\"\n");
    assert!(
        stderr.contains("RuntimeError: Function not found: nope ()"),
        "{stderr}"
    );
    let h = std::fs::read_to_string(&history).unwrap();
    assert!(h.contains("f(x)") && h.contains("nope()"), "{h}");
}

#[test]
fn limits_stop_runaway_scripts_with_a_hint() {
    let (_d, p) = script("let n = 0;\nloop {\n  n += 1;\n}\n");
    let o = rankbook(&["run", p.to_str().unwrap(), "--max-operations", "10000"]);
    let (_, stderr) = text(&o);
    assert!(!o.status.success());
    assert!(
        stderr.contains(&format!("{}:3:8: Too many operations", p.display())),
        "{stderr}"
    );
    assert!(
        stderr.contains("hint: raise the limit with --max-operations"),
        "{stderr}"
    );
    let (_d, p) = script("fn f(x) { f(x + 1) }\nf(0)\n");
    let o = rankbook(&["run", p.to_str().unwrap(), "--max-call-depth", "20"]);
    let (_, stderr) = text(&o);
    assert!(stderr.contains("Stack overflow"), "{stderr}");
    assert!(
        stderr.contains("hint: raise the limit with --max-call-depth"),
        "{stderr}"
    );
    // The default has no operation limit but a call depth of 256.
    let (_d, p) = script("fn f(x) { if x == 0 { 0 } else { 1 + f(x - 1) } }\nprint(f(200));\n");
    assert_eq!(text(&rankbook(&["run", p.to_str().unwrap()])).0, "200\n");
}

#[test]
fn ctrl_c_stops_a_running_script_with_its_position() {
    use std::io::{BufRead, BufReader};
    let (_d, p) = script("print(\"started\");\nlet n = 0;\nloop {\n  n += 1;\n}\n");
    let mut child = std::process::Command::new(rankbook_tests::rankbook_bin())
        .args(["run", p.to_str().unwrap()])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    assert_eq!(first, "started\n");
    let kill = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let o = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success());
    assert!(
        stderr.contains("interrupted: stopping the script"),
        "{stderr}"
    );
    assert!(
        // Where the script was when the signal came: after the print.
        [2, 3, 4]
            .iter()
            .any(|l| stderr.contains(&format!("{}:{l}:", p.display())))
            && stderr.contains(": interrupted"),
        "{stderr}"
    );
}

#[test]
fn datasets_runs_and_qrels_iterate_sample_filter_and_save() {
    let data = rankbook_tests::sample_data();
    let out = tempfile::tempdir().unwrap();
    let body = format!(
        r#"
let d = beir("{data}");
let qrels = d.qrels("test");
let n = 0;
for q in d.queries(qrels) {{ n += q.text.len(); }}
print(n);
let pairs = training_pairs(d, "test");
print(pairs[0].anchor);
print(pairs.sample(3, 7).len() == 3 && pairs.sample(3, 7)[0].anchor == pairs.sample(3, 7)[0].anchor);
let k = 0;
for p in pairs {{ if p.negatives.len() == 0 {{ k += 1; }} }}
print(k);
let run = load_run("{data}/runs/all-MiniLM-L6-v2.trec");
let ids = qrels.query_ids().extract(0, 2);
print(ids);
let small = run.filter(ids).cut(3);
print(small.len());
print(small.top(ids[0], 10).len());
qrels.filter(ids).save("{out}/q.txt");
print(losses()["triplet"]);
print(cache_info().dir);
"#,
        data = data.display(),
        out = out.path().display()
    );
    let (_d, p) = script(&body);
    let o = rankbook(&["run", p.to_str().unwrap()]);
    let (stdout, stderr) = text(&o);
    assert!(o.status.success(), "{stderr}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        lines[1],
        "0-dimensional biomaterials show inductive properties."
    );
    assert_eq!(lines[2], "true");
    assert_eq!(lines[3], "60"); // one pair per judgement of the 60 in qrels/test.tsv
    assert_eq!(lines[4], "[\"1\", \"100\"]");
    assert_eq!(lines[5], "2");
    assert_eq!(lines[6], "3");
    assert_eq!(lines[7], "(anchor, positive, negative) triples");
    // The cache the bindings use: $RANKBOOK_CACHE_DIR, as the tests set it.
    assert_eq!(
        lines[8],
        rankbook_tests::test_cache_dir().display().to_string()
    );
    let saved = std::fs::read_to_string(out.path().join("q.txt")).unwrap();
    assert!(saved.starts_with("1 0 31715818 1\n"), "{saved}");
    // Iteration visits every query: the summed lengths (in characters) of the 50 texts.
    let want: usize = std::fs::read_to_string(data.join("queries.jsonl"))
        .unwrap()
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            v["text"].as_str().unwrap().chars().count()
        })
        .sum();
    assert_eq!(lines[0], want.to_string());
}
