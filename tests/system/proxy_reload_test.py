#!/usr/bin/python3
"""Configuration changes without loss: a bounded keep-alive load runs while the config directory
changes 50 times (endpoints added and removed, routes added, the backend replaced); every
request succeeds, no connection is dropped, and the new routes are served."""

import os
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402


class reload(unittest.TestCase):
    def test_fifty_changes_under_load(self):
        ups = [h.Upstream.start(f"r{i}") for i in range(3)]
        d = h.temp_dir()
        h.write_manifests(d, "class.yaml", h.ingress_class())

        def write(i):
            eps = [("127.0.0.1", u.port) for j, u in enumerate(ups) if (i >> j) % 2 or j == i % 3]
            svc = "app" if (i // 10) % 2 == 0 else "app2"  # the backend is replaced every 10
            rules = [("app.test", "/", "Prefix", svc, 80)]
            rules += [(f"extra{k}.test", "/", "Prefix", svc, 80) for k in range(i // 5)]
            h.write_manifests(d, "app.yaml", h.service("app", 80, eps), h.service("app2", 80, eps),
                              h.ingress("app", rules))

        write(0)
        p = h.Portico.start(d, "--workers", "2")
        statuses = []
        errors = []
        stop = threading.Event()

        def load(k):
            # Keep-alive connections, reopened only when Portico announces the close
            # (keep-alive-requests: 1000 requests per connection, as ingress-nginx).
            i = 0
            try:
                while i < 20000 and not stop.is_set():
                    with h.Conn(p.http_port, timeout=20) as c:
                        while i < 20000 and not stop.is_set():
                            r = c.request("GET", f"/{k}/{i}", host="app.test")
                            statuses.append(r.status)
                            i += 1
                            if (r.header("connection") or "").lower() == "close":
                                break
            except Exception as e:  # noqa: BLE001
                errors.append(repr(e))

        threads = [threading.Thread(target=load, args=(k,)) for k in range(4)]
        try:
            for t in threads:
                t.start()
            for i in range(1, 51):
                write(i)
                time.sleep(0.12)
            # The last change (10 extra routes) is served.
            h.wait_until(lambda: h.request(p.http_port, "GET", "/", host="extra9.test").status == 200,
                         timeout=20)
            stop.set()
            for t in threads:
                t.join(60)
            self.assertEqual(errors, [])
            self.assertGreater(len(statuses), 100)
            self.assertEqual(set(statuses), {200})
        finally:
            stop.set()
            p.stop()
            for u in ups:
                u.stop()


if __name__ == "__main__":
    unittest.main(verbosity=2)
