# shellcheck shell=bash
# Sourced by the benchmarks: lee_jsonl WORK N writes WORK/lee.jsonl, the first N
# articles of the Lee background corpus (news, one per line) from gensim's wheel
# on PyPI, fetched once into WORK.
lee_jsonl() {
  local work=$1 n=$2
  local corpus="$work/lee_background.cor"
  if [ ! -s "$corpus" ]; then
    echo "fetching the Lee corpus from the gensim wheel (PyPI)" >&2
    rm -rf "$work/wheel" && mkdir -p "$work/wheel"
    pip download --quiet --no-deps --only-binary :all: --python-version 3.11 \
      --platform manylinux_2_17_x86_64 gensim==4.3.3 -d "$work/wheel" >&2
    unzip -q -o -j "$work"/wheel/gensim-*.whl 'gensim/test/test_data/lee_background.cor' -d "$work"
    rm -rf "$work/wheel"
  fi
  python3 - "$corpus" "$n" > "$work/lee.jsonl" <<'PY'
import json, sys
lines = [l.strip() for l in open(sys.argv[1], encoding="utf-8", errors="replace") if l.strip()]
for i, text in enumerate(lines[: int(sys.argv[2])]):
    print(json.dumps({"id": f"lee-{i + 1:03d}", "text": text}))
PY
}
