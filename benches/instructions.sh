#!/usr/bin/env bash
# Instructions per delivery (callgrind), in process: the bare axum route,
# the handwritten hmac/sha2 receiver and hookwarden's pipeline, over the
# same signed 1 KiB deliveries (benches/instructions.rs).
#
#   bash benches/instructions.sh [SMALL] [LARGE]
#
# Each mode runs twice, with SMALL (default 200) and LARGE (default 1200)
# deliveries, counting only inside `deliver`; the difference divided by
# LARGE - SMALL is the cost of one delivery, answered and handled, with
# setup and warm-up cancelled out. Instruction counts do not depend on the
# machine's load, so this shows a regression that timings would hide.
# Appends one JSON line to target/instructions.jsonl and prints the ratios.
# KEEP=DIR keeps the callgrind files (for callgrind_annotate).
set -euo pipefail
cd "$(dirname "$0")/.."

SMALL="${1:-200}"
LARGE="${2:-1200}"
MODES="${MODES:-bare handwritten pipeline}"
OUT=target/instructions.jsonl
work="${KEEP:-$(mktemp -d)}"
mkdir -p "$work"

bin="$(cargo bench --no-run --bench instructions --message-format=json 2>/dev/null |
    python3 -c 'import json,sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "instructions" and m.get("executable"):
        print(m["executable"])')"
[ -x "$bin" ] || { echo "instructions: the benchmark did not build" >&2; exit 1; }

count() { # mode deliveries -> instructions inside `deliver`
    local file="$work/callgrind.$1.$2"
    valgrind --tool=callgrind --toggle-collect='instructions::deliver' \
        --callgrind-out-file="$file" "$bin" "$1" "$2" >/dev/null 2>"$work/valgrind.log" ||
        { cat "$work/valgrind.log" >&2; exit 1; }
    awk '/^(summary|totals):/ {print $2; exit}' "$file"
}

commit="$(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
line="{\"commit\":\"$commit\",\"small\":$SMALL,\"large\":$LARGE"
for mode in $MODES; do
    small="$(count "$mode" "$SMALL")"
    large="$(count "$mode" "$LARGE")"
    per=$(( (large - small) / (LARGE - SMALL) ))
    echo "instructions: $mode $per per delivery" >&2
    line="$line,\"$mode\":$per"
done
line="$line}"
mkdir -p target
echo "$line" >>"$OUT"
python3 - "$line" <<'PY'
import json, sys
r = json.loads(sys.argv[1])
for mode in ("bare", "handwritten", "pipeline"):
    if mode in r:
        print(f"{mode:12} {r[mode]:>9,} instructions per delivery")
if "pipeline" in r and "handwritten" in r:
    print(f"pipeline / handwritten = {r['pipeline'] / r['handwritten']:.2f}x")
if "pipeline" in r and "bare" in r:
    print(f"pipeline - bare = {r['pipeline'] - r['bare']:,} instructions")
PY
[ -n "${KEEP:-}" ] || rm -rf "$work"
