#!/usr/bin/env bash
# Publishable output, measured: N Lee background articles (gensim's wheel on PyPI)
# through `abridge digest --to LANGS` with each model in MODELS, one after the other
# in one run. Prints per model: summary copy rate (share of summary 6-grams found
# verbatim in the article), names/numbers the checks found missing from the article
# per article, flagged summary sentences, translations published / failed, whether
# every published translation passed its language and number checks, and
# articles/hour.
#
#   N (default 50)  LANGS (default fr,de)  THREADS (default 2)  JOBS (default 2)
#   MODELS (default "default fast")
set -euo pipefail
cd "$(dirname "$0")/.."

N=${N:-50}
LANGS=${LANGS:-fr,de}
THREADS=${THREADS:-2}
JOBS=${JOBS:-2}
MODELS=${MODELS:-default fast}
work=${WORK:-target/bench-quality}
mkdir -p "$work"

. scripts/lib/lee-corpus.sh
lee_jsonl "$work" "$N"

cargo build --release --quiet
# A copy: rebuilding during the run must not change the binary between models.
cp target/release/abridge "$work/abridge"
echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | xargs), threads $THREADS, jobs $JOBS, $N articles, --to $LANGS" >&2
echo "| model | articles ok | wall s | articles/hour | copy rate | unknown names+numbers / article | flagged sentences | translations published / failed | published all checked ok |"
echo "|---|---|---|---|---|---|---|---|---|"
for model in $MODELS; do
  out="$work/out-$model"
  rm -rf "$out"
  start=$(date +%s.%N)
  "$work/abridge" --threads "$THREADS" -q digest "$work/lee.jsonl" --out "$out" \
    --to "$LANGS" --jobs "$JOBS" --model "$model" || true
  end=$(date +%s.%N)
  python3 - "$work/lee.jsonl" "$out/manifest.jsonl" "$model" "$start" "$end" "$N" <<'PY'
import json, re, sys
src_path, man_path, model, start, end, n = sys.argv[1:]
sources = {json.loads(l)["id"]: json.loads(l)["text"] for l in open(src_path)}
entries = [json.loads(l) for l in open(man_path) if l.strip()]
ok = [e for e in entries if e["status"] == "ok"]
def words(t):
    return re.findall(r"[\w']+", t.lower())
grams = hits = 0
unknown = flagged = published = failed = 0
all_checked = True
for e in ok:
    src = words(sources[e["id"]])
    src6 = {tuple(src[i:i + 6]) for i in range(len(src) - 5)}
    summ = words(e["summary"])
    for i in range(len(summ) - 5):
        grams += 1
        hits += tuple(summ[i:i + 6]) in src6
    for s in e.get("support", []):
        unknown += len(s["unknown"])
        flagged += not s["supported"]
    for lang, checks in e.get("checks", {}).items():
        if lang in e["translations"]:
            published += 1
            # A name or meaning doubt publishes only marked [doubtful]: not a failure.
            for c in ("language", "numbers"):
                if not (checks.get(c) or {}).get("passed", False):
                    all_checked = False
        else:
            failed += 1
wall = float(end) - float(start)
print(f"| {model} | {len(ok)}/{n} | {wall:.0f} | {len(ok) * 3600 / wall:.0f} | "
      f"{hits / max(grams, 1):.2f} | {unknown / max(len(ok), 1):.2f} | {flagged} | "
      f"{published} / {failed} | {'yes' if all_checked else 'NO'} |")
PY
done
