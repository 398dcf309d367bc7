#!/usr/bin/env bash
# Digest bookkeeping at scale: N short articles (one JSONL line each, two sentences
# of the Lee corpus from gensim's PyPI wheel) through `abridge digest`. It samples
# what the run has written (/proc/PID/io, and the manifest's size) every N/STEPS
# articles to show that writes grow linearly with the articles done, kills the run
# with SIGKILL at KILL_AT of the way, resumes it, and checks that nothing finished
# was lost or redone (statuses, and modification times of the finished files).
#
#   N (articles, default 10000)  STEPS (samples per N, default 10)
#   KILL_AT (fraction, default 0.5)  MODEL (default tiny)  THREADS (default 2)
#   JOBS (default 1)  BATCH (--batch, default abridge's)  WORK (default target/bench-manifest)
#   MAX_ANSWER (cap every answer at this many tokens, the hidden
#              --max-answer-tokens: short summaries, so 10,000 articles take
#              minutes rather than hours; default: no cap)
#
# On 2 cores the tiny model does about 2,500 articles an hour with whole
# summaries (retries included), so the full 10,000 takes about 4 hours uncapped;
# MAX_ANSWER=8 JOBS=16 BATCH=16 took 41 minutes on a Zen 5.
set -euo pipefail
cd "$(dirname "$0")/.."

N=${N:-10000}
STEPS=${STEPS:-10}
KILL_AT=${KILL_AT:-0.5}
MODEL=${MODEL:-tiny}
THREADS=${THREADS:-2}
JOBS=${JOBS:-1}
BATCH=${BATCH:-}
MAX_ANSWER=${MAX_ANSWER:-}
work=${WORK:-target/bench-manifest}
mkdir -p "$work"

. scripts/lib/lee-corpus.sh
lee_jsonl "$work" 300
python3 - "$work/lee.jsonl" "$N" > "$work/articles.jsonl" <<'PY'
import json, re, sys
docs = [json.loads(l)["text"] for l in open(sys.argv[1], encoding="utf-8")]
sentences = [s.strip() for d in docs for s in re.split(r"(?<=[.!?])\s+", d)
             if len(s.split()) >= 6]
for i in range(int(sys.argv[2])):
    a, b = (2 * i) % len(sentences), (2 * i + 1) % len(sentences)
    print(json.dumps({"id": f"m{i + 1:05d}", "title": f"Lee pair {i + 1}",
                      "text": f"{sentences[a]} {sentences[b]}"}))
PY

cargo build --release --quiet
out="$work/out"
rm -rf "$out"
python3 - target/release/abridge "$work/articles.jsonl" "$out" "$N" "$STEPS" "$KILL_AT" \
  "$MODEL" "$THREADS" "$JOBS" "$BATCH" "$MAX_ANSWER" <<'PY'
import json, os, signal, subprocess, sys, time

abridge, articles, out, n, steps, kill_at, model, threads, jobs, batch, cap = sys.argv[1:]
n, steps, kill_at = int(n), int(steps), float(kill_at)
manifest = os.path.join(out, "manifest.jsonl")
cmd = [abridge, "--threads", threads, "digest", articles, "--out", out,
       "--model", model, "--sentences", "1", "--jobs", jobs]
cmd += ["--batch", batch] if batch else []
cmd += ["--max-answer-tokens", cap] if cap else []
marks = sorted({max(1, round(n * k / steps)) for k in range(1, steps + 1)})
rows = []


def proc_io(pid):
    try:
        with open(f"/proc/{pid}/io") as f:
            return {k: int(v) for k, v in (l.split(": ") for l in f)}
    except OSError:
        return {}


def manifest_lines():
    try:
        with open(manifest, "rb") as f:
            return f.read().count(b"\n")
    except FileNotFoundError:
        return 0


def run(name, done_before, stop_at=None):
    """Runs the digest, sampling at each mark of articles done (done_before + the
    lines this run appends); SIGKILL once stop_at are done. Returns (exit status,
    stderr's last line, bytes written to storage by the whole run)."""
    start_lines = manifest_lines()
    log = open(os.path.join(out + f".{name}.log"), "w")
    t0 = time.time()
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=log)
    pending = [m for m in marks if m > done_before]
    # wait4, not poll(): it also gives the run's I/O counts once it has ended.
    while (ended := os.wait4(p.pid, os.WNOHANG))[0] == 0:
        done = done_before + manifest_lines() - start_lines
        while pending and done >= pending[0]:
            io = proc_io(p.pid)
            rows.append((name, pending.pop(0), done, os.path.getsize(manifest),
                         io.get("wchar", 0), io.get("write_bytes", 0), time.time() - t0))
        if stop_at is not None and done >= stop_at:
            p.send_signal(signal.SIGKILL)
            ended = os.wait4(p.pid, 0)
            break
        time.sleep(0.05)
    _, status, usage = ended
    p.returncode = os.waitstatus_to_exitcode(status)
    log.close()
    last = open(out + f".{name}.log").read().strip().splitlines()[-1:] or [""]
    # ru_oublock counts 512-byte units of output (what write_bytes counts).
    return p.returncode, last[0], usage.ru_oublock * 512


