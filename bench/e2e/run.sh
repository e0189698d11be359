#!/usr/bin/env bash
# One node end to end, with and without detection, in one run (issue 18): Cloud NSS HTTP gzip
# batches into `ziaxdr serve`, fsync before the answer, parse, detect, index, until searchable;
# detection = the shipped pack + every loadable SigmaHQ proxy/dns/firewall rule of ../shared/sigma
# + 100,000 indicators. Prints events/s, the ratio, and CPU µs per event per stage (from the
# server's threads in /proc). See bench/e2e/e2e.py.
# Usage: bench/e2e/run.sh [RECORDS]   (default 300000; ROUNDS=2, BENCH_INDICATORS=100000;
#        ZIAXDR_BIN=path skips the release build)
set -euo pipefail
N=${1:-300000}
source "$(dirname "$0")/../ziaxdr-bin.sh"
exec python3 "$(dirname "$0")/e2e.py" "$BIN" "$N"
