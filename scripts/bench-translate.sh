#!/usr/bin/env bash
# Translations, this tree against a base build, side by side in one run: the
# summaries of N_LEE Lee background articles and N_NEWS held-out news articles
# (scripts/lib/news-corpus.sh), each translated into every language of LANGS by
# `abridge translate --json` with both binaries, alternating which goes first so
# drift hits both. Prints, per binary and language: translations published,
# sentences published marked [doubtful], whether every published one kept its
# numbers and language, the mean round-trip meaning score, failure reasons, and
# seconds per translation (model load included, the same for both), with the ratio.
#
#   N_LEE (10)  N_NEWS (10)  LANGS (fr,de,es)  THREADS (2)
#   BASE (3a9f099: main before sentence-by-sentence translation) or BASE_BIN (a binary)
#   SUMMARIES (a digest manifest.jsonl whose summaries to reuse, else they are made)
set -euo pipefail
cd "$(dirname "$0")/.."

N_LEE=${N_LEE:-10}
N_NEWS=${N_NEWS:-10}
LANGS=${LANGS:-fr,de,es}
THREADS=${THREADS:-2}
BASE=${BASE:-3a9f099}
work=${WORK:-target/bench-translate}
mkdir -p "$work"

. scripts/lib/lee-corpus.sh
. scripts/lib/news-corpus.sh
lee_jsonl "$work" "$N_LEE"
news_jsonl "$work"
head -n "$N_NEWS" "$work/news.jsonl" | cat "$work/lee.jsonl" - > "$work/corpus.jsonl"

cargo build --release --quiet
cp target/release/abridge "$work/abridge-new"
if [ -n "${BASE_BIN:-}" ]; then
  cp "$BASE_BIN" "$work/abridge-base"
elif [ ! -x "$work/abridge-base-$BASE" ]; then
  # A worktree at BASE, built natively like this tree (no ISA flags forced).
  rm -rf "$work/base-src"
  git worktree add --force --detach "$work/base-src" "$BASE" >&2
  cargo build --release --quiet --manifest-path "$work/base-src/Cargo.toml" \
    --target-dir "$work/base-target"
  cp "$work/base-target/release/abridge" "$work/abridge-base-$BASE"
  git worktree remove --force "$work/base-src"
fi
[ -n "${BASE_BIN:-}" ] || cp "$work/abridge-base-$BASE" "$work/abridge-base"

# The English to translate: each article's summary (this tree's, unless given).
if [ -z "${SUMMARIES:-}" ]; then
  "$work/abridge-new" --threads "$THREADS" -q digest "$work/corpus.jsonl" --out "$work/summaries" || true
  SUMMARIES="$work/summaries/manifest.jsonl"
fi
rm -rf "$work/sums" && mkdir -p "$work/sums"
python3 - "$work/corpus.jsonl" "$SUMMARIES" "$work/sums" <<'PY'
import json, sys
ids = [json.loads(l)["id"] for l in open(sys.argv[1])]
sums = {}
for l in open(sys.argv[2]):
    e = json.loads(l)
    if e.get("status") == "ok" and e.get("summary"):
        sums[e["id"]] = e["summary"]
for i in ids:
    if i in sums:
        open(f"{sys.argv[3]}/{i}.txt", "w").write(sums[i] + "\n")
    else:
        print(f"no summary for {i}: left out", file=sys.stderr)
PY

echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | xargs), family $(grep -m1 'cpu family' /proc/cpuinfo | cut -d: -f2 | xargs) model $(grep -m1 '^model' /proc/cpuinfo | cut -d: -f2 | xargs), flags: $(grep -m1 flags /proc/cpuinfo | tr ' ' '\n' | grep -E '^(avx2|fma|f16c|avx512f|avx512_vnni|amx_int8)$' | xargs), threads $THREADS" >&2
records="$work/records.jsonl"
: > "$records"
run() { # BIN LABEL FILE LANG
  local start end out
  start=$(date +%s.%N)
  out=$("$work/abridge-$1" --threads "$THREADS" -q translate "$3" --to "$4" --json 2>/dev/null || true)
  end=$(date +%s.%N)
  python3 -c 'import json,sys; r=json.loads(sys.argv[1] or "{}"); r.update(bin=sys.argv[2], id=sys.argv[3], lang=sys.argv[4], seconds=float(sys.argv[6])-float(sys.argv[5])); print(json.dumps(r, ensure_ascii=False))' \
    "$out" "$1" "$(basename "$3" .txt)" "$4" "$start" "$end" >> "$records"
}
i=0
for f in "$work"/sums/*.txt; do
  for lang in ${LANGS//,/ }; do
    if [ $((i % 2)) -eq 0 ]; then run new new "$f" "$lang"; run base base "$f" "$lang"
    else run base base "$f" "$lang"; run new new "$f" "$lang"; fi
    i=$((i + 1))
  done
done
python3 scripts/lib/translation_stats.py "$records" "$LANGS"
