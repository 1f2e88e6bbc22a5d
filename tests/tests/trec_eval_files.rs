//! `rankbook eval` on files with trec_eval's quirks: fields after the run tag,
//! `#` comment lines in qrels, `#` inside doc ids, graded qrels read at a
//! relevance level. The generated files here are checked against pytrec_eval
//! on clean copies; trec_eval's own test files (`test/` of its repository, given
//! by TREC_EVAL_TEST_DIR) are checked against its expected outputs.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::Path;

use rankbook_tests::{pytrec_eval_values, rankbook, text};

/// trec_eval's measure names and rankbook's for them (relevance level aside).
fn rankbook_name(trec: &str) -> Option<String> {
    let fixed = [
        ("num_q", "NumQ"),
        ("num_ret", "NumRet"),
        ("num_rel", "NumRel"),
        ("num_rel_ret", "NumRelRet"),
        ("map", "AP"),
        ("gm_map", "gm_map"),
        ("Rprec", "Rprec"),
        ("bpref", "Bpref"),
        ("recip_rank", "RR"),
        ("infAP", "infAP"),
        ("11pt_avg", "11pt_avg"),
        ("ndcg", "nDCG"),
        ("set_P", "SetP"),
        ("set_recall", "SetR"),
        ("set_map", "SetAP"),
        ("set_F", "SetF"),
        // trec_eval's rbp has p = 0.9 by default.
        ("rbp", "RBP(p=0.9)"),
    ];
    if let Some((_, ours)) = fixed.iter().find(|(t, _)| *t == trec) {
        return Some(ours.to_string());
    }
    if trec.starts_with("Rprec_mult_") {
        return Some(trec.to_string());
    }
    let cut = [
        ("iprec_at_recall_", "IPrec@"),
        ("P_", "P@"),
        ("recall_", "R@"),
        ("ndcg_cut_", "nDCG@"),
        ("map_cut_", "AP@"),
        ("success_", "Success@"),
    ];
    cut.iter().find_map(|(prefix, ours)| {
        let k = trec.strip_prefix(prefix)?;
        let k: f64 = k.parse().ok()?;
        Some(format!("{ours}{k}"))
    })
}

/// At relevance level 2 (trec_eval -l2), rankbook writes `(rel=2)`.
fn at_level(name: &str, level: i32) -> String {
    // nDCG and trec_eval's rbp use the grades, not the level.
    if level == 1
        || name.starts_with("nDCG")
        || name.starts_with("RBP")
        || name == "NumRet"
        || name == "NumQ"
    {
        return name.to_string();
    }
    let (head, cut) = match name.split_once('@') {
        Some((h, c)) => (h, format!("@{c}")),
        None => (name, String::new()),
    };
    match head.strip_suffix(')') {
        Some(open) => format!("{open},rel={level}){cut}"),
        None => format!("{head}(rel={level}){cut}"),
    }
}

/// trec_eval -q output: (measure, qid) -> value, for the measures rankbook has.
fn expected(out: &str, level: i32) -> BTreeMap<(String, String), f64> {
    out.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let name = at_level(&rankbook_name(f.first()?)?, level);
            Some(((name, f[1].to_string()), f[2].parse().ok()?))
        })
        .collect()
}

/// rankbook eval --json: (measure, qid or "all") -> value.
fn evaluated(
    qrels: &Path,
    run: &Path,
    measures: &[String],
    extra: &[&str],
) -> BTreeMap<(String, String), f64> {
    let list = measures.join(",");
    let mut args = vec![
        "eval",
        "--qrels",
        qrels.to_str().unwrap(),
        "--run",
        run.to_str().unwrap(),
        "--measures",
        &list,
        "--json",
    ];
    args.extend(extra);
    let o = rankbook(&args);
    let (stdout, stderr) = text(&o);
    assert!(o.status.success(), "{stderr}");
    let json: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let mut out = BTreeMap::new();
    for (m, v) in json["measures"].as_object().unwrap() {
        out.insert((m.clone(), "all".to_string()), v.as_f64().unwrap());
    }
    for (q, vals) in json["per_query"].as_object().unwrap() {
        for (m, v) in vals.as_object().unwrap() {
            out.insert((m.clone(), q.clone()), v.as_f64().unwrap());
        }
    }
    out
}

