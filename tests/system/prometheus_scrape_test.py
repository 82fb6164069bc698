#!/usr/bin/python3
"""A real Prometheus server (Debian `prometheus`) on loopback scrapes a running Portico every
second; known traffic is sent and read back through Prometheus's HTTP API: the request
counter per Ingress and status, a latency histogram quantile, the reload gauge. The committed
deploy/monitoring/prometheus.yml passes `promtool check config`, and every PromQL expression
of deploy/monitoring/portico-dashboard.json parses in that server and uses only metric names
Portico exports."""

import json
import math
import os
import re
import shutil
import subprocess
import time
import unittest
import urllib.error
import urllib.parse
import urllib.request

import harness
import tls_support

PROMETHEUS = shutil.which("prometheus", path="/usr/bin:/usr/local/bin")
PROMTOOL = shutil.which("promtool", path="/usr/bin:/usr/local/bin")
MONITORING = harness.source_dir() / "deploy" / "monitoring"
REQ = "nginx_ingress_controller_requests"
DURATION = "nginx_ingress_controller_request_duration_seconds"

# Declared in proxy/metrics.cpp under the ingress-nginx name, set only once leadership is
# reported to the metrics registry; `portico serve --config-dir` never elects a leader.
NOT_IN_FILE_MODE = {"nginx_ingress_controller_leader_election_status"}


class Prometheus(harness.Process):
    """`prometheus` on 127.0.0.1 with a temp TSDB; ready when /-/ready answers 200."""

    def __init__(self, config_path, workdir, timeout=60.0):
        # Prometheus has no "port 0": take a free port, retry if it was taken meanwhile.
        for _ in range(5):
            self.port = harness.free_port()
            super().__init__([PROMETHEUS, f"--config.file={config_path}",
                              f"--web.listen-address=127.0.0.1:{self.port}",
                              f"--storage.tsdb.path={workdir / 'tsdb'}",
                              "--storage.tsdb.retention.time=1h", "--log.level=warn"])
            try:
                harness.wait_until(self._ready, timeout, 0.1)
                return
            except RuntimeError:
                if "address already in use" not in self.stderr_text():
                    raise
                self.stop()
        raise RuntimeError("prometheus could not bind a free port")

    def _ready(self):
        if not self.alive():
            raise RuntimeError("prometheus exited; stderr:\n" + self.stderr_text()[-4000:])
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/-/ready", timeout=2) as r:
                return r.status == 200
        except urllib.error.HTTPError:
            return False  # 503 while starting

    def query(self, expr):
        """GET /api/v1/query; returns the decoded JSON body (also for 400 bad_data)."""
        url = (f"http://127.0.0.1:{self.port}/api/v1/query?" +
               urllib.parse.urlencode({"query": expr}))
        try:
            with urllib.request.urlopen(url, timeout=10) as r:
                return json.loads(r.read())
        except urllib.error.HTTPError as e:
            return json.loads(e.read())

    def scalar(self, expr):
        """The single value of an instant vector query, or None when it has no sample."""
        body = self.query(expr)
        if body["status"] != "success":
            raise AssertionError(f"{expr}: {body}")
        result = body["data"]["result"]
        if not result:
            return None
        assert len(result) == 1, result
        return float(result[0]["value"][1])

    def wait_value(self, expr, want, timeout=60.0):
        harness.wait_until(lambda: self.scalar(expr) == want, timeout, 0.2)


def scrape_config(target_port):
    return ("global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
            "scrape_configs:\n- job_name: portico\n  scrape_interval: 1s\n"
            "  scrape_timeout: 1s\n  metrics_path: /metrics\n"
            f"  static_configs:\n  - targets: ['127.0.0.1:{target_port}']\n")


def sample_names(metrics_text):
    """The sample names in Prometheus text exposition (histograms as _bucket/_sum/_count)."""
    names = set()
    for line in metrics_text.splitlines():
        if line and not line.startswith("#"):
            names.add(re.match(r"[A-Za-z_:][A-Za-z0-9_:]*", line).group(0))
    return names


