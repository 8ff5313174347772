#!/usr/bin/env bash
# End-to-end benchmark of the inboxes: the whole receiver (allowlist,
# verify, envelope, the 202 once the inbox keeps the delivery, a handler
# that does nothing) with each inbox, under the same load, in one run, so
# the numbers can be read as ratios against the in-memory inbox.
#
#   bash benches/inbox_e2e.sh [ROUNDS] [SECONDS]
#
# INBOXES="memory sqlite" limits the run to some inboxes (memory, the
# baseline, should stay in); WORKERS sets the handler concurrency (default
# 4; more workers mean more lease and outcome writes competing with the
# accepts for the same core and disk).
# 32 keep-alive connections, 1 KiB Standard Webhooks deliveries, each with
# a unique id. The server runs on CPU 0 and the load generator on CPU 1
# (taskset). Inboxes, in order, alternated ROUNDS times (default 3):
#   memory    MemoryInbox
#   sqlite    SqliteInbox on a fresh file in $TMPDIR (WAL, synchronous=FULL)
#   postgres  PostgresInbox on $HOOKWARDEN_TEST_POSTGRES_URL (fsync and
#             synchronous_commit on, as a server defaults to); its table,
#             hookwarden_inbox, is emptied before each run: not on a
#             database whose inbox matters
#   redis     RedisInbox on a private redis-server started here with
#             appendonly yes, appendfsync always
# Needs: `source .ci/services.sh` first (PostgreSQL, the redis-server path).
# Prints one line per run and a summary of medians and ratios; the raw JSON
# lines go to target/inbox-e2e.jsonl.
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS="${1:-3}"
INBOXES="${INBOXES:-memory sqlite postgres redis}"
WORKERS="${WORKERS:-4}"
SECONDS_PER_RUN="${2:-8}"
PORT=3917
REDIS_PORT=16391
OUT=target/inbox-e2e.jsonl
work="$(mktemp -d)"
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT

: "${HOOKWARDEN_TEST_POSTGRES_URL:?source .ci/services.sh first}"
: "${HOOKWARDEN_TEST_REDIS_SERVER:?source .ci/services.sh first}"

cargo build --release --all-features --example bench_server --example loadgen >&2

"$HOOKWARDEN_TEST_REDIS_SERVER" --port "$REDIS_PORT" --bind 127.0.0.1 --dir "$work" \
    --save '' --appendonly yes --appendfsync always --daemonize no \
    --logfile "$work/redis.log" &
for _ in $(seq 1 100); do
    redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && break
    sleep 0.1
done

store_url() {
    case "$1" in
        memory) echo memory ;;
        sqlite) echo "sqlite://$work/inbox-$2.db" ;;
        postgres) echo "$HOOKWARDEN_TEST_POSTGRES_URL" ;;
        redis) echo "redis://127.0.0.1:$REDIS_PORT/" ;;
    esac
}

: >"$OUT"
# What one durable write costs on this disk: 4 KiB writes, each synced.
fsync="$(dd if=/dev/zero of="$work/fsync-probe" bs=4k count=300 oflag=dsync 2>&1 | tail -n 1)"
echo "disk: 300 synced 4 KiB writes: $fsync"
for round in $(seq 1 "$ROUNDS"); do
    for inbox in $INBOXES; do
        # Every run starts from an empty inbox.
        case "$inbox" in
            postgres) psql -q "$HOOKWARDEN_TEST_POSTGRES_URL" \
                -c "TRUNCATE hookwarden_inbox" >/dev/null 2>&1 || true ;;
            redis) redis-cli -p "$REDIS_PORT" flushall >/dev/null ;;
        esac
        taskset -c 0 target/release/examples/bench_server --mode pipeline \
            --listen "127.0.0.1:$PORT" --store "$(store_url "$inbox" "$round")" \
            --queue 10000000 --workers "$WORKERS" 2>"$work/server.log" &
        server=$!
        for _ in $(seq 1 100); do
            grep -q listening "$work/server.log" 2>/dev/null && break
            sleep 0.1
        done
        line="$(taskset -c 1 target/release/examples/loadgen \
            --url "http://127.0.0.1:$PORT/webhooks" --connections 32 \
            --duration "$SECONDS_PER_RUN" --body-bytes 1024 --deliveries 600000 --json \
            2>/dev/null)"
        kill -TERM "$server"
        wait "$server" || true
        batches="$(grep -o 'commits [0-9]*, ops [0-9]*, largest [0-9]*' "$work/server.log" || true)"
        handled="$(grep -o 'handled [0-9]*' "$work/server.log" | grep -o '[0-9]*' || echo 0)"
        echo "{\"round\":$round,\"inbox\":\"$inbox\",\"handled\":$handled,\"batches\":\"$batches\",\"run\":$line}" >>"$OUT"
        python3 - "$inbox" "$line" "$batches" "$handled" <<'EOF'
import json, sys
inbox, line, batches, handled = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3], int(sys.argv[4])
print(f"{inbox:9} {line['rps']:9.0f} req/s  handled {handled / line['duration_s']:7.0f}/s  "
      f"p50 {line['p50_us']/1000:6.2f} ms  p99 {line['p99_us']/1000:6.2f} ms  "
      f"statuses {line['statuses']}  {batches}")
EOF
    done
done

python3 - "$OUT" <<'EOF'
import json, statistics, sys
runs = [json.loads(l) for l in open(sys.argv[1])]
by = {}
for r in runs:
    by.setdefault(r["inbox"], []).append(r["run"])
base = statistics.median(r["rps"] for r in by["memory"])
print()
handled = {}
for r in runs:
    handled.setdefault(r["inbox"], []).append(r["handled"] / r["run"]["duration_s"])
print("| inbox | accepted req/s (median) | ratio to memory | handled/s during the run | accept p50 | accept p99 |")
print("| --- | --- | --- | --- | --- | --- |")
for inbox in [i for i in ["memory", "sqlite", "postgres", "redis"] if i in by]:
    rs = by[inbox]
    rps = statistics.median(r["rps"] for r in rs)
    p50 = statistics.median(r["p50_us"] for r in rs) / 1000
    p99 = statistics.median(r["p99_us"] for r in rs) / 1000
    done = statistics.median(handled[inbox])
    print(f"| {inbox} | {rps:,.0f} | {rps/base:.2f}x | {done:,.0f} | {p50:.2f} ms | {p99:.2f} ms |")
EOF
