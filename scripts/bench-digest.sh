#!/usr/bin/env bash
# Digest throughput on a real corpus: the Lee background corpus (news articles,
# one per line) from gensim's wheel on PyPI, as JSONL, through `abridge digest`
# at --jobs 1 and --jobs 2. Prints articles/hour and peak RSS for each.
#
#   N (articles, default 50)  LANGS (--to, default fr)  THREADS (default 2)
#   MODEL (default: the default model)
set -euo pipefail
cd "$(dirname "$0")/.."

N=${N:-50}
LANGS=${LANGS:-fr}
THREADS=${THREADS:-2}
MODEL=${MODEL:-}
work=${WORK:-target/bench-digest}
mkdir -p "$work"

. scripts/lib/lee-corpus.sh
lee_jsonl "$work" "$N"

cargo build --release --quiet
model_args=()
[ -n "$MODEL" ] && model_args=(--model "$MODEL")

echo "| jobs | articles | languages | wall s | articles/hour | peak RSS MB |"
echo "|---|---|---|---|---|---|"
for jobs in 1 2; do
  out="$work/out-jobs$jobs"
  rm -rf "$out"
  read -r wall rss < <(python3 - target/release/abridge --threads "$THREADS" digest "$work/lee.jsonl" \
      --out "$out" --to "$LANGS" --jobs "$jobs" "${model_args[@]}" <<'PY'
import resource, subprocess, sys, time
t = time.perf_counter()
subprocess.run(sys.argv[1:], check=False, stdout=subprocess.DEVNULL)
print(time.perf_counter() - t, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024)
PY
)
  done_n=$(grep -c '"status":"ok"' "$out/manifest.jsonl" || true)
  python3 -c "import sys; w=float('$wall'); print(f'| $jobs | $done_n/$N | $LANGS | {w:.0f} | {$done_n*3600/w:.0f} | {float(\"$rss\"):.0f} |')"
done
