#!/usr/bin/env bash
# Prompt-lookup drafts (src/model/lookup.rs) on and off, side by side in one run:
# `abridge summarize --json` on the seed and N Lee articles with the default
# model, each article with ABRIDGE_DRAFT=0 then with the default drafts, REPS
# rounds. Per article and mode: seconds (model load included), decode steps,
# drafted and kept tokens; whether the two summaries are identical (they must
# be: a checked draft is exact under greedy picking). The prefix store is off so
# every run reads the same prompt tokens.
#
#   N (Lee articles, default 6)  REPS (default 2)  MODEL (default)  THREADS (2)
set -euo pipefail
cd "$(dirname "$0")/.."

N=${N:-6}
REPS=${REPS:-2}
MODEL=${MODEL:-default}
THREADS=${THREADS:-2}
work=${WORK:-target/bench-lookup}
mkdir -p "$work/in" "$work/out"

. scripts/lib/cpu.sh
. scripts/lib/lee-corpus.sh
lee_jsonl "$work" "$N"
cp seeds/000_57a6ad3420af089a.txt "$work/in/seed.txt"
python3 - "$work" <<'PY'
import json, sys
work = sys.argv[1]
for line in open(f"{work}/lee.jsonl", encoding="utf-8"):
    a = json.loads(line)
    open(f"{work}/in/{a['id']}.txt", "w", encoding="utf-8").write(a["text"] + "\n")
PY

cargo build --release --quiet
bin="$work/abridge"
cp target/release/abridge "$bin"
export ABRIDGE_PREFIX_STORE=0
echo "$(cpu_line), threads $THREADS, model $MODEL"

for rep in $(seq "$REPS"); do
  for f in "$work"/in/*.txt; do
    id=$(basename "$f" .txt)
    for mode in off on; do
      draft=(); [ "$mode" = off ] && draft=(ABRIDGE_DRAFT=0)
      start=$(date +%s.%N)
      env "${draft[@]}" "$bin" -v --threads "$THREADS" summarize "$f" --model "$MODEL" --json \
        >"$work/out/$id.$mode.json" 2>"$work/out/$id.$mode.err"
      end=$(date +%s.%N)
      line=$(grep -a 'generation:' "$work/out/$id.$mode.err" | sed 's/\x1b\[[0-9;]*m//g')
      printf '%s\t%s\t%s\t%s\t%s\n' "$rep" "$id" "$mode" "$(echo "$end - $start" | bc)" "$line"
    done
  done
done >"$work/runs.tsv"

python3 - "$work" <<'PY'
import json, re, statistics, sys
work = sys.argv[1]
runs = {}
for line in open(f"{work}/runs.tsv"):
    rep, id, mode, secs, log = line.rstrip("\n").split("\t")
    m = re.search(r"(\d+) generated in (\d+) decode steps.*?(\d+) of (\d+) drafted", log)
    gen, steps, kept, drafted = map(int, m.groups())
    runs.setdefault((id, mode), []).append((float(secs), gen, steps, kept, drafted))
ids = sorted({id for id, _ in runs})
print("| article | tokens | steps off | steps on | drafted kept | s off | s on | speed-up | same summary |")
print("|---|---|---|---|---|---|---|---|---|")
tot = {"off": 0.0, "on": 0.0}
for id in ids:
    off, on = runs[(id, "off")], runs[(id, "on")]
    s_off = statistics.median(r[0] for r in off)
    s_on = statistics.median(r[0] for r in on)
    tot["off"] += s_off; tot["on"] += s_on
    same = json.load(open(f"{work}/out/{id}.off.json"))["summary"] == json.load(open(f"{work}/out/{id}.on.json"))["summary"]
    g, st, k, d = on[-1][1:]
    print(f"| {id} | {g} | {off[-1][2]} | {st} | {k}/{d} | {s_off:.2f} | {s_on:.2f} | {s_off / s_on:.2f}x | {'yes' if same else 'NO'} |")
print(f"| all | | | | | {tot['off']:.1f} | {tot['on']:.1f} | {tot['off'] / tot['on']:.2f}x | |")
PY
