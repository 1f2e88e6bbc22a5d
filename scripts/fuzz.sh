#!/usr/bin/env bash
# The readers' fuzz tests at full size: a million generated and mutated inputs
# per reader (CI runs 2,000 each). Usage: bash scripts/fuzz.sh [CASES]
set -euo pipefail
cd "$(dirname "$0")/.."
RANKBOOK_FUZZ_CASES="${1:-1000000}" cargo test --release -p rankbook --test fuzz_readers -- --nocapture --test-threads 2
