#!/usr/bin/python3
"""Listener isolation (GatewaySpec.Listeners; conformance feature GatewayHTTPListenerIsolation)
in file mode against the real binary: a request goes to the most specific listener of a
Gateway that matches its host, and only the routes attached to that listener serve it. The
Gateway and routes are those of the conformance test gateway-http-listener-isolation: four
HTTP listeners on port 80 (no hostname, "*.example.com", "*.foo.example.com",
"abc.foo.example.com"), one route on each by sectionName. Also: within one listener, route
hostnames still fall back from the most specific to the wildcard ones (HTTPRoute hostname
precedence), a listener hostname without routes still takes its hosts (404), and a second
Gateway sharing port 80 is isolated on its own listeners only."""

import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402
import tls_support as t  # noqa: E402

GW = "gateway.networking.k8s.io/v1"

LISTENERS = [("empty-hostname", None), ("wildcard-example-com", "*.example.com"),
             ("wildcard-foo-example-com", "*.foo.example.com"),
             ("abc-foo-example-com", "abc.foo.example.com")]


def gateway(name, listeners):
    out = (f"apiVersion: {GW}\nkind: Gateway\nmetadata: {{name: {name}, namespace: infra}}\n"
           "spec:\n  gatewayClassName: portico\n  listeners:\n")
    for lname, host in listeners:
        out += f"  - name: {lname}\n    port: 80\n    protocol: HTTP\n"
        if host:
            out += f"    hostname: \"{host}\"\n"
        out += "    allowedRoutes: {namespaces: {from: All}}\n"
    return out


def route(name, gw, section, prefix, backend="a", hostnames=None):
    out = (f"apiVersion: {GW}\nkind: HTTPRoute\nmetadata: {{name: {name}, namespace: infra}}\n"
           f"spec:\n  parentRefs: [{{name: {gw}, namespace: infra, sectionName: {section}}}]\n")
    if hostnames:
        out += "  hostnames: [" + ", ".join(f'"{x}"' for x in hostnames) + "]\n"
    out += (f"  rules:\n  - matches: [{{path: {{type: PathPrefix, value: {prefix}}}}}]\n"
            f"    backendRefs: [{{name: {backend}, port: 80}}]\n")
    return out


CLASS = (f"apiVersion: {GW}\nkind: GatewayClass\nmetadata: {{name: portico}}\n"
         "spec: {controllerName: portico.dev/gateway-controller}\n")


class gateway_listener_isolation(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.ups = {n: h.Upstream.start(n) for n in ("a", "b", "c")}
        d = h.temp_dir()
        docs = [CLASS, gateway("iso", LISTENERS)]
        docs += [route(f"attaches-to-{n}", "iso", n, f"/{n}") for n, _ in LISTENERS]
        # One listener, two route hostnames: the exact one first, then the wildcard one.
        docs.append(gateway("shared", [("any", None)]))
        docs.append(route("exact-host", "shared", "any", "/exact", "b", ["www.shared.test"]))
        docs.append(route("wildcard-host", "shared", "any", "/wild", "c", ["*.shared.test"]))
        # A listener hostname no route attaches to.
        docs.append(gateway("quiet", [("quiet", "quiet.test"), ("rest", None)]))
        docs.append(route("quiet-rest", "quiet", "rest", "/rest", "b"))
        h.write_manifests(d, "gateway.yaml", *docs)
        h.write_manifests(d, "services.yaml", *[
            h.service(n, 80, [("127.0.0.1", u.port)], namespace="infra") for n, u in cls.ups.items()])
        cls.p = t.start_portico(d)

    @classmethod
    def tearDownClass(cls):
        cls.p.stop()
        for u in cls.ups.values():
            u.stop()

    def status(self, host, path):
        return h.request(self.p.http_port, "GET", path, host=host).status

    def test_conformance_listener_isolation(self):
        # (host, the only listener whose route may answer it)
        cases = [("bar.com", "empty-hostname"), ("bar.example.com", "wildcard-example-com"),
                 ("bar.foo.example.com", "wildcard-foo-example-com"),
                 ("abc.foo.example.com", "abc-foo-example-com")]
        for host, served in cases:
            for name, _ in LISTENERS:
                want = 200 if name == served else 404
                self.assertEqual(self.status(host, f"/{name}"), want, (host, name))

    def test_route_hostnames_within_one_listener_fall_back_to_wildcards(self):
        # Both routes are on the same listener: www.shared.test takes /exact from its own route
        # and /wild from the wildcard route (HTTPRoute hostname precedence, not isolation).
        r = h.request(self.p.http_port, "GET", "/wild", host="www.shared.test")
        self.assertEqual((r.status, r.json()["name"]), (200, "c"))
        r = h.request(self.p.http_port, "GET", "/exact", host="www.shared.test")
        self.assertEqual((r.status, r.json()["name"]), (200, "b"))
        self.assertEqual(self.status("other.shared.test", "/exact"), 404)

    def test_a_listener_hostname_without_routes_isolates_its_host(self):
        # quiet.test belongs to the "quiet" listener of Gateway quiet, which has no route: the
        # route on the same Gateway's listener without hostname does not serve it.
        self.assertEqual(self.status("quiet.test", "/rest"), 404)
        self.assertEqual(self.status("loud.test", "/rest"), 200)

    def test_other_gateways_are_not_isolated_by_these_listeners(self):
        # Gateway "quiet"'s listener without hostname is the most specific listener of that
        # Gateway for bar.example.com: Gateway iso's "*.example.com" listener does not take it.
        self.assertEqual(self.status("bar.example.com", "/rest"), 200)

    def test_status_counts_each_route_on_its_listener(self):
        st = h.request(self.p.admin_port, "GET", "/debug/gateway-status").json()
        gws = {g["name"]: g for g in st["gateways"]}
        counts = {li["name"]: li["attachedRoutes"] for li in gws["iso"]["listeners"]}
        self.assertEqual(counts, {n: 1 for n, _ in LISTENERS})


if __name__ == "__main__":
    unittest.main()
