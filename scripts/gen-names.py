#!/usr/bin/env python3
"""Writes src/check/names/world.tsv: place, country and language names per language, from
Debian's packages of real data (see scripts/gen-names.sh, which installs them):

- unicode-cldr-core (Unicode CLDR, Unicode licence): countries and regions
  (main/<lang>.xml territories, with their short and variant forms), first-level
  subdivisions (subdivisions/<lang>.xml), and language names, which in English are
  also the nationality adjectives ("French", "German", "Chinese");
- libgeonames-common (GeoNames city names per language, CC-BY-4.0), keyed by GeoNames id.

One row per thing: kind, key, then one cell per language of LANGS (English first),
alternatives separated by ';'. A cell that only repeats the English is left empty. Cities
are kept when at least MIN_CITY_LANGS languages name them (a notability proxy: the
GeoNames translations cover cities people write about), which keeps the file to a few MB.
"""
import gettext
import os
import re
import sys
import xml.etree.ElementTree as ET

CLDR = os.environ.get("CLDR", "/usr/share/unicode/cldr/common")
LOCALE = os.environ.get("LOCALE_DIR", "/usr/share/locale")
MIN_CITY_LANGS = int(os.environ.get("MIN_CITY_LANGS", "5"))
# Cities and subdivisions written differently in fewer languages than this are left out:
# their English form is what a translation keeps anyway.
MIN_OTHER_FORMS = int(os.environ.get("MIN_OTHER_FORMS", "2"))

# abridge's languages (src/lang.rs), English first. Second item: CLDR locale; third:
# gettext locale folders to try.
LANGS = [
    ("en", "en", ["en"]), ("ar", "ar", ["ar"]), ("bg", "bg", ["bg"]), ("bn", "bn", ["bn"]),
    ("ca", "ca", ["ca"]), ("cs", "cs", ["cs"]), ("da", "da", ["da"]), ("de", "de", ["de"]),
    ("el", "el", ["el"]), ("es", "es", ["es"]), ("et", "et", ["et"]), ("fa", "fa", ["fa"]),
    ("fi", "fi", ["fi"]), ("fr", "fr", ["fr"]), ("he", "he", ["he"]), ("hi", "hi", ["hi"]),
    ("hr", "hr", ["hr"]), ("hu", "hu", ["hu"]), ("id", "id", ["id"]), ("it", "it", ["it"]),
    ("ja", "ja", ["ja"]), ("ko", "ko", ["ko"]), ("lt", "lt", ["lt"]), ("lv", "lv", ["lv"]),
    ("ms", "ms", ["ms"]), ("nl", "nl", ["nl"]), ("no", "no", ["nb", "no"]), ("pl", "pl", ["pl"]),
    ("pt", "pt", ["pt", "pt_BR"]), ("ro", "ro", ["ro"]), ("ru", "ru", ["ru"]), ("sk", "sk", ["sk"]),
    ("sl", "sl", ["sl"]), ("sr", "sr", ["sr"]), ("sv", "sv", ["sv"]), ("sw", "sw", ["sw"]),
    ("th", "th", ["th"]), ("tr", "tr", ["tr"]), ("uk", "uk", ["uk"]), ("ur", "ur", ["ur"]),
    ("vi", "vi", ["vi"]), ("zh", "zh", ["zh_CN"]),
]
CODES = [code for code, _, _ in LANGS]


def mo(folders, domain):
    for folder in folders:
        path = f"{LOCALE}/{folder}/LC_MESSAGES/{domain}.mo"
        if os.path.exists(path):
            with open(path, "rb") as f:
                return {k: v for k, v in gettext.GNUTranslations(f)._catalog.items() if k}
    return {}


def cldr(path, tag):
    """{type: [names]} of <tag type=...> elements, the plain form first, then alt ones."""
    if not os.path.exists(path):
        return {}
    out = {}
    for el in ET.parse(path).getroot().iter(tag):
        kind, text = el.get("type"), (el.text or "").strip()
        if not kind or not text or el.get("draft") == "unconfirmed":
            continue
        forms = out.setdefault(kind, [])
        if el.get("alt") in (None, "short", "variant") and text not in forms:
            if el.get("alt") is None:
                forms.insert(0, text)
            else:
                forms.append(text)
    return out


