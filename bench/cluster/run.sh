#!/usr/bin/env bash
# Cluster benchmark: events/s end to end (Cloud NSS batches → intake node → JetStream (3 NATS
# nodes, R3) → workers → ClickHouse, until every event is counted in ClickHouse and the stream
# is empty, i.e. every message was acknowledged after its insert and its alert transaction)
# with one worker and with two, and the CPU time per event of each role over the run:
# utime+stime of the intake node, of the workers, of the three NATS servers, of ClickHouse,
# of PostgreSQL (the postmaster, its reaped children and its live backends) and of the sender
# (`ziaxdr simulate`), read from /proc/PID/stat.
#
# Two modes, each with 1 and 2 workers, in one run (same servers):
#   nodetect  `--no-detection`, no PostgreSQL (keys from the intake node's SQLite registry);
#   detect    the shipped rules and CTI, `--postgres` on every node: keys, rule state, alerts
#             and the correlations' shared state in one PostgreSQL database per run.
#
# Every process runs on this machine, so wall rates are those of one shared machine: read the
# CPU per event, which is what sizing needs, more than the rates.
#
# Usage: bench/cluster/run.sh [EVENTS] (default 200000). MODES="nodetect detect" and
# WORKERS="1 2" choose the runs. Uses $ZIAXDR_BIN, else builds a release binary of this
# checkout (bench/ziaxdr-bin.sh). Sources .ci/nats.sh, .ci/clickhouse.sh and .ci/postgres.sh
# itself (private servers in temporary folders, stopped at the end). PERF=DIR records
# `perf record -g` of the first worker of each run into DIR/MODE-wN.perf.data.
set -euo pipefail
cd "$(dirname "$0")/../.."
N=${1:-200000}
MODES=${MODES:-nodetect detect}
WORKERS=${WORKERS:-1 2}
source bench/ziaxdr-bin.sh
[ -x "$BIN" ] || { echo "no binary at $BIN" >&2; exit 1; }
source .ci/nats.sh >/dev/null
source .ci/clickhouse.sh >/dev/null
case " $MODES " in *" detect "*) source .ci/postgres.sh >/dev/null ;; esac
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

# CPU ticks of a process (its own, and its reaped children's when $2 = all).
cpu_ticks() {
    if [ "${2:-}" = all ]; then
        awk '{print $14 + $15 + $16 + $17}' "/proc/$1/stat" 2>/dev/null || echo 0
    else
        awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0
    fi
}
sum_ticks() {
    local t=0 p
    for p in "$@"; do t=$((t + $(cpu_ticks "$p"))); done
    echo "$t"
}
# PostgreSQL: the postmaster with its reaped children, plus its live backends.
pg_ticks() {
    [ -n "${PG_DIR:-}" ] || { echo 0; return; }
    local pm t
    pm=$(head -1 "$PG_DIR/data/postmaster.pid")
    t=$(cpu_ticks "$pm" all)
    for c in $(cat "/proc/$pm/task/$pm/children" 2>/dev/null); do
        t=$((t + $(cpu_ticks "$c")))
    done
    echo "$t"
}

# start ROLE DATA STREAM DB PG: runs `serve`, waits for its listening line, sets STARTED_PID and
# STARTED_HTTP.
start() {
    local role=$1 data=$2 stream=$3 db=$4 pg=$5 log=$2.log
    local extra=(--no-detection)
    [ -n "$pg" ] && extra=(--postgres "$pg")
    mkdir -p "$data"
    ZIAXDR_LOG=warn "$BIN" serve --role "$role" --data "$data" --http 127.0.0.1:0 --syslog off \
        "${extra[@]}" --nats "$ZIAXDR_TEST_NATS" --nats-stream "$stream" --nats-replicas 3 \
        --nats-max-bytes 1073741824 --clickhouse "$ZIAXDR_TEST_CLICKHOUSE" \
        --clickhouse-database "$db" >"$data.out" 2>"$log" &
    STARTED_PID=$!
    PIDS+=("$STARTED_PID")
    for _ in $(seq 1 300); do
        STARTED_HTTP=$(grep -so 'listening http=[^ ]*' "$log" | head -1 | cut -d= -f2 || true)
        [ -n "$STARTED_HTTP" ] && return 0
        sleep 0.1
    done
    echo "$role did not start:" >&2; cat "$log" >&2; exit 1
}

count() {
    curl -s "$ZIAXDR_TEST_CLICKHOUSE/" --data-binary "SELECT count() FROM $1.events" 2>/dev/null || echo 0
}

