#!/usr/bin/python3
"""Gateway listeners on ports other than 80 and 443, in file mode against the real binary.
Portico is started with one extra HTTP port (--gateway-http-ports) and one extra HTTPS port
(--gateway-https-ports). One Gateway has listeners on 80, 443, the extra HTTP port, the
extra HTTPS port and a port in neither flag; one HTTPRoute attaches to each by sectionName,
all for the same hostname, each to its own backend. Each route answers only on its own port
(HTTP/1.1, HTTP/2 over TLS and h2c), an Ingress rule answers on the main port only, the
unlisted listener reports PortUnavailable in /debug/gateway-status while the others are
Accepted and Programmed, a RequestRedirect without scheme nor port names the extra
listener's port, X-Forwarded-Port names the port the client connected to, and a bad flag
value stops start-up with an error naming the flag."""

import json
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402
import tls_support as t  # noqa: E402
from annotations_test import configmap  # noqa: E402
from proxy_protocol_test import exchange  # noqa: E402

GW = "gateway.networking.k8s.io/v1"
HOST = "ports.test"

CLASS = (f"apiVersion: {GW}\nkind: GatewayClass\nmetadata: {{name: portico}}\n"
         "spec: {controllerName: portico.dev/gateway-controller}\n")


def gateway(extra_http, extra_https, unlisted):
    out = (f"apiVersion: {GW}\nkind: Gateway\nmetadata: {{name: gw, namespace: infra}}\n"
           "spec:\n  gatewayClassName: portico\n  listeners:\n")
    for name, port, proto in (("main-http", 80, "HTTP"), ("main-https", 443, "HTTPS"),
                              ("extra-http", extra_http, "HTTP"), ("extra-https", extra_https, "HTTPS"),
                              ("unlisted", unlisted, "HTTP")):
        out += f"  - name: {name}\n    port: {port}\n    protocol: {proto}\n"
        if proto == "HTTPS":
            out += "    tls: {certificateRefs: [{name: ports-cert}]}\n"
        out += "    allowedRoutes: {namespaces: {from: All}}\n"
    return out


def route(section, backend):
    return (f"apiVersion: {GW}\nkind: HTTPRoute\nmetadata: {{name: on-{section}, namespace: infra}}\n"
            f"spec:\n  parentRefs: [{{name: gw, sectionName: {section}}}]\n  hostnames: [{HOST}]\n"
            f"  rules:\n  - backendRefs: [{{name: {backend}, port: 80}}]\n")


def redirect_route(section):
    # HTTPRouteRedirectPortAndScheme's cases: no scheme nor port (the listener's port), a scheme
    # (its well-known port, left out), a port.
    rules = "".join(
        f"  - matches: [{{path: {{type: PathPrefix, value: /redir-{name}}}}}]\n"
        f"    filters: [{{type: RequestRedirect, requestRedirect: {{hostname: example.org{extra}}}}}]\n"
        for name, extra in (("nil", ""), ("https", ", scheme: https"), ("port", ", port: 9090")))
    return (f"apiVersion: {GW}\nkind: HTTPRoute\nmetadata: {{name: redirect-{section}, namespace: infra}}\n"
            f"spec:\n  parentRefs: [{{name: gw, sectionName: {section}}}]\n  hostnames: [{HOST}]\n"
            f"  rules:\n{rules}")


REDIRECTS = ("main-http", "extra-http", "extra-https")

BACKENDS = {"main-http": "plain80", "main-https": "tls443", "extra-http": "plainx",
            "extra-https": "tlsx", "unlisted": "never"}


