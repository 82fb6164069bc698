#!/usr/bin/env python3
"""System calls per proxied request, by kind (strace -c -f on every process of the proxy).

The kernel side of CPU per request, which callgrind does not see. For each proxy: keep-alive
GETs of /small (h2load, 16 connections, exactly --requests) and the same with a new
connection per request (Connection: close). strace slows the proxy down; the counts per
request are what it is for."""
import argparse
import os
import re
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "lib"))
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


def send(url, count, close):
    argv = ["h2load", "--h1", "-t1", "-c16", f"-n{count}", "-H", f":authority: {proxies.HOST}"]
    if close:
        argv += ["-H", "connection: close"]
    out = subprocess.run(argv + [url], capture_output=True, text=True, timeout=300).stdout
    m = re.search(r"(\d+) succeeded", out)
    return int(m.group(1)) if m else 0


def one(name, mode, build_dir, work, addrs, requests, portico=None):
    port = procs.free_port()
    portico = portico or os.path.join(build_dir, "proxy", "portico")
    sp = proxies.BUILDERS[name](work, port, addrs, {
        "portico_bin": portico, "admin_port": procs.free_port(),
        "has_https_port": tls.portico_has_https_port(portico)})
    p = procs.proc(name, sp.argv, env=sp.env, cpus="0", log=os.path.join(work, f"{name}.log"))
    try:
        procs.wait_ready(port, proxies.HOST, timeout=60)
        url = f"http://127.0.0.1:{port}/small"
        send(url, 500, mode == "newconn")  # warm-up
        out = os.path.join(work, f"{name}.{mode}.strace")
        argv = ["strace", "-c", "-f", "-o", out]
        for pid in p.tree():
            argv += ["-p", str(pid)]
        st = subprocess.Popen(argv, stderr=subprocess.DEVNULL)
        time.sleep(1.5)  # attached
        ok = send(url, requests, mode == "newconn")
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
    ap.add_argument("--portico-variant", action="append", default=[], metavar="LABEL=BINARY",
                    help="also measure this portico binary (e.g. a -DPORTICO_IO_URING=ON build) "
                         "under LABEL, with the same upstreams")
    a = ap.parse_args()
    load.raise_nofile(65536)
    work = tempfile.mkdtemp(prefix="portico-syscalls-")
    ups = procs.upstreams(a.build_dir, cpus="1")
    try:
        print("| proxy | requests | syscalls per request | most frequent per request |")
        print("|---|---|---|---|")
        runs = [(n, n, None) for n in a.proxies.split(",") if proxies.available(n)]
        for v in a.portico_variant:
            label, _, binary = v.partition("=")
            runs.append((label, "portico", os.path.abspath(binary)))
        for label, name, binary in runs:
            for mode in ("keepalive", "newconn"):
                ok, counts = one(name, mode, a.build_dir, work, [u for _, u in ups], a.requests,
                                 binary)
                if not ok:
                    print(f"| {label} {mode} | 0 | – | – |")
                    continue
                top = sorted(counts.items(), key=lambda kv: -kv[1])[:7]
                print(f"| {label} {mode} | {ok} | {sum(counts.values()) / ok:.2f} | " +
                      ", ".join(f"{k} {v / ok:.2f}" for k, v in top) + " |", flush=True)
    finally:
        for u, _ in ups:
            u.stop()


if __name__ == "__main__":
    main()