class Rows:
    def __init__(self):
        self.rows = {}  # (kind, key) -> {lang: [forms]}

    def add(self, kind, key, lang, *forms):
        cell = self.rows.setdefault((kind, key), {}).setdefault(lang, [])
        for form in forms:
            form = clean(form)
            if form and form not in cell:
                cell.append(form)

    def write(self, out):
        out.write("kind\tkey\t" + "\t".join(CODES) + "\n")
        for (kind, key), cells in sorted(self.rows.items()):
            english = cells.get("en")
            if not english:
                continue
            line = [kind, key]
            for code in CODES:
                forms = cells.get(code, [])
                if code != "en" and [f.casefold() for f in forms] == [english[0].casefold()]:
                    forms = []
                line.append(";".join(forms))
            others = sum(1 for cell in line[3:] if cell)
            if kind in ("city", "subdivision") and others < MIN_OTHER_FORMS:
                continue  # names nobody writes differently add nothing

            out.write("\t".join(line) + "\n")


def clean(form):
    # "Άγκυρα (Ankyra)", "Lənkəran²": the name without glosses and footnote marks.
    form = re.sub(r"\s*\([^)]*\)|[\u00b2\u00b3\u00b9\u2070-\u209f]", "", form)
    form = " ".join(form.replace(";", ",").replace("\t", " ").split())
    # Some sources write "Korea, Republic of" and "Bolivia, Plurinational State of":
    # the part before the comma is the name people write.
    if ", " in form:
        head, tail = form.split(", ", 1)
        if tail.split()[0].lower() in ("republic", "plurinational", "bolivarian", "islamic",
                                       "federated", "united", "democratic", "state", "province"):
            return head
        return head if len(head) > 2 else form
    return form


def main():
    rows = Rows()
    # Countries and regions: CLDR territories. (iso-codes' translations would add
    # little to CLDR's and are LGPL: not mixed into the binary's data.)
    for code, locale, folders in LANGS:
        for key, forms in cldr(f"{CLDR}/main/{locale}.xml", "territory").items():
            if key in ("ZZ", "XA", "XB", "QO"):
                continue
            rows.add("country" if key.isalpha() else "region", key, code, *forms)
    # First-level subdivisions: CLDR.
    for code, locale, folders in LANGS:
        for key, forms in cldr(f"{CLDR}/subdivisions/{locale}.xml", "subdivision").items():
            rows.add("subdivision", key, code, *forms)
    # Language names: in English also the nationality adjective.
    for code, locale, folders in LANGS:
        for key, forms in cldr(f"{CLDR}/main/{locale}.xml", "language").items():
            if len(key) == 2:
                rows.add("language", key, code, *forms)
    # Days and months (CLDR's Gregorian calendar, wide names, in both grammatical
    # contexts): capitalized in some languages (English, Greek, German), never names.
    for code, locale, folders in LANGS:
        path = f"{CLDR}/main/{locale}.xml"
        if not os.path.exists(path):
            continue
        for cal in ET.parse(path).getroot().iter("calendar"):
            if cal.get("type") != "gregorian":
                continue
            for tag, width in (("month", "monthWidth"), ("day", "dayWidth")):
                for w in cal.iter(width):
                    if w.get("type") != "wide":
                        continue
                    for el in w.iter(tag):
                        if el.text and el.get("alt") is None:
                            rows.add("calendar", f"{tag}-{el.get('type')}", code, el.text.strip())
    # Cities (GeoNames).
    english = mo(["en"], "geonames")
    cities = {code: mo(folders, "geonames") for code, _, folders in LANGS if code != "en"}
    for gid, name in english.items():
        if gid.isalpha():
            # Countries by ISO code: more forms for the country rows.
            rows.add("country", gid, "en", name)
            for code, table in cities.items():
                if gid in table:
                    rows.add("country", gid, code, table[gid])
            continue
        named = [code for code, table in cities.items() if gid in table]
        if len(named) < MIN_CITY_LANGS:
            continue
        rows.add("city", gid, "en", name)
        for code in named:
            rows.add("city", gid, code, cities[code][gid])
    rows.write(sys.stdout)


if __name__ == "__main__":
    main()
