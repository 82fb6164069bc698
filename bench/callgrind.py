#!/usr/bin/env python3
"""Instructions per proxied request under valgrind --tool=callgrind, for each proxy.

Each proxy (nginx in single-process mode: `master_process off; daemon off;`, HAProxy with
-db and nbthread 1, Caddy with GOMAXPROCS=1, Portico with --workers 1) runs under callgrind
with instrumentation off; after start-up and a warm-up, `callgrind_control -i on` switches it
on, h2load sends exactly --requests keep-alive requests, and `callgrind_control -d` dumps the
counts. Instructions per request = the dump's total / requests (the proxy's every thread:
with one worker, that is the request path plus whatever the control thread did meanwhile).
Instruction counts are repeatable where timings on a shared machine are not.
--grpc counts unary gRPC calls over h2c instead (scenario 10 of bench.py: the same proxy
configurations and gRPC upstream), --h2 GETs over HTTP/2 over TLS (scenario 9), both with
--conns connections x --streams concurrent streams."""
import argparse
import glob
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


def start_upstreams(build_dir, work):
    return procs.upstreams(build_dir, work=work)


def control(*args):
    return subprocess.run(["callgrind_control", *args], capture_output=True, text=True,
                          timeout=120)


def top_functions(dump, requests, n=15):
    r = subprocess.run(["callgrind_annotate", "--inclusive=no", dump], capture_output=True,
                       text=True, timeout=300)
    out = []
    for line in r.stdout.splitlines():
        m = re.match(r"\s*([\d,]+)\s+(?:\(\s*[\d.]+%\)\s+)?(\S.*)$", line)
        if not m or "PROGRAM TOTALS" in line or "file:function" in line:
            continue
        ir = int(m.group(1).replace(",", ""))
        fn = m.group(2).strip()
        # With --cache-sim each line has more event columns before the function's name.
        fn = re.sub(r"^(?:(?:[\d,]+|\.)\s+(?:\(\s*[\d.]+%\)\s+)?)+", "", fn)
        fn = re.sub(r"\s+\[.*\]$", "", fn)
        out.append((ir / requests, fn[:160]))
        if len(out) >= n:
            break
    return out


# --cache-sim: valgrind's cache simulation too (first-level and last-level misses per request).
VALGRIND_EXTRA = []


def event_totals(dump):
    """{event: total} from a dump's `events:` and `summary:`/`totals:` lines."""
    names, values = [], []
    with open(dump) as f:
        for line in f:
            if line.startswith("events:"):
                names = line.split()[1:]
            elif line.startswith("summary:") or line.startswith("totals:"):
                values = [int(x) for x in line.split()[1:]]
    return dict(zip(names, values))


def total_ir(dump):
    with open(dump) as f:
        for line in f:
            if line.startswith("summary:") or line.startswith("totals:"):
                return int(line.split()[1])
    return None


def drive_grpc(url, conns, streams, count, request_file):
    """`count` unary gRPC calls over h2c (or, without `request_file`, GETs over HTTP/2);
    returns the number answered 2xx (with the message, for gRPC)."""
    argv = ["taskset", "-c", "0-1", "h2load", "-t1", f"-c{conns}", f"-m{streams}", f"-n{count}",
            "-H", f":authority: {proxies.HOST}"]
    if request_file:
        argv += ["-d", request_file]
        for hdr in h2.GRPC_HEADERS:
            argv += ["-H", hdr]
    out = subprocess.run(argv + [url], capture_output=True, text=True, timeout=1800).stdout
    r = h2.parse_h2load(out)
    if request_file:
        h2.count_grpc_answers(r)
    if r["protocol"] not in ("h2", "h2c"):
        return 0
    return r["requests"] - r["errors"] - r["non2xx"]