/// Every value trec_eval printed (4 decimals) equals rankbook's; returns how
/// many were compared.
fn same_as_trec_eval(
    dir: &Path,
    qrels: &str,
    run: &str,
    out: &str,
    level: i32,
    extra: &[&str],
) -> usize {
    let want = expected(&std::fs::read_to_string(dir.join(out)).unwrap(), level);
    let measures: Vec<String> = want
        .keys()
        .map(|(m, _)| m.clone())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    let got = evaluated(&dir.join(qrels), &dir.join(run), &measures, extra);
    for ((m, q), w) in &want {
        let g = got
            .get(&(m.clone(), q.clone()))
            .unwrap_or_else(|| panic!("{out}: rankbook has no {m} for {q}"));
        assert!(
            (g - w).abs() <= 0.5e-4 + 1e-9,
            "{out}: {m} for {q}: rankbook {g:.6}, trec_eval {w}"
        );
    }
    want.len()
}

#[test]
fn trec_eval_test_files_give_trec_eval_values() {
    let Some(dir) = std::env::var_os("TREC_EVAL_TEST_DIR") else {
        eprintln!(
            "skipped: TREC_EVAL_TEST_DIR not set (point it at the test/ folder of a trec_eval checkout)"
        );
        return;
    };
    let dir = Path::new(&dir);
    let mut n = 0;
    n += same_as_trec_eval(dir, "qrels.test", "results.test", "out.test.aq", 1, &[]);
    n += same_as_trec_eval(dir, "qrels.test", "results.test", "out.test", 1, &[]);
    n += same_as_trec_eval(
        dir,
        "qrels.test.with-comments",
        "results.test",
        "out.test",
        1,
        &[],
    );
    n += same_as_trec_eval(
        dir,
        "qrels.comment.test",
        "results.comment.test",
        "out.comment.test",
        1,
        &[],
    );
    n += same_as_trec_eval(
        dir,
        "qrels.test",
        "results.trunc",
        "out.test.aqc",
        1,
        &["--complete"],
    );
    n += same_as_trec_eval(
        dir,
        "qrels.rel_level",
        "results.test",
        "out.test.aql",
        2,
        &[],
    );
    eprintln!("{n} trec_eval values equal");
    assert!(n > 900, "{n}");
}

#[test]
fn files_with_trec_eval_quirks_evaluate_as_their_clean_copies() {
    let dir = tempfile::tempdir().unwrap();
    let p = |n: &str| dir.path().join(n);
    // Graded qrels with a comment line first, `#` inside ids and a negative grade;
    // a run with junk after the tag on some lines and tied scores.
    let (mut qrels, mut clean_qrels) = ("# judged by hand\n".to_string(), String::new());
    let (mut run, mut clean_run) = (String::new(), String::new());
    for q in 1..=6 {
        for d in 0..12 {
            let grade = (q * 7 + d * 3) % 5 - 1;
            if (q + d) % 3 != 0 {
                let line = format!("{q} 0 doc#{d}_{q} {grade}\n");
                qrels.push_str(&line);
                clean_qrels.push_str(&line);
            }
            if q == 3 && d == 5 {
                qrels.push_str("# a comment between judgements\n");
            }
        }
        for r in 0..(4 + q * 3) {
            let d = (r * 5 + q) % 15;
            if run.contains(&format!("{q} Q0 doc#{d}_{q} ")) {
                continue;
            }
            let score = ((r * 13 + q) % 7) as f64 / 2.0;
            let line = format!("{q} Q0 doc#{d}_{q} {r} {score} tag");
            let _ = writeln!(clean_run, "{line}");
            let junk = if r % 4 == 1 { " more junk at end" } else { "" };
            let _ = writeln!(run, "{line}{junk}");
        }
    }
    std::fs::write(p("qrels"), &qrels).unwrap();
    std::fs::write(p("run"), &run).unwrap();
    std::fs::write(p("clean.qrels"), &clean_qrels).unwrap();
    std::fs::write(p("clean.run"), &clean_run).unwrap();
    let want = pytrec_eval_values(&p("clean.qrels"), &p("clean.run"));
    let measures: Vec<String> = want.keys().cloned().collect();
    let got = evaluated(&p("qrels"), &p("run"), &measures, &[]);
    let mut compared = 0;
    for (m, per_query) in &want {
        for (q, w) in per_query {
            let g = got[&(m.clone(), q.clone())];
            let tolerance = if m.starts_with("ERR") {
                5.000001e-6
            } else {
                1e-9
            };
            assert!((g - w).abs() <= tolerance, "{m} {q}: {g} != {w}");
            compared += 1;
        }
    }
    assert!(compared > 150, "{compared}");
    // Malformed lines are still refused with file:line.
    std::fs::write(p("bad.run"), "1 Q0 a 1 0.5\n").unwrap();
    let o = rankbook(&[
        "eval",
        "--qrels",
        p("qrels").to_str().unwrap(),
        "--run",
        p("bad.run").to_str().unwrap(),
    ]);
    let (_, stderr) = text(&o);
    assert!(
        stderr.contains("bad.run:1: expected 6 columns (qid Q0 docid rank score tag), found 5"),
        "{stderr}"
    );
}