def entries():
    with open(manifest, encoding="utf-8") as f:
        return [json.loads(l) for l in f if l.strip()]


os.makedirs(out, exist_ok=True)
code1, _, written1 = run("first", 0, stop_at=max(1, int(n * kill_at)))
assert code1 == -9, f"the first run was not killed (exit {code1}): make N larger"
before = []
with open(manifest, encoding="utf-8") as f:
    for line in f:
        try:
            before.append(json.loads(line))
        except ValueError:
            pass  # torn by the kill: the resumed run ignores it too
finished = {(e["input"], e["id"]): e for e in before if e["status"] == "ok"}
mtimes = {k: os.stat(os.path.join(out, e["output"])).st_mtime_ns
          for k, e in finished.items()}
index_before = os.path.exists(os.path.join(out, "index.md"))

code2, last, written2 = run("resume", len(before))
after = entries()
by = {(e["input"], e["id"]): e for e in after}
statuses = [e["status"] for e in after]
lost = [k for k in finished if k not in by or by[k]["status"] != "skipped"]
rewritten = [k for k in finished
             if os.stat(os.path.join(out, by[k]["output"])).st_mtime_ns != mtimes[k]]
index = open(os.path.join(out, "index.md"), encoding="utf-8").read()

print(f"{n} articles, {' '.join(cmd[7:])} --threads {threads}; "
      f"SIGKILL after {len(before)}, then resumed\n")
print("| run | articles done | manifest bytes | manifest B/article | run's wchar MB "
      "| wchar KB/article since last row | run's write_bytes MB | run's s |")
print("|---|---|---|---|---|---|---|---|")
prev = {}
for name, mark, done, size, wchar, wbytes, secs in rows:
    p_done, p_wchar = prev.get(name, (0 if name == "first" else len(before), 0))
    per = (wchar - p_wchar) / max(1, done - p_done) / 1024
    prev[name] = (done, wchar)
    print(f"| {name} | {done} | {size} | {size / done:.0f} | {wchar / 1e6:.2f} "
          f"| {per:.2f} | {wbytes / 1e6:.2f} | {secs:.0f} |")
final_manifest = os.path.getsize(manifest)
print(f"\nfinal manifest {final_manifest} bytes ({final_manifest / len(after):.0f} per line), "
      f"index.md {len(index.encode())} bytes; written to storage by the runs "
      f"(rusage): first {written1 / 1e6:.2f} MB, resume {written2 / 1e6:.2f} MB")
with open(manifest, "rb") as f:
    lines = [len(l) for l in f]
rewrite, total = 0, 0
for size in lines:
    total += size
    rewrite += total
# The index grows about linearly too: rewriting it k times costs about k/2 of it.
index_bytes = len(index.encode())
rewrite += index_bytes * (len(after) + 1) / 2
per = (final_manifest + index_bytes) / len(after)
print(f"rewriting manifest.jsonl and index.md after every article (as before) would have "
      f"written about {rewrite / 1e6:.1f} MB for these {len(after)}, "
      f"{per * 10000 ** 2 / 2 / 1e9:.0f} GB for 10,000")
print(f"\nresume: exit {code2}; {last}")
checks = {
    "resumed run exits 0": code2 == 0,
    f"one manifest line per input ({len(after)} of {n})": len(after) == n
        and len(by) == n,
    f"finished before the kill are skipped, none lost ({len(finished)})": not lost,
    "finished files not rewritten": not rewritten,
    f"the rest done in the resumed run ({statuses.count('ok')} ok, "
    f"{statuses.count('failed')} failed)":
        statuses.count("ok") + statuses.count("failed") == n - len(finished),
    "no index.md before the end": not index_before,
    f"index.md lists {statuses.count('ok') + statuses.count('skipped')} articles":
        f"{statuses.count('ok') + statuses.count('skipped')} articles," in index,
}
for what, ok in checks.items():
    print(f"{'ok  ' if ok else 'FAIL'} {what}")
sys.exit(0 if all(checks.values()) else 1)
PY
