#!/usr/bin/python3
"""The request metrics' cardinality switches of `portico serve` (ingress-nginx's
--metrics-per-host, --metrics-per-undefined-host, --report-status-classes,
--exclude-socket-metrics) against the real binary: the same requests (to a host an Ingress
names and to one no Ingress names) through Portico to a real upstream, then /metrics on the
admin port, read for exact label sets and for the families present."""

import os
import re
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402

P = "nginx_ingress_controller_"
REQ = P + "requests"
FAMILIES = ["requests", "request_duration_seconds", "response_duration_seconds",
            "connect_duration_seconds", "header_duration_seconds", "request_size",
            "response_size"]
CONTROLLER = {"controller_class": "portico.dev/ingress-controller",
              "controller_namespace": "ingress", "controller_pod": "portico-0"}
APP = {"canary": "", "ingress": "app", "method": "GET", "namespace": "default",
       "path": "/app", "service": "app", **CONTROLLER}
DEFAULT_BACKEND = {"canary": "", "ingress": "", "method": "GET", "namespace": "",
                   "path": "", "service": "", **CONTROLLER}
# (host, target, status Portico answers)
TRAFFIC = [("app.test", "/app/x", 200), ("app.test", "/app/x?status=201", 201),
           ("app.test", "/app/y", 200), ("app.test", "/app/x?status=503", 503),
           ("app.test", "/nope", 404),  # a host an Ingress names, no path of it matches
           ("unknown.test", "/", 404), ("unknown.test", "/app/x", 404)]


def parse(text):
    """[(name, {label: value}, value)] of every sample line."""
    out = []
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = re.match(r"([A-Za-z_:][A-Za-z0-9_:]*)(?:\{(.*)\})? (\S+)$", line)
        labels = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(2) or ""))
        out.append((m.group(1), labels, float(m.group(3))))
    return out


def series(samples, name):
    """{frozenset(labels.items()): value} of samples named `name`."""
    return {frozenset(lab.items()): v for n, lab, v in samples if n == name}


def key(**labels):
    return frozenset(labels.items())


class MetricsSwitchesTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.up = h.Upstream.start("app")
        cls.conf = h.simple_config(h.temp_dir() / "conf", [cls.up], host="app.test",
                                   path="/app", service_name="app")

    @classmethod
    def tearDownClass(cls):
        cls.up.stop()

    def scrape_after_traffic(self, *flags):
        """Starts Portico with `flags`, sends TRAFFIC, returns (samples, exposition text)."""
        p = h.Portico.start(self.conf, "--controller-namespace", "ingress",
                            "--controller-pod", "portico-0", *flags)
        self.addCleanup(p.stop)
        for host, target, want in TRAFFIC:
            self.assertEqual(p.get(target, host=host, timeout=10).status, want, (host, target))
        # A request is counted as its exchange ends, a moment after the client has the answer.
        h.wait_until(lambda: p.metric(P + "nginx_process_requests_total") == len(TRAFFIC),
                     timeout=15)
        text = h.request(p.admin_port, "GET", "/metrics").body.decode()
        return parse(text), text

    def test_defaults_label_hosts_ingresses_name_and_hide_the_others(self):
        samples, _ = self.scrape_after_traffic()
        self.assertEqual(series(samples, REQ), {
            key(**APP, host="app.test", status="200"): 2.0,
            key(**APP, host="app.test", status="201"): 1.0,
            key(**APP, host="app.test", status="503"): 1.0,
            key(**DEFAULT_BACKEND, host="app.test", status="404"): 1.0,
        })
        # unknown.test's requests are in no family, as ingress-nginx's socket collector skips
        # hosts it does not serve.
        self.assertFalse([s for s in samples if s[1].get("host") == "unknown.test"])

    def test_per_undefined_host_labels_the_request_host(self):
        samples, _ = self.scrape_after_traffic("--metrics-per-undefined-host")
        got = series(samples, REQ)
        self.assertEqual(got.get(key(**DEFAULT_BACKEND, host="unknown.test", status="404")), 2.0)
        self.assertEqual(got[key(**DEFAULT_BACKEND, host="app.test", status="404")], 1.0)
        self.assertEqual(got[key(**APP, host="app.test", status="200")], 2.0)
        self.assertEqual(len(got), 5)
        count = series(samples, P + "request_duration_seconds_count")
        self.assertEqual(count.get(key(**DEFAULT_BACKEND, host="unknown.test", status="404")), 2.0)

    def test_metrics_per_host_false_drops_the_label(self):
        samples, _ = self.scrape_after_traffic("--metrics-per-host=false")
        self.assertEqual(series(samples, REQ), {
            key(**APP, status="200"): 2.0,
            key(**APP, status="201"): 1.0,
            key(**APP, status="503"): 1.0,
            # Both hosts' default-backend requests: no host tells them apart now.
            key(**DEFAULT_BACKEND, status="404"): 3.0,
        })
        request_families = [s for s in samples
                            if any(s[0].startswith(P + f) for f in FAMILIES)]
        self.assertTrue(request_families)
        self.assertFalse([s for s in request_families if "host" in s[1]])

    def test_report_status_classes(self):
        samples, _ = self.scrape_after_traffic("--report-status-classes")
        self.assertEqual(series(samples, REQ), {
            key(**APP, host="app.test", status="2xx"): 3.0,
            key(**APP, host="app.test", status="5xx"): 1.0,
            key(**DEFAULT_BACKEND, host="app.test", status="4xx"): 1.0,
        })
        sizes = series(samples, P + "response_size_count")
        self.assertEqual(sizes[key(**APP, host="app.test", status="2xx")], 3.0)

    def test_exclude_socket_metrics(self):
        samples, text = self.scrape_after_traffic(
            "--exclude-socket-metrics=nginx_ingress_controller_request_size,"
            "nginx_ingress_controller_header_duration_seconds,no_such_metric")
        names = {s[0] for s in samples}
        for gone in ("request_size", "header_duration_seconds"):
            self.assertNotIn(f"# TYPE {P}{gone} ", text)
            self.assertFalse([n for n in names if n.startswith(P + gone)], gone)
        for kept in ("requests", "request_duration_seconds_count", "response_size_count",
                     "response_duration_seconds_count", "connect_duration_seconds_count"):
            self.assertIn(P + kept, names)
        self.assertEqual(series(samples, REQ)[key(**APP, host="app.test", status="200")], 2.0)

    def test_an_unknown_excluded_name_is_ignored_with_a_warning(self):
        p = h.Portico.start(self.conf, "--exclude-socket-metrics", "no_such_metric")
        self.addCleanup(p.stop)
        p.wait_line(r'"level":"warn".*exclude-socket-metrics.*"metric":"no_such_metric"')
        self.assertEqual(p.get("/app/x", host="app.test", timeout=10).status, 200)
        h.wait_until(lambda: p.metric(REQ, host="app.test") == 1, timeout=15)
        self.assertIn(f"# TYPE {P}request_size histogram", h.request(
            p.admin_port, "GET", "/metrics").body.decode())

    def test_per_undefined_host_without_per_host_is_refused(self):
        r = h.run_portico("serve", "--config-dir", self.conf, "--http-port", "0",
                          "--admin-port", "0", "--https-port", "0",
                          "--listen-address", "127.0.0.1", "--admin-address", "127.0.0.1",
                          "--metrics-per-host=false", "--metrics-per-undefined-host",
                          timeout=30)
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("--metrics-per-undefined-host=true must be passed with "
                      "--metrics-per-host=true", r.stderr)


if __name__ == "__main__":
    unittest.main()
