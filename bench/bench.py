#!/usr/bin/env python3
"""Portico against nginx, HAProxy and Caddy on the same two upstreams, interleaved rounds.

Each proxy runs one worker pinned to CPU 0; wrk and the upstreams share CPU 1. CPU seconds
of every process are read from /proc, so CPU microseconds per request can be compared even
where the load generator saturates first."""
import argparse
import datetime
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import load  # noqa: E402
import procs  # noqa: E402
import proxies  # noqa: E402

PROXY_CPU, LOAD_CPU = "0", "1"


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--build-dir", default="build/release")
    ap.add_argument("--proxies", default="portico,nginx,haproxy,caddy")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=int, default=10, help="length of each load run")
    ap.add_argument("--idle", type=int, default=9000, help="idle keep-alive connections")
    ap.add_argument("--scenarios", default="keepalive,newconn,idle")
    ap.add_argument("--quick", action="store_true", help="one round, short runs")
    ap.add_argument("--out", default=None, help="results file (default bench/results/<date>.md)")
    a = ap.parse_args()
    if a.quick:
        a.rounds, a.seconds, a.idle = 1, 3, 2000
    return a


def start_upstreams(args, work):
    up_bin = os.path.join(args.build_dir, "bench", "upstream", "portico-upstream")
    ups = []
    for name in ("a", "b"):
        port = procs.free_port()
        p = procs.proc(f"upstream-{name}", [up_bin, "--port", str(port), "--threads", "1",
                                             "--name", name], cpus=LOAD_CPU,
                       log=os.path.join(work, f"upstream-{name}.log"))
        procs.wait_port(port)
        ups.append((p, f"127.0.0.1:{port}"))
    return ups


def start_proxy(name, args, work, addrs):
    port, admin = procs.free_port(), procs.free_port()
    opts = {"portico_bin": os.path.join(args.build_dir, "proxy", "portico"), "admin_port": admin}
    sp = proxies.BUILDERS[name](work, port, addrs, opts)
    p = procs.proc(name, sp.argv, cpus=PROXY_CPU, env=sp.env,
                   log=os.path.join(work, f"{name}.log"))
    procs.wait_port(port)
    time.sleep(0.5)
    return p, port, sp


def measured_run(p, port, args, conns, headers=(), path="/small"):
    cpu0 = p.cpu_seconds()
    r = load.run_wrk(f"http://127.0.0.1:{port}{path}", proxies.HOST, conns, args.seconds,
                     LOAD_CPU, headers=headers)
    r["proxy_cpu"] = p.cpu_seconds() - cpu0
    r["cpu_us_per_req"] = (r["proxy_cpu"] / r["requests"] * 1e6) if r["requests"] else None
    r["rss_kib"] = p.rss_kib()
    return r


def run_idle(p, port, args):
    rss0 = p.rss_kib()
    held = load.idle_connections(port, proxies.HOST, args.idle)
    time.sleep(1.0)
    rss1 = p.rss_kib()
    held.close()
    return {"rss_idle_kib": rss0, "rss_held_kib": rss1, "answered": held.answered,
            "bytes_per_conn": (rss1 - rss0) * 1024 / max(1, args.idle)}


CASES = {
    "keepalive": [("keepalive-64", 64, ()), ("keepalive-256", 256, ())],
    "newconn": [("newconn-64", 64, ("Connection: close",))],
}


def one_proxy_round(name, args, work, addrs, results):
    p, port, sp = start_proxy(name, args, work, addrs)
    try:
        load.run_wrk(f"http://127.0.0.1:{port}/small", proxies.HOST, 16, 1, LOAD_CPU)  # warm-up
        for scen in args.scenarios.split(","):
            for case, conns, headers in CASES.get(scen, []):
                r = measured_run(p, port, args, conns, headers)
                results.setdefault(case, {}).setdefault(name, []).append(r)
                print(f"  {case:14} {name:8} {r['rps']:10.0f} req/s "
                      f"{r['cpu_us_per_req'] or 0:6.1f} us/req p99 {r['p99']} ms "
                      f"errors {r['errors']} non2xx {r['non2xx']}", flush=True)
            if scen == "idle":
                r = run_idle(p, port, args)
                results.setdefault("idle", {}).setdefault(name, []).append(r)
                print(f"  idle           {name:8} {r['rss_idle_kib']} KiB idle, "
                      f"{r['bytes_per_conn']:.0f} B/conn ({r['answered']} answered)", flush=True)
        if not p.alive():
            raise RuntimeError(f"{name} died during the run")
    finally:
        p.stop()
    return sp.note


def direct_round(args, addrs, results):
    port = int(addrs[0].rsplit(":", 1)[1])
    for scen in ("keepalive", "newconn"):
        if scen not in args.scenarios:
            continue
        for case, conns, headers in CASES[scen]:
            r = load.run_wrk(f"http://127.0.0.1:{port}/small", proxies.HOST, conns, args.seconds,
                             LOAD_CPU, headers=headers)
            results.setdefault(case, {}).setdefault("direct", []).append(r)


