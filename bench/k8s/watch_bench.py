#!/usr/bin/python3
"""k8s-watch at size: `portico serve` against the test API server holding N Ingresses, N
Services and N EndpointSlices of E endpoints each (default 10,000 / 10,000 / 10,000 x 10 =
100,000 endpoints).

Reports: the time from process start to the first Snapshot (the "config loaded" log line,
/healthz ok), the build time of that Snapshot, RSS at that size, and the delay from an
EndpointSlice update to the Snapshot that carries it, and, when the proxy answers, to the
routing change seen by a client polling through Portico. Change delays are given from the
PUT on the API server and from the moment the test API server wrote the watch event
(/_test/watch-sent; time.monotonic() is one clock for every process on Linux), which leaves
out the Python server's own handling of the PUT.

WATCH_BENCH_PERF_START=file and WATCH_BENCH_PERF=file record `perf` profiles of Portico up to
the first Snapshot and during the changes.

Before Portico starts, each resource is listed once so the test API server has encoded
every object (it caches the JSON of stored objects; a cold Python server spends ~1 s of
CPU encoding 30,000 objects during Portico's first lists). --cold-server skips that.

    bench/k8s/watch_bench.py --portico build/proxy/portico [--ingresses 10000] [--changes 20]
        [--state-cache DIR]
"""

import argparse
import json
import os
import pathlib
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

SRC = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(SRC / "tests" / "k8s-watch" / "apiserver"))
sys.path.insert(0, str(SRC / "tests" / "system"))

from ktapi.testing import ApiServer  # noqa: E402


