#!/usr/bin/env bash
# Bounded fuzzing smoke run: builds the libFuzzer targets in fuzz/ and runs each
# for SECONDS (default 60) from its seed corpus (fuzz/corpus/<target>), then prints
# executions and coverage per target. Fails if any target crashes, hangs (an input
# over 30 s) or runs out of memory; the input is left in target/fuzz-artifacts/.
#
# It builds as `cargo fuzz build -s none -a --codegen-units 4` does (the same rustc
# flags, below), without needing cargo-fuzz installed: a fresh CI machine saves
# its 90-second install. `cargo fuzz run <target>` works on the same targets.
# No sanitizer: the code is Rust, and the build keeps debug assertions and overflow
# checks on. Four codegen units instead of cargo-fuzz's one let the crates the
# build waits on (candle-core, abridge) use both cores. Uses the nightly toolchain
# when rustup has one (unless FUZZ_TOOLCHAIN=stable), else the default toolchain
# with RUSTC_BOOTSTRAP=1 (fuzz/Cargo.toml uses profile-rustflags).
# The chunk and tokenizer targets use the models from scripts/fetch-models.sh, and
# return at once when they are absent.
#
# Usage: scripts/fuzz-smoke.sh [SECONDS] [TARGET...]
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${1:-60}
shift $(($# > 0 ? 1 : 0))
toolchain=()
build=fuzz
if [ "${FUZZ_TOOLCHAIN:-}" != stable ] && rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
    toolchain=(+nightly)
else
    export RUSTC_BOOTSTRAP=1
    build=fuzz-stable # its own folder: switching toolchains would rebuild everything
fi
target_dir=${CARGO_TARGET_DIR:-$PWD/target}
triple=$(rustc "${toolchain[@]}" -vV | sed -n 's/^host: //p')
# cargo-fuzz 0.13's flags for `-s none -a` (libFuzzer's coverage instrumentation)
export RUSTFLAGS="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares --cfg fuzzing \
-Cllvm-args=-simplifycfg-branch-fold-threshold=0 -Cllvm-args=-sanitizer-coverage-stack-depth \
-Cdebug-assertions -Ccodegen-units=4"

cd fuzz
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    mapfile -t targets < <(basename -s .rs fuzz_targets/*.rs)
fi
# --target: the flags then skip build scripts and proc macros, as cargo-fuzz's do
cargo "${toolchain[@]}" build --release --bins --target "$triple" --target-dir "$target_dir/$build"
bin_dir="$target_dir/$build/$triple/release"

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
