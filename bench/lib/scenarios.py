"""The scenarios, each run against one proxy. A scenario appends one result dict per round to
ctx.results[case][proxy] and prints a one-line summary."""
import os
import time

import churn
import h2
import load
import procs
import proxies

PROXY_CPU, LOAD_CPU = "0", "1"
LUA = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "lua")
MIB = 1024 * 1024


class context:
    def __init__(self, args, work, ups, up_procs):
        self.args, self.work, self.ups, self.up_procs = args, work, ups, up_procs
        self.results, self.notes, self.skipped = {}, {}, {}
        self.ready_s = {}             # proxy -> group -> [seconds from start to first 200]
        self.rate_note = ""           # how the fixed rate was chosen
        self.tls = None               # cert material, made once
        self.portico_https = False    # portico serve --help lists --https-port
        self.grpc_up = None           # "127.0.0.1:port" of the gRPC upstream (scenario 10)
        self.grpc_request = None      # the file h2load and nghttp send as a gRPC call

    def add(self, case, name, r):
        self.results.setdefault(case, {}).setdefault(name, []).append(r)

    def note(self, name, group, text):
        self.notes.setdefault(name, {})[group] = text

    def skip(self, case, name, why):
        self.skipped.setdefault(case, {})[name] = why


def start_proxy(name, ctx, upstreams, wait_s=15.0, ready=None, **extra):
    """Starts a proxy pinned to PROXY_CPU and waits until it serves the route: a GET answered
    200, or `ready(port, timeout)` (which raises RuntimeError) when the port is not HTTP/1.1."""
    port, admin = procs.free_port(), procs.free_port()
    build = (getattr(ctx.args, "alt_build_dir", None) if name == "portico-alt"
             else ctx.args.build_dir)
    opts = {"portico_bin": os.path.join(build, "proxy", "portico"),
            "admin_port": admin, "has_https_port": ctx.portico_https}
    opts.update(extra)
    sp = proxies.BUILDERS[name](ctx.work, port, upstreams, opts)
    t_start = time.monotonic()
    p = procs.proc(name, sp.argv, cpus=PROXY_CPU, env=sp.env,
                   log=os.path.join(ctx.work, f"{name}.log"))
    try:
        procs.wait_port(port, timeout=wait_s)
        if ready:
            ready(port, wait_s)
        else:
            procs.wait_ready(port, proxies.HOST, timeout=wait_s)
        if extra.get("extra_hosts"):
            procs.wait_ready(port, proxies.extra_host(extra["extra_hosts"] - 1), timeout=wait_s)
        ctx.ready_s.setdefault(name, {}).setdefault(sp_group(extra), []).append(
            time.monotonic() - t_start)
        if opts.get("tls"):
            procs.wait_port(opts["tls"]["port"], timeout=wait_s)
    except RuntimeError:
        p.stop()
        raise
    time.sleep(0.5)
    return p, port, sp


def sp_group(extra):
    for k in ("big_bodies", "extra_hosts", "churn", "h2", "grpc", "tls"):
        if extra.get(k):
            return {"big_bodies": "bodies", "extra_hosts": "hosts"}.get(k, k)
    return "base"


def url(port, path="/small", scheme="http"):
    return f"{scheme}://127.0.0.1:{port}{path}"


def measured(p, target, ctx, conns, headers=(), host=proxies.HOST, script=None, seconds=None):
    cpu0 = p.cpu_seconds() if p else 0.0
    r = load.run_wrk(target, host, conns, seconds or ctx.args.seconds, LOAD_CPU,
                     headers=headers, script=script)
    if p:
        r["proxy_cpu"] = p.cpu_seconds() - cpu0
        r["cpu_us_per_req"] = (r["proxy_cpu"] / r["requests"] * 1e6) if r["requests"] else None
        r["rss_kib"] = p.rss_kib()
    return r


def say(case, name, r, extra=""):
    print(f"  {case:15} {name:8} {r.get('rps', 0):10.0f} req/s "
          f"{r.get('cpu_us_per_req') or 0:6.1f} us/req p99 {r.get('p99')} ms "
          f"errors {r.get('errors', 0)} non2xx {r.get('non2xx', 0)} {extra}", flush=True)


