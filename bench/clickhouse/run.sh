#!/usr/bin/env bash
# The embedded store and ClickHouse side by side on the same simulated feed: `ziaxdr import`
# end to end from the journal into each (wall time, events/s; ClickHouse's own CPU time too,
# since its server does part of the work), bytes on disk per event, then p50/p95 of the same
# queries and aggregations on both (crates/store/examples/backends_bench.rs).
# Usage: bench/clickhouse/run.sh [RECORDS]   (default 1000000; CLICKHOUSE=URL uses a running
#        server, else one is started as in CI; ZIAXDR_BIN=path skips the release build)
set -euo pipefail
export ZIAXDR_LOG=${ZIAXDR_LOG:-warn}
N=${1:-1000000}
cd "$(dirname "$0")/../.."
source bench/ziaxdr-bin.sh
if [ -z "${CLICKHOUSE:-}" ]; then
    source .ci/clickhouse.sh
    CLICKHOUSE=$ZIAXDR_TEST_CLICKHOUSE
fi
feed=${FEED_DIR:-${TMPDIR:-/tmp}}/ziaxdr-import-$N.log
if [ ! -s "$feed" ]; then
  "$BIN" simulate --to "file:$feed" --count "$N" --seed 1 --no-progress \
    --types web=6,firewall=3,dns=2,tunnel=1,audit=1,saas-security=1,saas-security-activity=1
fi
cat "$feed" > /dev/null
work=$(mktemp -d)
db="bench_$$"
cleanup() { rm -rf "$work"; curl -s --data-binary "DROP DATABASE IF EXISTS $db" "$CLICKHOUSE/" >/dev/null || true; }
trap 'cleanup; if declare -f ziaxdr_ch_stop >/dev/null; then ziaxdr_ch_stop; fi' EXIT
ch_pid=$(pgrep -n -f "clickhouse-server.*--http_port=${CLICKHOUSE##*:}" || true)
ch_cpu() { # user+system seconds of the ClickHouse server so far
  if [ -n "$ch_pid" ]; then awk '{printf "%.1f", ($14+$15)/100}' "/proc/$ch_pid/stat"; else echo 0; fi
}
echo "# $N simulated records ($(du -hL "$feed" | cut -f1)), $(nproc) cores, ClickHouse $(curl -s --data-binary 'SELECT version()' "$CLICKHOUSE/")"
for backend in tantivy clickhouse; do
  d="$work/$backend"
  intake=$("$BIN" intake create --data "$d" --name bench --json | sed -n 's/.*"uuid":"\([^"]*\)".*/\1/p' | head -1)
  extra=()
  [ "$backend" = clickhouse ] && extra=(--clickhouse "$CLICKHOUSE" --clickhouse-database "$db")
  before=$(ch_cpu)
  start=$(date +%s.%N)
  /usr/bin/time -f "$backend: ziaxdr CPU %U s user + %S s system, peak memory %M KB" \
    "$BIN" import --data "$d" --intake "$intake" "${extra[@]}" "$feed" 2>&1 | grep -v "^$" | tail -2
  end=$(date +%s.%N)
  after=$(ch_cpu)
  if [ "$backend" = tantivy ]; then
    bytes=$(du -sb "$d/store" | cut -f1)
  else
    curl -s --data-binary "OPTIMIZE TABLE $db.events FINAL" "$CLICKHOUSE/" >/dev/null || true
    bytes=$(curl -s --data-binary "SELECT sum(bytes_on_disk) FROM system.parts WHERE database='$db' AND active" "$CLICKHOUSE/")
  fi
  python3 -c "import sys; n,b,w,c=int(sys.argv[1]),int(sys.argv[2]),float(sys.argv[3]),float(sys.argv[4]); print(f'$backend: {n/w:.0f} events/s end to end ({w:.1f} s wall), ClickHouse server CPU {c:.1f} s, {b/1e6:.1f} MB on disk, {b/n:.1f} bytes/event')" \
    "$N" "$bytes" "$(echo "$end - $start" | bc)" "$(echo "$after - $before" | bc)"
done
EX=${BENCH_EXAMPLE:-target/release/examples/backends_bench}
if [ ! -x "$EX" ]; then
  cargo build --release -q -p store --example backends_bench
fi
"$EX" "$work/tantivy/store" "$CLICKHOUSE" "$db" "${RUNS:-10}"
