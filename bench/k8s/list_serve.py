#!/usr/bin/python3
"""How long the test API server takes to serve the three big lists, apart from Portico.

A trivial client pages through Ingresses, Services and EndpointSlices the way Portico's
reflectors do (limit=500, continue tokens, the three lists at once on three connections) and
only reads the bytes: the time is the server's (and TLS's). Reports wall time, the server's
CPU seconds, pages and bytes. --dump DIR writes every page body to DIR/<resource>-<n>.json
for bench/micro/list_decode_bench.cpp (PORTICO_LIST_PAGES=DIR).

    bench/k8s/list_serve.py [--ingresses 50000] --state-cache /tmp/watch-bench-state [--rounds 3]
"""

import argparse
import http.client
import os
import pathlib
import sys
import tempfile
import threading
import time
import urllib.parse

SRC = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(SRC / "tests" / "k8s-watch" / "apiserver"))
sys.path.insert(0, str(SRC / "bench" / "k8s"))

from ktapi.testing import ApiServer  # noqa: E402
import watch_bench  # noqa: E402

LISTS = {"ingresses": "/apis/networking.k8s.io/v1/ingresses",
         "services": "/api/v1/services",
         "endpointslices": "/apis/discovery.k8s.io/v1/endpointslices"}


def list_all(api, name, path, out, dump):
    conn = http.client.HTTPSConnection("127.0.0.1", api.port, context=api.ctx, timeout=300)
    headers = {"Authorization": f"Bearer {api.token}", "Accept": "application/json"}
    cont, pages, size = "", 0, 0
    while True:
        q = "?limit=500" + ("&continue=" + urllib.parse.quote(cont) if cont else "")
        conn.request("GET", path + q, headers=headers)
        resp = conn.getresponse()
        body = resp.read()
        if resp.status != 200:
            raise SystemExit(f"{path}: HTTP {resp.status}")
        pages += 1
        size += len(body)
        if dump:
            (pathlib.Path(dump) / f"{name}-{pages:04d}.json").write_bytes(body)
        # Only the continue token is needed: the list's metadata comes before its items.
        head = body[:body.find(b'"items"')].decode("utf-8", "replace")
        at = head.find('"continue":"')
        cont = head[at + 12:head.index('"', at + 12)] if at >= 0 else ""
        if not cont:
            break
    conn.close()
    out[name] = (pages, size)


def one_round(api, dump):
    out = {}
    cpu0 = watch_bench.cpu_seconds(api.proc.pid)
    t = time.monotonic()
    threads = [threading.Thread(target=list_all, args=(api, n, p, out, dump)) for n, p in LISTS.items()]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    wall = time.monotonic() - t
    cpu = watch_bench.cpu_seconds(api.proc.pid) - cpu0
    return wall, cpu, out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ingresses", type=int, default=10000)
    ap.add_argument("--endpoints-per-slice", type=int, default=10)
    ap.add_argument("--state-cache", metavar="DIR", required=True,
                    help="watch_bench.py's state cache (made by a watch_bench.py run)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--dump", metavar="DIR")
    args = ap.parse_args()
    cache = os.path.join(args.state_cache, f"state-{args.ingresses}x{args.endpoints_per_slice}.json")
    if not os.path.exists(cache):
        raise SystemExit(f"{cache} is missing: run watch_bench.py --state-cache first")
    tmp = tempfile.mkdtemp(prefix="list-serve-")
    state = os.path.join(tmp, "state.json")
    with open(cache, "rb") as src, open(state, "wb") as dst:
        dst.write(src.read())
    t = time.monotonic()
    api = ApiServer(tmp, args=["--state-file", state, "--no-namespace-check"]).start(timeout=1800)
    print(f"test API server restored {3 * args.ingresses + 1} objects in {time.monotonic() - t:.1f}s")
    try:
        watch_bench.warm_up(api)
        if args.dump:
            os.makedirs(args.dump, exist_ok=True)
        for r in range(args.rounds):
            wall, cpu, out = one_round(api, args.dump if r == 0 else None)
            detail = ", ".join(f"{n} {p} pages {s / 1e6:.1f} MB" for n, (p, s) in out.items())
            print(f"round {r + 1}: three lists served in {wall:.2f} s wall, server CPU {cpu:.2f} s "
                  f"({detail}); load average {os.getloadavg()[0]:.1f}", flush=True)
    finally:
        api.stop()


if __name__ == "__main__":
    main()
