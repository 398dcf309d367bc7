#!/usr/bin/env bash
# Regenerates tests/fixtures/brief/articles.jsonl, the article set for the
# "desk brief" tests (near-duplicate merging and story grouping), from two
# package registries. It writes articles.jsonl only: labels.json beside it is
# made by hand (by reading the articles) and this script never touches it.
#
# Usage: scripts/gen-brief-fixture.sh [OUT]   (OUT defaults to
#        tests/fixtures/brief/articles.jsonl)
# Needs: pip, unzip, apt-get (Debian 12 "bookworm" archive), dpkg-deb, python3.
#
# Sources
# 1. Lee background corpus (Lee, Pincombe & Welsh 2005): 300 news articles of
#    the Australian Broadcasting Corporation's news mail service, Dec 2001 -
#    Jan 2002, one article a line.
#    Package: gensim 4.3.3 on PyPI (wheel cp311 manylinux_2_17_x86_64), file
#    gensim/test/test_data/lee_background.cor. Licence: gensim is
#    LGPL-2.1-only; the corpus carries no licence of its own and is
#    distributed in gensim's test data. Fetched exactly as
#    scripts/lib/lee-corpus.sh does.
#    Ids: lee-NNN, NNN = 1-based line number in lee_background.cor (the same
#    numbering as scripts/lib/lee-corpus.sh). Text = the line with surrounding
#    whitespace stripped (every line ends with one space). title, date: null.
# 2. Reuters-21578 (Reuters newswire, Feb-Oct 1987), ModApte split, as shipped
#    by Weka in the ARFF files ReutersGrain-train.arff (1554 articles) and
#    ReutersGrain-test.arff (604 articles).
#    Package: Debian "weka" 3.6.14-3 (bookworm, main), files
#    /usr/share/doc/weka/examples/ReutersGrain-{train,test}.arff.
#    Licence: the weka package is GPL-2+; the article texts are Reuters
#    Ltd's, distributed with Reuters-21578 under its terms: "free
#    distribution of this data for research purposes only" (Reuters Ltd and
#    Carnegie Group, Inc).
#    Ids: reut-train-NNNN / reut-test-NNNN, NNNN = 1-based position of the
#    article among the @data rows of ReutersGrain-train.arff / -test.arff
#    (Weka's instance number). Text = the ARFF string value, unescaped (\n,
#    \', \"), otherwise verbatim: it starts with the upper-case headline, and
#    keeps the SGML entities (&lt;, &#3;) and the closing "REUTER"/"Reuter".
#    The ARFF rows carry no title, date or NEWID: title and date are null.
#    (ReutersCorn-*.arff holds the same texts with another class column.)
#
# Order in articles.jsonl: Lee articles by line number, then Reuters train
# rows, then Reuters test rows, by row number. Each line is
# {"id", "source", "title", "date", "text"} (json.dumps, ASCII).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OUT=${1:-$ROOT/tests/fixtures/brief/articles.jsonl}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

GENSIM_VERSION=4.3.3
WEKA_VERSION=3.6.14-3
LEE_SHA256=5d78d6dafd953bbf65797bef09a9ffb9ec430583381be705f8fd460000f370fb
REUT_TRAIN_SHA256=87abc5c45221a5027329912a1ed85d670edf338e696a2a2744893ae71cc2ae1b
REUT_TEST_SHA256=957e519ba6094b5e1f5aaf0ab4c0829052c8c9b5fd3c586834ddbef77f704cea

echo "fetching gensim==$GENSIM_VERSION (PyPI) for the Lee corpus" >&2
mkdir -p "$WORK/wheel"
pip download --quiet --no-deps --only-binary :all: --python-version 3.11 \
  --platform manylinux_2_17_x86_64 "gensim==$GENSIM_VERSION" -d "$WORK/wheel" >&2
unzip -q -o -j "$WORK"/wheel/gensim-*.whl 'gensim/test/test_data/lee_background.cor' -d "$WORK"
rm -rf "$WORK/wheel"

echo "fetching weka=$WEKA_VERSION (Debian) for Reuters-21578" >&2
mkdir -p "$WORK/deb"
# As root, apt-get may warn "Download is performed unsandboxed as root": harmless.
if ! (cd "$WORK/deb" && apt-get download -q "weka=$WEKA_VERSION" >&2); then
  if [ "$(id -u)" = 0 ]; then
    echo "apt-get download failed; running apt-get update and trying again" >&2
    apt-get update -qq >&2
    (cd "$WORK/deb" && apt-get download -q "weka=$WEKA_VERSION" >&2)
  else
    echo "apt-get download weka=$WEKA_VERSION failed (run apt-get update as root?)" >&2
    exit 1
  fi
