#!/usr/bin/env bash
# Starts a private ClickHouse server for the tests of the ClickHouse event store
# (crates/store/src/clickhouse): installs Debian's clickhouse-server when missing, runs it on
# loopback with its data in a temporary folder, waits until `GET /ping` answers, and exports
# ZIAXDR_TEST_CLICKHOUSE (its HTTP URL). Source it: the server stops when the shell exits.
# Usage: source .ci/clickhouse.sh
set -euo pipefail

if ! command -v clickhouse-server >/dev/null 2>&1 && [ ! -x /usr/sbin/clickhouse-server ]; then
    SUDO=""
    [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update -qq
    $SUDO apt-get install -y -qq --no-install-recommends clickhouse-server >/dev/null
fi
CH_BIN=$(command -v clickhouse-server || echo /usr/sbin/clickhouse-server)

CH_DIR=$(mktemp -d /tmp/ziaxdr-ch.XXXXXX)
mkdir -p "$CH_DIR/tmp" "$CH_DIR/uf" "$CH_DIR/fs"
# Free ports picked by the kernel, then released for the server (a race only if something
# else grabs them in between; the ping below would then fail clearly).
read -r CH_HTTP CH_TCP CH_INTER < <(python3 - <<'PY'
import socket
ss = [socket.socket() for _ in range(3)]
for s in ss: s.bind(("127.0.0.1", 0))
print(*[s.getsockname()[1] for s in ss])
PY
)
# Parts compressed with zstd, as docs/clickhouse.md advises operators: on 18.16, which has no
# column codecs, the server's <compression> section is the one way to choose it (the last
# <case> that matches wins; a case without conditions matches every part, and inserted parts
# match only such a case). Merged parts of at
# least CLICKHOUSE_ZSTD_MIN_PART_SIZE bytes (16 MB; 0: every part) at CLICKHOUSE_ZSTD_LEVEL (9;
# 0: the server's default, LZ4, for every part). Inserted and small parts: LZ4 (the server's
# default: no case matches them), or zstd level 1 with CLICKHOUSE_INSERT_METHOD=zstd (LZ4 cost
# the server less CPU per inserted event, the same bytes once merged: docs/clickhouse.md).
# CH_CONFIG: another configuration altogether.
CH_ZSTD_LEVEL=${CLICKHOUSE_ZSTD_LEVEL:-9}
CH_ZSTD_MIN_PART=${CLICKHOUSE_ZSTD_MIN_PART_SIZE:-16000000}
CH_INSERT_METHOD=${CLICKHOUSE_INSERT_METHOD:-lz4}
if [ -z "${CH_CONFIG:-}" ] && [ "$CH_ZSTD_LEVEL" != 0 ]; then
    mkdir -p "$CH_DIR/conf"
    cp /etc/clickhouse-server/users.xml "$CH_DIR/conf/"
    CASES="<case><method>zstd</method><level>1</level></case>"
    [ "$CH_INSERT_METHOD" = lz4 ] && CASES=""
    CASES="$CASES<case><min_part_size>$CH_ZSTD_MIN_PART</min_part_size><method>zstd</method><level>$CH_ZSTD_LEVEL</level></case>"
    [ "$CH_ZSTD_MIN_PART" = 0 ] && CASES="<case><method>zstd</method><level>$CH_ZSTD_LEVEL</level></case>"
    sed "s#<compression incl=\"clickhouse_compression\">#&$CASES#" \
        /etc/clickhouse-server/config.xml >"$CH_DIR/conf/config.xml"
    CH_CONFIG="$CH_DIR/conf/config.xml"
fi
"$CH_BIN" --config-file="${CH_CONFIG:-/etc/clickhouse-server/config.xml}" -- \
    --path="$CH_DIR/" --tmp_path="$CH_DIR/tmp/" --user_files_path="$CH_DIR/uf/" \
    --format_schema_path="$CH_DIR/fs/" --logger.log="$CH_DIR/ch.log" \
    --logger.errorlog="$CH_DIR/err.log" --listen_host=127.0.0.1 \
    --http_port="$CH_HTTP" --tcp_port="$CH_TCP" --interserver_http_port="$CH_INTER" \
    >"$CH_DIR/stdout.log" 2>&1 &
CH_PID=$!
ziaxdr_ch_stop() {
    kill "$CH_PID" 2>/dev/null || true
    wait "$CH_PID" 2>/dev/null || true
    rm -rf "$CH_DIR"
}
# Every .ci/*.sh server registers its stop function here, so sourcing several keeps all traps.
ZIAXDR_CI_CLEANUP="${ZIAXDR_CI_CLEANUP:-} ziaxdr_ch_stop"
trap 'for f in $ZIAXDR_CI_CLEANUP; do "$f"; done' EXIT
for _ in $(seq 1 100); do
    if [ "$(curl -s "http://127.0.0.1:$CH_HTTP/ping" || true)" = "Ok." ]; then
        break
    fi
    sleep 0.2
done
if [ "$(curl -s "http://127.0.0.1:$CH_HTTP/ping" || true)" != "Ok." ]; then
    echo "ClickHouse did not start; its log:" >&2
    tail -30 "$CH_DIR/err.log" "$CH_DIR/stdout.log" >&2 || true
    exit 1
fi
export ZIAXDR_TEST_CLICKHOUSE="http://127.0.0.1:$CH_HTTP"
echo "ClickHouse for the tests at $ZIAXDR_TEST_CLICKHOUSE (data in $CH_DIR, inserted parts $CH_INSERT_METHOD, zstd level $CH_ZSTD_LEVEL from $CH_ZSTD_MIN_PART bytes)"
