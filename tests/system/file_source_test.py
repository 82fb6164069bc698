"""`portico serve --config-dir`: changes to the directory are served without a restart.

Drives the real binary with real upstreams: a new route appears, a broken file keeps the last
good configuration (and the reload metric says so), a burst of writes gives one reload.
"""

import os
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

RELOAD_METRIC = "nginx_ingress_controller_config_last_reload_successful"
LOADED = r'"msg":"config loaded"'


class FileSource(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.up = harness.Upstream.start("fs-up")

    @classmethod
    def tearDownClass(cls):
        cls.up.stop()

    def start(self, *flags):
        self.dir = harness.temp_dir()
        harness.simple_config(self.dir, [self.up], host="a.test")
        p = harness.Portico.start(self.dir, "--access-log=false", *flags)
        self.addCleanup(p.stop)
        # /healthz answers once the first Snapshot is in place, the log line may come a moment
        # later: tests that count loads start from it.
        harness.wait_until(lambda: p.count_lines(LOADED) >= 1, timeout=30)
        return p

    def status(self, p, host, path="/"):
        return p.get(path, host=host).status

    def test_new_route_is_served_without_restart_on_the_same_connection(self):
        p = self.start()
        self.assertEqual(self.status(p, "a.test"), 200)
        self.assertEqual(self.status(p, "b.test"), 404)
        with harness.Conn(p.http_port) as c:
            self.assertEqual(c.request("GET", "/", host="a.test").status, 200)
            harness.write_manifests(self.dir, "b.yaml", harness.ingress(
                "b", [("b.test", "/", "Prefix", "app", 80)]))
            harness.wait_until(lambda: self.status(p, "b.test") == 200, timeout=30)
            # The old connection still works and gets the new route too, once its worker has
            # the new Snapshot (each worker takes it in its own turn: a new connection may
            # have come to one that had it first).
            got = []
            harness.wait_until(
                lambda: got.append(c.request("GET", "/hello", host="b.test")) or got[-1].status == 200,
                timeout=30)
            r = got[-1]
            self.assertEqual(r.status, 200)
            self.assertEqual(r.json()["name"], "fs-up")
            self.assertEqual(r.json()["target"], "/hello")
        self.assertTrue(p.alive())

    def test_broken_file_keeps_the_last_good_config(self):
        p = self.start()
        loads = p.count_lines(LOADED)
        app = self.dir / "app.yaml"
        good = app.read_text()
        harness.write_file(app, "apiVersion: v1\nkind: Service\nmetadata:\n  name: [broken\n")
        harness.wait_until(lambda: p.count_lines(LOADED) > loads, timeout=30)
        self.assertRegex(p.stderr_text(), r"app\.yaml:\d+")
        self.assertEqual(self.status(p, "a.test"), 200)  # last good objects of app.yaml
        if p.metric(RELOAD_METRIC) is not None:
            self.assertEqual(p.metric(RELOAD_METRIC), 0)
        loads = p.count_lines(LOADED)
        harness.write_file(app, good.replace("a.test", "fixed.test"))
        harness.wait_until(lambda: self.status(p, "fixed.test") == 200, timeout=30)
        self.assertEqual(self.status(p, "a.test"), 404)
        if p.metric(RELOAD_METRIC) is not None:
            self.assertEqual(p.metric(RELOAD_METRIC), 1)

    def test_deleted_file_removes_its_routes(self):
        p = self.start()
        harness.write_manifests(self.dir, "c.yaml", harness.ingress(
            "c", [("c.test", "/", "Prefix", "app", 80)]))
        harness.wait_until(lambda: self.status(p, "c.test") == 200, timeout=30)
        (self.dir / "c.yaml").unlink()
        harness.wait_until(lambda: self.status(p, "c.test") == 404, timeout=30)
        self.assertEqual(self.status(p, "a.test"), 200)

    def test_burst_of_twenty_writes_gives_one_reload(self):
        # A long debounce window makes "one burst" independent of how slow this machine is.
        p = self.start("--config-debounce", "700ms", "--config-max-delay", "10s")
        # The first load's line may still be on its way through the log pipe: count from it.
        harness.wait_until(lambda: p.count_lines(LOADED) >= 1, timeout=30)
        loads = p.count_lines(LOADED)
        for i in range(20):
            harness.write_manifests(self.dir, "burst.yaml", harness.ingress(
                "burst", [(f"burst{i}.test", "/", "Prefix", "app", 80)]))
        harness.wait_until(lambda: self.status(p, "burst19.test") == 200, timeout=30)
        time.sleep(1.5)  # let any straggling reload happen before counting
        self.assertEqual(p.count_lines(LOADED) - loads, 1, p.stderr_text()[-3000:])
        self.assertEqual(self.status(p, "burst0.test"), 404)


class ServeFlags(unittest.TestCase):
    def test_missing_config_dir_is_fatal(self):
        r = harness.run_portico("serve", "--config-dir", harness.temp_dir() / "missing",
                                "--http-port", "0", "--admin-port", "0")
        self.assertEqual(r.returncode, 1)
        self.assertIn("--config-dir", r.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)