def buckets(metrics_text, name, **labels):
    """{le: cumulative count} of histogram `name`, summed over series having `labels`."""
    out = {}
    for line in metrics_text.splitlines():
        if not line.startswith(name + "_bucket{"):
            continue
        lab = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', line[:line.rindex("}")]))
        if all(lab.get(k) == v for k, v in labels.items()):
            le = float(lab["le"])
            out[le] = out.get(le, 0) + float(line.rsplit(" ", 1)[1])
    return out


def dashboard_queries(dashboard):
    """(where, PromQL) for every panel target, annotation and label_values() variable."""
    out = []

    def walk(panels):
        for p in panels:
            for t in p.get("targets", []):
                if t.get("expr"):
                    out.append((f"panel '{p['title']}' {t['refId']}", t["expr"]))
            walk(p.get("panels", []))

    walk(dashboard["panels"])
    for a in dashboard.get("annotations", {}).get("list", []):
        if a.get("expr"):
            out.append((f"annotation '{a['name']}'", a["expr"]))
    for v in dashboard.get("templating", {}).get("list", []):
        q = v.get("query")
        q = q.get("query") if isinstance(q, dict) else q
        m = re.fullmatch(r"\s*label_values\((.*),\s*\w+\)\s*", q or "", re.S)
        if v.get("type") == "query":
            assert m, f"variable {v['name']}: not a label_values() query: {q}"
            out.append((f"variable '{v['name']}'", m.group(1)))
    return out


def compat_sections(text):
    """[(title, "yes"|"no", the text after "Answered:", [PromQL])] of the compat page."""
    out = []
    for part in re.split(r"^## ", text, flags=re.M)[1:]:
        title = part.splitlines()[0]
        queries = re.findall(r"```promql\n(.*?)\n```", part, re.S)
        m = re.search(r"^Answered: \*\*(\w+)\*\*(.*?)(?:\n\n|\Z)", part, re.M | re.S)
        assert queries and m, f"section {title!r}: no query or no verdict"
        out.append((title, m.group(1), m.group(2), queries))
    return out


def substitute(expr):
    """Grafana's variables as Grafana would expand them with "All" selected."""
    expr = expr.replace("$__rate_interval", "1m").replace("$__interval", "1m")
    return re.sub(r"\$\{?(\w+)\}?", ".*", expr)


