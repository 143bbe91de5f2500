#!/usr/bin/env python3
"""Paired ratios of one bench run: each target against an anchor (nginx) in the SAME rep.

The shared harness rotates the order of targets in every rep, so a target and its anchor are
measured seconds apart. On a machine whose speed drifts by ±30% over tens of seconds (a shared
VM), the median of per-rep ratios is far steadier than the ratio of per-target medians.

  bench/limits/paired.py RUNS.JSONL [ANCHOR]     ANCHOR default nginx

Prints, per scenario and connection count: for each target, the median (and min–max over reps)
of CPU µs/request ÷ the anchor's, of requests/s ÷ the anchor's, and of p50 added over `direct`
minus the anchor's added p50 (µs; c=1 latency target of issue 12).
"""
import collections
import json
import statistics
import sys


def main():
    path = sys.argv[1]
    anchor = sys.argv[2] if len(sys.argv) > 2 else "nginx"
    runs = collections.defaultdict(dict)  # (scenario, conns, rep) -> target -> run
    for line in open(path):
        r = json.loads(line)
        runs[(r["scenario"], r["conns"], r["rep"])][r["target"]] = r
    groups = collections.defaultdict(lambda: collections.defaultdict(list))
    for (sc, conns, _rep), by_target in sorted(runs.items()):
        a = by_target.get(anchor)
        if not a or not a["requests"]:
            continue
        direct = by_target.get("direct")
        a_cpu = a["target_cpu_s"] / a["requests"]
        g = groups[(sc, conns)]
        g[("_anchor", "cpu_us")].append(a_cpu * 1e6)
        for t, r in by_target.items():
            if t in (anchor, "direct") or not r["requests"]:
                continue
            g[(t, "cpu")].append(r["target_cpu_s"] / r["requests"] / a_cpu)
            g[(t, "rps")].append(r["requests"] / r["duration_us"] / (a["requests"] / a["duration_us"]))
            if direct:
                g[(t, "p50")].append(r["lat_p50_us"] - a["lat_p50_us"])
            g[(t, "cpu_us")].append(r["target_cpu_s"] * 1e6 / r["requests"])

    def fmt(xs, f):
        return f"{f(statistics.median(xs))} [{f(min(xs))}–{f(max(xs))}]"

    print(f"| scenario | conns | target | CPU/req ÷ {anchor} | rps ÷ {anchor} | p50 − {anchor}'s (µs) "
          f"| CPU µs/req (target / {anchor}) | reps |")
    print("|---|---:|---|---:|---:|---:|---:|---:|")
    for (sc, conns), g in sorted(groups.items()):
        targets = sorted({t for (t, k) in g if t != "_anchor"})
        for t in targets:
            cpu, rps = g[(t, "cpu")], g[(t, "rps")]
            p50 = g.get((t, "p50"))
            print(f"| {sc} | {conns} | {t} | {fmt(cpu, lambda v: f'{v:.2f}')} | "
                  f"{fmt(rps, lambda v: f'{v:.2f}')} | "
                  f"{fmt(p50, lambda v: f'{v:+.0f}') if p50 else '–'} | "
                  f"{statistics.median(g[(t, 'cpu_us')]):.1f} / "
                  f"{statistics.median(g[('_anchor', 'cpu_us')]):.1f} | {len(cpu)} |")


if __name__ == "__main__":
    main()
