#!/usr/bin/env bash
# Installs what the tests need (models, the test venv) and runs every test.
# The faiss index types are built and tested when cmake and an OpenBLAS are
# installed (CI installs them; elsewhere: apt install cmake libopenblas-openmp-dev),
# or when RANKBOOK_FAISS=1; RANKBOOK_FAISS=0 leaves them out.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh --all

PY="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
if ! .venv/bin/python -m pip install --quiet --disable-pip-version-check -r tests/python/requirements.txt; then
  echo "test: could not install tests/python/requirements.txt into .venv" >&2
  exit 1
fi

# The browser test opens a notebook in JupyterLab in headless Chromium, which
# comes from apt (a downloaded browser build does not install here); as root the
# packages are installed, elsewhere the test says it is skipped.
if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then
  if [ "$(id -u)" = 0 ]; then
    apt-get install -y -qq --no-install-recommends chromium chromium-driver >/dev/null \
      || { apt-get update -qq && apt-get install -y -qq --no-install-recommends chromium chromium-driver >/dev/null; } \
      || echo "test: could not install chromium; the browser test will be skipped" >&2
  else
    echo "test: chromium not installed (apt-get install chromium chromium-driver); the browser test will be skipped" >&2
  fi
fi

FEATURES=()
faiss="${RANKBOOK_FAISS:-auto}"
if [ "$faiss" = auto ]; then
  if command -v cmake >/dev/null && ldconfig -p 2>/dev/null | grep -q libopenblas; then
    faiss=1
  else
    faiss=0
    echo "test: faiss index types not built (install cmake and libopenblas-openmp-dev to test them)" >&2
  fi
fi
# The LanceDB index types (535 more crates: about 40 minutes more on 2 cores)
# are built and tested only when asked: RANKBOOK_LANCEDB=1, with protoc and
# protobuf's .proto includes installed (apt install protobuf-compiler libprotobuf-dev).
lancedb="${RANKBOOK_LANCEDB:-0}"
# The Qdrant index types (a gRPC client, no system library): always built; their
# tests against a server run when QDRANT_URL points at one.
features=(rankbook-cli/qdrant rankbook-tests/qdrant)
[ "$faiss" = 1 ] && features+=(rankbook-cli/faiss rankbook-tests/faiss)
[ "$lancedb" = 1 ] && features+=(rankbook-cli/lancedb rankbook-tests/lancedb)
if [ ${#features[@]} -gt 0 ]; then
  FEATURES=(--features "$(IFS=,; echo "${features[*]}")")
fi

# The end-to-end tests run the `rankbook` binary of this same (dev) build.
cargo build --bins --locked "${FEATURES[@]}"
cargo test --workspace --locked "${FEATURES[@]}" -- --test-threads "${RANKBOOK_TEST_THREADS:-2}"
# The core without its optional dependencies (plots, hub downloads, evcxr) still builds.
cargo check -p rankbook --no-default-features --lib --locked
