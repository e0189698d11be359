#!/usr/bin/env bash
# The embedded store and ClickHouse side by side (crates/store/benches/backends_bench.rs):
# ingest end to end from the journal, bytes on disk per event, p50/p95 of the same queries
# and aggregations. Usage: bench/clickhouse/run.sh [EVENTS]  (default 1000000; CLICKHOUSE=URL
# uses a running server, else one is started as in CI; ZSTD=1 starts it with zstd as the
# server's compression method, the one way to get zstd on 18.16, which has no column codecs)
set -euo pipefail
cd "$(dirname "$0")/../.."
if [ -z "${CLICKHOUSE:-}" ]; then
    if [ "${ZSTD:-0}" = 1 ]; then
        CONF_DIR=$(mktemp -d /tmp/ziaxdr-ch-conf.XXXXXX)
        cp /etc/clickhouse-server/users.xml "$CONF_DIR/"
        # Every part zstd (a <case> without conditions matches every part).
        sed 's#<compression incl="clickhouse_compression">#&<case><method>zstd</method></case>#' \
            /etc/clickhouse-server/config.xml >"$CONF_DIR/config.xml"
        export CH_CONFIG="$CONF_DIR/config.xml"
        ziaxdr_conf_rm() { rm -rf "$CONF_DIR"; }
        ZIAXDR_CI_CLEANUP="ziaxdr_conf_rm"
    fi
    source .ci/clickhouse.sh
    CLICKHOUSE=$ZIAXDR_TEST_CLICKHOUSE
    export BENCH_CLICKHOUSE_PID=${CH_PID:-}
fi
BENCH_EVENTS=${1:-1000000} BENCH_CLICKHOUSE=$CLICKHOUSE \
    cargo bench -p store --features bench --bench backends_bench
