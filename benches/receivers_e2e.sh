#!/usr/bin/env bash
# End-to-end benchmark of hookwarden's Receiver against the receivers it is
# compared with, under the same load, in one run:
#
#   bare         an axum route that reads the body and answers 200
#   handwritten  the ~60-line receiver people write by hand (hmac, sha2,
#                subtle, a Mutex<HashSet>, serde into a struct, tokio::spawn)
#   pipeline     the Receiver: allowlist, verify, envelope, memory inbox,
#                workers, a typed catch-all decoding the same struct
#   sqlite       the same with the SQLite inbox (durable), for reference
#
#   bash benches/receivers_e2e.sh [ROUNDS] [SECONDS]
#
# 32 keep-alive connections, 1 KiB Standard Webhooks deliveries, each with
# a unique id. Two settings: `pinned` (server on CPU 0, load generator on
# CPU 1) and `unpinned` (both free on both cores, the server with 2 runtime
# threads, as most deployments run). Modes alternate, ROUNDS times (default
# 3). The server's CPU time is read from /proc before and after each load
# and divided by the requests answered: CPU µs per request, the measure
# that does not depend on how much the load generator got.
# MODES="bare handwritten pipeline" limits the modes; SETTINGS="pinned" the
# settings. Raw JSON lines (with the commit and the date) go to
# target/receivers-e2e.jsonl; a summary of medians and ratios is printed,
# and `python3 benches/chart.py` draws docs/performance.svg from them. The
# binaries are taken from ${CARGO_TARGET_DIR:-target}.
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS="${1:-3}"
SECONDS_PER_RUN="${2:-8}"
MODES="${MODES:-bare handwritten pipeline sqlite}"
SETTINGS="${SETTINGS:-pinned unpinned}"
PORT=3927
OUT=target/receivers-e2e.jsonl
BIN="${CARGO_TARGET_DIR:-target}/release/examples"
work="$(mktemp -d)"
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
ticks_per_second="$(getconf CLK_TCK)"
commit="$(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
date="$(date -u +%F)"

cargo build --release --all-features --example bench_server --example loadgen >&2

cpu_ticks() {
    # utime + stime of the process, fields 14 and 15 of /proc/PID/stat
    # (after the parenthesised command name).
    sed 's/.*) //' "/proc/$1/stat" | awk '{print $12 + $13}'
}

rss_kib() {
    awk '/^VmHWM/ {print $2}' "/proc/$1/status"
}

mkdir -p "$(dirname "$OUT")"
: >"$OUT"
for round in $(seq 1 "$ROUNDS"); do
    for setting in $SETTINGS; do
        for mode in $MODES; do
            args=(--listen "127.0.0.1:$PORT" --queue 10000000 --workers 2)
            case "$mode" in
                sqlite) args+=(--mode pipeline --store "sqlite://$work/inbox-$round-$setting.db") ;;
                *) args+=(--mode "$mode") ;;
            esac
            if [ "$setting" = pinned ]; then
                server_cpu=(taskset -c 0) load_cpu=(taskset -c 1)
            else
                server_cpu=() load_cpu=()
                args+=(--threads 2)
            fi
            "${server_cpu[@]}" "$BIN/bench_server" "${args[@]}" \
                2>"$work/server.log" &
            server=$!
            for _ in $(seq 1 100); do
                grep -q listening "$work/server.log" 2>/dev/null && break
                sleep 0.1
            done
            before="$(cpu_ticks "$server")"
            line="$("${load_cpu[@]}" "$BIN/loadgen" \
                --url "http://127.0.0.1:$PORT/webhooks" --connections 32 \
                --duration "$SECONDS_PER_RUN" --body-bytes 1024 --deliveries 1500000 --json \
                2>/dev/null)"
            after="$(cpu_ticks "$server")"
            rss="$(rss_kib "$server")"
            kill -TERM "$server"
            wait "$server" || true
            echo "{\"round\":$round,\"setting\":\"$setting\",\"mode\":\"$mode\",\"cpu_ticks\":$((after - before)),\"ticks_per_second\":$ticks_per_second,\"rss_kib\":$rss,\"commit\":\"$commit\",\"date\":\"$date\",\"run\":$line}" >>"$OUT"
            python3 - "$OUT" <<'PY'
import json, sys
r = [json.loads(l) for l in open(sys.argv[1])][-1]
run = r["run"]
cpu_us = r["cpu_ticks"] / r["ticks_per_second"] * 1e6 / max(run["requests"], 1)
print(f"{r['setting']:8} {r['mode']:11} {run['rps']:9.0f} req/s  {cpu_us:5.1f} CPU us/req  "
      f"p50 {run['p50_us']:5d} us  p99 {run['p99_us']:5d} us  peak RSS {r['rss_kib']/1024:5.0f} MiB  "
      f"non-2xx {run['non_2xx']}")
PY
        done
    done
done

python3 benches/summary.py "$OUT"
