#!/usr/bin/env python3
"""Portico against nginx, HAProxy and Caddy on the same upstreams, interleaved rounds.

Each proxy runs one worker pinned to CPU 0; the load generator and the upstreams share CPU 1.
CPU seconds of every process are read from /proc, so CPU microseconds per request can be
compared even where the load generator saturates first. Scenarios (--scenarios):
  keepalive  1: small GET, keep-alive, 64 and 256 connections
  newconn    2: a new connection per request
  rate       3: latency at a fixed offered rate (--rate) below saturation
  bodies     4: 1 MiB request and response bodies
  idle       5: RSS with --idle idle keep-alive connections
  hosts      6: --hosts hosts in the configuration, requests spread across them
  churn      7: the upstream set changes every 100 ms under load
  tls        8: TLS handshakes per second and keep-alive HTTPS
  h2         9: HTTP/2 over TLS (ALPN h2), 1 connection x 100 streams and 64 x 10
  grpc      10: unary gRPC calls over h2c to an h2c gRPC upstream, the same two shapes
  idle-tls  11: RSS with --idle idle TLS keep-alive connections (not in the default set)
"""
import argparse
import datetime
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "lib"))
sys.path.insert(0, HERE)
import h2  # noqa: E402
import load  # noqa: E402
import procs  # noqa: E402
import proxies  # noqa: E402
import results_file  # noqa: E402
import scenarios  # noqa: E402
import tls  # noqa: E402

ALL = "keepalive,newconn,rate,bodies,idle,hosts,churn,tls,h2,grpc"


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build-dir", default="build/release")
    ap.add_argument("--alt-build-dir", default=None,
                    help="a second Portico build, run as the proxy 'portico-alt' (same "
                         "configuration) in the same interleaved rounds; add it to --proxies")
    ap.add_argument("--proxies", default="portico,nginx,haproxy,caddy,nginx-lean,haproxy-lean")
    ap.add_argument("--rounds", type=int, default=None, help="3 (--quick: 1)")
    ap.add_argument("--seconds", type=int, default=None,
                    help="length of each load run: 4 (--quick: 2)")
    ap.add_argument("--scenarios", default=ALL)
    ap.add_argument("--idle", type=int, default=None,
                    help="idle keep-alive connections: 9000 (--quick: 2000)")
    ap.add_argument("--rate", type=int, default=0,
                    help="offered req/s of the fixed-rate scenario (total); 0: half of the "
                         "slowest proxy's keep-alive throughput, calibrated before round 1")
    ap.add_argument("--rate-conns", type=int, default=50)
    ap.add_argument("--body-conns", type=int, default=16)
    ap.add_argument("--hosts", type=int, default=10000)
    ap.add_argument("--churn-seconds", type=int, default=None, help="10 (--quick: 3)")
    ap.add_argument("--churn-interval", type=float, default=0.1)
    ap.add_argument("--callgrind", action=argparse.BooleanOptionalAction, default=None,
                    help="instructions per request under callgrind (default: on in full runs)")
    ap.add_argument("--quick", action="store_true", help="one round, short runs")
    ap.add_argument("--out", default=None, help="results file (default bench/results/<date>.md)")
    ap.add_argument("--no-record", action="store_true",
                    help="do not update bench/RESULTS.md (only full runs update it: every default "
                         "scenario and proxy, no --out)")
    a = ap.parse_args(argv)
    known = {s for _, _, names in scenarios.GROUPS for s in names}
    unknown = [s for s in a.scenarios.split(",") if s not in known]
    if unknown:  # a misspelt name would otherwise measure nothing and say nothing
        ap.error(f"unknown scenario(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    a.parser_defaults = {"scenarios": ap.get_default("scenarios"), "proxies": ap.get_default("proxies")}
    # --quick changes the defaults; what is given explicitly stays.
    defaults = ({"rounds": 1, "seconds": 2, "idle": 2000, "churn_seconds": 3} if a.quick else
                {"rounds": 3, "seconds": 4, "idle": 9000, "churn_seconds": 10})
    for k, v in defaults.items():
        if getattr(a, k) is None:
            setattr(a, k, v)
    if a.callgrind is None:
        a.callgrind = not a.quick
    return a


def start_upstreams(args, work):
    # c only takes part in the churn scenario
    return procs.upstreams(args.build_dir, ("a", "b", "c"), cpus=scenarios.LOAD_CPU, work=work,
                           args=("--threads", "1"))


def start_grpc_upstream(ctx):
    """The gRPC upstream of scenario 10 (an nginx answering h2c calls, bench/lib/h2.py) on the
    load generator's CPU; None, and scenario 10 skipped, when nginx is not installed."""
    ctx.grpc_request = h2.write_request(ctx.work)
    if not proxies.available("nginx"):
        print("bench: nginx not installed: no gRPC upstream, scenario grpc skipped",
              file=sys.stderr)
        return None
    p, ctx.grpc_up = h2.start_upstream(ctx.work, scenarios.LOAD_CPU)
    return p


def run_rounds(ctx, names):
    for rnd in range(ctx.args.rounds):
        print(f"round {rnd + 1}/{ctx.args.rounds}", flush=True)
        for n in names:
            for group, fn, scen in scenarios.GROUPS:
                if group != "base" and not any(s in ctx.args.scenarios.split(",") for s in scen):
                    continue
                if group != "base" and n in proxies.LEAN:
                    continue  # lean configurations: per-request cost only
                try:
                    fn(n, ctx)
                except (RuntimeError, OSError, subprocess.SubprocessError) as e:
                    print(f"  {group:15} {n:8} FAILED: {e}", flush=True)
                    ctx.failures.append(f"round {rnd + 1}, {n}, {group}: {e}")
        scenarios.direct_group(ctx)


def main():
    args = parse_args()
    t0 = time.monotonic()
    load.raise_nofile()
    names = [n for n in args.proxies.split(",")
             if proxies.available(n) and (n != "portico-alt" or args.alt_build_dir)]
    missing = set(args.proxies.split(",")) - set(names)
    if missing:
        print(f"bench: not installed, skipped: {', '.join(sorted(missing))}", file=sys.stderr)
    work = tempfile.mkdtemp(prefix="portico-bench-")
    ups = start_upstreams(args, work)
    ctx = scenarios.context(args, work, [a for _, a in ups], [p for p, _ in ups])
    ctx.failures = []
    ctx.portico_https = tls.portico_has_https_port(
        os.path.join(args.build_dir, "proxy", "portico"))
    scen = args.scenarios.split(",")
    if "tls" in scen or "h2" in scen or "idle-tls" in scen:
        ctx.tls = tls.make_cert(work)
    grpc_up = None
    callgrind_res = None
    try:
        if "grpc" in scen:
            grpc_up = start_grpc_upstream(ctx)
        if "rate" in args.scenarios:
            if args.rate <= 0:
                args.rate = scenarios.calibrate_rate(ctx, names)
            else:
                ctx.rate_note = f"{args.rate:,} req/s (--rate)"
        run_rounds(ctx, names)
    finally:
        for p, _ in ups:
            p.stop()
        if grpc_up:
            grpc_up.stop()
    if args.callgrind:
        import callgrind  # noqa: E402
        callgrind_res = [callgrind.run_all(args.build_dir, names, requests=10000),
                         callgrind.run_all(args.build_dir, names, requests=100, conns=4,
                                           body_bytes=scenarios.MIB)]
    duration = time.monotonic() - t0
    results_file.write(args, names, ctx, duration, callgrind_res)


if __name__ == "__main__":
    main()
