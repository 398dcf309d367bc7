#!/usr/bin/env bash
# The HTML reader on Scrapinghub's article-extraction-benchmark (181 real article
# pages with hand-checked bodies, MIT): `abridge read` on every page, scored by the
# benchmark's own evaluate.py (F1, precision and recall on word shingles) next to
# the published outputs of trafilatura, rs-trafilatura, Readability.js,
# dom_smoothie and html-text, with pages per second and the pages refused.
#
#   BENCH (../shared/benchmarks/article-extraction-benchmark)
#   BASE_BIN (a second abridge binary, e.g. an older main, timed side by side)
#   RUNS (3: timed runs per binary, alternating; the best is reported)
set -euo pipefail
cd "$(dirname "$0")/.."

BENCH=${BENCH:-../shared/benchmarks/article-extraction-benchmark}
RUNS=${RUNS:-3}
work=${WORK:-target/bench-reader}
[ -f "$BENCH/ground-truth.json" ] || {
  echo "bench-reader: no benchmark at $BENCH (set BENCH to the article-extraction-benchmark folder)" >&2
  exit 2
}
mkdir -p "$work/pages" "$work/eval/output"

# Pages as files the reader takes (`<id>.html`), once.
if [ "$(ls "$work/pages" | wc -l)" -ne "$(ls "$BENCH/html" | wc -l)" ]; then
  for f in "$BENCH"/html/*.html.gz; do
    gunzip -c "$f" > "$work/pages/$(basename "$f" .gz)"
  done
fi

cargo build --release --quiet
cp target/release/abridge "$work/abridge-new"
bins=(new)
if [ -n "${BASE_BIN:-}" ]; then
  cp "$BASE_BIN" "$work/abridge-base"
  bins+=(base)
fi

echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | xargs), family $(grep -m1 'cpu family' /proc/cpuinfo | cut -d: -f2 | xargs) model $(grep -m1 '^model' /proc/cpuinfo | cut -d: -f2 | xargs), $(ls "$work/pages" | wc -l) pages" >&2
declare -A best
for run in $(seq "$RUNS"); do
  for b in "${bins[@]}"; do
    start=$(date +%s.%N)
    "$work/abridge-$b" -q read "$work/pages" > "$work/read-$b.jsonl"
    end=$(date +%s.%N)
    t=$(python3 -c "print(f'{$end - $start:.3f}')")
    if [ -z "${best[$b]:-}" ] || python3 -c "import sys; sys.exit(0 if $t < ${best[$b]} else 1)"; then
      best[$b]=$t
    fi
  done
done

rm -f "$work"/eval/output/abridge-*.json
cp "$BENCH/evaluate.py" "$BENCH/ground-truth.json" "$work/eval/"
cp "$BENCH"/output/*.json "$work/eval/output/"
for b in "${bins[@]}"; do
  python3 - "$work/read-$b.jsonl" "$work/eval/output/abridge-$b.json" "$BENCH/ground-truth.json" <<'PY'
import json, sys
truth = json.load(open(sys.argv[3]))
out, refused = {}, []
for line in open(sys.argv[1]):
    r = json.loads(line)
    if "rejected" in r:
        refused.append(f"{r['id']}: {r['rejected']}")
    else:
        out[r["id"]] = {"articleBody": r.get("text", "")}
for key in truth:
    out.setdefault(key, {"articleBody": ""})
json.dump({"version": "abridge", "output": out}, open(sys.argv[2], "w"))
print(f"{sys.argv[2]}: {len(refused)} pages refused", file=sys.stderr)
for r in refused:
    print(f"  refused {r}", file=sys.stderr)
PY
done
(cd "$work/eval" && python3 evaluate.py --n-bootstrap 200)
pages=$(ls "$work/pages" | wc -l)
for b in "${bins[@]}"; do
  python3 -c "print(f'abridge-$b: {$pages} pages in ${best[$b]} s (best of $RUNS), {$pages / ${best[$b]}:.1f} pages/s')"
done
