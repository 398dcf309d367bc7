#!/usr/bin/env bash
# The editors' view of `abridge serve`, on one model (default: the default model):
#   1. the seed through the warm server (after a warm-up request on another
#      article): time to first token and total time (POST /v1/summarize,
#      streamed), the first time and then REPS times again, with the prompt
#      tokens the prefix cache supplied (a repeated article reuses its KV);
#   2. the seed through `abridge summarize` (cold: a new process loads the model;
#      it prints the summary at the end, so its first output is its total time);
#   3. requests/minute at 1, 4 and 8 concurrent editors, each sending the seed
#      (stream: false) in a loop until ROUNDS x editors requests are done.
# Prints the CPU, one markdown table and the load average at start and end. Run
# it on an otherwise idle machine; the binary runs from a copy, so a rebuild
# during the run does not change it.
#
#   MODEL (spec or alias, default: default)  REPS (warm and cold runs, default 3)
#   LEVELS (default "1 4 8")  ROUNDS (requests per editor per level, default 2)
#   BATCH (serve --batch, default 8)  PORT (default 8098)
set -euo pipefail
cd "$(dirname "$0")/.."

MODEL=${MODEL:-default}
REPS=${REPS:-3}
LEVELS=${LEVELS:-1 4 8}
BATCH=${BATCH:-8}
PORT=${PORT:-8098}
work=${WORK:-target/bench-serve}
seed=seeds/000_57a6ad3420af089a.txt
mkdir -p "$work"

nice -n 19 cargo build --release --quiet
abridge="$work/abridge"
cp target/release/abridge "$abridge"

echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), $(nproc) cores"
echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"

# No deadline: under load a request may take longer than the default 600 s.
"$abridge" serve --model "$MODEL" --port "$PORT" --batch "$BATCH" --queue 64 --deadline 0 \
  >"$work/serve.out" 2>"$work/serve.err" &
server=$!
trap 'kill "$server" 2>/dev/null || true' EXIT
base="http://127.0.0.1:$PORT"
for _ in $(seq 600); do
  curl -sf "$base/health" >/dev/null 2>&1 && break
  kill -0 "$server" 2>/dev/null || { cat "$work/serve.err" >&2; exit 1; }
  sleep 0.5
done
curl -sf "$base/health" >/dev/null || { echo "bench-serve: the server never became ready" >&2; exit 1; }

python3 - "$base" "$seed" "$REPS" "$LEVELS" "${ROUNDS:-2}" >"$work/warm.tsv" <<'PY'
import json, sys, time, threading, urllib.request

base, seed, reps, levels, rounds = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], int(sys.argv[5])
text = open(seed, encoding="utf-8").read()

def request(stream):
    body = json.dumps({"text": text, "stream": stream}).encode()
    req = urllib.request.Request(base + "/v1/summarize", body, {"Content-Type": "application/json"})
    return urllib.request.urlopen(req, timeout=3600)

def metric(name):
    """A counter of GET /metrics (0 when absent)."""
    with urllib.request.urlopen(base + "/metrics", timeout=60) as r:
        for line in r.read().decode().splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
    return 0.0

def streamed(body_text=text):
    """Seconds to the first summary token and to the end of the stream, the
    done event's token counts (the work the request took) and the prompt
    tokens the prefix cache supplied. SSE fields come in any order within an
    event (axum writes data before event), so events are read whole, up to
    their blank line."""
    cached0 = metric("abridge_prompt_tokens_cached_total")
    body = json.dumps({"text": body_text, "stream": True}).encode()
    req = urllib.request.Request(base + "/v1/summarize", body, {"Content-Type": "application/json"})
    t0 = time.monotonic()
    first = None
    counts = (None, None)
    event, data = None, []
    with urllib.request.urlopen(req, timeout=3600) as r:
        for raw in r:
            line = raw.decode("utf-8").rstrip("\r\n")
            if line.startswith("event:"):
                event = line[6:].strip()
            elif line.startswith("data:"):
                data.append(line[5:].strip())
            elif line == "":
                if event == "token" and first is None:
                    first = time.monotonic() - t0
                if event == "done" and data:
                    d = json.loads("\n".join(data))
                    counts = (d.get("tokens_in"), d.get("tokens_out"))
                    break
                event, data = None, []
    total = time.monotonic() - t0
    return first, total, counts, int(metric("abridge_prompt_tokens_cached_total") - cached0)