# --- scenarios 1, 2: keep-alive and new connection per request -------------------------------

RATE_CASES = {
    "keepalive": [("keepalive-64", 64, ()), ("keepalive-256", 256, ())],
    "newconn": [("newconn-64", 64, ("Connection: close",))],
}


def run_rate_cases(name, p, port, ctx, scen):
    for case, conns, headers in RATE_CASES[scen]:
        r = measured(p, url(port), ctx, conns, headers)
        ctx.add(case, name, r)
        say(case, name, r)


# --- scenario 3: latency at a fixed offered rate --------------------------------------------

def run_fixed_rate(name, p, port, ctx):
    a = ctx.args
    cpu0 = p.cpu_seconds() if p else 0.0
    r = load.run_h2load_rate(url(port), proxies.HOST, a.rate_conns, a.rate, a.seconds,
                             LOAD_CPU, os.path.join(ctx.work, f"h2load-{name}.log"))
    if p:
        r["proxy_cpu"] = p.cpu_seconds() - cpu0
        # The warm-up second is served too: CPU over all requests of the run.
        served = r["achieved"] * (a.seconds + 1)
        r["cpu_us_per_req"] = r["proxy_cpu"] / served * 1e6 if served else None
    ctx.add("fixed-rate", name, r)
    print(f"  {'fixed-rate':15} {name:8} offered {r['offered']} achieved {r['achieved']:.0f} "
          f"p50 {r['p50']} p99 {r['p99']} p99.9 {r['p999']} ms errors {r['errors']} "
          f"non2xx {r['non2xx']}", flush=True)


def calibrate_rate(ctx, names):
    """--rate 0: half the keep-alive throughput (64 connections, 2 s) of the slowest proxy,
    measured once before the first round, rounded down to 500 req/s."""
    slowest = None
    for name in names:
        p, port, _ = start_proxy(name, ctx, ctx.ups[:2])
        try:
            load.run_wrk(url(port), proxies.HOST, 16, 1, LOAD_CPU)  # warm-up
            r = load.run_wrk(url(port), proxies.HOST, 64, 2, LOAD_CPU)
        finally:
            p.stop()
        print(f"  calibration     {name:8} {r['rps']:10.0f} req/s", flush=True)
        if slowest is None or r["rps"] < slowest[1]:
            slowest = (name, r["rps"])
    rate = max(500, int(slowest[1] / 2 / 500) * 500)
    ctx.rate_note = (f"{rate:,} req/s: half of the slowest proxy's keep-alive throughput "
                     f"({slowest[0]}, {slowest[1]:,.0f} req/s in a 2 s calibration run "
                     "before the first round)")
    return rate


# --- scenario 5: idle keep-alive connections --------------------------------------------------

def run_idle(name, p, port, ctx, case="idle", holder=load.idle_connections):
    rss0 = p.rss_kib()
    held = holder(port, proxies.HOST, ctx.args.idle)
    time.sleep(1.0)
    rss1 = p.rss_kib()
    n = held.held()  # per connection still open when RSS was read
    held.close()
    r = {"rss_idle_kib": rss0, "rss_held_kib": rss1, "answered": held.answered, "held": n,
         "bytes_per_conn": (rss1 - rss0) * 1024 / max(1, n)}
    ctx.add(case, name, r)
    print(f"  {case:15} {name:8} {r['rss_idle_kib']} KiB idle, "
          f"{r['bytes_per_conn']:.0f} B/conn ({r['answered']} answered, {n} held)", flush=True)


