#!/usr/bin/env bash
# Starts a private PostgreSQL 15 for the tests of the PostgreSQL state stores (registry,
# accounts, alerts, CTI): installs Debian's postgresql-15 when missing, runs `initdb` and
# `pg_ctl` as the postgres user (initdb refuses root) with the data in a temporary folder,
# listening on loopback only on a free port, with a password-authenticated test role allowed
# to create databases (each test makes its own). Waits until the server accepts the role, then
# exports ZIAXDR_TEST_POSTGRES (a postgres:// URL). Source it: the server stops when the
# shell exits.
# Usage: source .ci/postgres.sh
set -euo pipefail

PG_BIN=/usr/lib/postgresql/15/bin
if [ ! -x "$PG_BIN/initdb" ]; then
    SUDO=""
    [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update -qq
    $SUDO apt-get install -y -qq --no-install-recommends postgresql-15 >/dev/null
fi

# As root, the server runs as the postgres user; as anyone else, as that user.
if [ "$(id -u)" -eq 0 ]; then
    pg_as() { runuser -u postgres -- "$@"; }
else
    pg_as() { "$@"; }
fi

PG_DIR=$(mktemp -d /tmp/ziaxdr-pg.XXXXXX)
chmod 0755 "$PG_DIR"
[ "$(id -u)" -eq 0 ] && chown postgres: "$PG_DIR"
PG_PORT=$(python3 - <<'PY'
import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
PY
)
PG_USER=ziaxdr_test
# A throw-away password for a throw-away server; it still goes through SCRAM like production.
PG_PASS=$(python3 -c 'import secrets; print(secrets.token_hex(16))')
printf '%s\n' "$PG_PASS" >"$PG_DIR/pwfile"
[ "$(id -u)" -eq 0 ] && chown postgres: "$PG_DIR/pwfile"
chmod 0600 "$PG_DIR/pwfile"
pg_as "$PG_BIN/initdb" -D "$PG_DIR/data" -U "$PG_USER" --pwfile="$PG_DIR/pwfile" \
    --auth=scram-sha-256 -E UTF8 --locale=C.UTF-8 >"$PG_DIR/initdb.log" 2>&1 || {
    echo "initdb failed:" >&2
    cat "$PG_DIR/initdb.log" >&2
    exit 1
}
rm -f "$PG_DIR/pwfile"
# Loopback only; the socket directory is the temp folder, not /var/run/postgresql.
pg_as "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/server.log" -w -t 30 \
    -o "-c listen_addresses=127.0.0.1 -c port=$PG_PORT -c unix_socket_directories=$PG_DIR -c max_connections=400 -c fsync=off" \
    start >/dev/null
ziaxdr_pg_stop() {
    pg_as "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m immediate stop >/dev/null 2>&1 || true
    rm -rf "$PG_DIR"
}
# Every .ci/*.sh server registers its stop function here, so sourcing several keeps all traps.
ZIAXDR_CI_CLEANUP="${ZIAXDR_CI_CLEANUP:-} ziaxdr_pg_stop"
trap 'for f in $ZIAXDR_CI_CLEANUP; do "$f"; done' EXIT
ok=""
for _ in $(seq 1 100); do
    if PGPASSWORD="$PG_PASS" "$PG_BIN/psql" -h 127.0.0.1 -p "$PG_PORT" -U "$PG_USER" \
        -d postgres -Atqc 'SELECT 1' >/dev/null 2>&1; then
        ok=1
        break
    fi
    sleep 0.2
done
if [ -z "$ok" ]; then
    echo "PostgreSQL did not start; its log:" >&2
    tail -30 "$PG_DIR/server.log" >&2 || true
    exit 1
fi
export ZIAXDR_TEST_POSTGRES="postgres://$PG_USER:$PG_PASS@127.0.0.1:$PG_PORT/postgres"
echo "PostgreSQL for the tests on 127.0.0.1:$PG_PORT (data in $PG_DIR)"
