# Sourced by the benchmark scripts: the abridge binary they measure.
#
#   abridge_bin DEST   copies $ABRIDGE_BIN (a given binary, e.g. a base commit's)
#                      or else this tree's fresh release build to DEST, so a rebuild
#                      during the run does not change what is measured

abridge_bin() {
  if [ -n "${ABRIDGE_BIN:-}" ]; then
    cp "$ABRIDGE_BIN" "$1"
  else
    cargo build --release --quiet
    cp target/release/abridge "$1"
  fi
}