def base_group(name, ctx):
    """Scenarios 1, 2, 3 and 5 on one proxy instance with the plain configuration."""
    scen = ctx.args.scenarios.split(",")
    if not any(s in scen for s in ("keepalive", "newconn", "rate", "idle")):
        return
    p, port, sp = start_proxy(name, ctx, ctx.ups[:2])
    ctx.note(name, "base", sp.note)
    try:
        load.run_wrk(url(port), proxies.HOST, 16, 1, LOAD_CPU)  # warm-up
        for s in ("keepalive", "newconn"):
            if s in scen:
                run_rate_cases(name, p, port, ctx, s)
        if "rate" in scen:
            run_fixed_rate(name, p, port, ctx)
        if "idle" in scen:
            run_idle(name, p, port, ctx)  # last: it leaves the proxy's heap grown
        if not p.alive():
            raise RuntimeError(f"{name} died during the run")
    finally:
        p.stop()


# --- scenario 4: 1 MiB request and response bodies ------------------------------------------

def bodies_group(name, ctx):
    p, port, sp = start_proxy(name, ctx, ctx.ups[:2], big_bodies=True)
    ctx.note(name, "bodies", sp.note)
    script = os.path.join(LUA, "post_body.lua")
    target = url(port, f"/bytes/{MIB}")
    try:
        load.run_wrk(target, proxies.HOST, 4, 1, LOAD_CPU, script=script)  # warm-up
        rss0 = p.rss_kib()
        p.reset_peak_rss()
        r = measured(p, target, ctx, ctx.args.body_conns, script=script)
        r["peak_rss_kib"], r["rss_before_kib"] = p.peak_rss_kib(), rss0
        r["mb_s"] = r["rps"] * MIB / 1e6
        ctx.add("bodies-1MiB", name, r)
        say("bodies-1MiB", name, r, f"{r['mb_s']:.0f} MB/s each way, peak RSS "
                                    f"{r['peak_rss_kib']} KiB")
    finally:
        p.stop()


# --- scenario 6: 10,000 hosts ----------------------------------------------------------------

def hosts_group(name, ctx):
    n = ctx.args.hosts
    p, port, sp = start_proxy(name, ctx, ctx.ups[:2], wait_s=180.0, extra_hosts=n)
    ctx.note(name, "hosts", sp.note)
    script = os.path.join(LUA, "hosts.lua")
    os.environ["BENCH_HOSTS"] = str(n)
    try:
        load.run_wrk(url(port), None, 16, 1, LOAD_CPU, script=script)  # warm-up
        r = measured(p, url(port), ctx, 64, host=None, script=script)
        r["rss_kib"] = p.rss_kib()
        ctx.add(f"hosts-{n}", name, r)
        say(f"hosts-{n}", name, r, f"RSS {r['rss_kib']} KiB")
    finally:
        p.stop()


# --- scenario 7: churn -----------------------------------------------------------------------

