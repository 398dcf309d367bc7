#!/usr/bin/env bash
# Digest throughput on a real corpus, three ways on the same machine in one run:
# the Lee background corpus (news articles, one per line, from gensim's wheel on
# PyPI) as JSONL, summarized and translated (--to LANGS) by
#   1. abridge digest --batch 1 (one sequence at a time: abridge before batching),
#   2. abridge digest --batch BATCH (batched),
#   3. llama.cpp's llama-server --parallel PARALLEL (continuous batching), built
#      for this CPU from the llama.cpp that llama-cpp-python 0.3.36 vendors
#      (scripts/lib/llamacpp.sh), fed the very prompts run 1 made: run 1 logs each
#      generation request (ABRIDGE_REQUEST_LOG: token ids, max tokens, stops) and
#      scripts/lib/replay.py replays them, PARALLEL articles in flight, each
#      article's requests in their order.
# Prints the CPU and one markdown table: articles ok, wall time, articles/hour,
# prompt/generated tokens and peak RSS of each run, and the load average. Run it
# on an otherwise idle machine, not under nice: llama.cpp's 2 threads meet at a
# barrier every step and collapse when another process takes a core. The abridge
# binary runs from a copy, so a rebuild during the run does not change it.
#
#   N (articles, default 50)  LANGS (--to, default fr)  THREADS (default 2)
#   BATCH (default 16, abridge's)  PARALLEL (llama-server slots and replay concurrency, 4)
#   MODEL (a .gguf path or default / fast / tiny; default: the default model)
#   JOBS (abridge --jobs; default: abridge's)  PORT (llama-server's, default 8097)
#   BATCH_FLAG (1: pass --batch; 0: don't, for an abridge without the flag;
#              default: pass it when `abridge digest --help` lists it)
#   ABRIDGE_BIN (an abridge binary to measure instead of this tree's build, e.g. a
#               base commit's)  LLAMA (1; 0 skips the llama-server row, e.g. when
#               a second abridge is measured against a run that had it)
set -euo pipefail
cd "$(dirname "$0")/.."

N=${N:-50}
LANGS=${LANGS:-fr}
THREADS=${THREADS:-2}
BATCH=${BATCH:-16}
PARALLEL=${PARALLEL:-4}
MODEL=${MODEL:-default}
JOBS=${JOBS:-}
PORT=${PORT:-8097}
work=${WORK:-target/bench-digest}
mkdir -p "$work"

. scripts/lib/lee-corpus.sh
. scripts/lib/llamacpp.sh
. scripts/lib/abridge-bin.sh

# The model file both engines load.
models_dir="${ABRIDGE_MODELS:-$HOME/.cache/abridge/models}"
case "$MODEL" in
  default) model_path="$models_dir/qwen2.5-coder-1.5b-instruct-q4_k_m.gguf" ;;
  fast) model_path="$models_dir/qwen2.5-coder-0.5b-instruct-q4_k_m.gguf" ;;
  tiny) model_path="$models_dir/SmolLM2-135M-Instruct.Q4_1.gguf" ;;
  *) model_path=$MODEL ;;
esac
[ -f "$model_path" ] || { echo "bench-digest: $model_path missing: run scripts/fetch-models.sh" >&2; exit 1; }

LLAMA=${LLAMA:-1}
lee_jsonl "$work" "$N"
if [ "$LLAMA" = 1 ]; then server=$(llamacpp_server); fi

abridge="$work/abridge"
abridge_bin "$abridge"

if [ -z "${BATCH_FLAG:-}" ]; then
  if "$abridge" digest --help | grep -q -- '--batch'; then BATCH_FLAG=1; else BATCH_FLAG=0; fi
fi
if [ "$BATCH_FLAG" = 0 ]; then
  echo "bench-digest: this abridge has no --batch: both abridge rows run without it" >&2
fi

rows=()
load_start=$(cut -d' ' -f1-3 /proc/loadavg)
# wall seconds and peak RSS (MiB) of a command, as "WALL RSS"
timed() {
  python3 - "$@" <<'PY'
import resource, subprocess, sys, time
t = time.perf_counter()
subprocess.run(sys.argv[1:], check=False, stdout=subprocess.DEVNULL)
print(time.perf_counter() - t, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024)
PY
}
# "| run | ok/N | wall | articles/hour | in/out | rss |"
row() {
  python3 - "$@" <<'PY'
import sys
run, ok, n, wall, tin, tout, rss = sys.argv[1:]
w = max(float(wall), 1e-9)
print(f"| {run} | {ok}/{n} | {w:.0f} | {int(ok) * 3600 / w:.1f} | {tin}/{tout} | {float(rss):.0f} |")
PY
}

