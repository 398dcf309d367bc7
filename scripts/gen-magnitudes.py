#!/usr/bin/env python3
"""Writes src/check/names/magnitudes.tsv: the words that scale a number ("million",
"milliard", "Billionen", "mil millones") per language, with the power of ten each
stands for, from Unicode CLDR's compact decimal formats (main/<lang>.xml,
decimalFormatLength long and short, patterns of 10^6 and up). The number check
reads them to catch a translation that keeps a number's digits but changes its size:
Spanish "billón" and French or German "billion" are 10^12, the English billion 10^9.

Languages: the columns of world.tsv (scripts/gen-names.py), whose header is read.
Rows: lang, power, word (as CLDR writes it), and "write" on the word a translation
should use for that power (the long plural form: "milliards", "mil millones"), which
the translation prompt's glossary offers. Patterns that are one cased letter ("0 M",
"0B") are left out: in running text they are initials as often as magnitudes.
"""
import os
import re
import sys
import unicodedata
import xml.etree.ElementTree as ET

CLDR = os.environ.get("CLDR", "/usr/share/unicode/cldr/common")
WORLD = os.path.join(os.path.dirname(__file__), "..", "src", "check", "names", "world.tsv")
# abridge's language codes that CLDR files under another name (tried in order).
LOCALES = {"no": ["nb", "no"]}


def magnitudes(locale):
    path = f"{CLDR}/main/{locale}.xml"
    if not os.path.exists(path):
        return set()
    out = {}
    for length in ET.parse(path).getroot().iter("decimalFormatLength"):
        if length.get("type") not in ("long", "short"):
            continue
        for pattern in length.iter("pattern"):
            kind, text = pattern.get("type"), pattern.text or ""
            if not kind or not kind.isdigit() or int(kind) < 10**6:
                continue
            # "0 milliard", "00 Mrd'.'", "0000 M": the zeros are the digits shown,
            # what follows them is the word.
            m = re.fullmatch(r"(0+)[\s\u00a0\u202f]*([^0]+)", text.replace("'", ""))
            if not m:
                continue
            word = " ".join(m.group(2).split()).rstrip(".")
            # One cased letter ("M", "B") is an initial as often as a magnitude; one
            # ideograph ("億") is a word.
            if len(word) < 2 and unicodedata.category(word) in ("Lu", "Ll"):
                continue
            power = len(kind) - 1 - (len(m.group(1)) - 1)
            write = length.get("type") == "long" and pattern.get("count") == "other"
            out[(power, word)] = out.get((power, word), False) or write
    # One word to write per power: the first long plural form.
    chosen = set()
    for (power, word), write in sorted(out.items()):
        if write and power not in chosen:
            chosen.add(power)
        else:
            out[(power, word)] = False
    return out


def main():
    with open(WORLD, encoding="utf-8") as f:
        langs = f.readline().rstrip("\n").split("\t")[2:]
    out = sys.stdout
    out.write("lang\tpower\tword\tuse\n")
    for lang in langs:
        found = {}
        for locale in LOCALES.get(lang, [lang]):
            found = found or magnitudes(locale)
        for (power, word), write in sorted(found.items()):
            out.write(f"{lang}\t{power}\t{word}\t{'write' if write else ''}\n")


if __name__ == "__main__":
    main()
