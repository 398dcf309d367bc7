"""Translation figures of scripts/bench-translate.sh's records.jsonl.

    python3 translation_stats.py RECORDS LANGS

One record per translation asked (bin, id, lang, seconds, and what `abridge translate
--json` printed: translation, error, checks). Prints one markdown row per binary and
language, and one per binary for all: published, published sentences marked
doubtful, whether every published one kept its numbers and is in its language, the
mean meaning score (round trip, where measured), failure reasons, seconds per
translation; then the time ratio.
"""
import json
import sys

path, langs = sys.argv[1], sys.argv[2].split(",")
records = [json.loads(l) for l in open(path, encoding="utf-8") if l.strip()]


def reason(r):
    c = r.get("checks") or {}
    for name in ("numbers", "language", "meaning", "names"):
        if (c.get(name) or {}).get("passed") is False:
            return name
    return "other" if r.get("error") else "no output"


def row(binary, which):
    rs = [r for r in records if r["bin"] == binary and r["lang"] in which]
    published = [r for r in rs if r.get("translation")]
    sentences = marked = 0
    numbers_ok = language_ok = True
    scores, reasons = [], {}
    for r in rs:
        c = r.get("checks") or {}
        if not r.get("translation"):
            why = reason(r)
            reasons[why] = reasons.get(why, 0) + 1
            continue
        numbers_ok &= (c.get("numbers") or {}).get("passed", False)
        language_ok &= (c.get("language") or {}).get("passed", False)
        s = c.get("sentences") or []
        sentences += len(s) or 1
        marked += sum(1 for x in s if x.get("doubt"))
        if c.get("meaning_score") is not None:
            scores.append(c["meaning_score"])
    pct = lambda a, b: f"{100 * a / b:.1f}%" if b else "-"
    mean = f"{sum(scores) / len(scores):.3f}" if scores else "-"
    why = ", ".join(f"{k} {v}" for k, v in sorted(reasons.items())) or "-"
    secs = sum(r["seconds"] for r in rs) / max(len(rs), 1)
    name = ",".join(which) if len(which) > 1 else which[0]
    print(f"| {binary} | {name} | {len(published)}/{len(rs)} ({pct(len(published), len(rs))}) | "
          f"{marked}/{sentences} ({pct(marked, sentences)}) | {'yes' if numbers_ok else 'NO'} | "
          f"{'yes' if language_ok else 'NO'} | {mean} | {why} | {secs:.1f} |")
    return secs


print("| binary | language | published | sentences marked doubtful | numbers kept | right language | meaning score | not published: first failed check | s / translation |")
print("|---|---|---|---|---|---|---|---|---|")
total = {}
# base and new (bench-translate.sh), else the record's own groups in order
bins = [b for b in ("base", "new") if any(r["bin"] == b for r in records)]
bins += [b for b in dict.fromkeys(r["bin"] for r in records) if b not in bins]
for binary in bins:
    for lang in langs:
        row(binary, [lang])
    total[binary] = row(binary, langs)
if total.get("base") and total.get("new"):
    print(f"\ntime per translation, new / base: {total['new'] / total['base']:.2f}x")
