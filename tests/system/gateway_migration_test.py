#!/usr/bin/python3
"""deploy/examples/gateway/ against the real binary in file mode.

- demo/ (the Ingress demo of deploy/examples/local/ as GatewayClass, Gateway and HTTPRoutes)
  gives the same answers as deploy/examples/local/ for the same requests: status, the
  upstream that answered, the target it received.
- migration/ -> migration-next/: shop.local moves from its Ingress to an HTTPRoute by
  replacing one watched file, while a bounded client load (count- and time-bounded; keep-alive
  connections and new ones, sequential) runs across the change. Every request gets 200 from
  the upstream its path goes to, before, during and after; after the change the HTTPRoute
  answers shop.local (the header its ResponseHeaderModifier sets), and blog.local stays on
  its Ingress.

The examples' Services point at 127.0.0.1:9001 / :9002; the test serves copies with the ports
of its own upstreams put in."""

import os
import subprocess
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402
import tls_support as t  # noqa: E402

EXAMPLES = h.source_dir() / "deploy" / "examples"
GATEWAY = EXAMPLES / "gateway"

# (host, target, upstream the examples send it to)
DEMO_REQUESTS = [
    ("demo.local", "/", "demo-a"),
    ("demo.local", "/docs/x?y=1", "demo-a"),
    ("demo.local", "/api", "demo-b"),
    ("demo.local", "/api/users", "demo-b"),
    ("demo.local", "/apix", "demo-a"),          # element-wise prefix: not /api
    ("demo.local", "/healthcheck", "demo-b"),
    ("demo.local", "/healthcheck/more", "demo-a"),  # Exact only
    ("b.demo.local", "/", "demo-b"),
    ("b.demo.local", "/api/users", "demo-b"),
    ("x.apps.local", "/", "demo-a"),
    ("apps.local", "/", "demo-b"),             # the wildcard does not cover it: the fallback
    ("unknown.local", "/anything", "demo-b"),
]

# (host, target, upstream) of the migration load.
LOAD = [("shop.local", "/", "demo-a"), ("shop.local", "/api/cart", "demo-b"),
        ("blog.local", "/post/1", "demo-b")]
MAX_REQUESTS = 6000
MAX_SECONDS = 90


def copy_example(src, a_port, b_port):
    d = h.temp_dir()
    for name in sorted(os.listdir(src)):
        if name.endswith(".yaml"):
            text = (src / name).read_text()
            (d / name).write_text(text.replace("9001", str(a_port)).replace("9002", str(b_port)))
    return d


class load:
    """A sequential client: keep-alive connections of up to 20 requests, and every fifth
    request on a connection of its own. Bounded by MAX_REQUESTS and MAX_SECONDS."""

    def __init__(self, port):
        self.port = port
        self.results = []  # (host, target, expected upstream, status, upstream, x-served-by)
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.error = None
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def record(self, req, r):
        with self.lock:
            name = r.json().get("name") if r.status == 200 else None
            self.results.append((*req, r.status, name, r.header("X-Served-By")))

    def run(self):
        deadline = time.monotonic() + MAX_SECONDS
        conn, uses, i = None, 0, 0
        try:
            while not self.stop.is_set() and i < MAX_REQUESTS and time.monotonic() < deadline:
                req = LOAD[i % len(LOAD)]
                if i % 5 == 4:
                    r = h.request(self.port, "GET", req[1], host=req[0], timeout=30)
                else:
                    if conn is None or uses >= 20:
                        if conn:
                            conn.close()
                        conn, uses = h.Conn(self.port, timeout=30), 0
                    r = conn.request("GET", req[1], {}, b"", req[0])
                    uses += 1
                    if (r.header("Connection") or "").lower() == "close":
                        conn.close()
                        conn = None
                self.record(req, r)
                i += 1
        except Exception as e:  # noqa: BLE001 - any failure of the client is a failed request
            self.error = e
        finally:
            if conn:
                conn.close()

    def count(self):
        with self.lock:
            return len(self.results)

    def snapshot(self):
        with self.lock:
            return list(self.results)


