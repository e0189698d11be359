#!/usr/bin/env python3
"""End to end on one node, with and without detection, in one run (issue 18's "Must show").

For each round, two fresh `ziaxdr serve`s get the same simulated records as Cloud NSS sends
them (HTTP POST, gzip, 512 KB batches; acknowledged after the journal's fsync), one after the
other: one with detection (the shipped pack + every loadable SigmaHQ proxy/dns/firewall rule
of ../shared/sigma + BENCH_INDICATORS STIX indicators), one with `--no-detection`. A run is
timed from the first batch until every record is parsed, detected, indexed and committed
(searchable: the pipeline's journal lag is 0). The CPU time of each of the server's threads
is read from /proc before and after, and summed per stage by thread name:

  receive  tokio-*           HTTP, gzip, intake key, splitting into records
  journal  journal-writer    append, group commit, fsync
  read     pipeline-read     journal read, record decode
  parse    parse-*           zia parser, annotations, the store's index document, and with
                             detection the stateless rules and the indicators
  write    pipeline          dedup, correlations, index writes, commits, alert writes
  index    the store's own threads (tantivy's indexing and merge threads, zstd), and
           the threads that ended during the run (tantivy's segment workers end at commits)

"detect" is the difference of the two configurations' CPU per event (parse + write), since
detection runs inside those threads. The machine's other load (CPU busy outside the server and
the feed) is reported beside each run: it is shared.

Usage: bench/e2e/run.sh [RECORDS] (default 300000); ROUNDS (default 2), BENCH_INDICATORS
(default 100000), BENCH_PERF=DIR (a perf profile of each run's server in DIR; BENCH_PERF_ARGS adds arguments
to `perf record`, e.g. "--call-graph dwarf,16384" for the callers).
"""
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request

BIN = sys.argv[1]
N = int(sys.argv[2]) if len(sys.argv) > 2 else 300_000
ROUNDS = int(os.environ.get("ROUNDS", "2"))
INDICATORS = int(os.environ.get("BENCH_INDICATORS", "100000"))
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SHARED = os.path.join(os.path.dirname(ROOT), "shared")
HZ = os.sysconf("SC_CLK_TCK")
STAGES = ["receive", "journal", "read", "parse", "write", "index", "other"]


def stage_of(comm):
    if comm.startswith("tokio-"):
        return "receive"
    if comm == "ziaxdr":
        # The main thread runs the server's top-level future (the connection loop).
        return "receive"
    if comm == "journal-writer":
        return "journal"
    if comm == "pipeline-read":
        return "read"
    if comm.startswith("parse-"):
        return "parse"
    if comm == "pipeline":
        return "write"
    if "tantivy" in comm or comm.startswith("thrd-") or "merge" in comm or "index" in comm:
        return "index"
    return "other"


def threads(pid):
    """Per thread id: (comm, CPU seconds, seconds runnable but waiting for a core).

    The wait comes from /proc/…/schedstat (run-queue delay): on a machine others load, it
    tells a thread that could not get a core (contention) from one that had nothing to do or
    was blocked (a stall): blocked = wall - on CPU - waiting for a core."""
    out = {}
    base = f"/proc/{pid}/task"
    for tid in os.listdir(base):
        try:
            with open(f"{base}/{tid}/stat") as f:
                s = f.read()
            with open(f"{base}/{tid}/schedstat") as f:
                sched = f.read().split()
        except OSError:
            continue
        comm = s[s.index("(") + 1 : s.rindex(")")]
        fields = s[s.rindex(")") + 2 :].split()
        wait = int(sched[1]) / 1e9 if len(sched) > 1 else 0.0
        out[tid] = (comm, (int(fields[11]) + int(fields[12])) / HZ, wait)
    return out


