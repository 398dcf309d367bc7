#!/usr/bin/env python3
"""Writes src/check/names/currencies.tsv: how each language names and writes the
currencies in use, grouped by the English noun of the currency ("dollar" for the US,
Australian and Hong Kong dollars, "pound", "euro", "yen"), from Unicode CLDR
(supplemental/supplementalData.xml for the currencies that are legal tender today,
main/<lang>.xml and root.xml for their names and symbols). The number check reads
it to catch a translation that writes an amount in another currency: "$8.8 billion"
written "8,8 milliards d'euros".

Rows: lang, family (the English noun), form, kind:
  word    a word that names the family on its own: a one-word name ("euros"), or a
          word most of the family's currencies share in that language and other
          families' names rarely use ("dollar" in "dollar australien", "dollar des
          États-Unis"; not "des");
  name    a whole name as CLDR writes it ("yen japonais", "réals brésiliens");
  symbol  a symbol ("$US", "£", "€");
  code    the ISO 4217 code ("USD"), in every language (lang "*"): it says a
          currency is there, never that one was invented (codes such as "ALL" or
          "TOP" are also words).
Languages: the columns of world.tsv (scripts/gen-names.py), whose header is read.
"""
import collections
import os
import re
import sys
import xml.etree.ElementTree as ET

CLDR = os.environ.get("CLDR", "/usr/share/unicode/cldr/common")
WORLD = os.path.join(os.path.dirname(__file__), "..", "src", "check", "names", "world.tsv")
# abridge's language codes that CLDR files under another name (tried in order).
LOCALES = {"no": ["nb", "no"]}
# A word is a family's own when more than this share of the family's currencies use
# it, and at most OTHERS of the other families' currencies do; the family has three
# currencies or more.
SHARED = 0.5
OTHERS = 0.05


def tender():
    """The ISO codes of the currencies some region uses as legal tender today."""
    root = ET.parse(f"{CLDR}/supplemental/supplementalData.xml").getroot()
    codes = set()
    for cur in root.iter("currency"):
        code = cur.get("iso4217")
        if code and cur.get("to") is None and cur.get("tender") != "false":
            codes.add(code)
    return codes


def currencies(locale):
    """code -> (names, symbols) as the locale's own file writes them."""
    path = f"{CLDR}/main/{locale}.xml"
    out = {}
    if not os.path.exists(path):
        return out
    for cur in ET.parse(path).getroot().iter("currency"):
        code = cur.get("type")
        if not code:
            continue
        names = {(d.text or "").strip() for d in cur.findall("displayName")}
        symbols = {(s.text or "").strip() for s in cur.findall("symbol")}
        out[code] = ({n for n in names if n}, {s for s in symbols if s})
    return out


def tokens(name):
    return [t for t in re.split(r"[\s\-\u00a0\u2011]+", name.lower()) if t]


def family(english_names):
    """The English noun: the last word of the shortest English name."""
    name = min(english_names, key=len)
    return tokens(name)[-1] if tokens(name) else None


def main():
    langs = open(WORLD, encoding="utf-8").readline().rstrip("\n").split("\t")[2:]
    codes = tender()
    root = currencies("root")
    english = currencies("en")
    families = {}
    for code in sorted(codes):
        names = english.get(code, (set(), set()))[0]
        fam = family(names) if names else None
        # names that are not a noun ("special drawing rights") have no letters-only noun
        if fam and re.fullmatch(r"[^\W\d_]+", fam):
            families[code] = fam
    rows = set()
    for lang in langs:
        table = {}
        for locale in LOCALES.get(lang, [lang]):
            table = currencies(locale)
            if table:
                break
        if not table:
            print(f"gen-currencies: no CLDR file for {lang}", file=sys.stderr)
            continue
        words = {}  # code -> the words of all its names
        for code, fam in families.items():
            names, symbols = table.get(code, (set(), set()))
            if not symbols:
                symbols = root.get(code, (set(), set()))[1]
            words[code] = {t for n in names for t in tokens(n)}
            for n in names:
                kind = "word" if len(tokens(n)) == 1 else "name"
                rows.add((lang, fam, n, kind))
            for s in symbols:
                if s != code:
                    rows.add((lang, fam, s, "symbol"))
            rows.add(("*", fam, code, "code"))
        # English names a currency by its family's noun ("100 million yen")
        if lang == "en":
            for code, fam in families.items():
                for n in table.get(code, (set(), set()))[0]:
                    if tokens(n)[-1].startswith(fam):
                        rows.add((lang, fam, tokens(n)[-1], "word"))
        # the words a family's currencies share, and other families rarely use
        members = collections.defaultdict(list)
        for code, fam in families.items():
            if words[code]:
                members[fam].append(code)
        for fam, codes_of in members.items():
            # two currencies share their country's adjective as often as their
            # noun (French "won coréen", "won nord-coréen")
            if len(codes_of) < 3:
                continue
            count = collections.Counter(t for c in codes_of for t in words[c])
            others = [c for f, cs in members.items() if f != fam for c in cs]
            used = collections.Counter(t for c in others for t in words[c])
            for t, n in count.items():
                if n > SHARED * len(codes_of) and used[t] <= OTHERS * len(others):
                    if re.fullmatch(r"[^\W\d_]{2,}", t):
                        rows.add((lang, fam, t, "word"))
    print("lang\tfamily\tform\tkind")
    for row in sorted(rows):
        print("\t".join(row))


if __name__ == "__main__":
    main()
