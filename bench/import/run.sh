#!/usr/bin/env bash
# `ziaxdr import` end to end from the journal (the issue's indexing rate): simulated records of
# all seven ZIA log types into a fresh data directory, timed with the process's CPU time, peak
# memory and the store's bytes per event. With TRACE=1, also the cores busy per 100 ms
# (reading /proc/PID/task/*/stat), which shows where the pipeline waits (commits, flushes).
# Usage: bench/import/run.sh [RECORDS]   (default 1000000; the feed is kept in $FEED_DIR,
#        default $TMPDIR, and reused; ZIAXDR_BIN=path skips the release build)
set -euo pipefail
export ZIAXDR_LOG=${ZIAXDR_LOG:-warn}
N=${1:-1000000}
source "$(dirname "$0")/../ziaxdr-bin.sh"
feed=${FEED_DIR:-${TMPDIR:-/tmp}}/ziaxdr-import-$N.log
if [ ! -s "$feed" ]; then
  "$BIN" simulate --to "file:$feed" --count "$N" --seed 1 --no-progress \
    --types web=6,firewall=3,dns=2,tunnel=1,audit=1,saas-security=1,saas-security-activity=1
fi
# Read the feed once first: the figure is the import's (journal, parse, index), not the speed
# at which this machine's disk reads a file that fell out of the page cache (on a 2-core VM a
# cold 10M feed left the pipeline idle for 12% of the run).
cat "$feed" > /dev/null
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
intake=$("$BIN" intake create --data "$work" --name bench --json | sed -n 's/.*"uuid":"\([^"]*\)".*/\1/p' | head -1)
echo "# ziaxdr import of $N simulated records ($(du -hL "$feed" | cut -f1)), $(nproc) cores"
if [ "${TRACE:-0}" = 1 ]; then
  python3 - "$BIN" import --data "$work" --intake "$intake" "$feed" <<'PY'
import os, subprocess, sys, time
p = subprocess.Popen(sys.argv[1:], stdout=sys.stderr)
hz, prev, t0 = os.sysconf('SC_CLK_TCK'), {}, time.time()
print(" t(s)  cores busy")
while p.poll() is None:
    time.sleep(0.1)
    cur = {}
    for tid in os.listdir(f'/proc/{p.pid}/task') if os.path.exists(f'/proc/{p.pid}/task') else []:
        try:
            f = open(f'/proc/{p.pid}/task/{tid}/stat').read().rsplit(')', 1)[1].split()
            cur[tid] = int(f[11]) + int(f[12])
        except OSError:
            pass
    busy = sum(v - prev[k] for k, v in cur.items() if k in prev) / hz / 0.1
    prev = cur
    print(f"{time.time() - t0:5.1f}  {busy:4.2f}")
sys.exit(p.returncode)
PY
else
  /usr/bin/time -f "wall %e s, CPU %U s user + %S s system, peak memory %M KB" \
    "$BIN" import --data "$work" --intake "$intake" "$feed"
fi
store=$(du -sb "$work/store" | cut -f1)
python3 -c "import sys; print(f'store: {int(sys.argv[1])/1e6:.1f} MB, {int(sys.argv[1])/int(sys.argv[2]):.1f} bytes/event')" "$store" "$N"
