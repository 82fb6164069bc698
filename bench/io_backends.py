#!/usr/bin/env python3
"""Asio on epoll against Asio on io_uring, side by side in one run: the same Portico source
built twice (build/release, and build/uring configured with -DPORTICO_IO_URING=ON), the same
upstreams, the same load.

Per backend and round (rounds alternate the order of the backends):
  - keep-alive: --requests GETs of /small over 16 keep-alive connections (h2load), the
    proxy's CPU time (user + system, every thread) per request;
  - new connection each: a quarter as many, `Connection: close`, CPU per request;
  - fixed rate: --rate requests/s over 50 keep-alive connections for --seconds, latency
    p50/p99 from h2load's per-request log.
Then system calls per request (strace -c, bench/syscalls.py's method) once per backend.
The proxy runs on CPU 0 (one worker), load and upstreams on CPU 1.

  bench/io_backends.py [--build-dir build/release] [--uring-build-dir build/uring]
                       [--rounds 5] [--requests 40000] [--rate 5000] [--seconds 5]"""
import argparse
import os
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "lib"))
sys.path.insert(0, HERE)
import load  # noqa: E402
import procs  # noqa: E402
import proxies  # noqa: E402
import syscalls  # noqa: E402


def start(binary, work, addrs):
    port, admin = procs.free_port(), procs.free_port()
    sp = proxies.portico(work, port, addrs, {"portico_bin": binary, "admin_port": admin,
                                             "has_https_port": True})
    p = procs.proc("portico", sp.argv, env=sp.env, cpus="0",
                   log=os.path.join(work, f"portico-{port}.log"))
    procs.wait_ready(port, proxies.HOST, timeout=60)
    return p, f"http://127.0.0.1:{port}/small"


def h2load(url, count, close):
    argv = ["taskset", "-c", "1", "h2load", "--h1", "-t1", "-c16", f"-n{count}",
            "-H", f":authority: {proxies.HOST}"]
    if close:
        argv += ["-H", "connection: close"]
    out = subprocess.run(argv + [url], capture_output=True, text=True, timeout=600).stdout
    for line in out.splitlines():
        if "succeeded" in line:
            return int(line.split("succeeded")[0].split(",")[-1].split()[0])
    return 0


def cpu_per_request(p, url, count, close):
    before = p.cpu_seconds()
    ok = h2load(url, count, close)
    used = p.cpu_seconds() - before
    return used * 1e6 / ok if ok else None, ok


def summary(values, digits=1):
    vals = sorted(v for v in values if v is not None)
    if not vals:
        return "–"
    return f"{statistics.median(vals):.{digits}f} ({vals[0]:.{digits}f}–{vals[-1]:.{digits}f})"


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build-dir", default="build/release")
    ap.add_argument("--uring-build-dir", default="build/uring")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--requests", type=int, default=40000)
    ap.add_argument("--rate", type=int, default=5000)
    ap.add_argument("--seconds", type=int, default=5)
    ap.add_argument("--no-strace", action="store_true")
    a = ap.parse_args()
    load.raise_nofile(65536)
    variants = [("epoll", os.path.abspath(os.path.join(a.build_dir, "proxy", "portico"))),
                ("io_uring", os.path.abspath(os.path.join(a.uring_build_dir, "proxy", "portico")))]
    for name, binary in variants:
        if not os.access(binary, os.X_OK):
            sys.exit(f"io_backends.py: no {name} build at {binary}")
    work = tempfile.mkdtemp(prefix="portico-io-backends-")
    ups = procs.upstreams(a.build_dir, cpus="1")
    addrs = [u for _, u in ups]
    res = {name: {"ka": [], "nc": [], "p50": [], "p99": [], "errors": 0} for name, _ in variants}
    try:
        for r in range(a.rounds):
            order = variants if r % 2 == 0 else variants[::-1]
            for name, binary in order:
                p, url = start(binary, work, addrs)
                try:
                    h2load(url, 2000, False)  # warm-up: pools filled, caches warm
                    us, ok = cpu_per_request(p, url, a.requests, False)
                    res[name]["ka"].append(us)
                    res[name]["errors"] += a.requests - ok
                    us, ok = cpu_per_request(p, url, a.requests // 4, True)
                    res[name]["nc"].append(us)
                    res[name]["errors"] += a.requests // 4 - ok
                    fr = load.run_h2load_rate(url, proxies.HOST, 50, a.rate, a.seconds, "1",
                                              os.path.join(work, "rate.log"))
                    res[name]["p50"].append(fr["p50"])
                    res[name]["p99"].append(fr["p99"])
                    res[name]["errors"] += fr["errors"] + fr["non2xx"]
                finally:
                    p.stop()
            print(f"round {r + 1}/{a.rounds} done", file=sys.stderr, flush=True)
        sys_counts = {}
        if not a.no_strace:
            for name, binary in variants:
                for mode in ("keepalive", "newconn"):
                    ok, counts = syscalls.one("portico", mode, a.build_dir, work, addrs, 5000,
                                              binary)
                    sys_counts[(name, mode)] = sum(counts.values()) / ok if ok else None
    finally:
        for u, _ in ups:
            u.stop()
    print(f"{a.rounds} rounds alternating; keep-alive {a.requests} requests/round (16 "
          f"connections), new connection {a.requests // 4}/round, fixed rate {a.rate}/s for "
          f"{a.seconds} s (50 connections). Median (min–max) over rounds.\n")
    print("| backend | CPU µs/request keep-alive | CPU µs/request new conn | p50 ms | p99 ms "
          "| syscalls/request keep-alive | syscalls/request new conn | failed requests |")
    print("|---|---|---|---|---|---|---|---|")
    for name, _ in variants:
        s = res[name]
        ka, nc = sys_counts.get((name, "keepalive")), sys_counts.get((name, "newconn"))
        print(f"| {name} | {summary(s['ka'])} | {summary(s['nc'])} | {summary(s['p50'], 3)} | "
              f"{summary(s['p99'], 3)} | {'–' if ka is None else f'{ka:.2f}'} | "
              f"{'–' if nc is None else f'{nc:.2f}'} | {s['errors']} |")


if __name__ == "__main__":
    main()
