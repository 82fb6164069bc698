#!/usr/bin/env python3
"""System calls per proxied request, by kind (strace -c -f on every process of the proxy).

The kernel side of CPU per request, which callgrind does not see. For each proxy: keep-alive
GETs of /small (h2load, 16 connections, exactly --requests) and the same with a new
connection per request (Connection: close); with --modes h2,grpc also HTTP/2 over TLS and
unary gRPC calls over h2c (scenarios 9 and 10 of bench.py, 64 connections x 10 streams).
strace slows the proxy down; the counts per request are what it is for."""
import argparse
import os
import re
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "lib"))
import h2  # noqa: E402
import load  # noqa: E402
import procs  # noqa: E402
import proxies  # noqa: E402
import tls  # noqa: E402


def strace_counts(path):
    """{syscall: calls} from an `strace -c` summary."""
    out = {}
    for line in open(path):
        f = line.split()
        if len(f) < 5 or f[-1] == "total" or not re.match(r"[\d.]+$", f[0]):
            continue
        # % time, seconds, usecs/call, calls, [errors], syscall
        out[f[-1]] = out.get(f[-1], 0) + int(f[3])
    return out


# The load generator runs beside the upstreams on CPU 1, the proxy alone on CPU 0, as in bench.py.
LOAD_CPU = ["taskset", "-c", "1"]


def send(url, count, close):
    argv = LOAD_CPU + ["h2load", "--h1", "-t1", "-c16", f"-n{count}", "-H", f":authority: {proxies.HOST}"]
    if close:
        argv += ["-H", "connection: close"]
    out = subprocess.run(argv + [url], capture_output=True, text=True, timeout=300).stdout
    m = re.search(r"(\d+) succeeded", out)
    return int(m.group(1)) if m else 0


def send_h2(url, count, grpc_request=None):
    """HTTP/2 (h2 by ALPN for https://, h2c for http://), 64 connections x 10 streams."""
    argv = LOAD_CPU + ["h2load", "-t1", "-c64", "-m10", f"-n{count}", "-H", f":authority: {proxies.HOST}"]
    if grpc_request:
        argv += ["-d", grpc_request] + [x for h in h2.GRPC_HEADERS for x in ("-H", h)]
    out = subprocess.run(argv + [url], capture_output=True, text=True, timeout=300).stdout
    r = h2.parse_h2load(out)
    if grpc_request:
        h2.count_grpc_answers(r)
    ok = r["requests"] - r["non2xx"] - r["errors"]
    return ok if r["protocol"] in ("h2", "h2c") else 0


def one(name, mode, build_dir, work, addrs, requests, portico=None, extra=None):
    port = procs.free_port()
    portico = portico or os.path.join(build_dir, "proxy", "portico")
    opts = {"portico_bin": portico, "admin_port": procs.free_port(),
            "has_https_port": tls.portico_has_https_port(portico)}
    extra = extra or {}
    if mode == "h2":
        opts.update(tls=dict(extra["tls"], port=procs.free_port()), h2=True)
    elif mode == "grpc":
        opts["grpc"], addrs = True, [extra["grpc_up"]]
    sp = proxies.BUILDERS[name](work, port, addrs, opts)
    p = procs.proc(name, sp.argv, env=sp.env, cpus="0", log=os.path.join(work, f"{name}.log"))
    try:
        if mode == "grpc":
            procs.wait_port(port, timeout=60)
            h2.wait_grpc(port, proxies.HOST, extra["grpc_request"], timeout=60)
            url = f"http://127.0.0.1:{port}{h2.GRPC_PATH}"

            def go(n):
                return send_h2(url, n, extra["grpc_request"])
        elif mode == "h2":
            procs.wait_ready(port, proxies.HOST, timeout=60)
            procs.wait_port(opts["tls"]["port"])
            url = f"https://127.0.0.1:{opts['tls']['port']}/small"

            def go(n):
                return send_h2(url, n)
        else:
            procs.wait_ready(port, proxies.HOST, timeout=60)
            url = f"http://127.0.0.1:{port}/small"

            def go(n):
                return send(url, n, mode == "newconn")
        go(500)  # warm-up
        out = os.path.join(work, f"{name}.{mode}.strace")
        argv = ["strace", "-c", "-f", "-o", out]
        for pid in p.tree():
            argv += ["-p", str(pid)]
        st = subprocess.Popen(argv, stderr=subprocess.DEVNULL)
        time.sleep(1.5)  # attached
        ok = go(requests)
        time.sleep(0.5)
        st.terminate()
        st.wait(30)
        return ok, strace_counts(out)
    finally:
        p.stop()


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--build-dir", default="build/release")
    ap.add_argument("--proxies", default="portico,nginx,haproxy")
    ap.add_argument("--requests", type=int, default=5000)
    ap.add_argument("--modes", default="keepalive,newconn",
                    help="keepalive, newconn, h2 (over TLS), grpc (h2c)")
    ap.add_argument("--portico-variant", action="append", default=[], metavar="LABEL=BINARY",
                    help="also measure this portico binary (e.g. a -DPORTICO_IO_URING=ON build) "
                         "under LABEL, with the same upstreams")
    a = ap.parse_args()
    load.raise_nofile(65536)
    work = tempfile.mkdtemp(prefix="portico-syscalls-")
    ups = procs.upstreams(a.build_dir, cpus="1")
    modes = a.modes.split(",")
    extra, grpc_proc = {}, None
    try:
        if "h2" in modes:
            extra["tls"] = tls.make_cert(work)
        if "grpc" in modes:
            extra["grpc_request"] = h2.write_request(work)
            grpc_proc, extra["grpc_up"] = h2.start_upstream(work, "1")
        print("| proxy | requests | syscalls per request | most frequent per request |")
        print("|---|---|---|---|")
        runs = [(n, n, None) for n in a.proxies.split(",") if proxies.available(n)]
        for v in a.portico_variant:
            label, _, binary = v.partition("=")
            runs.append((label, "portico", os.path.abspath(binary)))
        for label, name, binary in runs:
            for mode in modes:
                ok, counts = one(name, mode, a.build_dir, work, [u for _, u in ups], a.requests,
                                 binary, extra)
                if not ok:
                    print(f"| {label} {mode} | 0 | – | – |")
                    continue
                top = sorted(counts.items(), key=lambda kv: -kv[1])[:7]
                print(f"| {label} {mode} | {ok} | {sum(counts.values()) / ok:.2f} | " +
                      ", ".join(f"{k} {v / ok:.2f}" for k, v in top) + " |", flush=True)
    finally:
        for u, _ in ups:
            u.stop()
        if grpc_proc:
            grpc_proc.stop()


if __name__ == "__main__":
    main()
