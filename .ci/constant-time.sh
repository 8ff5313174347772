#!/usr/bin/env bash
# Constant time, measured: counts with callgrind the instructions each
# scheme's `verify` executes when the received tag matches, when it differs
# in its first byte, and when it differs in its last byte (.ci/ct, a small
# stable binary; only the `verify` call is counted).
#
# Fails when, for a keyed check (every HMAC scheme, GitLab's token, and the
# comparison primitives of hookwarden::mac):
#   * the two mismatches differ in count at all (where a tag differs must
#     not show), or
#   * the instructions spent in the comparison itself (src/mac.rs and the
#     hash, HMAC and `subtle` crates it runs) differ between any of the
#     three cases.
# A match may execute a few more instructions than a mismatch in total:
# after the comparison has decided, the success path moves a `Verified`
# into the result (and copies a signed id where the scheme has one). That
# is the verdict itself, which the response shows anyway, not where a tag
# differs; the table prints it as "match - mismatch".
#
# The public-key schemes (ed25519, P-256) check public data; their counts
# are reported, not asserted.
#
# Needs valgrind (callgrind, callgrind_annotate). Without it the script
# says so and passes, unless HOOKWARDEN_REQUIRE_ALL=1, when it fails.
set -euo pipefail
cd "$(dirname "$0")/.."

missing() {
    echo "constant-time: skipped: $1"
    if [ "${HOOKWARDEN_REQUIRE_ALL:-0}" = 1 ]; then
        echo "constant-time: HOOKWARDEN_REQUIRE_ALL=1: a missing tool is a failure"
        exit 1
    fi
    exit 0
}
command -v valgrind >/dev/null 2>&1 || missing "valgrind is not installed (apt-get install valgrind)"
command -v callgrind_annotate >/dev/null 2>&1 || missing "callgrind_annotate is not installed"

export CARGO_TARGET_DIR=${HOOKWARDEN_CT_TARGET_DIR:-$PWD/.ci/ct/target}
cargo build --quiet --release --manifest-path .ci/ct/Cargo.toml
bin=$CARGO_TARGET_DIR/release/hookwarden-ct

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# The comparison: tag decoding and the constant-time check (src/mac.rs),
# the hashes and HMAC, and `subtle`; by source file (code inlined from
# them) or by function (library code inlined into them).
comparison='(/src/mac\.rs:|/(sha1|sha2|hmac|digest|subtle|block-buffer)-[0-9.]+/|:(sha1|sha2|hmac|digest|subtle|block_buffer)::|:hookwarden::mac::)'

# measure CHECK CASE: sets `outcome`, `total` and `compared`.
measure() {
    local out="$work/$1.$2"
    outcome=$(valgrind --tool=callgrind --toggle-collect='*measured_*' \
        --callgrind-out-file="$out.cg" "$bin" "$1" "$2" 2>"$out.log") || {
        cat "$out.log"
        echo "constant-time: FAILED: $bin $1 $2"
        exit 1
    }
    total=$(sed -n 's/^totals: *//p' "$out.cg")
    compared=$(callgrind_annotate --inclusive=no --threshold=100 --auto=no "$out.cg" |
        grep -E "^ *[0-9,]+ .*$comparison" |
        awk '{ gsub(",", "", $1); sum += $1 } END { print sum + 0 }')
}

failed=0
printf '%-26s %9s %9s %9s %17s %12s\n' check match first last "match - mismatch" comparison
while read -r name kind; do
    declare -A count=() part=() said=()
    for case in match first last; do
        measure "$name" "$case"
        count[$case]=$total part[$case]=$compared said[$case]=$outcome
    done
    verdict=ok
    if [ "${said[match]}" != ok ] || [ "${said[first]}" = ok ] || [ "${said[last]}" = ok ] ||
        { [ "$kind" != primitive ] &&
            { [ "${said[first]}" != "no signature matches" ] ||
                [ "${said[last]}" != "no signature matches" ]; }; }; then
        # A mismatch refused for another reason would measure another path.
        verdict="WRONG OUTCOME (${said[match]} / ${said[first]} / ${said[last]})"
    elif [ "$kind" = public-key ]; then
        if [ "${count[first]}" = "${count[last]}" ]; then verdict="equal (reported)"; else verdict="differs (reported, public data)"; fi
    elif [ "${count[first]}" != "${count[last]}" ]; then
        verdict="DIFFERS: first ${count[first]} != last ${count[last]}"
    elif [ "${part[match]}" != "${part[first]}" ] || [ "${part[first]}" != "${part[last]}" ]; then
        verdict="DIFFERS: comparison ${part[match]} / ${part[first]} / ${part[last]}"
    else
        verdict="equal (${part[match]})"
    fi
    case $verdict in equal*|ok) ;; *"(reported"*) ;; *) failed=1 ;; esac
    printf '%-26s %9s %9s %9s %17s %12s\n' "$name" "${count[match]}" "${count[first]}" \
        "${count[last]}" "$((count[match] - count[first]))" "$verdict"
    unset count part said
done < <("$bin" --list)

if [ "$failed" = 1 ]; then
    echo "constant-time: FAILED: a keyed check's instruction count depends on where the tag differs"
    exit 1
fi
echo "constant-time: every keyed check executes the same instructions wherever the tag differs"
