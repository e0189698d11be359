#!/usr/bin/env bash
# The log concentrator against rsyslog doing the same job, in one run on this machine, both fed
# the same simulated NSS syslog stream (one TCP connection, the records written beforehand):
#   1. `ziaxdr forward` (fsync of every read before reading more) -> HTTPS gzip batches to a
#      local `ziaxdr serve` (self-signed certificate), timed until the forwarder has had every
#      record acknowledged by the server;
#   1b. the same to a sink that gunzips every batch, counts its records and answers 200 (the
#      forwarder alone, like rsyslog's sink; crates/forward/examples/https_sink.rs), with the
#      forwarder's CPU per stage (by thread) and the sink's own CPU;
#   2. rsyslogd as a concentrator: imtcp -> omfwd over TCP with a disk-assisted queue
#      (LinkedList + queue.filename) to a local sink that counts lines, timed until the sink
#      has every record.
# For each: records/s, and CPU µs per record of the concentrator process alone (user+system,
# from /proc/PID/stat; the server and the sink are not counted).
# For the forwarder it also prints when the last record was journaled (input side done), so
# the output's lag behind the input shows.
# Usage: bench/forward/run.sh [RECORDS]   (default 200000; needs `apt-get install -y rsyslog`;
#        ZIAXDR_BIN=path skips the release build, SINK_BIN=path that of the sink (the example
#        https_sink of crates/forward); CASES="sink rsyslog" runs only those of
#        serve, sink and rsyslog, default all three; PERF=FILE records a `perf record -g` of
#        the forwarder in the sink case; FORWARD_ARGS="--http-inflight 2 …" adds flags to
#        the forwarder's command line; SINK_PERF=FILE records one of the https sink;
#        PIN=1 pins the concentrator under test, ours and rsyslog alike, to one CPU and
#        everything else (this script, the feeding `cat`, the sinks, `ziaxdr serve`) to another,
#        PIN_CPU and PIN_OTHER choosing which, default 0 and 1: the concentrator's own
#        throughput on one CPU, as on a site where the NSS VM and the intake are other machines;
#        without PIN, all of them share every CPU and their total CPU bounds the rate)
set -euo pipefail
N=${1:-200000}
CASES=${CASES:-serve sink rsyslog}
has() { case " $CASES " in *" $1 "*) return 0;; esac; return 1; }
# "${cut[@]}" COMMAND…: starts the concentrator under test (on its own CPU with PIN=1; taskset
# execs it, so $! is its pid).
cut=()
if [ -n "${PIN:-}" ]; then
  PIN_CPU=${PIN_CPU:-0}; PIN_OTHER=${PIN_OTHER:-1}
  # Everything this script starts from here on inherits the other CPU.
  taskset -cp "$PIN_OTHER" $$ >/dev/null
  cut=(taskset -c "$PIN_CPU")
  mode="pinned: the concentrator on CPU $PIN_CPU, the feeder, sinks and server on CPU $PIN_OTHER"
else
  mode="shared: every process on every CPU"