def busy_total():
    """(busy, total) jiffies of the whole machine."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    idle = v[3] + v[4]
    return sum(v) - idle, sum(v)


OTHER = {}


def process_cpu(pid):
    """CPU seconds of the whole process, threads that already exited included."""
    with open(f"/proc/{pid}/stat") as f:
        s = f.read()
    fields = s[s.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / HZ


def per_stage(before, after):
    st = dict.fromkeys(STAGES, 0.0)
    for tid, (comm, cpu, _) in after.items():
        used = cpu - before.get(tid, (comm, 0.0, 0.0))[1]
        st[stage_of(comm)] += used
        if stage_of(comm) == "other" and used > 0:
            OTHER[comm] = OTHER.get(comm, 0.0) + used
    return st


def waits(before, after):
    """Seconds runnable but waiting for a core, per stage."""
    w = dict.fromkeys(STAGES, 0.0)
    for tid, (comm, _, wait) in after.items():
        w[stage_of(comm)] += wait - before.get(tid, (comm, 0.0, 0.0))[2]
    return w


def metric(http, name):
    with urllib.request.urlopen(f"http://{http}/metrics", timeout=10) as r:
        total = 0.0
        for line in r.read().decode().splitlines():
            if line.startswith(name):
                total += float(line.split()[-1])
        return total


# The pipeline's own account of its time (seconds, per step; see crates/pipeline metrics.rs).
STEPS = ["read", "parse", "handoff_wait", "starved", "write", "commit"]


def steps(http):
    return {k: metric(http, f"ziaxdr_pipeline_{k}_seconds_total") for k in STEPS}


def rules_dir(work):
    """The proxy, dns and firewall rules of the shared SigmaHQ selection, copied for the run."""
    out = os.path.join(work, "sigma")
    n = 0
    with open(os.path.join(SHARED, "sigma", "MANIFEST.txt")) as f:
        for line in f:
            parts = line.rstrip("\n").split("\t")
            if len(parts) >= 2 and parts[0] in ("proxy", "dns", "firewall"):
                src = os.path.join(SHARED, "sigma", "rules", parts[1])
                dst = os.path.join(out, parts[1])
                os.makedirs(os.path.dirname(dst), exist_ok=True)
                shutil.copy(src, dst)
                n += 1
    return out, n


def bundle(path, n):
    """n indicators: domains, IPv4 addresses and URLs, random, seeded."""
    rnd = random.Random(18)
    objs = []
    for i in range(n):
        kind = i % 10
        if kind < 6:
            pattern = f"[domain-name:value = 'x{rnd.getrandbits(40):x}.example-{i % 97}.net']"
        elif kind < 9:
            pattern = f"[ipv4-addr:value = '{rnd.randint(11, 223)}.{rnd.randint(0, 255)}.{rnd.randint(0, 255)}.{rnd.randint(1, 254)}']"
        else:
            pattern = f"[url:value = 'http://u{rnd.getrandbits(32):x}.example.org/p/{i}']"
        objs.append({
            "type": "indicator", "spec_version": "2.1",
            "id": f"indicator--{i:08x}-0000-4000-8000-{rnd.getrandbits(48):012x}",
            "created": "2026-01-01T00:00:00Z", "modified": "2026-01-01T00:00:00Z",
            "valid_from": "2026-01-01T00:00:00Z", "name": f"bench indicator {i}",
            "pattern": pattern, "pattern_type": "stix",
        })
    with open(path, "w") as f:
        json.dump({"type": "bundle", "id": "bundle--00000000-0000-4000-8000-000000000018",
                   "objects": objs}, f)


def start(work, name, detection, rules, stix):
    d = os.path.join(work, name)
    key = json.loads(subprocess.check_output(
        [BIN, "intake", "create", "--data", d, "--json"]))["intake_key"]
    if detection:
        subprocess.check_call([BIN, "cti", "import", "--data", d, stix],
                              stdout=subprocess.DEVNULL)
    args = [BIN, "serve", "--data", d, "--http", "127.0.0.1:0", "--syslog", "off"]
    args += ["--rules", rules] if detection else ["--no-detection"]
    err = open(d + ".err", "w")
    env = dict(os.environ, ZIAXDR_LOG=os.environ.get("ZIAXDR_LOG", "warn"))
    p = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=err, env=env)
    deadline = time.time() + 300
    while time.time() < deadline:
        with open(d + ".err") as f:
            for line in f:
                if line.startswith("listening "):
                    http = line.split("http=")[1].split()[0]
                    return p, key, http
        if p.poll() is not None:
            sys.exit(f"{name}: serve exited: {open(d + '.err').read()[-2000:]}")
        time.sleep(0.05)
    sys.exit(f"{name}: serve did not start")


def run(work, name, detection, rules, stix, seed):
    p, key, http = start(work, name, detection, rules, stix)
    try:
        # Let start-up work (rule compile, indicator load) finish before the clock starts.
        time.sleep(1.0)
        t_before, m_before = threads(p.pid), busy_total()
        p_before = process_cpu(p.pid)
        s_before = steps(http)
        prof = None
        if os.environ.get("BENCH_PERF"):
            # A flat profile of the server while it ingests (`perf report -i FILE --sort
            # comm,dso,sym`), one file per run in $BENCH_PERF.
            out = os.path.join(os.environ["BENCH_PERF"], f"{name}.perf.data")
            extra = os.environ.get("BENCH_PERF_ARGS", "").split()
            prof = subprocess.Popen(["perf", "record", "-q", "-F", "499", *extra, "-p", str(p.pid),
                                     "-o", out], stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL)
        t0 = time.time()
        feed = subprocess.Popen(
            [BIN, "simulate", "--to", f"http://{http}/plain/batch?status_code=200",
             "--key", key, "--gzip", "--batch-kb", "512", "--count", str(N),
             "--seed", str(seed), "--no-progress"],
            stdout=subprocess.DEVNULL)
        feed_cpu0 = os.times()
        feed.wait()
        acked = time.time()
        while True:
            done = metric(http, "ziaxdr_pipeline_events_total")
            lag = metric(http, "ziaxdr_journal_lag_events")
            if done >= N and lag == 0:
                break
            if time.time() - t0 > 1800:
                sys.exit(f"{name}: {done} of {N} after 30 min")
            time.sleep(0.02)
        t1 = time.time()
        t_after, m_after = threads(p.pid), busy_total()
        p_after = process_cpu(p.pid)
        s_after = steps(http)
        if prof is not None:
            prof.send_signal(2)
            prof.wait()
        feed_cpu1 = os.times()
    finally:
        p.terminate()
        p.wait()
    wall = t1 - t0
    st = per_stage(t_before, t_after)
    wt = waits(t_before, t_after)
    # Threads that ended during the run (tantivy's segment workers end at each commit) are
    # gone from /proc/PID/task but their time is in the process's: counted as index.
    st["index"] += max(0.0, (p_after - p_before) - sum(st.values()))
    server = sum(st.values())
    feed_cpu = (feed_cpu1.children_user + feed_cpu1.children_system) - (
        feed_cpu0.children_user + feed_cpu0.children_system)
    busy = (m_after[0] - m_before[0]) / HZ
    cores = os.cpu_count() or 1
    other = max(0.0, busy - server - feed_cpu)
    return {
        "name": name, "wall": wall, "rate": N / wall, "acked_rate": N / (acked - t0),
        "stages": st, "waits": wt, "steps": {k: s_after[k] - s_before[k] for k in STEPS}, "server_cpu": server, "feed_cpu": feed_cpu,
        "other_load_cores": other / wall, "idle_share": 1 - busy / (wall * cores),
    }


def us(x):
    return x / N * 1e6


def show(r):
    st = r["stages"]
    cells = " ".join(f"{k} {us(st[k]):5.1f}" for k in STAGES)
    busy = " ".join(f"{k} {st[k] / r['wall']:.2f}" for k in STAGES if st[k] > 0)
    print(f"  {r['name']:<7} {r['rate']:8.0f} events/s (acknowledged {r['acked_rate']:7.0f}/s), "
          f"server CPU {us(r['server_cpu']):5.1f} µs/event [{cells}], "
          f"feed {us(r['feed_cpu']):4.1f} µs/event, machine idle {r['idle_share']:.0%}, "
          f"other load {r['other_load_cores']:.2f} cores")
    # A stage that stalls the others shows as idle cores with no stage near 1.0.
    print(f"          cores busy per stage: {busy}")
    # Each one-thread stage's wall time split three ways: on a core, runnable but waiting for
    # one (the machine's load), blocked (waiting for work, a lock or the disk). The stage
    # that limits is on a core or waiting for one nearly all the time; a stall shows as
    # every stage mostly blocked.
    w = r["waits"]
    split = []
    for k in ("journal", "read", "write"):
        on, q = st[k] / r["wall"], w[k] / r["wall"]
        split.append(f"{k} {on:.2f}/{q:.2f}/{max(0.0, 1 - on - q):.2f}")
    npar = max(1, os.cpu_count() or 1)
    pon, pq = st["parse"] / r["wall"] / npar, w["parse"] / r["wall"] / npar
    split.append(f"parse (per thread) {pon:.2f}/{pq:.2f}/{max(0.0, 1 - pon - pq):.2f}")
    print("          share of wall on a core/waiting for a core/blocked: " + ", ".join(split))
    # The pipeline's threads by step: the reading thread reads, waits for the parse threads,
    # then waits for the writing thread to take the batch (handoff_wait); the writing thread
    # waits for a batch (starved), writes it, commits.
    sp = r["steps"]
    print("          pipeline steps, share of wall: reading thread: " +
          " ".join(f"{k} {sp[k] / r['wall']:.2f}" for k in ("read", "parse", "handoff_wait")) +
          "; writing thread: " +
          " ".join(f"{k} {sp[k] / r['wall']:.2f}" for k in ("starved", "write", "commit")))


def main():
    work = tempfile.mkdtemp(prefix="ziaxdr-e2e-")
    try:
        rules, nrules = rules_dir(work)
        stix = os.path.join(work, "indicators.json")
        bundle(stix, INDICATORS)
        with open("/proc/loadavg") as f:
            load = f.read().split()[:3]
        print(f"# ziaxdr end to end: {N} records per run, Cloud NSS HTTP gzip 512 KB batches, "
              f"{os.cpu_count()} CPUs, load average {' '.join(load)} at start")
        print(f"# detection: shipped pack + {nrules} SigmaHQ proxy/dns/firewall rule files "
              f"(the loadable ones load) + {INDICATORS} indicators")
        results = []
        for i in range(ROUNDS):
            print(f"round {i + 1}")
            # Alternate which goes first: the machine's other load drifts.
            order = [("detect", True), ("none", False)]
            if i % 2:
                order.reverse()
            pair = {}
            for name, det in order:
                r = run(work, f"{name}-{i}", det, rules, stix, seed=i + 1)
                r["name"] = name
                show(r)
                pair[name] = r
            print(f"  ratio detection/no detection: {pair['detect']['rate'] / pair['none']['rate']:.2f}")
            results.append(pair)
        # Totals over the rounds.
        tot = {k: {"wall": 0.0, "st": dict.fromkeys(STAGES, 0.0)} for k in ("detect", "none")}
        for pair in results:
            for k in tot:
                tot[k]["wall"] += pair[k]["wall"]
                for s in STAGES:
                    tot[k]["st"][s] += pair[k]["stages"][s]
        print("all rounds:")
        for k in ("none", "detect"):
            rate = N * ROUNDS / tot[k]["wall"]
            st = {s: tot[k]["st"][s] / ROUNDS for s in STAGES}
            print(f"  {k:<7} {rate:8.0f} events/s, CPU µs/event: " +
                  " ".join(f"{s} {us(st[s]):.1f}" for s in STAGES) +
                  f" = {us(sum(st.values())):.1f}")
        d, n = tot["detect"]["st"], tot["none"]["st"]
        det = (d["parse"] + d["write"] - n["parse"] - n["write"]) / ROUNDS
        print(f"  detect (difference of parse + write): {us(det):.1f} µs/event")
        print(f"  ratio detection/no detection: {tot['none']['wall'] / tot['detect']['wall']:.2f}")
        for k in ("none", "detect"):
            st = tot[k]["st"]
            # The single-threaded stages bound the rate at 1 / their CPU per event.
            single = {s: st[s] / ROUNDS for s in ("journal", "read", "write")}
            s, v = max(single.items(), key=lambda kv: kv[1])
            print(f"  {k}: busiest single thread: {s} ({us(v):.1f} µs/event, "
                  f"at most {1e6 / max(us(v), 1e-9):.0f} events/s)")
        if OTHER:
            print("  threads counted as other (CPU s): " +
                  ", ".join(f"{k} {v:.2f}" for k, v in sorted(OTHER.items(), key=lambda kv: -kv[1])))
    finally:
        shutil.rmtree(work, ignore_errors=True)


main()
