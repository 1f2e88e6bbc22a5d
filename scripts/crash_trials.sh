#!/usr/bin/env bash
# The crash-consistency and concurrency trials at full size: 200 SIGKILLs per
# artefact kind, the kernel's included (CI runs 4) and 50 rounds of racing index commands (CI runs 5).
# Usage: bash scripts/crash_trials.sh [KILLS] [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --bins
RANKBOOK_KILL_TRIALS="${1:-200}" RANKBOOK_RACE_ROUNDS="${2:-50}" \
  cargo test -p rankbook-tests --test crash_trials --test concurrent_writers -- --nocapture --test-threads 1
# The kernel killed while a cell writes an index.
RANKBOOK_KILL_TRIALS="${1:-200}" \
  cargo test -p rankbook-tests --test kernel_soak a_killed_kernel -- --nocapture
