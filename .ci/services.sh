# Sourced by .ci/run (and usable by hand: `source .ci/services.sh`): installs
# Redis, PostgreSQL, Node.js and promtool from Debian's packages if missing, starts private
# instances on 127.0.0.1 and exports what the tests read:
#
#   HOOKWARDEN_TEST_REDIS_URL      redis://127.0.0.1:16379/
#   HOOKWARDEN_TEST_POSTGRES_URL   postgres://postgres@127.0.0.1:15432/hookwarden_test
#   HOOKWARDEN_TEST_REDIS_SERVER   the redis-server binary (fault tests start their own)
#   HOOKWARDEN_TEST_PG_BIN         the directory holding initdb and pg_ctl (same)
#
# Idempotent: servers already answering are left alone. Works as root on a
# fresh Debian 12 machine (PostgreSQL then runs as the `postgres` user) and as
# an ordinary user who has both packages installed.

_hw_services() {
    local base=/tmp/hookwarden-services
    local redis_port=16379 pg_port=15432 pg_db=hookwarden_test

    # Install what is missing.
    local missing=()
    command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
    command -v redis-cli >/dev/null 2>&1 || missing+=(redis-tools)
    if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
        missing+=(postgresql)
    fi
    # Node.js runs the common webhook sender as written (tests/vectors/).
    command -v node >/dev/null 2>&1 || missing+=(nodejs)
    # promtool checks and unit-tests the alert rules (deploy/prometheus/).
    command -v promtool >/dev/null 2>&1 || missing+=(prometheus)
    if [ "${#missing[@]}" -gt 0 ]; then
        echo "services: installing ${missing[*]}"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    fi

    local redis_server pg_bin
    redis_server="$(command -v redis-server)"
    pg_bin="$(dirname "$(ls -d /usr/lib/postgresql/*/bin/initdb | sort -V | tail -n 1)")"

    mkdir -p "$base"
    chmod 755 "$base"

    # Redis: no persistence, loopback only.
    if redis-cli -h 127.0.0.1 -p "$redis_port" ping >/dev/null 2>&1; then
        echo "services: redis already running on 127.0.0.1:$redis_port"
    else
        mkdir -p "$base/redis"
        "$redis_server" --port "$redis_port" --bind 127.0.0.1 --save '' --appendonly no \
            --daemonize yes --dir "$base/redis" --pidfile "$base/redis/redis.pid" \
            --logfile "$base/redis/redis.log"
        local i
        for i in $(seq 1 100); do
            redis-cli -h 127.0.0.1 -p "$redis_port" ping >/dev/null 2>&1 && break
            sleep 0.1
        done
        redis-cli -h 127.0.0.1 -p "$redis_port" ping >/dev/null 2>&1 || {
            echo "services: redis did not start; see $base/redis/redis.log" >&2
            return 1
        }
        echo "services: redis started on 127.0.0.1:$redis_port"
    fi

    # PostgreSQL: its own cluster and data directory, run as `postgres` when
    # we are root (it refuses to run as root), trust auth on loopback only.
    local as_pg=()
    if [ "$(id -u)" = 0 ]; then
        as_pg=(runuser -u postgres --)
    fi
    local pgdata="$base/pgdata" pgsock="$base/pgsock"
    if "$pg_bin/pg_isready" -q -h 127.0.0.1 -p "$pg_port"; then
        echo "services: postgresql already running on 127.0.0.1:$pg_port"
    else
        mkdir -p "$pgsock"
        if [ "$(id -u)" = 0 ]; then
            chown postgres: "$pgsock"
        fi
        if [ ! -s "$pgdata/PG_VERSION" ]; then
            rm -rf "$pgdata"
            mkdir -p "$pgdata"
            if [ "$(id -u)" = 0 ]; then
                chown postgres: "$pgdata"
            fi
            chmod 700 "$pgdata"
            "${as_pg[@]}" "$pg_bin/initdb" -D "$pgdata" -U postgres -A trust -E UTF8 \
                --no-sync >/dev/null
        fi
        # Not answering, so lock files are stale (left by a killed server,
        # whose last processes may still be exiting: hence one retry).
        local attempt
        for attempt in 1 2 3; do
            rm -f "$pgdata/postmaster.pid" "$pgsock/.s.PGSQL.$pg_port" "$pgsock/.s.PGSQL.$pg_port.lock"
            if "${as_pg[@]}" "$pg_bin/pg_ctl" -D "$pgdata" -l "$pgdata/server.log" -w -t 60 \
                -o "-c listen_addresses=127.0.0.1 -p $pg_port -c unix_socket_directories=$pgsock" \
                start >/dev/null; then
                break
            fi
            if [ "$attempt" = 3 ]; then
                echo "services: postgresql did not start; see $pgdata/server.log" >&2
                return 1
            fi
            sleep 2
        done
        echo "services: postgresql started on 127.0.0.1:$pg_port"
    fi
    local exists
    exists="$("$pg_bin/psql" -h 127.0.0.1 -p "$pg_port" -U postgres -d postgres -tAc \
        "SELECT 1 FROM pg_database WHERE datname = '$pg_db'")"
    if [ "$exists" != 1 ]; then
        "$pg_bin/createdb" -h 127.0.0.1 -p "$pg_port" -U postgres "$pg_db"
    fi

    export HOOKWARDEN_TEST_REDIS_URL="redis://127.0.0.1:$redis_port/"
    export HOOKWARDEN_TEST_POSTGRES_URL="postgres://postgres@127.0.0.1:$pg_port/$pg_db"
    export HOOKWARDEN_TEST_REDIS_SERVER="$redis_server"
    export HOOKWARDEN_TEST_PG_BIN="$pg_bin"
}

_hw_services
unset -f _hw_services
