#!/usr/bin/env bash
# Installs what the tests need (models, the test venv) and runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh

PY="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
if ! .venv/bin/python -m pip install --quiet --disable-pip-version-check -r tests/python/requirements.txt; then
  echo "test: could not install tests/python/requirements.txt into .venv" >&2
  exit 1
fi

# The end-to-end tests run the `rankbook` binary of this same (dev) build.
cargo build --bins --locked
cargo test --workspace --locked -- --test-threads "${RANKBOOK_TEST_THREADS:-2}"