def objects(n, per_slice):
    yield {"apiVersion": "networking.k8s.io/v1", "kind": "IngressClass",
           "metadata": {"name": "portico"}, "spec": {"controller": "portico.dev/ingress-controller"}}
    for i in range(n):
        ns = f"ns{i % 100}"
        name = f"svc{i}"
        yield {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": ns},
               "spec": {"ports": [{"name": "http", "port": 80, "targetPort": 8080}]}}
        yield {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
               "metadata": {"name": f"{name}-1", "namespace": ns,
                            "labels": {"kubernetes.io/service-name": name}},
               "addressType": "IPv4",
               "endpoints": [{"addresses": [f"10.{i // 250 % 250}.{i % 250}.{k + 1}"],
                              "conditions": {"ready": True}} for k in range(per_slice)],
               "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}]}
        yield {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
               "metadata": {"name": f"ing{i}", "namespace": ns},
               "spec": {"ingressClassName": "portico", "rules": [{"host": f"h{i}.bench.test", "http": {
                   "paths": [{"path": "/", "pathType": "Prefix", "backend": {
                       "service": {"name": name, "port": {"number": 80}}}}]}}]}}


def summary(values):
    values = sorted(values)

    def pct(p):  # nearest rank
        return values[max(0, -(-len(values) * p // 100) - 1)]
    return (f"median {statistics.median(values):.1f} ms, p90 {pct(90):.1f} ms, "
            f"p99 {pct(99):.1f} ms, max {values[-1]:.1f} ms")


def watch_sent(api, rv):
    """When the test API server wrote the event of resourceVersion rv to a watch, or None."""
    for _ in range(50):
        sent = api.control("watch-sent", rv=rv).get("sent")
        if sent is not None:
            return sent
        time.sleep(0.01)
    return None


def warm_up(api):
    t = time.monotonic()
    for path in ("/apis/networking.k8s.io/v1/ingresses", "/api/v1/services",
                 "/apis/discovery.k8s.io/v1/endpointslices"):
        api.request("GET", path, timeout=300)
    print(f"test API server warmed up (every object listed once) in {time.monotonic() - t:.1f}s")


def minor_faults(pid):
    """Page faults served without I/O so far (first touches of fresh memory, mostly): a
    load-independent count beside the CPU seconds."""
    with open(f"/proc/{pid}/stat") as f:
        return int(f.read().rsplit(")", 1)[1].split()[7])


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


class Portico:
    def __init__(self, binary, kubeconfig):
        self.t0 = time.monotonic()
        self.proc = subprocess.Popen(
            [binary, "serve", "--kubeconfig", kubeconfig, "--http-port", "0", "--admin-port", "0",
             "--https-port", "0",
             "--listen-address", "127.0.0.1", "--admin-address", "127.0.0.1", "--workers", "1",
             "--update-status=false", "--access-log=false", "--shutdown-delay", "0s"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        self.loaded = []  # (monotonic time the line arrived, build_seconds)
        self.cond = threading.Condition()
        self.http_port = None
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stderr:
            now = time.monotonic()
            m = re.search(r"listening http=(\d+)", line)
            if m:
                self.http_port = int(m.group(1))
            if "listed" in line and "page(s)" in line:
                print("  " + re.search(r'"msg":"([^"]*)"', line).group(1), flush=True)
            if '"config loaded"' in line:
                secs = float(re.search(r'"build_seconds":([0-9.e+-]+)', line).group(1))
                with self.cond:
                    self.loaded.append((now, secs))
                    self.cond.notify_all()

    def wait_loads(self, count, timeout=120):
        with self.cond:
            self.cond.wait_for(lambda: len(self.loaded) >= count, timeout)
            return len(self.loaded) >= count

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def routing_delays(api, p, args):
    """A client polling through Portico sees the EndpointSlice switch between two upstreams."""
    import harness
    upstream = pathlib.Path(args.portico).resolve().parents[1] / "bench" / "upstream" / "portico-upstream"
    if not upstream.exists() or p.http_port is None:
        print("routing change: skipped (no portico-upstream next to the binary)")
        return
    os.environ.setdefault("PORTICO_UPSTREAM_BIN", str(upstream))
    os.environ.setdefault("PORTICO_BIN", args.portico)
    ups = [harness.Upstream.start("a"), harness.Upstream.start("b")]
    try:
        ns = "ns0"
        slice_path = f"/apis/discovery.k8s.io/v1/namespaces/{ns}/endpointslices/probe-1"
        def slice_for(u):
            return {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
                    "metadata": {"name": "probe-1", "namespace": ns,
                                 "labels": {"kubernetes.io/service-name": "probe"}},
                    "addressType": "IPv4",
                    "endpoints": [{"addresses": ["127.0.0.1"], "conditions": {"ready": True}}],
                    "ports": [{"name": "http", "port": u.port, "protocol": "TCP"}]}
        api.request("POST", f"/api/v1/namespaces/{ns}/services",
                    {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "probe", "namespace": ns},
                     "spec": {"ports": [{"name": "http", "port": 80, "targetPort": 8080}]}})
        api.request("POST", f"/apis/discovery.k8s.io/v1/namespaces/{ns}/endpointslices", slice_for(ups[0]))
        api.request("POST", f"/apis/networking.k8s.io/v1/namespaces/{ns}/ingresses",
                    {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
                     "metadata": {"name": "probe", "namespace": ns},
                     "spec": {"ingressClassName": "portico", "rules": [{"host": "probe.bench.test", "http": {
                         "paths": [{"path": "/", "pathType": "Prefix", "backend": {
                             "service": {"name": "probe", "port": {"number": 80}}}}]}}]}})

        def name():
            r = harness.request(p.http_port, "GET", "/", host="probe.bench.test", timeout=5)
            return json.loads(r.body).get("name") if r.status == 200 else None
        harness.wait_until(lambda: name() == "a", 60)
        delays, from_sent = [], []
        for k in range(args.changes):
            target = ups[(k + 1) % 2]
            obj = api.request("GET", slice_path)
            obj["ports"][0]["port"] = target.port
            t = time.monotonic()
            rv = int(api.request("PUT", slice_path, obj)["metadata"]["resourceVersion"])
            while name() != target.name and time.monotonic() - t < 30:
                time.sleep(0.002)
            done = time.monotonic()
            delays.append((done - t) * 1000)
            sent = watch_sent(api, rv)
            if sent is not None:
                from_sent.append((done - sent) * 1000)
            time.sleep(0.3)
        print(f"EndpointSlice PUT -> client routed to the new target ({args.changes} changes): "
              f"{summary(delays)}")
        if from_sent:
            print(f"watch event sent -> client routed to the new target: {summary(from_sent)}")
    finally:
        for u in ups:
            u.stop()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--portico", default=str(SRC / "build" / "proxy" / "portico"))
    ap.add_argument("--ingresses", type=int, default=10000)
    ap.add_argument("--endpoints-per-slice", type=int, default=10)
    ap.add_argument("--changes", type=int, default=20)
    ap.add_argument("--state-cache", metavar="DIR",
                    help="keep the test API server's loaded state in DIR (one file per size) "
                         "and restore it on later runs: loading object by object takes "
                         "minutes at 50,000 Ingresses")
    ap.add_argument("--cold-server", action="store_true",
                    help="do not list every resource once before Portico starts")
    args = ap.parse_args()

    tmp = tempfile.mkdtemp(prefix="watch-bench-")
    cache = None
    if args.state_cache:
        os.makedirs(args.state_cache, exist_ok=True)
        cache = os.path.join(args.state_cache,
                             f"state-{args.ingresses}x{args.endpoints_per_slice}.json")
    if cache and os.path.exists(cache):
        # A copy: the server writes its state file back when it stops.
        server_args = ["--state-file", os.path.join(tmp, "state.json")]
        shutil.copyfile(cache, server_args[1])
    else:
        data = os.path.join(tmp, "objects.jsonl")
        with open(data, "w") as f:
            for o in objects(args.ingresses, args.endpoints_per_slice):
                f.write(json.dumps(o) + "\n")
        server_args = ["--load", data]
    t = time.monotonic()
    api = ApiServer(tmp, args=server_args + ["--no-namespace-check"]).start(timeout=1800)
    how = "restored" if "--state-file" in server_args else "loaded"
    print(f"test API server {how} {3 * args.ingresses + 1} objects in {time.monotonic() - t:.1f}s")
    if cache and not os.path.exists(cache):
        api.request("GET", f"/_test/snapshot?path={cache}.tmp", admin=True, timeout=1800)
        os.replace(cache + ".tmp", cache)
    try:
        if not args.cold_server:
            warm_up(api)
        p = Portico(args.portico, api.kubeconfig)
        if os.environ.get("WATCH_BENCH_PERF_START"):  # a profile of the way to the first Snapshot
            start_perf = subprocess.Popen(["perf", "record", "-g", "-o", os.environ["WATCH_BENCH_PERF_START"],
                                           "-p", str(p.proc.pid)], stdout=subprocess.DEVNULL,
                                          stderr=subprocess.DEVNULL)
        if not p.wait_loads(1, 300):
            raise SystemExit("no Snapshot within 300 s")
        if os.environ.get("WATCH_BENCH_PERF_START"):
            start_perf.send_signal(2)
            start_perf.wait(60)
        first_at, build = p.loaded[0]
        print(f"start -> first Snapshot: {first_at - p.t0:.3f} s (build {build * 1000:.1f} ms, "
              f"Portico CPU {cpu_seconds(p.proc.pid):.2f} s)")
        time.sleep(1.0)
        print(f"RSS after the first Snapshot: {rss_kib(p.proc.pid) / 1024:.1f} MiB, "
              f"{minor_faults(p.proc.pid)} minor page faults")

        if os.environ.get("WATCH_BENCH_PERF"):
            perf = subprocess.Popen(["perf", "record", "-g", "-o", os.environ["WATCH_BENCH_PERF"],
                                     "-p", str(p.proc.pid)], stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL)
        delays, from_sent, builds = [], [], []
        cpu_before = cpu_seconds(p.proc.pid)
        for k in range(args.changes):
            i = (k * 7919) % args.ingresses
            ns, name = f"ns{i % 100}", f"svc{i}-1"
            path = f"/apis/discovery.k8s.io/v1/namespaces/{ns}/endpointslices/{name}"
            obj = api.request("GET", path)
            obj["endpoints"][0]["addresses"] = [f"10.255.{k // 250}.{k % 250 + 1}"]
            n = len(p.loaded)
            t = time.monotonic()
            rv = int(api.request("PUT", path, obj)["metadata"]["resourceVersion"])
            if not p.wait_loads(n + 1, 30):
                raise SystemExit("no Snapshot after an EndpointSlice change")
            at, b = p.loaded[n]
            delays.append((at - t) * 1000)
            builds.append(b * 1000)
            sent = watch_sent(api, rv)
            if sent is not None:
                from_sent.append((at - sent) * 1000)
            time.sleep(0.3)
        cpu = cpu_seconds(p.proc.pid) - cpu_before
        print(f"EndpointSlice PUT -> new Snapshot ({args.changes} changes): {summary(delays)}; "
              f"build median {statistics.median(builds):.1f} ms, p99 {sorted(builds)[-(-len(builds) * 99 // 100) - 1]:.1f} ms; "
              f"Portico CPU {cpu * 1000 / args.changes:.1f} ms per change (idle ticks included)")
        if from_sent:
            print(f"watch event sent -> new Snapshot: {summary(from_sent)}")
        if os.environ.get("WATCH_BENCH_PERF"):
            perf.send_signal(2)
            perf.wait(30)
        print(f"RSS after the changes: {rss_kib(p.proc.pid) / 1024:.1f} MiB")
        routing_delays(api, p, args)
        p.stop()
    finally:
        api.stop()


if __name__ == "__main__":
    main()
