# Shared by the bench wrappers (sourced). With RANKBOOK_BENCH_SMOKE=1 (CI's
# smoke run) a bench runs at a tiny size on the repo's sample with the dev
# build and the test venv, and leaves out the Python peers it cannot install
# there, so that a broken bench fails CI; otherwise it builds in release and
# uses the peer venvs.

smoke() { [ "${RANKBOOK_BENCH_SMOKE:-0}" = 1 ]; }

# Builds the binary (release), or points RANKBOOK_BIN at the dev build in smoke mode.
bench_build() {
  if smoke; then
    export RANKBOOK_BIN="${RANKBOOK_BIN:-$PWD/target/debug/rankbook}"
    export RANKBOOK_KERNEL_BIN="${RANKBOOK_KERNEL_BIN:-$PWD/target/debug/rankbook-kernel}"
  else
    cargo build --release "$@"
  fi
}

# The Python to run a bench with: $2 (a venv made by $1, a set-up command run
# when it is missing), or the test venv in smoke mode.
bench_python() {
  if smoke; then
    echo "${SMOKE_PYTHON:-$PWD/.venv/bin/python}"
  else
    [ -x "$2" ] || eval "$1" >&2
    echo "$2"
  fi
}

# Runs a ColBERT bench (bench/$1) with PyLate's venv (made by the peer's
# colbert-setup; PYLATE_PYTHON points at another one) and the binary.
run_pylate_bench() {
  local peer="${RANKBOOK_PEER:-../shared/peer}" py
  py=$(bench_python "bash $peer/run_all.sh colbert-setup" "${PYLATE_PYTHON:-/tmp/peer/pylate-venv/bin/python}")
  export PYLATE_PYTHON="$py"
  smoke || bash scripts/setup.sh
  bench_build --bin rankbook
  "$py" "bench/$1"
}