class gateway_ports(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.ca = t.CA()
        cls.cert = cls.ca.issue(HOST)
        cls.ups = {n: h.Upstream.start(n) for n in [*BACKENDS.values(), "ing"]}
        cls.extra_http, cls.extra_https, cls.unlisted = h.free_port(), h.free_port(), h.free_port()
        d = h.temp_dir()
        h.write_manifests(d, "class.yaml", h.ingress_class(), CLASS)
        h.write_manifests(d, "gateway.yaml", gateway(cls.extra_http, cls.extra_https, cls.unlisted),
                          t.tls_secret("ports-cert", cls.cert, namespace="infra"),
                          *[route(s, b) for s, b in BACKENDS.items()],
                          *[redirect_route(s) for s in REDIRECTS])
        h.write_manifests(d, "services.yaml", *[
            h.service(n, 80, [("127.0.0.1", u.port)], namespace="infra") for n, u in cls.ups.items()])
        h.write_manifests(d, "ingress.yaml", h.ingress("ing", [("ing.test", "/", "Prefix", "ing", 80)],
                                                         namespace="infra"))
        cls.p = t.start_portico(d, "--gateway-http-ports", str(cls.extra_http),
                                "--gateway-https-ports", f" {cls.extra_https} ")
        cls.dir = d

    def test_start_up_line_names_the_extra_ports(self):
        line = self.p.wait_line(r"listening http=.*", timeout=5).group(0)
        self.assertIn(f'"gateway_http_ports":"{self.extra_http}"', line)
        self.assertIn(f'"gateway_https_ports":"{self.extra_https}"', line)

    @classmethod
    def tearDownClass(cls):
        cls.p.stop()
        for u in cls.ups.values():
            u.stop()

    def plain(self, port, host=HOST):
        return h.request(port, "GET", "/x", host=host)

    def secure(self, port, host=HOST):
        return t.https_request(port, host, "/x", ca=self.ca)

    def test_each_route_answers_on_its_own_port_only(self):
        for port, want in ((self.p.http_port, "plain80"), (self.extra_http, "plainx")):
            r = self.plain(port)
            self.assertEqual(r.status, 200, (port, r.body[:200]))
            self.assertEqual(r.json()["name"], want, port)
        for port, want in ((self.p.https_port, "tls443"), (self.extra_https, "tlsx")):
            r = self.secure(port)
            self.assertEqual(r.status, 200, (port, r.body[:200]))
            self.assertEqual(r.json()["name"], want, port)

    def test_forwarded_port_is_the_listeners(self):
        # X-Forwarded-Port ($server_port) names the port the client connected to.
        for port, get in ((self.p.http_port, self.plain), (self.extra_http, self.plain),
                          (self.p.https_port, self.secure), (self.extra_https, self.secure)):
            r = get(port)
            self.assertEqual(r.status, 200, (port, r.body[:200]))
            self.assertEqual(r.echo_header("x-forwarded-port"), [str(port)], port)

    def test_http2_keeps_the_port(self):
        # HTTP/2 over TLS (ALPN) and h2c with prior knowledge: streams carry their listener.
        status, _, body = t.curl(self.extra_https, HOST, "/x", extra=("-k", "--http2"))
        self.assertEqual((status, json.loads(body)["name"]), (200, "tlsx"))
        status, _, body = t.curl(self.extra_http, HOST, "/x", scheme="http",
                                 extra=("--http2-prior-knowledge",))
        self.assertEqual((status, json.loads(body)["name"]), (200, "plainx"))

    def test_redirects_name_the_listener_port(self):
        def location(r):
            self.assertEqual(r.status, 302, r.body[:200])
            return r.header("location")
        for port, scheme, nil in ((self.p.http_port, "http", "http://example.org/redir-nil/a"),
                                  (self.extra_http, "http", f"http://example.org:{self.extra_http}/redir-nil/a"),
                                  (self.extra_https, "https", f"https://example.org:{self.extra_https}/redir-nil/a")):
            get = ((lambda path, port=port: h.request(port, "GET", path, host=HOST)) if scheme == "http" else
                   (lambda path, port=port: t.https_request(port, HOST, path, ca=self.ca)))
            self.assertEqual(location(get("/redir-nil/a?q=1")), nil + "?q=1", port)
            self.assertEqual(location(get("/redir-https/a")), "https://example.org/redir-https/a", port)
            self.assertEqual(location(get("/redir-port/a")), f"{scheme}://example.org:9090/redir-port/a", port)

    def test_extra_https_port_selects_the_certificate_by_sni(self):
        der = t.peer_certificate(self.extra_https, HOST)
        self.assertEqual(t.subject_cn(der), t.subject_cn(t.peer_certificate(self.p.https_port, HOST)))
        self.assertEqual(self.secure(self.extra_https).status, 200)  # verified against the CA

    def test_ingress_rules_stay_on_the_main_ports(self):
        r = self.plain(self.p.http_port, "ing.test")
        self.assertEqual((r.status, r.json()["name"]), (200, "ing"))
        self.assertEqual(self.plain(self.extra_http, "ing.test").status, 404)

    def test_status(self):
        st = h.request(self.p.admin_port, "GET", "/debug/gateway-status").json()
        (gw,) = st["gateways"]
        listeners = {l["name"]: l for l in gw["listeners"]}
        for name in BACKENDS:
            self.assertEqual(listeners[name]["attachedRoutes"], 1 + (name in REDIRECTS), name)
            conds = {c["type"]: c for c in listeners[name]["conditions"]}
            served = name != "unlisted"
            self.assertEqual(conds["Accepted"]["status"], "True" if served else "False", name)
            self.assertEqual(conds["Programmed"]["status"], "True" if served else "False", name)
        bad = {c["type"]: c for c in listeners["unlisted"]["conditions"]}
        self.assertEqual(bad["Accepted"]["reason"], "PortUnavailable")
        self.assertIn("--gateway-http-ports", bad["Accepted"].get("message", ""))
        self.assertIn(str(self.unlisted), bad["Accepted"].get("message", ""))
        routes = {x["name"]: x for x in st["routes"]}
        for section in BACKENDS:
            (parent,) = routes[f"on-{section}"]["parents"]
            self.assertEqual(parent["sectionName"], section)
            accepted = {c["type"]: c for c in parent["conditions"]}["Accepted"]
            self.assertEqual(accepted["status"], "True", section)

    def test_bad_flag_values_stop_start_up(self):
        base = ("serve", "--config-dir", self.dir, "--http-port", "0", "--admin-port", "0",
                "--listen-address", "127.0.0.1", "--admin-address", "127.0.0.1")
        cases = [
            (("--https-port", "0", "--gateway-http-ports", "8081,web"), "--gateway-http-ports: 'web' is not a port"),
            (("--https-port", "0", "--gateway-http-ports", "70000"), "--gateway-http-ports: '70000' is not a port"),
            (("--https-port", "0", "--gateway-https-ports", "9443"), "--gateway-https-ports: HTTPS is off"),
            (("--https-port", "0", "--gateway-http-ports", "80"), "--gateway-http-ports: port 80"),
            (("--https-port", "0", "--gateway-http-ports", "8081", "--gateway-https-ports", "8081"),
             "--gateway-https-ports: port 8081 is listed twice"),
        ]
        for flags, message in cases:
            r = h.run_portico(*base, *flags, timeout=30)
            self.assertEqual(r.returncode, 2, (flags, r.stderr))
            self.assertIn(message, r.stderr, flags)


class gateway_ports_proxy_protocol(unittest.TestCase):
    """use-proxy-protocol: a connection to an extra port keeps its slot past the PROXY header."""

    @classmethod
    def setUpClass(cls):
        cls.ups = {n: h.Upstream.start(n) for n in ("plain80", "plainx")}
        cls.extra_http = h.free_port()
        d = h.temp_dir()
        h.write_manifests(d, "gateway.yaml", CLASS, (
            f"apiVersion: {GW}\nkind: Gateway\nmetadata: {{name: gw, namespace: infra}}\n"
            "spec:\n  gatewayClassName: portico\n  listeners:\n"
            "  - {name: main-http, port: 80, protocol: HTTP}\n"
            f"  - {{name: extra-http, port: {cls.extra_http}, protocol: HTTP}}\n"),
            route("main-http", "plain80"), route("extra-http", "plainx"))
        h.write_manifests(d, "services.yaml", *[
            h.service(n, 80, [("127.0.0.1", u.port)], namespace="infra") for n, u in cls.ups.items()])
        h.write_manifests(d, "settings.yaml", configmap("portico", {"use-proxy-protocol": "true"},
                                                        namespace="ingress"))
        cls.p = h.Portico.start(d, "--configmap", "ingress/portico",
                                "--gateway-http-ports", str(cls.extra_http))

    @classmethod
    def tearDownClass(cls):
        cls.p.stop()
        for u in cls.ups.values():
            u.stop()

    def test_each_port_keeps_its_routes(self):
        header = b"PROXY TCP4 203.0.113.7 10.0.0.2 40000 80\r\n"
        for port, want in ((self.p.http_port, "plain80"), (self.extra_http, "plainx")):
            r = exchange(port, header, host=HOST)  # (status, echoed JSON) or None
            self.assertIsNotNone(r, port)
            status, echo = r
            self.assertEqual((status, echo and echo["name"]), (200, want), port)


if __name__ == "__main__":
    unittest.main()
