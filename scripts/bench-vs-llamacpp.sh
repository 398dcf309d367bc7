#!/usr/bin/env bash
# abridge vs llama.cpp, side by side on the same machine, prompt ids and threads.
#
# Sets up llama-cpp-python 0.3.36 built from source for the CPU it runs on
# (scripts/lib/llamacpp.sh: native, AMX off where the CPU has AMX, since that build
# crashes), in target/llamacpp-venv-<key>, keyed by the CPU's model and ISA flags
# so a venv built on one machine is never used on another; cached after the first
# run. Then for each model runs both engines alternately REPS times and prints the
# CPU and a markdown table of medians and ratios: prefill tok/s, decode tok/s,
# wall time of the seed summary (load included), peak RSS.
#
#   THREADS (default 2)  REPS (default 3)  GEN (decode tokens, default 64)
#   MODELS  (default: the three files scripts/fetch-models.sh provides)
#   ABRIDGE_BIN (an abridge binary to measure instead of this tree's build, e.g. a
#               base commit's, to compare two abridges against the same llama.cpp)
set -euo pipefail
cd "$(dirname "$0")/.."

THREADS=${THREADS:-2}
REPS=${REPS:-3}
GEN=${GEN:-64}
SEED=seeds/000_57a6ad3420af089a.txt
models_dir="${ABRIDGE_MODELS:-$HOME/.cache/abridge/models}"
MODELS=${MODELS:-"qwen2.5-coder-0.5b-instruct-q4_k_m.gguf SmolLM2-135M-Instruct.Q4_1.gguf gemma-3-270m-q4_k_m.gguf"}

. scripts/lib/llamacpp.sh
. scripts/lib/abridge-bin.sh
venv=$(llamacpp_venv)

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
abridge=$work/abridge
abridge_bin "$abridge"

median() { sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
field() { python3 -c "import json,sys; print(json.loads(sys.stdin.read())['$1'])"; }
# wall seconds and max RSS (MiB) of a command, as "WALL RSS"
timed() {
  /usr/bin/env python3 - "$@" <<'PY'
import resource, subprocess, sys, time
t = time.perf_counter()
subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
wall = time.perf_counter() - t
print(wall, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024)
PY
}

echo "CPU: $(cpu_name); $(cpu_isa)"
echo
echo "| model | prefill tok/s abridge / llama.cpp (ratio) | decode tok/s abridge / llama.cpp (ratio) | seed summary wall s abridge / llama.cpp (ratio) | peak RSS MB abridge / llama.cpp (limit: llama.cpp + 10%) |"
echo "|---|---|---|---|---|"
for m in $MODELS; do
  path="$models_dir/$m"
  [ -f "$path" ] || { echo "bench: $path missing: run scripts/fetch-models.sh" >&2; exit 1; }
  ids="$work/$m.ids.json"
  # the tokens abridge generates for the summary (retries included) decide the
  # output length llama.cpp generates
  out_tokens=$("$abridge" --threads "$THREADS" summarize "$SEED" --model "$path" --json 2>/dev/null \
    | field tokens_out)
  "$abridge" --threads "$THREADS" bench --prompt-file "$SEED" --model "$path" --gen-tokens 2 \
    --write-prompt-ids "$ids" --json >/dev/null
  for r in $(seq "$REPS"); do
    "$abridge" --threads "$THREADS" bench --prompt-file "$SEED" --model "$path" --gen-tokens "$GEN" --json >"$work/a.$r"
    "$venv/bin/python" scripts/llamacpp_bench.py speed "$path" "$ids" "$GEN" "$THREADS" >"$work/l.$r"
    timed "$abridge" --threads "$THREADS" summarize "$SEED" --model "$path" >"$work/ae.$r"
    timed "$venv/bin/python" scripts/llamacpp_bench.py e2e "$path" "$ids" "$out_tokens" "$THREADS" >"$work/le.$r"
  done
  med() { for r in $(seq "$REPS"); do field "$2" <"$work/$1.$r"; done | median; }
  medcol() { for r in $(seq "$REPS"); do cut -d' ' -f"$2" "$work/$1.$r"; done | median; }
  a_pp=$(med a pp_tok_s); l_pp=$(med l pp_tok_s)
  a_tg=$(med a tg_tok_s); l_tg=$(med l tg_tok_s)
  a_rss=$(med a peak_rss_mb); l_rss=$(med l peak_rss_mb)
  a_e2e=$(medcol ae 1); l_e2e=$(medcol le 1)
  # each engine's peak over both its runs (speed bench, seed summary)
  a_rss=$(printf '%s\n%s\n' "$a_rss" "$(medcol ae 2)" | sort -g | tail -n1)
  l_rss=$(printf '%s\n%s\n' "$l_rss" "$(medcol le 2)" | sort -g | tail -n1)
  python3 - "$m" "$a_pp" "$l_pp" "$a_tg" "$l_tg" "$a_e2e" "$l_e2e" "$a_rss" "$l_rss" "$out_tokens" <<'PY'
import sys
m, a_pp, l_pp, a_tg, l_tg, a_e, l_e, a_r, l_r, n = sys.argv[1:]
f = lambda x: float(x)
print(f"| {m} | {f(a_pp):.1f} / {f(l_pp):.1f} ({f(a_pp)/f(l_pp):.2f}x) "
      f"| {f(a_tg):.1f} / {f(l_tg):.1f} ({f(a_tg)/f(l_tg):.2f}x) "
      f"| {f(a_e):.2f} / {f(l_e):.2f} ({f(a_e)/f(l_e):.2f}x, {n} tokens) "
      f"| {f(a_r):.0f} / {f(l_r):.0f} ({f(l_r) * 1.1:.0f}) |")
PY
done
echo
echo "threads=$THREADS reps=$REPS decode tokens=$GEN; medians; ratios are abridge / llama.cpp; abridge: ${ABRIDGE_BIN:-this tree} ($("$abridge" --version))"