def churn_group(name, ctx):
    extra = {"churn": True}
    if name == "caddy":
        extra["caddy_admin"] = procs.free_port()
    p, port, sp = start_proxy(name, ctx, churn.rotation(ctx.ups, 0), **extra)
    ctx.note(name, "churn", churn.HOW[name])
    try:
        load.run_wrk(url(port), proxies.HOST, 16, 1, LOAD_CPU)  # warm-up
        before = [churn.upstream_requests(u) for u in ctx.ups]
        ch = churn.churner(name, sp, p, ctx.ups, interval=ctx.args.churn_interval,
                           limit=ctx.args.churn_seconds + 5)
        ch.start()
        r = measured(p, url(port), ctx, 64, seconds=ctx.args.churn_seconds)
        ch.stop()
        after = [churn.upstream_requests(u) for u in ctx.ups]
        served = [b - a for a, b in zip(before, after)]
        r["changes"], r["change_failures"] = ch.changes, ch.failures
        r["apply_ms_median"] = (sorted(ch.apply_s)[len(ch.apply_s) // 2] * 1e3
                                if ch.apply_s else None)
        r["share_c"] = served[2] / sum(served) if sum(served) else 0.0
        r["failed"] = r["errors"] + r["non2xx"]
        ctx.add("churn", name, r)
        say("churn", name, r, f"changes {ch.changes} (failed {ch.failures} {ch.last_error}) "
                              f"upstream c served {r['share_c'] * 100:.0f}%")
    finally:
        p.stop()


# --- scenario 8: TLS -------------------------------------------------------------------------

def tls_group(name, ctx):
    """Scenario 8 (tls) and scenario 11 (idle-tls: RSS per idle TLS keep-alive connection,
    measured last on the same instance)."""
    scen = ctx.args.scenarios.split(",")
    if name == "portico" and not ctx.portico_https:
        why = "Portico has no --https-port (portico serve --help): TLS not built yet"
        ctx.skip("tls-handshake", name, why)
        ctx.skip("tls-keepalive-64", name, why)
        print(f"  tls             {name:8} skipped: {why}", flush=True)
        return
    tls = dict(ctx.tls, port=procs.free_port())
    p, port, sp = start_proxy(name, ctx, ctx.ups[:2], tls=tls)
    ctx.note(name, "tls", sp.note)
    target = url(tls["port"], scheme="https")
    try:
        load.run_wrk(target, proxies.HOST, 16, 1, LOAD_CPU)  # warm-up
        if "tls" in scen:
            tls_rates(name, p, target, ctx)
        if "idle-tls" in scen:
            run_idle(name, p, tls["port"], ctx, "idle-tls", load.idle_tls_connections)
    finally:
        p.stop()


def tls_rates(name, p, target, ctx):
    cpu0 = p.cpu_seconds()
    r = load.run_h2load_handshakes(target, proxies.HOST, 64, ctx.args.seconds, LOAD_CPU)
    r["proxy_cpu"] = p.cpu_seconds() - cpu0
    r["cpu_us_per_req"] = (r["proxy_cpu"] / r["requests"] * 1e6) if r["requests"] else None
    ctx.add("tls-handshake", name, r)
    say("tls-handshake", name, r, "(full handshakes: a new TLS connection per request)")
    r = measured(p, target, ctx, 64)
    ctx.add("tls-keepalive-64", name, r)
    say("tls-keepalive-64", name, r)


# --- scenarios 9 and 10: HTTP/2 over TLS, and gRPC ------------------------------------------

# (case, connections, concurrent streams per connection)
H2_SHAPES = [("c1-m100", 1, 100), ("c64-m10", 64, 10)]
H2_PROXIES = ("portico", "nginx", "haproxy")  # the peers configured for HTTP/2 and gRPC


def h2_case(case, name, p, target, ctx, conns, streams, grpc=False):
    """One h2load run against `target`; the proxy's CPU and peak RSS (VmHWM reset before)."""
    if p:
        p.reset_peak_rss()
        cpu0 = p.cpu_seconds()
    kw = {"data_file": ctx.grpc_request, "headers": h2.GRPC_HEADERS} if grpc else {}
    r = h2.run_h2load(target, proxies.HOST, conns, streams, ctx.args.seconds, LOAD_CPU,
                      log_path=os.path.join(ctx.work, f"h2load-{case}-{name}.log"), **kw)
    if grpc:
        h2.count_grpc_answers(r)
    if r["protocol"] not in ("h2", "h2c"):
        r["errors"] += r["requests"]  # not HTTP/2: not what this scenario measures
    if p:
        r["proxy_cpu"] = p.cpu_seconds() - cpu0
        r["cpu_us_per_req"] = (r["proxy_cpu"] / r["requests"] * 1e6) if r["requests"] else None
        r["peak_rss_kib"] = p.peak_rss_kib()
    ctx.add(case, name, r)
    say(case, name, r, f"{r['protocol']} peak RSS {r.get('peak_rss_kib')} KiB")


def skip_h2(cases, name, ctx, why):
    for case in cases:
        ctx.skip(case, name, why)
    print(f"  {cases[0]:15} {name:8} skipped: {why}", flush=True)


def h2_group(name, ctx):
    """Scenario 9: h2load over TLS (ALPN h2) to HTTP/1.1 keep-alive upstreams."""
    cases = [f"h2-{shape}" for shape, _, _ in H2_SHAPES]
    if name not in H2_PROXIES:
        return skip_h2(cases, name, ctx, "not configured for HTTP/2 in this benchmark")
    if name == "portico" and not ctx.portico_https:
        return skip_h2(cases, name, ctx, "Portico has no --https-port")
    tls = dict(ctx.tls, port=procs.free_port())
    p, port, sp = start_proxy(name, ctx, ctx.ups[:2], tls=tls, h2=True)
    ctx.note(name, "h2", sp.note)
    target = url(tls["port"], scheme="https")
    try:
        h2.run_h2load(target, proxies.HOST, 4, 10, 1, LOAD_CPU)  # warm-up
        for (shape, conns, streams), case in zip(H2_SHAPES, cases):
            h2_case(case, name, p, target, ctx, conns, streams)
        if not p.alive():
            raise RuntimeError(f"{name} died during the run")
    finally:
        p.stop()


def grpc_group(name, ctx):
    """Scenario 10: unary gRPC calls over h2c through the proxy to the h2c gRPC upstream. The
    proxy counts as started once a call through it gets a valid gRPC answer (h2.grpc_call)."""
    cases = [f"grpc-{shape}" for shape, _, _ in H2_SHAPES]
    if name not in H2_PROXIES:
        return skip_h2(cases, name, ctx, "not configured for gRPC in this benchmark")
    if not ctx.grpc_up:
        return skip_h2(cases, name, ctx, "no gRPC upstream (nginx missing)")

    def ready(port, timeout):
        h2.wait_grpc(port, proxies.HOST, ctx.grpc_request, timeout)

    p, port, sp = start_proxy(name, ctx, [ctx.grpc_up], ready=ready, grpc=True)
    ctx.note(name, "grpc", sp.note + "; a call through it answered the message and "
                                     "grpc-status 0 in its trailers (nghttp)")
    target = url(port, h2.GRPC_PATH)
    try:
        h2.run_h2load(target, proxies.HOST, 4, 10, 1, LOAD_CPU, data_file=ctx.grpc_request,
                      headers=h2.GRPC_HEADERS)  # warm-up
        for (shape, conns, streams), case in zip(H2_SHAPES, cases):
            h2_case(case, name, p, target, ctx, conns, streams, grpc=True)
        wrong = h2.grpc_call(port, proxies.HOST, ctx.grpc_request)
        if wrong:
            raise RuntimeError(f"{name}: no valid gRPC answer after the run: {wrong}")
        if not p.alive():
            raise RuntimeError(f"{name} died during the run")
    finally:
        p.stop()


# --- the ceiling: wrk straight to one upstream ---------------------------------------------

def direct_group(ctx):
    port = int(ctx.ups[0].rsplit(":", 1)[1])
    scen = ctx.args.scenarios
    for s in ("keepalive", "newconn"):
        if s in scen:
            for case, conns, headers in RATE_CASES[s]:
                ctx.add(case, "direct", measured(None, url(port), ctx, conns, headers))
    if "rate" in scen:
        run_fixed_rate("direct", None, port, ctx)
    if "bodies" in scen:
        r = measured(None, url(port, f"/bytes/{MIB}"), ctx, ctx.args.body_conns,
                     script=os.path.join(LUA, "post_body.lua"))
        r["mb_s"] = r["rps"] * MIB / 1e6
        ctx.add("bodies-1MiB", "direct", r)
    if "grpc" in scen.split(",") and ctx.grpc_up:
        up_port = int(ctx.grpc_up.rsplit(":", 1)[1])
        for shape, conns, streams in H2_SHAPES:
            h2_case(f"grpc-{shape}", "direct", None, url(up_port, h2.GRPC_PATH), ctx, conns,
                    streams, grpc=True)


GROUPS = [("base", base_group, ("keepalive", "newconn", "rate", "idle")),
          ("bodies", bodies_group, ("bodies",)),
          ("hosts", hosts_group, ("hosts",)),
          ("churn", churn_group, ("churn",)),
          ("tls", tls_group, ("tls", "idle-tls")),
          ("h2", h2_group, ("h2",)),
          ("grpc", grpc_group, ("grpc",))]
