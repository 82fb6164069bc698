#!/usr/bin/env python3
"""Heap allocations per proxied request in Portico.

Portico (--workers 1) runs with LD_PRELOAD=count_malloc.so (bench/alloc/count_malloc.cpp),
which counts malloc/calloc/realloc/memalign calls per thread into a shared mapped file. After
a warm-up, h2load sends exactly --requests requests (keep-alive, then with a new connection
per request); allocations per request = the worker thread's count delta / requests. The other
threads (control, admin) are listed too."""
import argparse
import os
import re
import struct
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "lib"))
import load  # noqa: E402
import procs  # noqa: E402
import proxies  # noqa: E402

RECORDS = 512


def read_counts(path):
    with open(path, "rb") as f:
        data = f.read(RECORDS * 16)
    out = {}
    for i in range(len(data) // 16):
        tid, n = struct.unpack_from("<QQ", data, i * 16)
        if tid:
            out[tid] = out.get(tid, 0) + n
    return out


def thread_name(pid, tid):
    try:
        with open(f"/proc/{pid}/task/{tid}/comm") as f:
            return f.read().strip()
    except OSError:
        return "(exited)"


def h2load_close(url, conns, count):
    """`count` requests, each on a new connection (HTTP/1.1 Connection: close)."""
    argv = ["h2load", "--h1", "-t1", f"-c{conns}", f"-n{count}", "-H", f":authority: {proxies.HOST}",
            "-H", "connection: close", url]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=600).stdout
    m = re.search(r"(\d+) succeeded", out)
    return int(m.group(1)) if m else 0


def measure(counts, url, requests, conns, mode):
    before = read_counts(counts)
    if mode == "keep-alive":
        ok, _ = load.run_h2load_count(url, proxies.HOST, conns, requests, "0-1")
    else:
        ok = h2load_close(url, conns, requests)
    time.sleep(0.3)
    after = read_counts(counts)
    deltas = {tid: after.get(tid, 0) - before.get(tid, 0) for tid in after}
    return ok, deltas


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--build-dir", default="build/release")
    ap.add_argument("--requests", type=int, default=20000)
    ap.add_argument("--conns", type=int, default=16)
    a = ap.parse_args()
    lib = os.path.join(a.build_dir, "bench", "count_malloc.so")
    if not os.path.exists(lib):
        sys.exit(f"alloc_count: {lib} missing: cmake --build {a.build_dir} --target "
                 "portico_count_malloc")
    work = tempfile.mkdtemp(prefix="portico-alloc-")
    ups = procs.upstreams(a.build_dir)
    counts = os.path.join(work, "counts")
    port, admin = procs.free_port(), procs.free_port()
    sp = proxies.portico(work, port, [u for _, u in ups],
                         {"portico_bin": os.path.join(a.build_dir, "proxy", "portico"),
                          "admin_port": admin})
    env = dict(os.environ, LD_PRELOAD=os.path.abspath(lib), PORTICO_ALLOC_COUNTS=counts)
    p = procs.proc("portico", sp.argv, env=env, log=os.path.join(work, "portico.log"))
    try:
        procs.wait_port(port)
        url = f"http://127.0.0.1:{port}/small"
        load.run_h2load_count(url, proxies.HOST, a.conns, 2000, "0-1")  # warm-up
        h2load_close(url, a.conns, 500)
        for mode in ("keep-alive", "new connection per request"):
            ok, deltas = measure(counts, url, a.requests, a.conns, mode)
            print(f"{mode}: {ok} requests")
            for tid, d in sorted(deltas.items(), key=lambda kv: -kv[1]):
                if d:
                    print(f"  thread {tid} {thread_name(p.pid, tid):16} {d:9} allocations, "
                          f"{d / max(1, ok):.2f} per request")
            print(f"  all threads: {sum(deltas.values()) / max(1, ok):.2f} allocations per request")
    finally:
        p.stop()
        for u, _ in ups:
            u.stop()


if __name__ == "__main__":
    main()
