"""Translation figures of a digest's manifest.jsonl (scripts/bench-translate.sh).

    python3 translation_stats.py MANIFEST LANGS [LABEL]

Prints one markdown row per language and one for all: translations requested and
published, published sentences marked as doubtful, whether every published one kept
its numbers and is in its language, and the mean meaning score (round trip against
the English). Older manifests (no per-sentence checks) count whole translations.
"""
import json
import sys

path, langs = sys.argv[1], sys.argv[2].split(",")
label = sys.argv[3] if len(sys.argv) > 3 else path
entries = [json.loads(l) for l in open(path, encoding="utf-8") if l.strip()]
ok = [e for e in entries if e.get("status") == "ok"]


def row(name, which):
    requested = published = sentences = marked = 0
    numbers_ok = language_ok = True
    scores = []
    reasons = {}
    for e in ok:
        for lang in which:
            requested += 1
            checks = (e.get("checks") or {}).get(lang) or {}
            if lang not in e.get("translations", {}):
                why = (checks.get("numbers") or {}).get("passed") is False and "numbers" \
                    or (checks.get("language") or {}).get("passed") is False and "language" \
                    or "sentences"
                reasons[why] = reasons.get(why, 0) + 1
                continue
            published += 1
            numbers_ok &= (checks.get("numbers") or {}).get("passed", False)
            language_ok &= (checks.get("language") or {}).get("passed", False)
            s = checks.get("sentences") or []
            sentences += len(s) or 1
            marked += sum(1 for x in s if x.get("doubt"))
            if checks.get("meaning_score") is not None:
                scores.append(checks["meaning_score"])
    pct = lambda a, b: f"{100 * a / b:.1f}%" if b else "-"
    mean = f"{sum(scores) / len(scores):.3f}" if scores else "-"
    why = ", ".join(f"{k} {v}" for k, v in sorted(reasons.items())) or "-"
    print(f"| {label} | {name} | {published}/{requested} ({pct(published, requested)}) | "
          f"{marked}/{sentences} ({pct(marked, sentences)}) | {'yes' if numbers_ok else 'NO'} | "
          f"{'yes' if language_ok else 'NO'} | {mean} | {why} |")


for lang in langs:
    row(lang, [lang])
row("all", langs)
