#!/usr/bin/python3
"""ingress-nginx's --time-buckets, --length-buckets and --size-buckets on `portico serve`
against the real binary: requests through Portico to a real upstream (one held back by the
upstream for 300 ms), then /metrics on the admin port, read for each histogram's `le` bounds
and bucket counts; bad lists are refused at start with exit status 2 and a message."""

import os
import re
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402

P = "nginx_ingress_controller_"
TIME_FAMILIES = ["request_duration_seconds", "response_duration_seconds",
                 "connect_duration_seconds", "header_duration_seconds"]
LENGTH_FAMILIES = ["request_size", "response_size"]


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


def buckets(samples, family, method):
    """{le: cumulative count} of `family` for the app's series of `method` (status 200)."""
    return {lab["le"]: v for n, lab, v in samples
            if n == P + family + "_bucket" and lab.get("ingress") == "app"
            and lab.get("method") == method and lab.get("status") == "200"}


class MetricsBucketsTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.up = h.Upstream.start("app")
        cls.conf = h.simple_config(h.temp_dir() / "conf", [cls.up], host="app.test",
                                   path="/app", service_name="app")

    @classmethod
    def tearDownClass(cls):
        cls.up.stop()

    def scrape(self, *flags):
        """Portico with `flags`; GET /app/x twice, and once a POST whose response the
        upstream holds for 300 ms and sends with 64 KiB of body. Returns the parsed samples."""
        p = h.Portico.start(self.conf, *flags)
        self.addCleanup(p.stop)
        self.assertEqual(p.get("/app/x", host="app.test", timeout=10).status, 200)
        self.assertEqual(p.get("/app/x", host="app.test", timeout=10).status, 200)
        slow = h.request(p.http_port, "POST", "/app/x?delay=300&bytes=65536", host="app.test",
                         headers={"Host": "app.test"}, body=b"q", timeout=10)
        self.assertEqual(slow.status, 200)
        self.assertEqual(len(slow.body), 65536)
        h.wait_until(lambda: p.metric(P + "nginx_process_requests_total") == 3, timeout=15)
        return parse(h.request(p.admin_port, "GET", "/metrics").body.decode())

    def test_defaults_are_ingress_nginx_s(self):
        samples = self.scrape()
        for family in TIME_FAMILIES:
            self.assertEqual(list(buckets(samples, family, "GET")),
                             ["0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1",
                              "2.5", "5", "10", "+Inf"], family)
        for family in LENGTH_FAMILIES:
            self.assertEqual(list(buckets(samples, family, "GET")),
                             [str(10 * i) for i in range(1, 11)] + ["+Inf"], family)

    def test_time_and_length_buckets_are_the_flags_bounds(self):
        samples = self.scrape("--time-buckets=0.2,30", "--time-buckets", "60,+Inf",
                              "--length-buckets", "1000, 1e+06", "--size-buckets=1,2")
        for family in TIME_FAMILIES:
            for method in ("GET", "POST"):
                self.assertEqual(list(buckets(samples, family, method)),
                                 ["0.2", "30", "60", "+Inf"], (family, method))
        # The upstream held the POST's response for 300 ms: above 0.2 s.
        for family in ("request_duration_seconds", "response_duration_seconds",
                       "header_duration_seconds"):
            self.assertEqual(buckets(samples, family, "POST"),
                             {"0.2": 0.0, "30": 1.0, "60": 1.0, "+Inf": 1.0}, family)
        for family in LENGTH_FAMILIES:
            self.assertEqual(list(buckets(samples, family, "GET")),
                             ["1000", "1000000", "+Inf"], family)
        # 64 KiB of body: the POST's response is between the two bounds; requests are small.
        self.assertEqual(buckets(samples, "response_size", "POST"),
                         {"1000": 0.0, "1000000": 1.0, "+Inf": 1.0})
        self.assertEqual(buckets(samples, "request_size", "POST"),
                         {"1000": 1.0, "1000000": 1.0, "+Inf": 1.0})
        # --size-buckets bounds ingress-nginx's deprecated bytes_sent, which is not exported.
        self.assertFalse([s for s in samples if s[0].startswith(P + "bytes_sent")])

    def test_bad_lists_are_refused_at_start(self):
        cases = [
            (["--time-buckets=0.1,0.05"],
             "--time-buckets: '0.05' is not above the bound before it"),
            (["--length-buckets=10,ten"], "--length-buckets: 'ten' is not a number"),
            (["--size-buckets=1,,2"], "--size-buckets: '1,,2' has an empty item"),
            (["--time-buckets=NaN"], "--time-buckets: 'NaN' is not a bucket bound"),
            (["--time-buckets", ""], "--time-buckets: '' has an empty item"),
            (["--time-buckets=5", "--time-buckets=1"], "--time-buckets: '1' is not above"),
        ]
        for flag, message in cases:
            r = h.run_portico("serve", "--config-dir", self.conf, "--http-port", "0",
                              "--admin-port", "0", "--https-port", "0",
                              "--listen-address", "127.0.0.1", "--admin-address", "127.0.0.1",
                              *flag, timeout=30)
            self.assertEqual(r.returncode, 2, (flag, r.stderr))
            self.assertIn(message, r.stderr, flag)


if __name__ == "__main__":
    unittest.main()