# Messages left in the stream (a work queue: acknowledged messages are deleted), as the first
# NATS node sees it.
stream_left() {
    curl -s "http://127.0.0.1:${NATS_PORTS[2]}/jsz?streams=true" | python3 -c '
import json, sys
name = sys.argv[1]
d = json.load(sys.stdin)
for acc in d.get("account_details", []):
    for s in acc.get("stream_detail", []):
        if s["name"] == name:
            print(s["state"]["messages"]); sys.exit()
print(-1)' "$1" 2>/dev/null || echo -1
}

run() {
    local mode=$1 workers=$2 tag="${1}_w$2_$$"
    # One stream for every run (empty between runs): each reserves its max bytes × 3.
    local stream="BENCH_$$" db="bench_$tag" pg=""
    local key
    if [ "$mode" = detect ]; then
        pg="${ZIAXDR_TEST_POSTGRES%/*}/$db"
        "$PG_BIN/psql" "$ZIAXDR_TEST_POSTGRES" -qc "CREATE DATABASE $db" >/dev/null
        key=$(ZIAXDR_LOG=warn "$BIN" intake create --postgres "$pg" --json | python3 -c 'import json,sys;print(json.load(sys.stdin)["intake_key"])')
    else
        key=$("$BIN" intake create --data "$WORK/$tag-intake" --json | python3 -c 'import json,sys;print(json.load(sys.stdin)["intake_key"])')
    fi
    start intake "$WORK/$tag-intake" "$stream" "$db" "$pg"
    local ipid=$STARTED_PID ihttp=$STARTED_HTTP
    local wpids=()
    for w in $(seq 1 "$workers"); do
        start worker "$WORK/$tag-worker$w" "$stream" "$db" "$pg"
        wpids+=("$STARTED_PID")
    done
    sleep 2
    local i0 w0 n0 c0 p0 t0
    i0=$(cpu_ticks "$ipid"); w0=$(sum_ticks "${wpids[@]}"); n0=$(sum_ticks "${NATS_PIDS[@]}")
    c0=$(cpu_ticks "$CH_PID"); p0=$(pg_ticks)
    t0=$(date +%s.%N)
    local perf_pid=""
    if [ -n "${PERF:-}" ]; then
        mkdir -p "$PERF"
        perf record -q -g -p "${wpids[0]}" -o "$PERF/$mode-w$workers.perf.data" 2>/dev/null &
        perf_pid=$!
    fi
    local s0 s1
    s0=$(awk '{print $16 + $17}' /proc/$$/stat)
    "$BIN" simulate --to "http://$ihttp/plain/batch?status_code=200" --key "$key" \
        --count "$N" --types web --seed 7 >/dev/null 2>"$WORK/$tag-sim.log"
    s1=$(awk '{print $16 + $17}' /proc/$$/stat)
    local t_sent
    t_sent=$(date +%s.%N)
    while [ "$(count "$db")" -lt "$N" ] || [ "$(stream_left "$stream")" != 0 ]; do sleep 0.2; done
    local t1 i1 w1 n1 c1 p1
    t1=$(date +%s.%N)
    if [ -n "$perf_pid" ]; then kill -INT "$perf_pid"; wait "$perf_pid" || true; fi
    i1=$(cpu_ticks "$ipid"); w1=$(sum_ticks "${wpids[@]}"); n1=$(sum_ticks "${NATS_PIDS[@]}")
    c1=$(cpu_ticks "$CH_PID"); p1=$(pg_ticks)
    local stored
    stored=$(count "$db")
    python3 - "$mode" "$workers" "$N" "$stored" "$t0" "$t_sent" "$t1" "$TICK" \
        "$((i1 - i0))" "$((w1 - w0))" "$((n1 - n0))" "$((c1 - c0))" "$((p1 - p0))" \
        "$((s1 - s0))" <<'PY'
import sys
mode, w, n, stored, t0, ts, t1, tick, *cpu = sys.argv[1:]
n = int(n); t0, ts, t1 = float(t0), float(ts), float(t1); tick = int(tick)
us = [int(c) / tick * 1e6 / n for c in cpu]
names = ["intake", "workers", "nats", "clickhouse", "postgres", "sender"]
print(f"mode={mode} workers={w} events={n} stored={stored} "
      f"end_to_end={n/(t1-t0):,.0f} ev/s (intake accepted {n/(ts-t0):,.0f} ev/s) "
      f"cpu_us_per_event " + " ".join(f"{a}={b:.1f}" for a, b in zip(names, us))
      + f" total={sum(us):.1f}")
PY
    kill "$ipid" "${wpids[@]}" 2>/dev/null || true
    wait "$ipid" "${wpids[@]}" 2>/dev/null || true
    curl -s "$ZIAXDR_TEST_CLICKHOUSE/" --data-binary "DROP DATABASE IF EXISTS $db" >/dev/null || true
}

for mode in $MODES; do
    for w in $WORKERS; do run "$mode" "$w"; done
done
