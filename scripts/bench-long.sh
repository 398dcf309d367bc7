#!/usr/bin/env bash
# Long articles, read from their excerpts (the default) beside map-reduce (`--long
# map-reduce`, the way before), with the default model: per article, its words,
# seconds (model load included), peak RSS, prompt tokens read, and which fifths of
# the article the summary's cited sources come from; then the summaries side by
# side. The texts come from package registries (scripts/lib/long-corpus.sh).
#
#   THREADS (2)  MODEL (default)  MAPREDUCE (1: also run map-reduce; its outputs
#   are kept in WORK keyed by the binary, so a second run reuses them)
#   ONLY (a regex of ids to run)  MR_ONLY (a regex of ids map-reduce runs on: it
#   takes minutes an article)
set -euo pipefail
cd "$(dirname "$0")/.."

THREADS=${THREADS:-2}
MODEL=${MODEL:-default}
MAPREDUCE=${MAPREDUCE:-1}
ONLY=${ONLY:-.}
MR_ONLY=${MR_ONLY:-.}
work=${WORK:-target/bench-long}
mkdir -p "$work/out"

. scripts/lib/long-corpus.sh
long_corpus "$work"

cargo build --release --quiet
bin=target/release/abridge
# Outputs are reused only for the same binary, model and threads; the prefix store
# is off so every run reads its prompt heads (times comparable from run to run).
key=$( (sha256sum "$bin"; echo "$MODEL $THREADS") | sha256sum | cut -c1-12)
export ABRIDGE_PREFIX_STORE=0

echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | xargs), family $(grep -m1 'cpu family' /proc/cpuinfo | cut -d: -f2 | xargs) model $(grep -m1 '^model' /proc/cpuinfo | cut -d: -f2 | xargs), flags: $(grep -m1 flags /proc/cpuinfo | tr ' ' '\n' | grep -E '^(avx2|fma|f16c|avx512f|avx512_vnni|amx_int8)$' | xargs), threads $THREADS, model $MODEL" >&2

modes=(excerpts)
[ "$MAPREDUCE" = 1 ] && modes+=(map-reduce)
for f in "$work"/long/*.txt; do
  id=$(basename "$f" .txt)
  [[ $id =~ $ONLY ]] || continue
  for mode in "${modes[@]}"; do
    [[ $mode == map-reduce && ! $id =~ $MR_ONLY ]] && continue
    out="$work/out/$id.$mode.$key.json"
    [ -s "$out" ] && continue
    /usr/bin/time -f "%e %M" -o "$out.time" \
      "$bin" --threads "$THREADS" -q summarize --json --long "$mode" --model "$MODEL" "$f" \
      > "$out.tmp" 2> "$out.err" || { echo "$id $mode failed: $(tail -1 "$out.err")" >&2; continue; }
    mv "$out.tmp" "$out"
  done
done

python3 - "$work" "$key" "${modes[@]}" <<'PY'
import json, os, sys, textwrap
work, key, modes = sys.argv[1], sys.argv[2], sys.argv[3:]
rows, texts = [], {}
for name in sorted(os.listdir(f"{work}/long")):
    id = name[:-4]
    words = len(open(f"{work}/long/{name}").read().split())
    for mode in modes:
        out = f"{work}/out/{id}.{mode}.{key}.json"
        if not os.path.exists(out):
            continue
        r = json.load(open(out))
        secs, rss = open(out + ".time").read().split()[-2:]
        total = r.get("article_sentences") or 1
        cited = sorted({s["n"] for x in r["support"] for s in x["sources"]})
        fifths = sorted({min(4, 5 * (n - 1) // total) + 1 for n in cited})
        rows.append((id, words, mode, float(secs), int(rss) // 1024, r["tokens_in"], fifths, len(r["support"])))
        texts[(id, mode)] = r["summary"]
print(f"{'article':<28} {'words':>6} {'mode':<10} {'s':>7} {'RSS MB':>7} {'read':>6}  fifths cited (of 5)")
for id, words, mode, secs, rss, tin, fifths, n in rows:
    print(f"{id:<28} {words:>6} {mode:<10} {secs:>7.1f} {rss:>7} {tin:>6}  {len(fifths)}: {fifths}")
print()
for (id, mode), summary in texts.items():
    print(f"## {id} ({mode})")
    print(textwrap.fill(summary, 100))
    print()
PY