class gateway_migration(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.a = h.Upstream.start("demo-a")
        cls.b = h.Upstream.start("demo-b")
        cls.procs = []

    @classmethod
    def tearDownClass(cls):
        for p in cls.procs:
            p.stop()
        cls.a.stop()
        cls.b.stop()

    def serve(self, directory):
        p = t.start_portico(directory)  # stop() checks for sanitizer reports and the exit code
        self.procs.append(p)
        return p

    def test_gateway_demo_answers_like_the_ingress_demo(self):
        ing = self.serve(copy_example(EXAMPLES / "local", self.a.port, self.b.port))
        gw = self.serve(copy_example(GATEWAY / "demo", self.a.port, self.b.port))
        for host, target, upstream in DEMO_REQUESTS:
            answers = []
            for p in (ing, gw):
                r = h.request(p.http_port, "GET", target, host=host)
                self.assertEqual(r.status, 200, (host, target, r.body[:200]))
                body = r.json()
                answers.append((r.status, body["name"], body["target"]))
            self.assertEqual(answers[0], (200, upstream, target), (host, target))
            self.assertEqual(answers[1], answers[0], (host, target))
        out = h.run_portico("routes", "--config-dir", GATEWAY / "demo")
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
        self.assertIn("HTTPRoute", out.stdout)

    def test_examples_report_no_error(self):
        for d in (GATEWAY / "demo", GATEWAY / "migration"):
            out = h.run_portico("routes", "--config-dir", d)
            self.assertEqual(out.returncode, 0, (d, out.stdout + out.stderr))
        # deploy/local-up.sh --gateway serves the Gateway demo (here: its route table only).
        env = dict(os.environ, BUILD_DIR=str(h.portico_bin().resolve().parent.parent))
        r = subprocess.run(["bash", str(h.source_dir() / "deploy" / "local-up.sh"), "--gateway",
                            "--routes-only", "--no-build"], capture_output=True, text=True,
                           env=env, timeout=120)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("deploy/examples/gateway/demo", r.stdout)
        rows = [ln for ln in r.stdout.splitlines() if ln.startswith("demo.local")]
        self.assertTrue(rows and all("HTTPRoute" in ln for ln in rows), r.stdout)

    def test_ingress_to_httproute_without_a_failed_request(self):
        d = copy_example(GATEWAY / "migration", self.a.port, self.b.port)
        p = self.serve(d)
        l = load(p.http_port)
        try:
            h.wait_until(lambda: l.count() >= 150 or l.error, timeout=60)
            before = l.count()
            # The replacement is written beside the file under a name the source ignores,
            # then renamed over it: the directory never holds half a file.
            new = (GATEWAY / "migration-next" / "30-shop.yaml").read_text()
            (d / ".30-shop.tmp").write_text(new.replace("9001", str(self.a.port))
                                            .replace("9002", str(self.b.port)))
            os.replace(d / ".30-shop.tmp", d / "30-shop.yaml")

            def switched():
                rs = [x for x in l.snapshot()[before:] if x[0] == "shop.local"]
                return l.error or (len(rs) >= 40 and all(x[5] == "httproute" for x in rs[-40:]))
            h.wait_until(switched, timeout=60)
            after = l.count()
            h.wait_until(lambda: l.count() >= after + 150 or l.error, timeout=60)
        finally:
            l.stop.set()
            l.thread.join(60)
        self.assertIsNone(l.error, f"the client failed after {l.count()} requests: {l.error!r}")
        results = l.snapshot()  # at least 150 requests before the change and 150 after it
        bad = [x for x in results if x[3] != 200 or x[4] != x[2]]
        self.assertEqual(len(bad), 0, f"{len(bad)} of {len(results)} requests failed or went astray, "
                                      f"e.g. {bad[:5]}")
        shop = [x for x in results if x[0] == "shop.local"]
        self.assertIsNone(shop[0][5])  # the Ingress served it first
        self.assertEqual(shop[-1][5], "httproute")
        self.assertTrue(all(x[5] is None for x in results if x[0] == "blog.local"))
        # The route table agrees: shop.local by the HTTPRoute, blog.local by its Ingress.
        out = h.run_portico("routes", "--config-dir", d)
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
        rows = [ln for ln in out.stdout.splitlines() if "shop.local" in ln]
        self.assertTrue(rows and all("HTTPRoute" in ln for ln in rows), out.stdout)


if __name__ == "__main__":
    unittest.main(verbosity=2)
