#!/usr/bin/env bash
# The embedded store and ClickHouse side by side (crates/store/benches/backends_bench.rs):
# ingest end to end from the journal, bytes on disk per event, p50/p95 of the same queries
# and aggregations. Usage: bench/clickhouse/run.sh [EVENTS]  (default 1000000; CLICKHOUSE=URL
# uses a running server, else one is started as in CI: inserted parts LZ4, and zstd level
# CLICKHOUSE_ZSTD_LEVEL (9) from CLICKHOUSE_ZSTD_MIN_PART_SIZE bytes (16 MB), 0 for LZ4; see
# .ci/clickhouse.sh)
set -euo pipefail
cd "$(dirname "$0")/../.."
if [ -z "${CLICKHOUSE:-}" ]; then
    source .ci/clickhouse.sh
    CLICKHOUSE=$ZIAXDR_TEST_CLICKHOUSE
    export BENCH_CLICKHOUSE_PID=${CH_PID:-}
fi
BENCH_EVENTS=${1:-1000000} BENCH_CLICKHOUSE=$CLICKHOUSE \
    cargo bench -p store --features bench --bench backends_bench