@unittest.skipIf(PROMETHEUS is None, "prometheus not installed (Debian package prometheus)")
class PrometheusScrapeTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.work = harness.temp_dir("portico-prometheus-")
        cls.ups = [harness.Upstream.start("a"), harness.Upstream.start("b")]
        conf = harness.simple_config(cls.work / "conf", cls.ups, host="app.test",
                                     service_name="app")
        # A certificate served from a Secret, for the dashboard's certificate expiry panel.
        cls.cert = tls_support.CA().issue("secure.test")
        harness.write_manifests(
            conf, "secure.yaml", tls_support.tls_secret("secure-tls", cls.cert),
            tls_support.tls_ingress("secure", [("secure.test", "/", "Prefix", "app", 80)],
                                    tls=[(["secure.test"], "secure-tls")]))
        # Requests for unknown.test (no Ingress names it) are exported only with this flag,
        # as in ingress-nginx; the counts below include them.
        cls.portico = harness.Portico.start(conf, "--metrics-per-undefined-host")
        (cls.work / "prometheus.yml").write_text(scrape_config(cls.portico.admin_port))
        cls.prom = Prometheus(cls.work / "prometheus.yml", cls.work)
        # The target is up once Prometheus has scraped it.
        cls.prom.wait_value('up{job="portico"}', 1.0)
        cls.traffic_sent = False

    @classmethod
    def tearDownClass(cls):
        cls.prom.stop()
        cls.portico.stop()
        for u in cls.ups:
            u.stop()

    def send(self, host, n, want):
        for _ in range(n):
            r = self.portico.get("/traffic", host=host, timeout=10)
            self.assertEqual(r.status, want)

    def metrics_text(self):
        return harness.request(self.portico.admin_port, "GET", "/metrics").body.decode()

    def ensure_traffic(self):
        """37 x 200 on Ingress default/app and 5 x 404 on an unknown host, in two batches: the
        first makes the series exist in Prometheus before the second, so that rate() over the
        window sees the second batch's 40 requests (a series' first sample has no increase)."""
        cls = type(self)
        if cls.traffic_sent:
            return
        self.send("app.test", 1, 200)
        self.send("unknown.test", 1, 404)
        self.prom.wait_value(f'sum({REQ}{{ingress="app",status="200"}})', 1.0)
        self.prom.wait_value(f'sum({REQ}{{ingress="",status="404"}})', 1.0)
        cls.before = buckets(self.metrics_text(), DURATION)
        self.send("app.test", 36, 200)
        self.send("unknown.test", 4, 404)
        # A request is counted as its exchange ends, a moment after the client has the answer:
        # wait for the 40th rather than read the counters once.
        harness.wait_until(lambda: buckets(self.metrics_text(), DURATION).get(math.inf, 0)
                           - cls.before.get(math.inf, 0) >= 40, timeout=30)
        cls.after = buckets(self.metrics_text(), DURATION)
        cls.traffic_sent = True

    def test_request_counter_by_ingress_and_status(self):
        self.ensure_traffic()
        self.prom.wait_value(f'sum({REQ}{{ingress="app",status="200"}})', 37.0)
        self.prom.wait_value(f'sum({REQ}{{ingress="",status="404"}})', 5.0)
        # Every request is accounted for once: nothing else was counted.
        self.assertEqual(self.prom.scalar(f"sum({REQ})"), 42.0)
        by_status = self.prom.query(f"sum by (status) ({REQ})")["data"]["result"]
        self.assertEqual({r["metric"]["status"]: float(r["value"][1]) for r in by_status},
                         {"200": 37.0, "404": 5.0})
        # The labels ingress-nginx's dashboards group by.
        series = self.prom.query(f'{REQ}{{ingress="app"}}')["data"]["result"]
        self.assertTrue(series)
        for s in series:
            m = s["metric"]
            self.assertEqual((m["namespace"], m["service"], m["host"], m["method"]),
                             ("default", "app", "app.test", "GET"))

    def test_latency_histogram_quantile(self):
        self.ensure_traffic()
        self.prom.wait_value(f'sum({REQ}{{ingress="app",status="200"}})', 37.0)
        expr = (f"histogram_quantile(0.5, sum by (le) (rate({DURATION}_bucket[1m])))")
        value = harness.wait_until(
            lambda: (lambda v: v is not None and math.isfinite(v) and [v])(self.prom.scalar(expr)),
            60, 0.2)[0]
        # The 40 requests of the second batch, per bucket, as Portico counted them.
        diff = {le: self.after[le] - self.before.get(le, 0) for le in self.after}
        self.assertEqual(diff[math.inf], 40)
        finite = sorted(le for le in diff if math.isfinite(le))
        # The smallest bucket bound holding every one of them bounds every quantile.
        top = next(le for le in finite if diff[le] == 40)
        self.assertGreaterEqual(value, 0.0)
        self.assertLessEqual(value, top, f"p50 {value} above the bucket {top} holding all 40")
        self.assertLessEqual(value, finite[-1])
        # Count and sum agree with the requests sent.
        self.prom.wait_value(f"sum({DURATION}_count)", 42.0)

    def test_config_reload_gauges(self):
        self.assertEqual(self.prom.scalar("nginx_ingress_controller_config_last_reload_successful"), 1.0)
        ts = self.prom.scalar("nginx_ingress_controller_config_last_reload_successful_timestamp_seconds")
        self.assertGreater(ts, 1.7e9)  # a Unix time, not a duration or 0
        self.assertGreaterEqual(self.prom.scalar("sum(nginx_ingress_controller_success)"), 1.0)
        self.assertIsNotNone(self.prom.scalar("portico_snapshot_build_seconds"))

    def test_dashboard_expressions_parse_and_use_exported_metrics(self):
        self.ensure_traffic()
        dashboard = json.loads((MONITORING / "portico-dashboard.json").read_text())
        queries = dashboard_queries(dashboard)
        self.assertGreaterEqual(len(queries), 25)
        exported = sample_names(self.metrics_text())
        used = set()
        for where, expr in queries:
            with self.subTest(query=where):
                body = self.prom.query(substitute(expr))
                self.assertEqual(body["status"], "success", f"{expr}\n{body}")
                names = set(re.findall(r"\b(?:nginx_ingress_controller|portico)_\w+", expr))
                self.assertTrue(names, expr)
                used |= names
                for n in names - NOT_IN_FILE_MODE:
                    self.assertIn(n, exported, f"{where}: {n} is not in Portico's /metrics")
        for n in NOT_IN_FILE_MODE & used:
            self.assertIn(n.removeprefix("nginx_ingress_controller_"),
                          (harness.source_dir() / "proxy" / "metrics.cpp").read_text())
        # The panels the dashboard promises.
        for n in (REQ, DURATION + "_bucket", "nginx_ingress_controller_connect_duration_seconds_bucket",
                  "nginx_ingress_controller_header_duration_seconds_bucket",
                  "nginx_ingress_controller_response_size_sum", "portico_client_connections",
                  "portico_tunnels", "portico_pooled_upstream_connections",
                  "portico_ejected_endpoints", "nginx_ingress_controller_config_last_reload_successful",
                  "nginx_ingress_controller_config_last_reload_successful_timestamp_seconds",
                  "portico_snapshot_build_seconds", "nginx_ingress_controller_leader_election_status"):
            self.assertIn(n, used)

    def test_ingress_nginx_dashboard_queries_as_the_compat_page_says(self):
        self.ensure_traffic()
        self.prom.wait_value(f'sum({REQ}{{ingress="app",status="200"}})', 37.0)
        sections = compat_sections((MONITORING / "ingress-nginx-dashboard-compat.md").read_text())
        self.assertGreaterEqual(len(sections), 16)  # 14 panels, the annotation, the variables
        exported = sample_names(self.metrics_text())
        answered = 0
        for title, verdict, note, queries in sections:
            self.assertIn(verdict, ("yes", "no"), title)
            answered += verdict == "yes"
            for expr in queries:
                with self.subTest(panel=title, query=expr[:80]):
                    body = self.prom.query(substitute(expr))
                    self.assertEqual(body["status"], "success", f"{expr}\n{body}")
                    names = set(re.findall(r"\bnginx_ingress_controller_\w+", expr))
                    missing = names - exported
                    if verdict == "no":
                        self.assertTrue(missing, f"{title}: marked no, but {names} are exported")
                        continue
                    self.assertEqual(missing, set(), title)
                    if "empty while nothing has failed" not in note:
                        self.assertTrue(body["data"]["result"], f"{title}: no data for {expr}")
        self.assertEqual(answered, len(sections))

    def test_a_broken_expression_is_reported_as_bad_data(self):
        # What the dashboard check relies on: a parse error is not a "success".
        body = self.prom.query(f"sum(rate({REQ}[1m])")
        self.assertEqual((body["status"], body.get("errorType")), ("error", "bad_data"))