fi
source "$(dirname "$0")/../ziaxdr-bin.sh"
# On disk, not tmpfs: the forwarder's fsync must cost what it costs.
work=$(mktemp -d -p /var/tmp)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT
now() { date +%s.%N; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
cpu_ticks() { awk '{print $14+$15}' "/proc/$1/stat"; }
# cpu_stat FILE: each CPU's busy and total ticks now (busy: all but idle and iowait).
cpu_stat() { awk '/^cpu[0-9]/ {t=0; for (i=2;i<=9;i++) t+=$i; print $1, t-$5-$6, t}' /proc/stat >"$1"; }
# cpu_busy FILE0 FILE1: how busy each CPU was between two cpu_stat snapshots, whoever ran.
cpu_busy() { echo "  (machine: $(join "$1" "$2" | awk '{printf "%s%s busy %.2f", (NR>1 ? ", " : ""), $1, ($4-$2)/(($5-$3)>0 ? ($5-$3) : 1)}'))"; }
# thread_ticks PID: "TID COMM TICKS" for every thread of PID (the name may hold no space here).
thread_ticks() { for t in /proc/$1/task/*; do awk -v t="${t##*/}" '{c=$0; sub(/^[^(]*\(/, "", c); sub(/\).*/, "", c); n=split($0, f, ") "); split(f[n], g, " "); print t, c, g[12]+g[13]}' "$t/stat" 2>/dev/null; done; }
# stages N FILE0 FILE1: the forwarder's CPU per record by thread name, between two snapshots:
# receive (tokio workers: TCP read, framing, key extraction, encoding), journal (its writer
# thread: CRC, write, fsync), read (the destination's thread: journal read, CRC, decode,
# batching), send (its sending threads: join, gzip, TLS, HTTP; threads named *-send*).
stages() {
  python3 - "$@" <<'PY'
import os, sys
n, f0, f1 = int(sys.argv[1]), sys.argv[2], sys.argv[3]
hz = os.sysconf('SC_CLK_TCK')
def load(f):
    d = {}
    for line in open(f):
        tid, comm, ticks = line.split()
        d[tid] = (comm, int(ticks))
    return d
a, b = load(f0), load(f1)
by = {}
for tid, (comm, t) in b.items():
    t0 = a.get(tid, (comm, 0))[1]
    if comm.startswith('tokio'): k = 'receive'
    elif comm.startswith('journal'): k = 'journal'
    elif '-send' in comm: k = 'send'
    elif comm.startswith('forward-'): k = 'read'
    else: k = 'other'
    by[k] = by.get(k, 0) + t - t0
print('  CPU us/record by stage: ' + ', '.join(f'{k} {by.get(k, 0) / hz / n * 1e6:.2f}' for k in ('receive', 'journal', 'read', 'send', 'other')))
PY
}
report() { # report NAME N T0 T1 TICKS0 TICKS1
  python3 -c "
import os,sys
name,n,a,b,c0,c1=sys.argv[1],int(sys.argv[2]),float(sys.argv[3]),float(sys.argv[4]),int(sys.argv[5]),int(sys.argv[6])
hz=os.sysconf('SC_CLK_TCK'); cpu=(c1-c0)/hz
print(f'{name:<58} {n/(b-a):9.0f} records/s  {b-a:6.2f} s  CPU {cpu:6.2f} s = {cpu/n*1e6:6.2f} us/record ({cpu/(b-a):.2f} CPUs)')
" "$@"
}
send() { cat "$work/feed.log" >"/dev/tcp/127.0.0.1/$1"; }
# forward_wait METRICS T0: waits until the forwarder has sent N records; prints the seconds
# from T0 to when it had journaled them all.
forward_wait() {
  local end=$((SECONDS + 600)) tj="" j s
  while [ $SECONDS -lt $end ]; do
    read -r j s < <(curl -s "http://$1/metrics" | awk '$1 ~ /^ziaxdr_forward_journaled_total/ {j+=$2} $1 ~ /^ziaxdr_forward_sent_total/ {s+=$2} END {printf "%d %d\n", j, s}')
    [ -z "$tj" ] && [ "${j:-0}" -ge "$N" ] && tj=$(now)
    if [ "${s:-0}" -ge "$N" ]; then tj=${tj:-$(now)}; python3 -c "print(f'{$tj-$2:.2f}')"; return 0; fi
    sleep 0.02
  done
  echo "timed out waiting for $N records (sent ${s:-0})" >&2; return 1
}

"$BIN" simulate --count "$N" --seed 1 --framing nss --no-progress >"$work/feed.log" 2>/dev/null
echo "ziaxdr forward vs rsyslog as the NSS concentrator: $N records, $(( $(wc -c <"$work/feed.log") / 1000000 )) MB, $(nproc --all) CPUs, $mode; $(uptime | sed 's/.*load/load/')"
fwd_rate=0; fwd_sink_rate=0

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 -subj /CN=localhost \
  -addext "subjectAltName=IP:127.0.0.1,DNS:localhost" -addext "basicConstraints=critical,CA:FALSE" -keyout "$work/key.pem" -out "$work/cert.pem" 2>/dev/null
key=$("$BIN" intake create --data "$work/srv" --json | sed -n 's/.*"intake_key":"\([^"]*\)".*/\1/p')
# 1. ziaxdr forward -> HTTPS -> ziaxdr serve
if has serve; then
ZIAXDR_LOG=warn "$BIN" serve --data "$work/srv" --http 127.0.0.1:0 --syslog off --no-detection \
  --output "$work/srv/events.ndjson" --tls-cert "$work/cert.pem" --tls-key "$work/key.pem" \
  >"$work/srv.out" 2>"$work/srv.err" &
pids+=($!)
until grep -q '^listening ' "$work/srv.err" 2>/dev/null; do sleep 0.05; done
http=$(sed -n 's/^listening http=\([^ ]*\).*/\1/p' "$work/srv.err")
fport=$(free_port)
ZIAXDR_LOG=warn "${cut[@]}" "$BIN" forward --data "$work/fwd" --listen "tcp://127.0.0.1:$fport=$key" \
  --to "https://$http/plain/batch?status_code=200" --ca "$work/cert.pem" --metrics 127.0.0.1:0 ${FORWARD_ARGS:-} \
  2>"$work/fwd.err" &
