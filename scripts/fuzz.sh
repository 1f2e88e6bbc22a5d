#!/usr/bin/env bash
# The fuzz tests at full size: a million generated and mutated inputs per
# reader (model folders and index manifests a tenth of that, the interpreter's
# requests a quarter), and as many shell messages for the kernel. CI runs
# 2,000 each. Usage: bash scripts/fuzz.sh [CASES]
set -euo pipefail
cd "$(dirname "$0")/.."
export RANKBOOK_FUZZ_CASES="${1:-1000000}"
cargo test --release -p rankbook --test fuzz_readers -- --nocapture --test-threads 2
cargo test --release -p rankbook-kernel --test fuzz_messages -- --nocapture --test-threads 2
