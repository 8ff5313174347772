#!/usr/bin/env bash
# The race tests (tests/races.rs) with the in-memory store's and inbox's
# locks under shuttle's scheduler, so that the interleavings inside their
# critical sections are explored too (about a minute). The cfg changes how
# every crate is built, so this build has its own target directory.
# (`cargo test` runs the same tests with std's locks, interleaving whole
# operations, in a few seconds.)
set -euo pipefail
cd "$(dirname "$0")/.."

RUSTFLAGS="--cfg hookwarden_shuttle" \
CARGO_TARGET_DIR="${HOOKWARDEN_SHUTTLE_TARGET_DIR:-target/shuttle}" \
    cargo test --features testing --test races
echo "races: explored with shuttle's locks"
