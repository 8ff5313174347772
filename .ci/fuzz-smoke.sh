#!/usr/bin/env bash
# Fuzz smoke: builds every cargo-fuzz target of fuzz/ and runs each for a
# few seconds on its committed seed corpus (fuzz/seeds/<target>). A crash,
# a failed assertion or a leak fails the script.
#
# Needs a nightly toolchain and cargo-fuzz (`cargo install cargo-fuzz
# --locked`). Without them it says so and passes, unless
# HOOKWARDEN_REQUIRE_ALL=1, when it fails.
#
# Knobs: FUZZ_SECONDS (per target, default 5); HOOKWARDEN_FUZZ_TARGET_DIR
# (default fuzz/target); FUZZ_SANITIZER (default none: a build in about a
# third of the time; use `address` for long runs).
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${FUZZ_SECONDS:-5}
sanitizer=${FUZZ_SANITIZER:-none}
export CARGO_TARGET_DIR=${HOOKWARDEN_FUZZ_TARGET_DIR:-$PWD/fuzz/target}

missing() {
    echo "fuzz-smoke: skipped: $1"
    if [ "${HOOKWARDEN_REQUIRE_ALL:-0}" = 1 ]; then
        echo "fuzz-smoke: HOOKWARDEN_REQUIRE_ALL=1: a missing fuzzer is a failure"
        exit 1
    fi
    exit 0
}

command -v rustup >/dev/null 2>&1 ||
    missing "rustup not found; the fuzz targets need a nightly toolchain"
rustup run nightly rustc --version >/dev/null 2>&1 ||
    missing "no nightly toolchain (rustup toolchain install nightly)"
cargo +nightly fuzz --version >/dev/null 2>&1 ||
    missing "cargo-fuzz is not installed (cargo install cargo-fuzz --locked)"

start=$(date +%s)
# --codegen-units 16: the default of 1 makes the build much slower, for
# runs of a few seconds.
cargo +nightly fuzz build --sanitizer "$sanitizer" --codegen-units 16
built=$(date +%s)
echo "fuzz-smoke: built in $((built - start)) s"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for target in $(cargo +nightly fuzz list); do
    mkdir -p "$work/$target"
    # New inputs go to the scratch directory; the committed seeds stay as
    # they are.
    cargo +nightly fuzz run --sanitizer "$sanitizer" --codegen-units 16 "$target" \
        "$work/$target" "fuzz/seeds/$target" -- \
        -max_total_time="$seconds" -print_final_stats=1 2>"$work/$target.log" || {
        tail -n 60 "$work/$target.log"
        echo "fuzz-smoke: FAILED: $target (the input is in fuzz/artifacts/$target/)"
        exit 1
    }
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/$target.log")
    echo "fuzz-smoke: $target: ${runs:-?} runs in ${seconds} s, no crash"
done
echo "fuzz-smoke: all targets ran in $(($(date +%s) - start)) s (build $((built - start)) s)"