fpid=$!
pids+=($fpid)
until grep -q '^listening ' "$work/fwd.err" 2>/dev/null; do sleep 0.05; done
metrics=$(sed -n 's/^listening .*metrics=\([^ ]*\).*/\1/p' "$work/fwd.err")
c0=$(cpu_ticks "$fpid"); t0=$(now)
send "$fport"
tj=$(forward_wait "$metrics" "$t0"); t1=$(now); c1=$(cpu_ticks "$fpid")
report "ziaxdr forward  TCP -> fsync -> HTTPS gzip to ziaxdr serve" "$N" "$t0" "$t1" "$c0" "$c1"
echo "  (all journaled after $tj s; peak RSS $(awk '/VmHWM/ {print $2/1024}' /proc/$fpid/status) MB, $(awk '{print $10}' /proc/$fpid/stat) page faults)"
fwd_rate=$(python3 -c "print($N/($t1-$t0))")
kill "$fpid"; wait "$fpid" 2>/dev/null || true
fi

# 1b. ziaxdr forward -> HTTPS -> a sink that gunzips and counts every batch before it answers
#     200 (what rsyslog's line-counting sink below does for TCP): the forwarder's own rate, not
#     the receiving server's parse and index. The sink is crates/forward/examples/https_sink.rs
#     (Rust, like the forwarder: hyper, rustls, flate2), its CPU reported apart.
if has sink; then
if [ -n "${SINK_BIN:-}" ]; then SINK=$SINK_BIN; else
  cargo build --quiet --release -p forward --example https_sink --manifest-path "$root/Cargo.toml"
  SINK=${CARGO_TARGET_DIR:-$root/target}/release/examples/https_sink
fi
hport=$(free_port)
"$SINK" "$hport" "$work/cert.pem" "$work/key.pem" "$work/https_sink.count" &
spid=$!
pids+=($spid)
until (exec 3<>"/dev/tcp/127.0.0.1/$hport") 2>/dev/null; do sleep 0.05; done
if [ -n "${SINK_PERF:-}" ]; then perf record -g -o "$SINK_PERF" -p "$spid" 2>/dev/null & sink_perf_pid=$!; sleep 0.5; fi
fport=$(free_port)
ZIAXDR_LOG=warn "${cut[@]}" "$BIN" forward --data "$work/fwd2" --listen "tcp://127.0.0.1:$fport=$key" \
  --to "https://127.0.0.1:$hport/plain/batch?status_code=200" --ca "$work/cert.pem" --metrics 127.0.0.1:0 ${FORWARD_ARGS:-} \
  2>"$work/fwd2.err" &
fpid=$!
pids+=($fpid)
until grep -q '^listening ' "$work/fwd2.err" 2>/dev/null; do sleep 0.05; done
[ -n "${PIN:-}" ] && echo "  (forwarder $(taskset -cp "$fpid" | sed 's/.*current //'), sink $(taskset -cp "$spid" | sed 's/.*current //'))"
metrics=$(sed -n 's/^listening .*metrics=\([^ ]*\).*/\1/p' "$work/fwd2.err")
if [ -n "${PERF:-}" ]; then perf record -g -o "$PERF" -p "$fpid" 2>/dev/null & perf_pid=$!; sleep 0.5; fi
thread_ticks "$fpid" >"$work/threads0"
cpu_stat "$work/cpus0"
c0=$(cpu_ticks "$fpid"); s0=$(cpu_ticks "$spid"); t0=$(now)
send "$fport"
tj=$(forward_wait "$metrics" "$t0"); t1=$(now); c1=$(cpu_ticks "$fpid"); s1=$(cpu_ticks "$spid")
thread_ticks "$fpid" >"$work/threads1"
cpu_stat "$work/cpus1"
if [ -n "${PERF:-}" ]; then kill -INT "$perf_pid"; wait "$perf_pid" || true; fi
if [ -n "${SINK_PERF:-}" ]; then kill -INT "$sink_perf_pid"; wait "$sink_perf_pid" || true; fi
report "ziaxdr forward  TCP -> fsync -> HTTPS gzip to a 200 sink" "$N" "$t0" "$t1" "$c0" "$c1"
stages "$N" "$work/threads0" "$work/threads1"
cpu_busy "$work/cpus0" "$work/cpus1"
got=$(cat "$work/https_sink.count" 2>/dev/null || echo 0)
python3 -c "import os; hz=os.sysconf('SC_CLK_TCK'); print(f'  (the sink gunzipped and counted $got records, CPU {($s1-$s0)/hz:.2f} s = {($s1-$s0)/hz/$N*1e6:.2f} us/record)')"
[ "$got" -ge "$N" ] || echo "  the sink counted $got records, not $N"
echo "  (all journaled after $tj s; peak RSS $(awk '/VmHWM/ {print $2/1024}' /proc/$fpid/status) MB, $(awk '{print $10}' /proc/$fpid/stat) page faults)"
fwd_sink_rate=$(python3 -c "print($N/($t1-$t0))")
kill "$fpid"; wait "$fpid" 2>/dev/null || true
fi

