#!/usr/bin/env bash
# Cluster benchmark: events/s end to end (Cloud NSS batches → intake node → JetStream → workers
# → ClickHouse, until every event is counted in ClickHouse) with one worker and with two, and
# the CPU time per event of each role (utime+stime of each process from /proc/PID/stat, over
# the run). Every process runs on this machine, so the figures are for one shared machine:
# read them as CPU per event, which is what sizing needs, more than as wall rates.
#
# Usage: bench/cluster.sh [EVENTS] (default 200000). Needs a release build
# (cargo build --release -p ziaxdr) and sources .ci/nats.sh and .ci/clickhouse.sh itself.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-200000}
BIN=${ZIAXDR_BIN:-target/release/ziaxdr}
[ -x "$BIN" ] || { echo "build first: cargo build --release -p ziaxdr" >&2; exit 1; }
source .ci/nats.sh >/dev/null
source .ci/clickhouse.sh >/dev/null
TICK=$(getconf CLK_TCK)
WORK=$(mktemp -d /tmp/ziaxdr-bench-cluster.XXXXXX)
PIDS=()
bench_stop() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
    rm -rf "$WORK"
}
ZIAXDR_CI_CLEANUP="bench_stop ${ZIAXDR_CI_CLEANUP:-}"
trap 'for f in $ZIAXDR_CI_CLEANUP; do "$f"; done' EXIT

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

# start ROLE DATA STREAM DB: runs `serve`, waits for its listening line, sets STARTED_PID and
# STARTED_HTTP.
start() {
    local role=$1 data=$2 stream=$3 db=$4 log=$2.log
    mkdir -p "$data"
    ZIAXDR_LOG=warn "$BIN" serve --role "$role" --data "$data" --http 127.0.0.1:0 --syslog off \
        --no-detection --nats "$ZIAXDR_TEST_NATS" --nats-stream "$stream" --nats-replicas 3 \
        --nats-max-bytes 4294967296 --clickhouse "$ZIAXDR_TEST_CLICKHOUSE" \
        --clickhouse-database "$db" >"$data.out" 2>"$log" &
    STARTED_PID=$!
    PIDS+=("$STARTED_PID")
    for _ in $(seq 1 300); do
        STARTED_HTTP=$(grep -o 'listening http=[^ ]*' "$log" | head -1 | cut -d= -f2 || true)
        [ -n "$STARTED_HTTP" ] && return 0
        sleep 0.1
    done
    echo "$role did not start:" >&2; cat "$log" >&2; exit 1
}

count() {
    curl -s "$ZIAXDR_TEST_CLICKHOUSE/" --data-binary "SELECT count() FROM $1.events" 2>/dev/null || echo 0
}

run() {
    local workers=$1 tag="w$1_$$"
    local stream="BENCH_${tag^^}" db="bench_$tag"
    local key
    key=$("$BIN" intake create --data "$WORK/$tag-intake" --json | python3 -c 'import json,sys;print(json.load(sys.stdin)["intake_key"])')
    start intake "$WORK/$tag-intake" "$stream" "$db"
    local ipid=$STARTED_PID ihttp=$STARTED_HTTP
    local wpids=()
    for w in $(seq 1 "$workers"); do
        start worker "$WORK/$tag-worker$w" "$stream" "$db"
        wpids+=("$STARTED_PID")
    done
    sleep 1
    local i0 w0=() t0
    i0=$(cpu_ticks "$ipid")
    for p in "${wpids[@]}"; do w0+=("$(cpu_ticks "$p")"); done
    t0=$(date +%s.%N)
    "$BIN" simulate --to "http://$ihttp/plain/batch?status_code=200" --key "$key" \
        --count "$N" --types web --seed 7 >/dev/null 2>"$WORK/$tag-sim.log"
    local t_sent
    t_sent=$(date +%s.%N)
    while [ "$(count "$db")" -lt "$N" ]; do sleep 0.2; done
    local t1 i1 wcpu=0 k=0
    t1=$(date +%s.%N)
    i1=$(cpu_ticks "$ipid")
    for p in "${wpids[@]}"; do
        wcpu=$((wcpu + $(cpu_ticks "$p") - ${w0[$k]}))
        k=$((k + 1))
    done
    python3 - "$workers" "$N" "$t0" "$t_sent" "$t1" "$((i1 - i0))" "$wcpu" "$TICK" <<'PY'
import sys
w, n, t0, ts, t1, icpu, wcpu, tick = sys.argv[1:]
n = int(n); t0, ts, t1 = float(t0), float(ts), float(t1); tick = int(tick)
print(f"workers={w} events={n} end_to_end={n/(t1-t0):,.0f} ev/s "
      f"(intake accepted {n/(ts-t0):,.0f} ev/s) "
      f"cpu_us_per_event intake={int(icpu)/tick*1e6/n:.1f} workers={int(wcpu)/tick*1e6/n:.1f}")
PY
    kill "$ipid" "${wpids[@]}" 2>/dev/null || true
    wait "$ipid" "${wpids[@]}" 2>/dev/null || true
}

run 1
run 2
