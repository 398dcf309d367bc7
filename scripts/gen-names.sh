#!/usr/bin/env bash
# Regenerates src/check/names/world.tsv (the place, country and language names the
# translation checks use), magnitudes.tsv (the words that scale numbers) and
# currencies.tsv (how each language names and writes currencies) from Debian's packages of real data: unicode-cldr-core
# (Unicode CLDR) and libgeonames-common (GeoNames). Installs them with apt (as root
# or through sudo) unless they are there. The output is committed: building abridge
# needs neither package. Licences: src/check/names/README.md.
set -euo pipefail
cd "$(dirname "$0")/.."
packages=()
[ -d /usr/share/unicode/cldr/common/main ] || packages+=(unicode-cldr-core)
[ -f /usr/share/locale/en/LC_MESSAGES/geonames.mo ] || packages+=(libgeonames-common)
if [ ${#packages[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" = 0 ] || sudo=sudo
  $sudo apt-get update -qq
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${packages[@]}" >/dev/null
fi
out=src/check/names/world.tsv
python3 scripts/gen-names.py > "$out.tmp"
mv "$out.tmp" "$out"
echo "gen-names: $(($(wc -l < "$out") - 1)) rows in $out" >&2
python3 - "$out" <<'PY' >&2
import sys
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1], encoding="utf-8")]
head, rows = rows[0], rows[1:]
counts = {lang: sum(1 for r in rows if r[i] or lang == "en") for i, lang in enumerate(head) if i >= 2}
print("gen-names: rows with a form of their own per language: " +
      ", ".join(f"{k} {v}" for k, v in counts.items()))
PY
python3 scripts/gen-magnitudes.py > src/check/names/magnitudes.tsv.tmp
mv src/check/names/magnitudes.tsv.tmp src/check/names/magnitudes.tsv
echo "gen-names: $(($(wc -l < src/check/names/magnitudes.tsv) - 1)) magnitude words in src/check/names/magnitudes.tsv" >&2
python3 scripts/gen-currencies.py > src/check/names/currencies.tsv.tmp
mv src/check/names/currencies.tsv.tmp src/check/names/currencies.tsv
echo "gen-names: $(($(wc -l < src/check/names/currencies.tsv) - 1)) currency forms in src/check/names/currencies.tsv" >&2