def drive(url, conns, count, data, handshakes, grpc=None):
    """Sends `count` requests: keep-alive, or (handshakes) each on a new TLS connection, in
    h2load batches of `conns` connections, or (grpc: {"streams", "request"}) unary gRPC calls
    (request None: GETs over HTTP/2).
    Returns the number that succeeded."""
    if grpc:
        return drive_grpc(url, conns, grpc["streams"], count, grpc["request"])
    if not handshakes:
        return load.run_h2load_count(url, proxies.HOST, conns, count, "0-1", data_file=data)[0]
    ok = 0
    for _ in range(max(1, count // conns)):
        ok += load.run_h2load_count(url, proxies.HOST, conns, conns, "0-1")[0]
    return ok


def proxy_opts(build_dir, work, body_bytes, tls_material):
    opts = {"portico_bin": os.path.join(build_dir, "proxy", "portico"),
            "admin_port": procs.free_port(), "single_process": True,
            "big_bodies": body_bytes > 0,
            "has_https_port": tls.portico_has_https_port(os.path.join(build_dir, "proxy",
                                                                      "portico"))}
    if tls_material:
        opts["tls"] = dict(tls_material, port=procs.free_port())
    return opts


def one(name, build_dir, work, addrs, requests, conns, body_bytes=0, tls_material=None,
        grpc=None):
    port = procs.free_port()
    opts = proxy_opts(build_dir, work, body_bytes, tls_material)
    if grpc and grpc.get("upstream"):
        opts["grpc"], addrs = True, [grpc["upstream"]]
    elif grpc:  # HTTP/2 over TLS
        opts["h2"] = True
    if tls_material and name == "portico" and not opts["has_https_port"]:
        return {"error": "Portico has no --https-port"}
    data, path = None, "/small"
    if body_bytes:
        data = os.path.join(work, "body.bin")
        with open(data, "wb") as f:
            f.write(b"x" * body_bytes)
        path = f"/bytes/{body_bytes}"
    sp = proxies.BUILDERS[name](work, port, addrs, opts)
    out = os.path.join(work, f"callgrind.{name}.{'tls' if tls_material else 'http'}.out")
    argv = ["valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={out}",
            *VALGRIND_EXTRA, *sp.argv]
    env = sp.env
    if name == "caddy":
        # Go's asynchronous preemption signals (SIGURG) trip callgrind's signal bookkeeping.
        env = dict(env or os.environ, GODEBUG="asyncpreemptoff=1")
    p = procs.proc(name, argv, env=env, log=os.path.join(work, f"{name}.callgrind.log"))
    try:
        procs.wait_port(port, timeout=180)
        if grpc and grpc.get("upstream"):
            h2.wait_grpc(port, proxies.HOST, grpc["request"], timeout=180)
            path = h2.GRPC_PATH
        else:
            procs.wait_ready(port, proxies.HOST, timeout=180)
        url = (f"https://127.0.0.1:{opts['tls']['port']}{path}" if tls_material
               else f"http://127.0.0.1:{port}{path}")
        handshakes = bool(tls_material) and not grpc
        drive(url, conns, min(500, requests), data, handshakes, grpc)  # warm-up
        r = control("-i", "on", str(p.pid))
        if r.returncode != 0:
            return {"error": f"callgrind_control -i on: {(r.stdout + r.stderr).strip()[:200]}"}
        ok = drive(url, conns, requests, data, handshakes, grpc)
        r = control("-d", str(p.pid))
        if r.returncode != 0:
            return {"error": f"callgrind_control -d: {(r.stdout + r.stderr).strip()[:200]}"}
        time.sleep(1.0)
        dumps = sorted(glob.glob(out + ".*"), key=os.path.getmtime)
        if not dumps or not ok:
            return {"error": f"no dump ({len(dumps)}) or no request succeeded ({ok})"}
        ir = total_ir(dumps[-1])
        res = {"ir_per_req": ir / ok if ir else None, "requests": ok, "dump": dumps[-1]}
        if VALGRIND_EXTRA:
            ev = event_totals(dumps[-1])
            res["misses_per_req"] = {k: v / ok for k, v in ev.items() if k != "Ir"}
        if name == "portico":
            res["top"] = top_functions(dumps[-1], ok)
        return res
    finally:
        p.stop(timeout=60)


def run_all(build_dir, names, requests=20000, conns=8, body_bytes=0, handshakes=False,
            grpc_streams=0, h2_streams=0):
    work = tempfile.mkdtemp(prefix="portico-callgrind-")
    ups = start_upstreams(build_dir, work)
    grpc = {"streams": h2_streams, "request": None} if h2_streams else None
    if grpc_streams:
        up, addr = h2.start_upstream(work, None)
        ups.append((up, addr))
        grpc = {"streams": grpc_streams, "request": h2.write_request(work), "upstream": addr}
    material = tls.make_cert(work) if handshakes or h2_streams else None
    res = {"requests": requests, "conns": conns, "body_bytes": body_bytes,
           "handshakes": handshakes, "per_proxy": {}}
    try:
        for n in names:
            print(f"callgrind: {n} ({requests} requests)...", flush=True)
            try:
                res["per_proxy"][n] = one(n, build_dir, work, [a for _, a in ups[:2]], requests,
                                          conns, body_bytes, material, grpc)
            except (RuntimeError, OSError, subprocess.SubprocessError) as e:
                res["per_proxy"][n] = {"error": str(e)[:200]}
            print(f"callgrind: {n}: {res['per_proxy'][n].get('ir_per_req') or res['per_proxy'][n]}",
                  flush=True)
    finally:
        for p, _ in ups:
            p.stop()
    return res


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build-dir", default="build/release")
    ap.add_argument("--proxies", default="portico,nginx,haproxy,caddy")
    ap.add_argument("--requests", type=int, default=20000)
    ap.add_argument("--conns", type=int, default=8)
    ap.add_argument("--body-bytes", type=int, default=0,
                    help="POST this many bytes to /bytes/N (N bytes back) instead of GET /small")
    ap.add_argument("--tls-handshakes", action="store_true",
                    help="each request on a new HTTPS connection (full TLS handshakes)")
    ap.add_argument("--grpc", action="store_true",
                    help="unary gRPC calls over h2c to the gRPC upstream (bench/lib/h2.py)")
    ap.add_argument("--h2", action="store_true",
                    help="GETs of /small over HTTP/2 over TLS (ALPN h2)")
    ap.add_argument("--streams", type=int, default=10,
                    help="with --grpc or --h2: concurrent streams per connection")
    ap.add_argument("--cache-sim", action="store_true",
                    help="also simulate the caches: data/instruction misses per request "
                         "(first level D1/I1, last level LL), from valgrind's model")
    a = ap.parse_args()
    if a.cache_sim:
        VALGRIND_EXTRA.append("--cache-sim=yes")
    load.raise_nofile(65536)
    names = [n for n in a.proxies.split(",") if proxies.available(n)]
    res = run_all(a.build_dir, names, a.requests, a.conns, a.body_bytes, a.tls_handshakes,
                  a.streams if a.grpc else 0, a.streams if a.h2 else 0)
    what = (f"unary gRPC calls, {a.conns} x {a.streams} streams" if a.grpc
            else f"HTTP/2 GETs over TLS, {a.conns} x {a.streams} streams" if a.h2
            else "keep-alive requests")
    print(f"\n| proxy | instructions per request ({a.requests} {what}) |\n|---|---|")
    for n, v in res["per_proxy"].items():
        print(f"| {n} | {v['ir_per_req']:,.0f} |" if v.get("ir_per_req") else f"| {n} | {v} |")
    if a.cache_sim:
        print("\n| proxy | " + " | ".join(["Dr", "Dw", "I1mr", "D1mr", "D1mw", "ILmr", "DLmr", "DLmw"])
              + " |\n|---|" + "---|" * 8)
        for n, v in res["per_proxy"].items():
            m = v.get("misses_per_req") or {}
            print(f"| {n} | " + " | ".join(f"{m.get(k, 0):,.1f}" for k in
                                          ["Dr", "Dw", "I1mr", "D1mr", "D1mw", "ILmr", "DLmr",
                                           "DLmw"]) + " |")
    top = res["per_proxy"].get("portico", {}).get("top")
    if top:
        print("\nPortico, self instructions per request:")
        for ir, fn in top:
            print(f"{ir:10,.0f}  {fn}")
        print(f"\nfull profile: callgrind_annotate {res['per_proxy']['portico']['dump']}")


if __name__ == "__main__":
    main()