@unittest.skipIf(PROMTOOL is None, "promtool not installed (Debian package prometheus)")
class ScrapeConfigTest(unittest.TestCase):

    def promtool(self, path):
        return subprocess.run([PROMTOOL, "check", "config", str(path)], capture_output=True,
                              text=True, timeout=60)

    def test_committed_prometheus_yml_passes_promtool(self):
        path = MONITORING / "prometheus.yml"
        p = self.promtool(path)
        if p.returncode != 0 and "field kubernetes_sd_configs not found" in p.stdout + p.stderr:
            # Debian builds Prometheus without the Kubernetes service discovery. Check
            # everything else with promtool, and the discovery block against its documented
            # fields.
            import yaml
            config = yaml.safe_load(path.read_text())
            job = next(j for j in config["scrape_configs"] if j["job_name"] == "portico")
            sd = job.pop("kubernetes_sd_configs")
            self.assert_pod_discovery(sd)
            job["static_configs"] = [{"targets": ["127.0.0.1:10254"]}]
            tmp = harness.temp_dir("portico-promtool-") / "prometheus.yml"
            tmp.write_text(yaml.safe_dump(config))
            p = self.promtool(tmp)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertIn("SUCCESS", p.stdout + p.stderr)

    def assert_pod_discovery(self, sd):
        fields = {"api_server", "role", "namespaces", "selectors", "attach_metadata",
                  "kubeconfig_file", "basic_auth", "authorization", "oauth2", "tls_config",
                  "proxy_url", "follow_redirects", "enable_http2"}
        self.assertEqual(len(sd), 1)
        self.assertLessEqual(set(sd[0]), fields)
        self.assertEqual(sd[0]["role"], "pod")
        self.assertEqual(sd[0]["namespaces"], {"names": ["portico"]})
        for s in sd[0].get("selectors", []):
            self.assertLessEqual(set(s), {"role", "label", "field"})
            self.assertEqual(s["role"], "pod")

    def test_relabeling_selects_portico_pods_on_the_admin_port(self):
        import yaml
        config = yaml.safe_load((MONITORING / "prometheus.yml").read_text())
        job = next(j for j in config["scrape_configs"] if j["job_name"] == "portico")
        self.assertEqual(job.get("metrics_path", "/metrics"), "/metrics")
        rules = job["relabel_configs"]

        def relabel(meta):
            """Prometheus's keep/drop/replace semantics for the rules used here."""
            labels = dict(meta)
            for r in rules:
                value = r.get("separator", ";").join(labels.get(s, "") for s in r["source_labels"])
                m = re.fullmatch(r.get("regex", "(.*)"), value)
                action = r.get("action", "replace")
                if action == "keep" and not m:
                    return None
                if action == "drop" and m:
                    return None
                if action == "replace" and m:
                    labels[r["target_label"]] = m.expand(
                        re.sub(r"\$(\d+)", r"\\\1", r.get("replacement", "$1")))
            return labels

        pod = {"__address__": "10.0.0.7:80", "__meta_kubernetes_namespace": "portico",
               "__meta_kubernetes_pod_name": "portico-abcde",
               "__meta_kubernetes_pod_ip": "10.0.0.7", "__meta_kubernetes_pod_phase": "Running",
               "__meta_kubernetes_pod_node_name": "node1",
               "__meta_kubernetes_pod_label_app_kubernetes_io_name": "portico",
               "__meta_kubernetes_pod_container_port_number": "10254"}
        got = relabel(pod)
        self.assertEqual(got["__address__"], "10.0.0.7:10254")
        self.assertEqual(got["kubernetes_pod_name"], "portico-abcde")
        self.assertIsNone(relabel(dict(pod, __meta_kubernetes_pod_container_port_number="80")))
        self.assertIsNone(relabel(dict(pod, __meta_kubernetes_pod_label_app_kubernetes_io_name="x")))
        self.assertIsNone(relabel(dict(pod, __meta_kubernetes_pod_phase="Pending")))
        # The port scraped is the one the DaemonSet declares as "metrics" and probes.
        ds = (harness.source_dir() / "deploy" / "base" / "daemonset.yaml").read_text()
        self.assertIn("name: metrics\n          containerPort: 10254", ds)
        self.assertNotIn("namespace", {r.get("target_label") for r in rules})


if __name__ == "__main__":
    unittest.main(verbosity=2)
