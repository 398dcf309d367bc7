"""Replays an abridge request log against llama-server (scripts/bench-digest.sh).

    python3 scripts/lib/replay.py LOG URL [--parallel 4] [--timeout 3600]

LOG is what `ABRIDGE_REQUEST_LOG=LOG abridge digest ...` wrote: one JSON line per
generation request, {"article", "seq", "prompt" (token ids), "max_tokens", "stop"}.
Articles run concurrently, PARALLEL in flight (as llama-server --parallel), each
article's requests one after another in their logged order, each as
POST URL/completion with the same token ids, greedy. An article counts as ok when
all its requests were answered. Prints one JSON object: wall_s, articles,
articles_ok, articles_per_hour, requests, failed_requests, tokens_in, tokens_out.

Python standard library only.
"""

import argparse
import json
import queue
import sys
import threading
import time
import urllib.error
import urllib.request


def load(path):
    """Requests by article, in the order the articles first appear, each sorted by seq."""
    articles = {}
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            try:
                r = json.loads(line)
            except json.JSONDecodeError as e:
                sys.exit(f"replay: {path}:{n}: not JSON: {e}")
            label = r.get("article") or "(unlabeled)"
            articles.setdefault(label, []).append(r)
    for reqs in articles.values():
        reqs.sort(key=lambda r: r["seq"])
    return articles


def complete(url, req, timeout):
    body = {
        "prompt": req["prompt"],
        "n_predict": req["max_tokens"],
        "temperature": 0,
        "cache_prompt": True,
    }
    if req.get("stop"):
        body["stop"] = req["stop"]
    http = urllib.request.Request(
        url.rstrip("/") + "/completion",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(http, timeout=timeout) as resp:
        return json.loads(resp.read())


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("log")
    ap.add_argument("url")
    ap.add_argument("--parallel", type=int, default=4)
    ap.add_argument("--timeout", type=float, default=3600, help="seconds per request")
    args = ap.parse_args()

    articles = load(args.log)
    todo = queue.Queue()
    for label, reqs in articles.items():
        todo.put((label, reqs))
    lock = threading.Lock()
    totals = {"ok": 0, "requests": 0, "failed": 0, "in": 0, "out": 0}

    def worker():
        while True:
            try:
                label, reqs = todo.get_nowait()
            except queue.Empty:
                return
            ok = True
            for req in reqs:
                try:
                    r = complete(args.url, req, args.timeout)
                    n_in, n_out = len(req["prompt"]), int(r.get("tokens_predicted", 0))
                except (urllib.error.URLError, OSError, ValueError) as e:
                    print(f"replay: {label} request {req['seq']}: {e}", file=sys.stderr)
                    ok, n_in, n_out = False, 0, 0
                with lock:
                    totals["requests"] += 1
                    totals["failed"] += 0 if ok else 1
                    totals["in"] += n_in
                    totals["out"] += n_out
                if not ok:
                    break
            with lock:
                totals["ok"] += ok

    started = time.perf_counter()
    threads = [threading.Thread(target=worker) for _ in range(max(1, args.parallel))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - started
    print(
        json.dumps(
            {
                "wall_s": round(wall, 2),
                "articles": len(articles),
                "articles_ok": totals["ok"],
                "articles_per_hour": round(totals["ok"] * 3600 / wall, 1) if wall > 0 else 0,
                "requests": totals["requests"],
                "failed_requests": totals["failed"],
                "tokens_in": totals["in"],
                "tokens_out": totals["out"],
            }
        )
    )


if __name__ == "__main__":
    main()
