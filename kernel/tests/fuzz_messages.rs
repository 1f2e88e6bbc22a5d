//! Fuzzing what the kernel reads from a client: the frames of shell requests
//! (each JSON part byte-mutated, re-signed so the mutation reaches the
//! parsers, or left with its old signature; frames dropped or repeated) and
//! the interpreter's answers to whatever those requests may carry (code,
//! cursor positions past the end or inside a character, history bounds).
//! No panic; a message whose signed parts changed without a new signature
//! is refused. RANKBOOK_FUZZ_CASES sets the cases (CI: the default).

#[path = "../../stdlib/tests/support/mutate.rs"]
mod mutate;

use arbtest::arbitrary::Unstructured;
use bytes::Bytes;
use mutate::{case_seed, cases, mutate};
use rankbook_kernel::interpreter::Interpreter;
use rankbook_kernel::wire::decode;
use ring::hmac;

/// Valid requests of every shell type the kernel answers: (type, content).
const REQUESTS: &[(&str, &str)] = &[
    (
        "execute_request",
        r#"{"code": "let x = 1 + 2;\nx", "silent": false, "store_history": true, "user_expressions": {}, "allow_stdin": false, "stop_on_error": true}"#,
    ),
    ("kernel_info_request", "{}"),
    ("complete_request", r#"{"code": "model(", "cursor_pos": 6}"#),
    (
        "inspect_request",
        r#"{"code": "search", "cursor_pos": 3, "detail_level": 0}"#,
    ),
    ("is_complete_request", r#"{"code": "let a = ["}"#),
    (
        "history_request",
        r#"{"output": false, "raw": true, "hist_access_type": "tail", "n": 10}"#,
    ),
    (
        "history_request",
        r#"{"hist_access_type": "range", "session": 0, "start": 1, "stop": 3}"#,
    ),
    (
        "history_request",
        r#"{"hist_access_type": "search", "pattern": "x*"}"#,
    ),
    ("comm_info_request", r#"{"target_name": "x"}"#),
    ("shutdown_request", r#"{"restart": false}"#),
];

fn header(msg_type: &str) -> String {
    format!(
        r#"{{"msg_id": "m1", "username": "u", "session": "s1", "date": "2026-12-05T12:00:00Z", "msg_type": "{msg_type}", "version": "5.3"}}"#
    )
}

fn sign(key: &hmac::Key, jparts: &[Vec<u8>]) -> Vec<u8> {
    let mut ctx = hmac::Context::with_key(key);
    jparts[..4].iter().for_each(|p| ctx.update(p));
    hex::encode(ctx.sign().as_ref()).into_bytes()
}

fn frames(identity: &[u8], signature: Vec<u8>, jparts: Vec<Vec<u8>>) -> Vec<Bytes> {
    let mut parts = vec![
        Bytes::copy_from_slice(identity),
        Bytes::from_static(b"<IDS|MSG>"),
        signature.into(),
    ];
    parts.extend(jparts.into_iter().map(Bytes::from));
    parts
}

#[test]
fn shell_frames() {
    let key = hmac::Key::new(hmac::HMAC_SHA256, b"a-secret-key");
    let (mut decoded, mut refused) = (0u64, 0u64);
    // Every valid request decodes.
    for (msg_type, content) in REQUESTS {
        let jparts = vec![
            header(msg_type).into_bytes(),
            b"{}".to_vec(),
            b"{}".to_vec(),
            content.as_bytes().to_vec(),
        ];
        let parts = frames(b"client", sign(&key, &jparts), jparts);
        if let Err(e) = decode(Some(&key), parts) {
            panic!("{msg_type}: a valid request is refused: {e}");
        }
    }
    for case in 0..cases() {
        arbtest::arbtest(|u: &mut Unstructured| {
            let (msg_type, content) = *u.choose(REQUESTS)?;
            let mut jparts = vec![
                header(msg_type).into_bytes(),
                b"{}".to_vec(),
                b"{}".to_vec(),
                content.as_bytes().to_vec(),
            ];
            let part = u.choose_index(4)?;
            let before = jparts[part].clone();
            jparts[part] = mutate(u, &jparts[part])?;
            let resign = u.ratio(4, 5)?;
            let signature = if resign {
                sign(&key, &jparts)
            } else {
                let mut old = jparts.clone();
                old[part] = before.clone();
                sign(&key, &old)
            };
            let mut parts = frames(b"client", signature, jparts.clone());
            // Sometimes the framing itself is damaged.
            match u.int_in_range(0..=5)? {
                0 => {
                    let i = u.choose_index(parts.len())?;
                    parts.remove(i);
                }
                1 => {
                    let i = u.choose_index(parts.len())?;
                    parts.insert(i, parts[i].clone());
                }
                2 => parts.push(Bytes::from(mutate(u, b"a buffer")?)),
                _ => {}
            }
            // The signature covers the four parts after it: when those are
            // not the ones it was made for, the message must be refused.
            let signed_now: Option<Vec<Bytes>> = parts
                .iter()
                .position(|p| p.as_ref() == b"<IDS|MSG>")
                .and_then(|at| parts.get(at + 2..at + 6))
                .map(<[Bytes]>::to_vec);
            let mut signed_for = jparts.clone();
            if !resign {
                signed_for[part] = before.clone();
            }
            let tampered = signed_now.is_some_and(|now| now != signed_for);
            let result = decode(Some(&key), parts);
            if tampered {
                assert!(
                    result.is_err(),
                    "{msg_type}: parts changed after signing were accepted"
                );
            }
            match result {
                Ok(_) => decoded += 1,
                Err(_) => refused += 1,
            }
            Ok(())
        })
        .seed(case_seed(case))
        .run();
    }
    eprintln!(
        "shell frames: {} cases, {decoded} decoded, {refused} refused, 0 panics",
        cases()
    );
}

/// The interpreter's answers to completion, inspection, completeness and
/// history requests with arbitrary code and positions; each case also runs
/// a cell, so the history grows and some cells fail.
#[test]
fn interpreter_requests() {
    let mut interp = Interpreter::default();
    let seeds: &[&[u8]] = &[
        b"let x = 1 + 2;\nx",
        b"model(\"sentence-transformers/all-MiniLM-L6-v2\").enc",
        b"let r = [1, 2, \"\xc3\xa9t\xc3\xa9\"];\nr.len()",
        b"fn f(a) { a * 2 }\nf(",
        b"search",
    ];
    let cases = (cases() / 4).max(1);
    for case in 0..cases {
        arbtest::arbtest(|u| {
            let seed = *u.choose(seeds)?;
            let code = String::from_utf8_lossy(&mutate(u, seed)?).into_owned();
            let chars = code.chars().count();
            let cursor = u.int_in_range(0..=chars + 3)?;
            interp.complete(&code, cursor);
            interp.inspect(&code, cursor);
            interp.is_complete(&code);
            let n: i64 = u.int_in_range(-5..=50)?;
            interp.history_tail(n.max(0) as usize);
            interp.history_range(n, u.int_in_range(-5..=50)?);
            interp.history_search(&code, n.max(0) as usize, u.arbitrary()?);
            // Cells that loop forever are left out: an interrupt stops those
            // (tests/kernel_protocol.rs).
            if !code.contains("loop") && !code.contains("while") {
                interp.execute(&code, u.arbitrary()?, true);
            }
            Ok(())
        })
        .seed(case_seed(case))
        .run();
    }
    eprintln!("interpreter requests: {cases} cases, 0 panics");
}
