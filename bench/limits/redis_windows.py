#!/usr/bin/env python3
"""Redis cost inside tokengate_redis's measured runs only (issue 14's per-request targets).

run.sh starts one redis-server per scenario; the harness runs every target in turn, so the
whole-run Redis CPU includes minutes where tokengate_redis is idle (serverCron, lease expiry).
This sampler runs beside the harness and, every 20 ms, looks for the wrk process of a measured
run (its -d equals DURATION) against tokengate_redis's port for a scenario (the port comes from
the harness log line "target tokengate_redis/SC up on :PORT"). At the start and end of each
such window it reads the redis-server's CPU time (sum of its threads' schedstat, in ns) and
INFO commandstats (FCALL + EVALSHA calls). After the harness, `report` divides by the requests
wrk counted in those runs (runs.jsonl).

usage: redis_windows.py sample OUT DURATION STATE SC:PORT:PID...   (until STATE/stop exists)
       redis_windows.py report OUT STATE
"""
import glob
import json
import os
import re
import socket
import sys
import time


def cpu_ns(pid):
    total = 0
    for f in glob.glob(f"/proc/{pid}/task/*/schedstat"):
        try:
            with open(f) as fh:
                total += int(fh.read().split()[0])
        except OSError:
            pass
    return total


def script_calls(port):
    with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
        s.sendall(b"INFO commandstats\r\n")
        buf = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            buf += chunk
            m = re.match(rb"\$(\d+)\r\n", buf)
            if m and len(buf) >= m.end() + int(m.group(1)):
                break
    calls = 0
    for m in re.finditer(rb"cmdstat_(?:fcall|evalsha):calls=(\d+)", buf):
        calls += int(m.group(1))
    return calls


_seen = {}  # pid -> ports that pid's wrk loads (empty for other processes)


def wrk_ports(duration):
    """Ports that a measured wrk run (-dDURATIONs) is loading right now (a cmdline is read
    once per new pid, so a scan costs one directory listing)."""
    pids = {int(d) for d in os.listdir("/proc") if d.isdigit()}
    for pid in list(_seen):
        if pid not in pids:
            del _seen[pid]
    for pid in pids - _seen.keys():
        ports = set()
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as fh:
                argv = fh.read().split(b"\0")
        except OSError:
            argv = []
        if argv and argv[0].endswith(b"wrk") and f"-d{duration}s".encode() in argv:
            for a in argv:
                m = re.match(rb"http://127\.0\.0\.1:(\d+)/", a)
                if m:
                    ports.add(int(m.group(1)))
        elif any(a.endswith(b"wrk") for a in argv[1:]):
            continue  # timeout/taskset about to exec wrk in this pid: read it again next scan
        _seen[pid] = ports
    return set().union(*_seen.values()) if _seen else set()


def sample(out, duration, state, specs):
    redis = {}  # scenario -> (redis port, redis pid)
    for spec in specs:
        sc, port, pid = spec.split(":")
        redis[sc] = (int(port), int(pid))
    target_port = {}  # scenario -> tokengate_redis's listening port
    open_win = {}     # scenario -> (cpu_ns, calls) at window start
    windows = []
    log = os.path.join(out, "harness.log")
    while not os.path.exists(os.path.join(state, "stop")):
        if len(target_port) < len(redis) and os.path.exists(log):
            with open(log) as fh:
                for m in re.finditer(r"target tokengate_redis/(\w+) up on :(\d+)", fh.read()):
                    target_port[m.group(1)] = int(m.group(2))
        busy = wrk_ports(duration) if target_port else set()
        for sc, tport in target_port.items():
            if sc not in redis:
                continue
            rport, rpid = redis[sc]
            if tport in busy and sc not in open_win:
                open_win[sc] = (cpu_ns(rpid), script_calls(rport), time.time())
            elif tport not in busy and sc in open_win:
                c0, k0, t0 = open_win.pop(sc)
                windows.append({"scenario": sc, "cpu_ns": cpu_ns(rpid) - c0,
                                "calls": script_calls(rport) - k0, "wall_s": time.time() - t0})
        time.sleep(0.02)
    with open(os.path.join(state, "windows.json"), "w") as fh:
        json.dump(windows, fh)


def report(out, state):
    with open(os.path.join(state, "windows.json")) as fh:
        windows = json.load(fh)
    reqs = {}
    with open(os.path.join(out, "runs.jsonl")) as fh:
        for line in fh:
            r = json.loads(line)
            if r.get("target") == "tokengate_redis":
                reqs[r["scenario"]] = reqs.get(r["scenario"], 0) + int(r.get("requests", 0))
    print("Redis inside tokengate_redis's measured runs (redis-server CPU and script calls "
          "between the start and end of each wrk run / requests wrk counted):")
    for sc in sorted({w["scenario"] for w in windows}):
        ws = [w for w in windows if w["scenario"] == sc]
        n = reqs.get(sc, 0)
        cpu = sum(w["cpu_ns"] for w in ws) / 1e3
        calls = sum(w["calls"] for w in ws)
        wall = sum(w["wall_s"] for w in ws)
        print(f"  {sc}: {len(ws)} runs, {wall:.1f} s, {n} requests, {calls} script runs "
              f"({calls / max(n, 1):.4f} per request), redis-server CPU {cpu / 1e3:.1f} ms = "
              f"{cpu / max(n, 1):.2f} us per request")


if __name__ == "__main__":
    if sys.argv[1] == "sample":
        sample(sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5:])
    else:
        report(sys.argv[2], sys.argv[3])
