#!/usr/bin/env bash
# The intake against rsyslog, both fed by `ziaxdr simulate` with the same seed (the same
# records), on this machine, in one run:
#   1. NSS VM mode: `simulate --to tcp://…` into `ziaxdr serve` (journal fsync, zia parser,
#      NDJSON sink), timed until every record is journaled (accepted) and until it is in the sink;
#   2. the same into rsyslogd (imtcp -> omfile, a separate process, not the system daemon);
#   3. Cloud NSS mode: `simulate --to http://…/plain/batch?status_code=200 --gzip --batch-kb 512`.
# Usage: bench/intake/run.sh [RECORDS]   (default 200000; needs `apt-get install -y rsyslog`;
#        ZIAXDR_BIN=path skips the release build)
set -euo pipefail
N=${1:-200000}
source "$(dirname "$0")/../ziaxdr-bin.sh"
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT
now() { date +%s.%N; }
rate() { python3 -c "import sys; n,a,b=int(sys.argv[1]),float(sys.argv[2]),float(sys.argv[3]); print(f'{n:>8} records {b-a:7.2f} s {n/(b-a):10.0f} records/s')" "$@"; }
wait_for() { # wait_for CMD... until it prints a number >= N
  while true; do v=$("$@" 2>/dev/null || echo 0); [ "${v:-0}" -ge "$N" ] && return 0; sleep 0.02; done
}

start_ziaxdr() { # start_ziaxdr NAME -> sets key, http, syslog
  local d=$work/$1
  key=$("$BIN" intake create --data "$d" --json | sed -n 's/.*"intake_key":"\([^"]*\)".*/\1/p')
  ZIAXDR_LOG=warn "$BIN" serve --data "$d" --http 127.0.0.1:0 --syslog 127.0.0.1:0 \
    --syslog-intake-key "$key" >"$d.out" 2>"$d.err" &
  pids+=($!)
  until grep -q '^listening ' "$d.err" 2>/dev/null; do sleep 0.05; done
  http=$(sed -n 's/^listening http=\([^ ]*\).*/\1/p' "$d.err")
  syslog=$(sed -n 's/^listening .*syslog=\([^ ]*\) .*/\1/p' "$d.err")
}
metric() { curl -s "http://$http/metrics" | awk -v m="$1" '$1 ~ "^"m {s+=$2} END {printf "%d\n", s}'; }

echo "ziaxdr intake vs rsyslog: $N records, $(nproc) CPUs"
start_ziaxdr tcp
t0=$(now)
"$BIN" simulate --to "tcp://$syslog" --count "$N" --seed 1 --no-progress >/dev/null
wait_for metric ziaxdr_intake_events_accepted_total; t1=$(now)
wait_for metric ziaxdr_pipeline_events_total; t2=$(now)
echo "ziaxdr  NSS TCP  accepted+journaled (fsync): $(rate "$N" "$t0" "$t1")"
echo "ziaxdr  NSS TCP  + parsed + NDJSON sink:     $(rate "$N" "$t0" "$t2")"

if command -v rsyslogd >/dev/null || [ -x /usr/sbin/rsyslogd ]; then
  rs=$work/rsyslog; mkdir -p "$rs/work"
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  cat >"$rs/rsyslog.conf" <<CONF
global(workDirectory="$rs/work" maxMessageSize="256k")
module(load="imtcp" MaxSessions="10000")
template(name="raw" type="string" string="%rawmsg%\n")
ruleset(name="bench") { action(type="omfile" file="$rs/out.log" template="raw") }
input(type="imtcp" port="$port" address="127.0.0.1" ruleset="bench")
CONF
  /usr/sbin/rsyslogd -n -f "$rs/rsyslog.conf" -i "$rs/pid" &
  pids+=($!)
  until (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do sleep 0.05; done
  t0=$(now)
  "$BIN" simulate --to "tcp://127.0.0.1:$port" --count "$N" --seed 1 --no-progress >/dev/null
  wait_for sh -c "wc -l < '$rs/out.log'"; t1=$(now)
  echo "rsyslog NSS TCP  imtcp -> omfile (no fsync):  $(rate "$N" "$t0" "$t1")"
else
  echo "rsyslog: not installed (apt-get install -y rsyslog); skipped"
fi

start_ziaxdr http
t0=$(now)
"$BIN" simulate --to "http://$http/plain/batch?status_code=200" --key "$key" --gzip --batch-kb 512 \
  --count "$N" --seed 1 --no-progress >/dev/null
t1=$(now)
wait_for metric ziaxdr_pipeline_events_total; t2=$(now)
echo "ziaxdr  Cloud NSS HTTP gzip 512 KB batches, acknowledged: $(rate "$N" "$t0" "$t1")"
echo "ziaxdr  Cloud NSS HTTP + parsed + NDJSON sink:            $(rate "$N" "$t0" "$t2")"
