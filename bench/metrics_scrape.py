#!/usr/bin/env python3
"""What a /metrics scrape costs Portico at many route label sets, and whether scraping slows
the workers.

Portico (--workers 1) serves one Ingress with --hosts rules (hosts hN.bench.local, path /,
one Service), so there are --hosts route label sets; one GET per host gives each of them
traffic (GET 200: one series per family per host). Then, per round, --scrapes scrapes of
/metrics one after another on an otherwise idle proxy:
  CPU ms per scrape  = the process's CPU time (the sum of every thread's on-CPU nanoseconds
                       from /proc/<pid>/task/*/schedstat) across the scrapes / --scrapes
  wall ms per scrape = the client's time from request to the last byte
  bytes              = the size of the exposition
With --load-seconds S > 0, the workers' latency under load is measured twice per round:
h2load at a fixed rate (--rate over 20 keep-alive connections) with and without a loop
scraping every --scrape-interval seconds; p50/p99 of h2load's per-request log.

The script itself (the scrape client) runs on CPU 1 with the upstream and h2load.
The machine may be loaded by other jobs: CPU time is the figure to trust, wall time less so.
Results: median with min-max over --rounds."""
import argparse
import http.client
import os
import statistics
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "lib"))
import load  # noqa: E402
import procs  # noqa: E402
import proxies  # noqa: E402


def process_cpu_ns(pid):
    """Sum of every thread's on-CPU time in ns (schedstat's first field)."""
    total = 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                total += int(f.read().split()[0])
        except OSError:
            pass
    return total


def scrape(admin, method="GET"):
    c = http.client.HTTPConnection("127.0.0.1", admin, timeout=30)
    c.request(method, "/metrics")
    r = c.getresponse()
    body = r.read()
    c.close()
    if r.status != 200:
        raise RuntimeError(f"/metrics answered {r.status}")
    return body


def give_traffic(port, hosts):
    """One GET /small per host over one keep-alive connection; every answer must be 200."""
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    for h in hosts:
        c.request("GET", "/small", headers={"Host": h})
        r = c.getresponse()
        r.read()
        if r.status != 200:
            raise RuntimeError(f"{h}: {r.status}")
    c.close()


def measure_scrapes(pid, admin, n):
    cpu0 = process_cpu_ns(pid)
    walls, size = [], 0
    for _ in range(n):
        t0 = time.monotonic()
        size = len(scrape(admin))
        walls.append(time.monotonic() - t0)
    cpu = process_cpu_ns(pid) - cpu0
    return {"cpu_ms": cpu / n / 1e6, "wall_ms": statistics.median(walls) * 1e3, "bytes": size}


def scrape_loop(admin, interval, stop, count, method):
    while not stop.is_set():
        scrape(admin, method)
        count[0] += 1
        stop.wait(interval)


def latency(port, work, rate, seconds, admin=None, interval=1.0, method="GET"):
    stop, count, t = threading.Event(), [0], None
    if admin is not None:
        t = threading.Thread(target=scrape_loop, args=(admin, interval, stop, count, method))
        t.start()
    try:
        res = load.run_h2load_rate(f"http://127.0.0.1:{port}/small", proxies.HOST, 20, rate,
                                   seconds, "1", os.path.join(work, "h2load.log"))
    finally:
        stop.set()
        if t:
            t.join()
    res["scrapes"] = count[0]
    return res


def fmt(rs, key, digits=1):
    vals = sorted(r[key] for r in rs)
    return f"{statistics.median(vals):.{digits}f} ({vals[0]:.{digits}f}-{vals[-1]:.{digits}f})"


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build-dir", default="build/release")
    ap.add_argument("--hosts", type=int, default=2000)
    ap.add_argument("--scrapes", type=int, default=20, help="scrapes per round")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--load-seconds", type=int, default=0)
    ap.add_argument("--rate", type=int, default=2000, help="req/s offered during --load-seconds")
    ap.add_argument("--scrape-interval", type=float, default=1.0)
    ap.add_argument("--scrape-method", default="GET",
                    help="of the scrapes under load; HEAD renders the text but sends none of it")
    ap.add_argument("--portico-arg", action="append", default=[],
                    help="extra argument for portico serve (repeatable)")
    a = ap.parse_args()
    # This script's scrapes read 45 MB each: on CPU 1 with the upstream and h2load, so that
    # CPU 0 runs only Portico.
    os.sched_setaffinity(0, {1})
    work = tempfile.mkdtemp(prefix="portico-scrape-")
    [(up, up_addr)] = procs.upstreams(a.build_dir, ("a",), cpus="1")
    port, admin = procs.free_port(), procs.free_port()
    sp = proxies.portico(work, port, [up_addr],
                         {"portico_bin": os.path.join(a.build_dir, "proxy", "portico"),
                          "admin_port": admin, "extra_hosts": a.hosts - 1})
    p = procs.proc("portico", sp.argv + a.portico_arg, cpus="0",
                   log=os.path.join(work, "portico.log"))
    try:
        procs.wait_port(port)
        procs.wait_ready(port, proxies.extra_host(a.hosts - 2))
        hosts = [proxies.HOST] + [proxies.extra_host(i) for i in range(a.hosts - 1)]
        give_traffic(port, hosts)
        body = scrape(admin).decode()
        series = sum(1 for line in body.splitlines()
                     if line.startswith("nginx_ingress_controller_requests{"))
        print(f"{a.hosts} route label sets (one Ingress, {a.hosts} host rules, path /), "
              f"{series} series of nginx_ingress_controller_requests; {a.scrapes} scrapes "
              f"per round, {a.rounds} rounds; portico pinned to CPU 0, the upstream to CPU 1")
        scrape(admin)  # warm-up
        rounds = []
        for i in range(a.rounds):
            r = measure_scrapes(p.pid, admin, a.scrapes)
            if a.load_seconds > 0:
                base = latency(port, work, a.rate, a.load_seconds)
                with_scrape = latency(port, work, a.rate, a.load_seconds, admin,
                                      a.scrape_interval, a.scrape_method)
                r.update(p99_ms=base["p99"], p99_scrape_ms=with_scrape["p99"],
                         p50_ms=base["p50"], p50_scrape_ms=with_scrape["p50"],
                         scrapes_under_load=with_scrape["scrapes"])
            rounds.append(r)
            print(f"round {i + 1}: " + ", ".join(f"{k}={v:.2f}" if isinstance(v, float)
                                                 else f"{k}={v}" for k, v in r.items()),
                  flush=True)
        print(f"\nscrape CPU ms: {fmt(rounds, 'cpu_ms')}; wall ms: {fmt(rounds, 'wall_ms')}; "
              f"bytes: {rounds[-1]['bytes']:,}")
        if a.load_seconds > 0:
            print(f"workers at {a.rate} req/s, {a.load_seconds} s: p50 ms "
                  f"{fmt(rounds, 'p50_ms', 3)} without scrapes, {fmt(rounds, 'p50_scrape_ms', 3)} "
                  f"with; p99 ms {fmt(rounds, 'p99_ms', 3)} without, "
                  f"{fmt(rounds, 'p99_scrape_ms', 3)} with a {a.scrape_method} /metrics every "
                  f"{a.scrape_interval:g} s")
    finally:
        p.stop()
        up.stop()


if __name__ == "__main__":
    main()
