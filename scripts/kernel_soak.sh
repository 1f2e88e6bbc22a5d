#!/usr/bin/env bash
# The kernel soak at full size: 10,000 cells, 100 interrupts at random
# moments, 20 failing cells, 5 reconnects (CI runs 600 cells, 5 interrupts).
# Prints the summary (counts, RSS curve). Needs the test venv (scripts/test.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --bins
SOAK_CELLS="${1:-10000}" SOAK_INTERRUPTS="${2:-100}" SOAK_FAILING=20 SOAK_RECONNECTS=5 \
  cargo test -p rankbook-tests --test kernel_soak -- --nocapture