log="$work/requests-batch1.jsonl"
for batch in 1 "$BATCH"; do
  out="$work/out-batch$batch"
  rm -rf "$out"
  args=(--threads "$THREADS" digest "$work/lee.jsonl" --out "$out" --to "$LANGS" --model "$model_path")
  if [ -n "$JOBS" ]; then args+=(--jobs "$JOBS"); fi
  if [ "$BATCH_FLAG" = 1 ]; then args+=(--batch "$batch"); fi
  if [ "$batch" = 1 ]; then
    : >"$log"
    read -r wall rss < <(ABRIDGE_REQUEST_LOG="$PWD/$log" timed "$abridge" "${args[@]}")
  else
    read -r wall rss < <(timed "$abridge" "${args[@]}")
  fi
  read -r ok tin tout < <(python3 - "$out/manifest.jsonl" <<'PY'
import json, sys
ok = tin = tout = 0
try:
    for line in open(sys.argv[1], encoding="utf-8"):
        if line.strip():
            e = json.loads(line)
            ok += e.get("status") == "ok"
            tin += e.get("tokens_in", 0)
            tout += e.get("tokens_out", 0)
except FileNotFoundError:
    pass
print(ok, tin, tout)
PY
)
  rows+=("$(row "abridge --batch $batch" "$ok" "$N" "$wall" "$tin" "$tout" "$rss")")
done

# llama-server on the prompts of the --batch 1 run; a slot holds the longest request
# (the block is not indented: its Python here-documents must start at column 0)
if [ "$LLAMA" = 1 ]; then
read -r need < <(python3 -c "
import json, sys
print(max([len(r['prompt']) + r['max_tokens'] for r in map(json.loads, open(sys.argv[1])) if r] or [0]))
" "$log")
slot=$(((need > 4096 ? need + 255 : 4096) / 256 * 256))
"$server" -m "$model_path" -t "$THREADS" -c $((PARALLEL * slot)) --parallel "$PARALLEL" -cb \
  --host 127.0.0.1 --port "$PORT" --no-webui >"$work/llama-server.log" 2>&1 &
server_pid=$!
trap 'kill "$server_pid" 2>/dev/null || true' EXIT
python3 - "http://127.0.0.1:$PORT/health" "$server_pid" <<'PY' || { tail -n 20 "$work/llama-server.log" >&2; exit 1; }
import os, sys, time, urllib.request
url, pid = sys.argv[1], int(sys.argv[2])
deadline = time.time() + 600
while time.time() < deadline:
    try:
        os.kill(pid, 0)
    except OSError:
        sys.exit("bench-digest: llama-server exited")
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            if r.status == 200:
                sys.exit(0)
    except OSError:
        pass
    time.sleep(0.5)
sys.exit("bench-digest: llama-server did not become healthy in 600 s")
PY
python3 scripts/lib/replay.py "$log" "http://127.0.0.1:$PORT" --parallel "$PARALLEL" >"$work/replay.json"
rss=$(awk '/^VmHWM:/ {print $2 / 1024}' "/proc/$server_pid/status")
kill "$server_pid"
wait "$server_pid" 2>/dev/null || true
trap - EXIT
read -r ok wall tin tout < <(python3 -c "
import json, sys
r = json.load(open(sys.argv[1]))
print(r['articles_ok'], r['wall_s'], r['tokens_in'], r['tokens_out'])
" "$work/replay.json")
rows+=("$(row "llama-server --parallel $PARALLEL" "$ok" "$N" "$wall" "$tin" "$tout" "$rss")")
fi

# Do the batched outputs say what --batch 1 wrote? Every file but the manifest,
# without the front matter's timing line.
same=$(python3 - "$work/out-batch1" "$work/out-batch$BATCH" <<'PY'
import pathlib, re, sys
a, b = map(pathlib.Path, sys.argv[1:])
def body(p):
    return re.sub(rb"(?m)^seconds: .*\n", b"", p.read_bytes()) if p.exists() else None
files = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file() and p.name != "manifest.jsonl"
               and not p.name.startswith("."))
differ = [str(f) for f in files if body(a / f) != body(b / f)]
print(f"{len(files) - len(differ)}/{len(files)} files identical" + (f" (differ: {', '.join(differ[:10])})" if differ else ""))
PY
)

echo "CPU: $(cpu_name); $(cpu_isa)"
echo
echo "| run | articles ok | wall s | articles/hour | tokens in/out | peak RSS MB |"
echo "|---|---|---|---|---|---|"
printf '%s\n' "${rows[@]}"
echo
note=""
if [ "$BATCH_FLAG" = 0 ]; then
  note="; --batch not passed (this abridge has no such flag): both abridge rows are the same program"
fi
echo "abridge: ${ABRIDGE_BIN:-this tree} ($("$abridge" --version)); model $(basename "$model_path"), $N articles, summary + --to $LANGS, threads=$THREADS${JOBS:+, --jobs $JOBS}$note;" \
  "$([ "$LLAMA" = 1 ] && echo "llama-server replays the prompts of the --batch 1 run ($log), $PARALLEL in flight, -c $((PARALLEL * slot))" || echo "no llama-server row (LLAMA=0)")"
echo "outputs of --batch $BATCH against --batch 1: $same"
# llama.cpp's threads wait for each other at every step: other work on the cores
# (or running this under nice) slows it far more than abridge, so say how busy
# the machine was.
echo "load average at start: $load_start; at end: $(cut -d' ' -f1-3 /proc/loadavg) ($(nproc) cores)"