# 2. rsyslog: imtcp -> disk-assisted queue -> omfwd TCP -> a line-counting sink
has rsyslog || exit 0
if ! [ -x /usr/sbin/rsyslogd ]; then echo "rsyslog: not installed (apt-get install -y rsyslog); skipped"; exit 0; fi
sport=$(free_port)
cat >"$work/sink.py" <<'PY'
import socket, sys, threading, time
port, out = int(sys.argv[1]), sys.argv[2]
count = 0
def flush():
    while True:
        with open(out + ".tmp", "w") as f: f.write(str(count))
        import os; os.replace(out + ".tmp", out); time.sleep(0.02)
threading.Thread(target=flush, daemon=True).start()
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", port)); s.listen(16)
def serve(c):
    global count
    while True:
        b = c.recv(1 << 20)
        if not b: return
        count += b.count(b"\n")
while True:
    c, _ = s.accept(); threading.Thread(target=serve, args=(c,), daemon=True).start()
PY
python3 "$work/sink.py" "$sport" "$work/sink.count" &
pids+=($!)
until [ -s "$work/sink.count" ]; do sleep 0.05; done
rs=$work/rsyslog; mkdir -p "$rs/work"
rport=$(free_port)
cat >"$rs/rsyslog.conf" <<CONF
global(workDirectory="$rs/work" maxMessageSize="256k")
module(load="imtcp" MaxSessions="10000")
template(name="raw" type="string" string="%rawmsg%")
ruleset(name="concentrator") {
  action(type="omfwd" target="127.0.0.1" port="$sport" protocol="tcp" template="raw"
         queue.type="LinkedList" queue.filename="fwdq" queue.maxDiskSpace="10g"
         queue.saveOnShutdown="on" action.resumeRetryCount="-1")
}
input(type="imtcp" port="$rport" address="127.0.0.1" ruleset="concentrator")
CONF
"${cut[@]}" /usr/sbin/rsyslogd -n -f "$rs/rsyslog.conf" -i "$rs/pid" &
rpid=$!
pids+=($rpid)
until (exec 3<>"/dev/tcp/127.0.0.1/$rport") 2>/dev/null; do sleep 0.05; done
[ -n "${PIN:-}" ] && echo "  (rsyslogd $(taskset -cp "$rpid" | sed 's/.*current //'), this script $(taskset -cp $$ | sed 's/.*current //'))"
cpu_stat "$work/cpus0"
c0=$(cpu_ticks "$rpid"); t0=$(now)
send "$rport"
# rsyslog sometimes leaves the last few hundred records in its disk queue for minutes (seen
# with 200 000 records: 199 815 delivered, the rest in fwdq.*): after 10 s without progress its
# rate is counted over the records delivered, up to the last progress.
last=0; tl=$(now); got=0
while :; do
  got=$(cat "$work/sink.count" 2>/dev/null || echo 0)
  [ "$got" -ge "$N" ] && break
  if [ "$got" != "$last" ]; then last=$got; tl=$(now)
  elif python3 -c "import sys; sys.exit(0 if $(now)-$tl > 10 else 1)"; then echo "rsyslog stalled at $got of $N records"; break; fi
  sleep 0.02
done
if [ "$got" -ge "$N" ]; then t1=$(now); else t1=$tl; fi; c1=$(cpu_ticks "$rpid"); cpu_stat "$work/cpus1"
report "rsyslog         imtcp -> disk-assisted queue -> omfwd TCP" "$got" "$t0" "$t1" "$c0" "$c1"
cpu_busy "$work/cpus0" "$work/cpus1"
echo "$(uptime | sed 's/.*load/load/')"
python3 -c "
r = $got / ($t1 - $t0)
parts = [f'{name} {rate / r:.2f}' for name, rate in (('forward to ziaxdr serve', $fwd_rate), ('forward to a 200 sink', $fwd_sink_rate)) if rate]
print('ratio to rsyslog, records/s: ' + ', '.join(parts))"