def med(rs, key):
    vals = [r[key] for r in rs if r.get(key) is not None]
    if not vals:
        return None, None, None
    return statistics.median(vals), min(vals), max(vals)


def fmt(v, digits=0):
    return "–" if v is None else f"{v:,.{digits}f}"


def rate_table(case, by_proxy, names, seconds):
    lines = [f"### {case}", "",
             "| proxy | req/s median (min–max) | proxy CPU µs/req | p50 ms | p99 ms | "
             "wrk CPU % | errors |", "|---|---|---|---|---|---|---|"]
    for n in names + ["direct"]:
        rs = by_proxy.get(n)
        if not rs:
            continue
        m, lo, hi = med(rs, "rps")
        cpu = med(rs, "cpu_us_per_req")[0]
        lg = statistics.median(r["loadgen_cpu"] / seconds * 100 for r in rs)
        errs = sum(r["errors"] + r["non2xx"] for r in rs)
        lines.append(f"| {n} | {fmt(m)} ({fmt(lo)}–{fmt(hi)}) | {fmt(cpu, 1)} | "
                     f"{fmt(med(rs, 'p50')[0], 2)} | {fmt(med(rs, 'p99')[0], 2)} | "
                     f"{fmt(lg)} | {errs} |")
    peers = [n for n in names if n != "portico" and by_proxy.get(n)]
    if "portico" in by_proxy and peers:
        best_rps = max(med(by_proxy[n], "rps")[0] for n in peers)
        best_cpu = min(med(by_proxy[n], "cpu_us_per_req")[0] or 1e9 for n in peers)
        pr = med(by_proxy["portico"], "rps")[0]
        pc = med(by_proxy["portico"], "cpu_us_per_req")[0]
        lines += ["", f"Portico / best peer: throughput {pr / best_rps:.2f}×, "
                      f"CPU per request {pc / best_cpu:.2f}× (lower is better)."]
    return lines + [""]


def idle_table(by_proxy, names, idle):
    lines = ["### idle keep-alive connections", "",
             f"| proxy | RSS idle KiB | RSS with {idle} idle conns KiB | bytes per conn | answered |",
             "|---|---|---|---|---|"]
    for n in names:
        rs = by_proxy.get(n)
        if rs:
            lines.append(f"| {n} | {fmt(med(rs, 'rss_idle_kib')[0])} | "
                         f"{fmt(med(rs, 'rss_held_kib')[0])} | "
                         f"{fmt(med(rs, 'bytes_per_conn')[0])} | {rs[-1]['answered']} |")
    return lines + [""]


def machine():
    cpu = "unknown"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return f"{cpu}, {os.cpu_count()} cores, Linux {platform.release()}"


def versions(names, args):
    out = []
    cmds = {"nginx": ["nginx", "-v"], "haproxy": ["haproxy", "-v"], "caddy": ["caddy", "version"],
            "portico": [os.path.join(args.build_dir, "proxy", "portico"), "version"]}
    for n in names:
        try:
            r = subprocess.run(cmds[n], capture_output=True, text=True, timeout=10)
            out.append(f"{n}: {(r.stdout + r.stderr).strip().splitlines()[0]}")
        except (OSError, IndexError, subprocess.SubprocessError):
            out.append(f"{n}: unknown")
    return out


def main():
    args = parse_args()
    load.raise_nofile()
    names = [n for n in args.proxies.split(",") if proxies.available(n)]
    missing = set(args.proxies.split(",")) - set(names)
    if missing:
        print(f"bench: not installed, skipped: {', '.join(sorted(missing))}", file=sys.stderr)
    work = tempfile.mkdtemp(prefix="portico-bench-")
    ups = start_upstreams(args, work)
    addrs = [a for _, a in ups]
    results, notes = {}, {}
    try:
        for rnd in range(args.rounds):
            print(f"round {rnd + 1}/{args.rounds}", flush=True)
            for n in names:
                notes[n] = one_proxy_round(n, args, work, addrs, results)
            direct_round(args, addrs, results)
    finally:
        for p, _ in ups:
            p.stop()
    write_report(args, names, results, notes)


def write_report(args, names, results, notes):
    day = datetime.date.today().isoformat()
    out = args.out or os.path.join(os.path.dirname(os.path.abspath(__file__)), "results",
                                   f"{day}.md")
    os.makedirs(os.path.dirname(out), exist_ok=True)
    lines = [f"# Benchmark {day}", "", f"Machine: {machine()}", "",
             "Versions: " + "; ".join(versions(names, args)), "",
             f"Rounds: {args.rounds} interleaved, {args.seconds} s per run; proxy pinned to "
             f"CPU {PROXY_CPU}, wrk and both upstreams to CPU {LOAD_CPU}.", ""]
    lines += [f"- {n}: {notes.get(n, '')}" for n in names] + [""]
    for case in sorted(k for k in results if k != "idle"):
        lines += rate_table(case, results[case], names, args.seconds)
    if "idle" in results:
        lines += idle_table(results["idle"], names, args.idle)
    with open(out, "w") as f:
        f.write("\n".join(lines))
    print("\n".join(lines))
    print(f"bench: wrote {out}")


if __name__ == "__main__":
    main()