fi
dpkg-deb --fsys-tarfile "$WORK"/deb/weka_*.deb | tar -x -C "$WORK" \
  ./usr/share/doc/weka/examples/ReutersGrain-train.arff \
  ./usr/share/doc/weka/examples/ReutersGrain-test.arff
rm -rf "$WORK/deb"

EX="$WORK/usr/share/doc/weka/examples"
sha256sum -c --quiet - <<EOF
$LEE_SHA256  $WORK/lee_background.cor
$REUT_TRAIN_SHA256  $EX/ReutersGrain-train.arff
$REUT_TEST_SHA256  $EX/ReutersGrain-test.arff
EOF

mkdir -p "$(dirname "$OUT")"
python3 - "$WORK/lee_background.cor" "$EX/ReutersGrain-train.arff" \
  "$EX/ReutersGrain-test.arff" > "$OUT.tmp" <<'PY'
import json, re, sys

# Lee line numbers (1-based), grouped here by the story they were picked for;
# the labels themselves live in labels.json.
LEE = [
    1, 9, 41, 49,              # NSW bushfires
    28, 40, 47, 53,            # Sydney to Hobart yacht race
    118, 121, 136, 188, 196,   # Qantas maintenance wage dispute
    98, 116, 120, 148,         # David Hicks
    211, 218, 235,             # Mohammed Afroz, India
    99, 108, 134, 184,         # Tora Bora
    169, 231, 237, 282, 289,   # Interlaken canyoning trial
    119, 133, 147,             # first Test, Adelaide
    48, 56, 60, 73,            # second Test, MCG
    104, 274, 288,             # HIH royal commission
    4, 67, 77, 87,             # Argentina crisis
    233, 242,                  # skins swimming, Sydney
    12, 46, 70, 92, 180, 187, 225, 267,  # singletons
]
# Reuters rows (1-based instance numbers) in ReutersGrain-train/-test.arff.
REUT_TRAIN = [152, 203, 216, 289, 323, 450, 451, 468, 478, 679, 698, 898, 978, 1282]
REUT_TEST = [28, 32, 43, 203, 286, 300, 319, 334, 350, 360]


def arff_strings(path):
    """The (text, class) rows of a Weka ARFF file whose @data rows are
    'quoted string',class."""
    data = open(path, encoding="ascii").read()
    i = data.index("@data") + len("@data")
    esc = {"n": "\n", "'": "'", '"': '"', "\\": "\\", "t": "\t", "r": "\r"}
    rows = []
    while True:
        while i < len(data) and data[i] in " \t\r\n":
            i += 1
        if i >= len(data):
            return rows
        if data[i] != "'":
            raise SystemExit(f"{path}: unexpected {data[i:i + 40]!r}")
        i += 1
        buf = []
        while data[i] != "'":
            if data[i] == "\\":
                if data[i + 1] not in esc:
                    raise SystemExit(f"{path}: unknown escape {data[i:i + 2]!r}")
                buf.append(esc[data[i + 1]])
                i += 2
            else:
                buf.append(data[i])
                i += 1
        m = re.compile(r",([^\n,]*)").match(data, i + 1)
        rows.append(("".join(buf), m.group(1)))
        i = m.end()


lee_path, train_path, test_path = sys.argv[1:4]
lee = [l.strip() for l in open(lee_path, encoding="ascii").read().split("\n")]
assert len(lee) == 300 and all(lee), "lee_background.cor: expected 300 non-empty lines"
train, test = arff_strings(train_path), arff_strings(test_path)
assert (len(train), len(test)) == (1554, 604), (len(train), len(test))
assert len(set(LEE)) == len(LEE)

out = []
for n in sorted(LEE):
    out.append({"id": f"lee-{n:03d}", "source": "lee-background", "title": None,
                "date": None, "text": lee[n - 1]})
for split, rows, picks in (("train", train, REUT_TRAIN), ("test", test, REUT_TEST)):
    for n in sorted(picks):
        out.append({"id": f"reut-{split}-{n:04d}", "source": "reuters-21578",
                    "title": None, "date": None, "text": rows[n - 1][0]})
for o in out:
    print(json.dumps(o))
PY
mv "$OUT.tmp" "$OUT"
echo "wrote $(wc -l < "$OUT") articles to $OUT" >&2
