#!/usr/bin/env bash
# Bounded fuzzing smoke run: builds the libFuzzer targets in fuzz/ and runs each
# for SECONDS (default 60) from its seed corpus (fuzz/corpus/<target>), then prints
# executions and coverage per target. Fails if any target crashes, hangs (an input
# over 30 s) or runs out of memory; the input is left in target/fuzz-artifacts/.
#
# It builds the targets with cargo-fuzz's `-s none -a` flags (libFuzzer's coverage
# instrumentation, no sanitizer: the code is Rust) through cargo itself, without
# needing cargo-fuzz installed: a fresh CI machine saves its 90-second install.
# `cargo fuzz run <target>` works on the same targets. scripts/fuzz-rustc adds the
# flags to our own crates only, with debug assertions and overflow checks on; the
# dependencies are the release build's, so after `cargo test --release` they are
# already built. Stable toolchain: no nightly feature is needed.
# The chunk and tokenizer targets use the models from scripts/fetch-models.sh, and
# return at once when they are absent.
#
# Usage: scripts/fuzz-smoke.sh [SECONDS] [TARGET...]
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${1:-60}
shift $(($# > 0 ? 1 : 0))
target_dir=${CARGO_TARGET_DIR:-$PWD/target}
cd fuzz
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    mapfile -t targets < <(basename -s .rs fuzz_targets/*.rs)
fi
RUSTC_WORKSPACE_WRAPPER="$PWD/../scripts/fuzz-rustc" \
    cargo build --release -p abridge-fuzz --bins --target-dir "$target_dir"
bin_dir="$target_dir/release"

failed=()
summary=()
# The gguf target writes its inputs to a folder of its own under the temporary
# one, which libFuzzer's exit leaves behind: keep those in the target folder.
export TMPDIR="$target_dir/fuzz-tmp"
mkdir -p "$TMPDIR"
for t in "${targets[@]}"; do
    # New inputs go to a scratch corpus, so the committed seeds stay small.
    work="$target_dir/fuzz-corpus/$t"
    artifacts="$target_dir/fuzz-artifacts/$t/"
    mkdir -p "$work" "$artifacts"
    log="$target_dir/fuzz-artifacts/$t.log"
    echo "fuzz-smoke: $t for ${seconds}s" >&2
    start=$(date +%s)
    if "$bin_dir/$t" "$work" "corpus/$t" \
        -max_total_time="$seconds" -timeout=30 -rss_limit_mb=4096 \
        -artifact_prefix="$artifacts" -print_final_stats=1 >"$log" 2>&1; then
        status=ok
    else
        status=FAILED
        failed+=("$t")
        tail -n 40 "$log" >&2
    fi
    took=$(($(date +%s) - start))
    runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*')
    ft=$(grep -o 'ft: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*')
    corp=$(grep -o 'corp: [0-9]*/[0-9]*[a-zA-Z]*' "$log" | tail -1 | cut -d' ' -f2)
    summary+=("$(printf '%-10s %-6s %10s execs %6s cov %7s ft %12s corpus %5ss' \
        "$t" "$status" "${runs:-?}" "${cov:-?}" "${ft:-?}" "${corp:-?}" "$took")")
done

rm -rf "$TMPDIR"
printf '%s\n' "${summary[@]}"
if [ ${#failed[@]} -gt 0 ]; then
    echo "fuzz-smoke: crashed: ${failed[*]} (inputs in $target_dir/fuzz-artifacts/; logs beside them)" >&2
    exit 1
fi