# Warm-up on another article (the seed's paragraphs in reverse order): the model,
# the allocator and the prompts' shared head, as a long-running server has them.
paragraphs = [p for p in text.split("\n\n") if p.strip()]
streamed("\n\n".join(reversed(paragraphs)))
# The seed the first time (only the prompts' shared head can come from the
# cache), then again: a repeated article reuses its prompts' KV.
for i in range(reps + 1):
    first, total, (tin, tout), cached = streamed()
    kind = "warm-new" if i == 0 else "warm-again"
    print(f"{kind}\t{first:.2f}\t{total:.2f}\t{tin}\t{tout}\t{cached}")

for editors in map(int, levels.split()):
    n = rounds * editors
    lock = threading.Lock()
    left = [n]
    done = [0]
    def editor():
        while True:
            with lock:
                if left[0] == 0:
                    return
                left[0] -= 1
            try:
                with request(False) as r:
                    json.load(r)
            except Exception as e:  # counted as not done, and said
                print(f"level {editors}: a request failed: {e}", file=sys.stderr)
                continue
            with lock:
                done[0] += 1
    t0 = time.monotonic()
    threads = [threading.Thread(target=editor) for _ in range(editors)]
    for t in threads: t.start()
    for t in threads: t.join()
    elapsed = time.monotonic() - t0
    print(f"level\t{editors}\t{done[0]}\t{elapsed:.1f}\t{done[0] / elapsed * 60:.2f}")
PY
kill -TERM "$server"; wait "$server" || true
trap - EXIT

for _ in $(seq "$REPS"); do
  start=$(date +%s.%N)
  "$abridge" -v summarize --model "$MODEL" "$seed" >/dev/null 2>"$work/cold.err"
  end=$(date +%s.%N)
  log=$(sed "s/\x1b\[[0-9;]*m//g" "$work/cold.err")
  load=$(grep -o "in [0-9.]*s$" <<<"$log" | head -1 | tr -dc "0-9.")
  tokens=$(sed -n 's/.* \([0-9]*\) prompt tokens read, \([0-9]*\) generated.*/\1\t\2/p' <<<"$log" | tail -1)
  printf 'cold\t%s\t%s\t%s\n' "$load" "$(echo "$end - $start" | bc)" "${tokens:-?	?}" >>"$work/warm.tsv"
done

python3 - "$work/warm.tsv" "$MODEL" <<'PY'
import statistics, sys
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1])]
med = lambda xs: statistics.median(float(x) for x in xs)
cold = [r for r in rows if r[0] == "cold"]
# Tokens read and generated (retries included), and read from the prefix cache.
work = lambda rs: "/".join(sorted({f"{r[3]} in ({r[5]} cached), {r[4]} out" if len(r) > 5 else f"{r[3]} in, {r[4]} out" for r in rs if len(r) > 4}))
print(f"\nmodel {sys.argv[2]}, the seed (warm: after a warm-up on another article; medians)\n")
print("| path | runs | time to first token (s) | total (s) | tokens |")
print("|---|---|---|---|---|")
for kind, label in [("warm-new", "`abridge serve`, warm, the seed the first time"), ("warm-again", "`abridge serve`, warm, the seed again")]:
    rs = [r for r in rows if r[0] == kind]
    if rs:
        print(f"| {label} | {len(rs)} | {med(r[1] for r in rs):.2f} | {med(r[2] for r in rs):.2f} | {work(rs)} |")
print(f"| `abridge summarize`, cold (model load {med(r[1] for r in cold):.2f} s) | {len(cold)} | {med(r[2] for r in cold):.2f} (prints at the end) | {med(r[2] for r in cold):.2f} | {work(cold)} |")
print("\n| concurrent editors | requests | seconds | requests/minute |")
print("|---|---|---|---|")
for r in rows:
    if r[0] == "level":
        print(f"| {r[1]} | {r[2]} | {r[3]} | {r[4]} |")
PY
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
