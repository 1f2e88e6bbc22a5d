//! Byte-level mutation of valid inputs, shared by the fuzz tests of the
//! readers (`stdlib/tests/fuzz_readers.rs`) and of the kernel's messages
//! (`kernel/tests/fuzz_messages.rs`).

use arbtest::arbitrary::{Result as ArbResult, Unstructured};

/// Cases per reader in CI; `scripts/fuzz.sh` runs more.
const DEFAULT_CASES: u64 = 2_000;

/// The cases per reader: RANKBOOK_FUZZ_CASES, or CI's default.
pub fn cases() -> u64 {
    std::env::var("RANKBOOK_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_CASES)
}

/// Bytes that make parsers take their unusual paths.
const SPICE: &[&[u8]] = &[
    b"\t",
    b"\n",
    b"\r\n",
    b" ",
    b"\"",
    b"\\",
    b"{",
    b"}",
    b"[",
    b"]",
    b":",
    b",",
    b"#",
    b"\0",
    b"\xff",
    b"\xc3",
    b"\xef\xbb\xbf",
    b"NaN",
    b"-1",
    b"1e999",
    b"null",
    b"0",
    b"Q0",
];

/// `seed` mutated a few times by the fuzzer's choices.
pub fn mutate(u: &mut Unstructured, seed: &[u8]) -> ArbResult<Vec<u8>> {
    let mut out = seed.to_vec();
    for _ in 0..u.int_in_range(1..=4)? {
        let at = if out.is_empty() {
            0
        } else {
            u.choose_index(out.len() + 1)?
        };
        match u.int_in_range(0..=6)? {
            0 if !out.is_empty() => {
                let i = at.min(out.len() - 1);
                out[i] ^= 1 << u.int_in_range(0..=7)?;
            }
            1 => {
                let piece = *u.choose(SPICE)?;
                out.splice(at..at, piece.iter().copied());
            }
            2 => {
                let end = (at + u.int_in_range(1..=16)?).min(out.len());
                out.drain(at.min(end)..end);
            }
            3 => out.truncate(at),
            4 => {
                // Repeat the line the cut falls in (duplicate ids, repeated docs).
                let start = out[..at.min(out.len())]
                    .iter()
                    .rposition(|b| *b == b'\n')
                    .map_or(0, |i| i + 1);
                let end = out[start..]
                    .iter()
                    .position(|b| *b == b'\n')
                    .map_or(out.len(), |i| start + i + 1);
                let line = out[start..end].to_vec();
                out.splice(end..end, line);
            }
            5 => {
                let bytes: Vec<u8> = (0..u.int_in_range(1..=8)?)
                    .map(|_| u.arbitrary::<u8>())
                    .collect::<ArbResult<_>>()?;
                out.splice(at..at, bytes);
            }
            _ => {}
        }
    }
    Ok(out)
}

/// The arbtest seed of case `case`: fixed, so a failure prints a seed that
/// reproduces it (ARBTEST_SEED) and CI sees the same cases every run. A seed
/// is the entropy's size (low 32 bits) and its random part.
pub fn case_seed(case: u64) -> u64 {
    let random = (case + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32;
    (random << 32) | (64 + case % 192)
}
