#!/usr/bin/python3
"""Gateway API in file mode against the real binary: a GatewayClass of Portico's controller,
a Gateway with HTTP (80 -> --http-port) and HTTPS (443 -> --https-port, a certificateRef
served by SNI) listeners and one it cannot serve, HTTPRoutes routing by path, header, query
parameter and method to real upstreams, weights, RequestRedirect, URLRewrite, header
modifiers, ReferenceGrant (allowed, refused, then removed and added back while serving), the
precedence of a Gateway-claimed host over an Ingress rule for it, and the status JSON at
GET /debug/gateway-status. Expected behaviour follows the Gateway API spec
(apis/v1/httproute_types.go, gateway_types.go of kubernetes-sigs/gateway-api)."""

import json
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402
import tls_support as t  # noqa: E402

GW = "gateway.networking.k8s.io/v1"

GATEWAY = f"""apiVersion: v1
kind: Namespace
metadata: {{name: apps, labels: {{team: web}}}}
---
apiVersion: v1
kind: Namespace
metadata: {{name: other}}
---
apiVersion: {GW}
kind: GatewayClass
metadata: {{name: portico}}
spec: {{controllerName: portico.dev/gateway-controller}}
---
apiVersion: {GW}
kind: Gateway
metadata: {{name: gw, namespace: infra}}
spec:
  gatewayClassName: portico
  listeners:
  - name: http
    port: 80
    protocol: HTTP
    allowedRoutes: {{namespaces: {{from: Selector, selector: {{matchLabels: {{team: web}}}}}}}}
  - name: https
    port: 443
    protocol: HTTPS
    hostname: secure.gw.test
    tls: {{certificateRefs: [{{name: secure-cert}}]}}
    allowedRoutes: {{namespaces: {{from: All}}}}
  - name: tcp
    port: 9000
    protocol: TCP
"""


def rule(matches, backends, filters=None):
    out = "  - backendRefs: " + json.dumps(backends) + "\n"
    if matches:
        out += "    matches: " + json.dumps(matches) + "\n"
    if filters:
        out += "    filters: " + json.dumps(filters) + "\n"
    return out


def prefix(p, **kw):
    return dict(path={"type": "PathPrefix", "value": p}, **kw)


A = [{"name": "a", "port": 80}]
B = [{"name": "b", "port": 80}]

ROUTING = (f"apiVersion: {GW}\nkind: HTTPRoute\nmetadata: {{name: routing, namespace: apps}}\n"
           "spec:\n  parentRefs: [{name: gw, namespace: infra, sectionName: http}]\n"
           "  hostnames: [gw.test]\n  rules:\n"
           + rule([{"path": {"type": "Exact", "value": "/exact"}}], A)
           + rule([prefix("/api", headers=[{"name": "X-Version", "value": "v2"}])], B)
           + rule([prefix("/api")], A)
           + rule([prefix("/q", queryParams=[{"name": "env", "value": "canary"}])], B)
           + rule([prefix("/q")], A)
           + rule([prefix("/m", method="POST")], B)
           + rule([prefix("/m")], A)
           + rule([prefix("/regex"), {"path": {"type": "RegularExpression", "value": "/re/[0-9]+"}}], B)
           + rule([prefix("/weights")], [{"name": "a", "port": 80, "weight": 1},
                                         {"name": "b", "port": 80, "weight": 0}])
           + rule([prefix("/split")], [{"name": "a", "port": 80, "weight": 1},
                                       {"name": "b", "port": 80, "weight": 1}])
           + rule([prefix("/redirect")], [], [{"type": "RequestRedirect", "requestRedirect": {
               "scheme": "https", "hostname": "secure.gw.test", "statusCode": 301}}])
           + rule([prefix("/moved")], [], [{"type": "RequestRedirect", "requestRedirect": {
               "path": {"type": "ReplacePrefixMatch", "replacePrefixMatch": "/here"}, "port": 8080}}])
           + rule([prefix("/old")], A, [{"type": "URLRewrite", "urlRewrite": {
               "hostname": "rewritten.example",
               "path": {"type": "ReplacePrefixMatch", "replacePrefixMatch": "/new"}}}])
           + rule([prefix("/full")], A, [{"type": "URLRewrite", "urlRewrite": {
               "path": {"type": "ReplaceFullPath", "replaceFullPath": "/replaced"}}}])
           + rule([prefix("/headers")], A, [
               {"type": "RequestHeaderModifier", "requestHeaderModifier": {
                   "set": [{"name": "X-Set", "value": "set"}], "add": [{"name": "X-Add", "value": "added"}],
                   "remove": ["X-Remove"]}},
               {"type": "ResponseHeaderModifier", "responseHeaderModifier": {
                   "set": [{"name": "X-Resp", "value": "r"}], "add": [{"name": "X-Resp-Add", "value": "ra"}]}}])
           + rule([prefix("/cross")], [{"name": "d", "namespace": "other", "port": 80}])
           + rule([prefix("/granted")], [{"name": "c", "namespace": "other", "port": 80}]))

SECURE = (f"apiVersion: {GW}\nkind: HTTPRoute\nmetadata: {{name: secure, namespace: apps}}\n"
          "spec:\n  parentRefs: [{name: gw, namespace: infra, sectionName: https}]\n  rules:\n"
          + rule([], A))

# A route of a namespace the http listener's selector does not admit.
OUTSIDER = (f"apiVersion: {GW}\nkind: HTTPRoute\nmetadata: {{name: outsider, namespace: other}}\n"
            "spec:\n  parentRefs: [{name: gw, namespace: infra, sectionName: http}]\n"
            "  hostnames: [outsider.gw.test]\n  rules:\n" + rule([], [{"name": "c", "port": 80}]))

# A parentRef without sectionName: every listener of the Gateway is tried; the http one takes it.
ANY_LISTENER = (f"apiVersion: {GW}\nkind: HTTPRoute\nmetadata: {{name: any-listener, namespace: apps}}\n"
                "spec:\n  parentRefs: [{name: gw, namespace: infra}]\n  hostnames: [any.gw.test]\n"
                "  rules:\n" + rule([], B))

GRANT = f"""apiVersion: gateway.networking.k8s.io/v1beta1
kind: ReferenceGrant
metadata: {{name: apps-to-c, namespace: other}}
spec:
  from: [{{group: gateway.networking.k8s.io, kind: HTTPRoute, namespace: apps}}]
  to: [{{group: "", kind: Service, name: c}}]
"""


class gateway_api(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.ca = t.CA()
        cls.cert = cls.ca.issue("secure.gw.test")
        cls.ups = {n: h.Upstream.start(n) for n in ("a", "b", "c", "ing")}
        d = h.temp_dir()
        h.write_manifests(d, "class.yaml", h.ingress_class())
        h.write_manifests(d, "gateway.yaml", GATEWAY, t.tls_secret("secure-cert", cls.cert, namespace="infra"))
        h.write_manifests(d, "services.yaml",
                          h.service("a", 80, [("127.0.0.1", cls.ups["a"].port)], namespace="apps"),
                          h.service("b", 80, [("127.0.0.1", cls.ups["b"].port)], namespace="apps"),
                          h.service("c", 80, [("127.0.0.1", cls.ups["c"].port)], namespace="other"),
                          h.service("d", 80, [("127.0.0.1", cls.ups["c"].port)], namespace="other"),
                          h.service("ing", 80, [("127.0.0.1", cls.ups["ing"].port)], namespace="apps"))
        h.write_manifests(d, "routes.yaml", ROUTING, SECURE, OUTSIDER, ANY_LISTENER)
        h.write_manifests(d, "grant.yaml", GRANT)
        # An Ingress for the host the HTTPRoute claims (a conflict) and one for a host of its own.
        h.write_manifests(d, "ingress.yaml",
                          h.ingress("shared", [("gw.test", "/", "Prefix", "ing", 80)], namespace="apps"),
                          h.ingress("own", [("ingress.test", "/", "Prefix", "ing", 80)], namespace="apps"))
        cls.dir = d
        cls.p = t.start_portico(d)

    @classmethod
    def tearDownClass(cls):
        cls.p.stop()
        for u in cls.ups.values():
            u.stop()

    def get(self, path, host="gw.test", method="GET", headers=None):
        return h.request(self.p.http_port, method, path, headers=headers or {}, host=host)

    def served_by(self, path, **kw):
        r = self.get(path, **kw)
        self.assertEqual(r.status, 200, (path, r.status, r.body[:200]))
        return r.json()["name"]

    def test_path_matches(self):
        self.assertEqual(self.served_by("/exact"), "a")
        self.assertEqual(self.get("/exact/more").status, 404)  # Exact; nothing else matches
        self.assertEqual(self.served_by("/api/items"), "a")
        self.assertEqual(self.get("/apix").status, 404)        # PathPrefix is element-wise
        self.assertEqual(self.served_by("/re/42"), "b")         # RegularExpression (full match)
        self.assertEqual(self.get("/re/42x").status, 404)

    def test_header_query_and_method_matches(self):
        self.assertEqual(self.served_by("/api/items", headers={"X-Version": "v2"}), "b")
        self.assertEqual(self.served_by("/api/items", headers={"x-version": "v2"}), "b")  # name: any case
        self.assertEqual(self.served_by("/api/items", headers={"X-Version": "V2"}), "a")  # value: exact
        self.assertEqual(self.served_by("/q?env=canary"), "b")
        self.assertEqual(self.served_by("/q?env=prod"), "a")
        self.assertEqual(self.served_by("/m", method="POST"), "b")
        self.assertEqual(self.served_by("/m"), "a")

    def test_weight_zero_gets_nothing_and_equal_weights_split(self):
        self.assertEqual({self.served_by("/weights") for _ in range(40)}, {"a"})
        counts = {"a": 0, "b": 0}
        for _ in range(200):
            counts[self.served_by("/split")] += 1
        # Equal weights: each side's count is Binomial(200, 1/2); below 40 is > 8 standard
        # deviations from the mean, never reached by a fair draw.
        self.assertGreater(counts["a"], 40, counts)
        self.assertGreater(counts["b"], 40, counts)

    def test_request_redirect(self):
        r = self.get("/redirect/x?y=1")
        self.assertEqual(r.status, 301)
        # https: the well-known port 443 is left out of Location (HTTPRequestRedirectFilter.Port).
        self.assertEqual(r.header("location"), "https://secure.gw.test/redirect/x?y=1")
        r = self.get("/moved/deep/er")
        self.assertEqual(r.status, 302)  # the default statusCode
        self.assertEqual(r.header("location"), "http://gw.test:8080/here/deep/er")

    def test_url_rewrite(self):
        r = self.get("/old/page?z=2")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.json()["target"], "/new/page?z=2")
        self.assertEqual(r.echo_header("host"), ["rewritten.example"])
        self.assertEqual(self.get("/old").json()["target"], "/new")
        self.assertEqual(self.get("/full/any/thing").json()["target"], "/replaced")

    def test_header_modifiers(self):
        r = self.get("/headers", headers={"X-Set": "client", "X-Add": "client", "X-Remove": "gone"})
        self.assertEqual(r.status, 200)
        self.assertEqual(r.echo_header("x-set"), ["set"])
        self.assertEqual(sorted(r.echo_header("x-add")), ["added", "client"])
        self.assertEqual(r.echo_header("x-remove"), [])
        self.assertEqual(r.header("x-resp"), "r")
        self.assertEqual(r.header("x-resp-add"), "ra")

    def test_https_listener_serves_its_certificate_by_sni(self):
        status, _, body = t.curl(self.p.https_port, "secure.gw.test", "/", ca=self.ca)
        self.assertEqual(status, 200)
        self.assertEqual(json.loads(body)["name"], "a")
        self.assertEqual(t.peer_certificate(self.p.https_port, "secure.gw.test"), self.cert.der)
        # The route is attached to the https listener only: plain HTTP does not serve it.
        self.assertEqual(self.get("/", host="secure.gw.test").status, 404)

    def test_reference_grant(self):
        self.assertEqual(self.get("/cross").status, 500)  # no ReferenceGrant: refused
        self.assertEqual(self.served_by("/granted"), "c")
        os.remove(os.path.join(self.dir, "grant.yaml"))
        try:
            h.wait_until(lambda: self.get("/granted").status == 500)
        finally:
            h.write_manifests(self.dir, "grant.yaml", GRANT)
        h.wait_until(lambda: self.get("/granted").status == 200)
        self.assertEqual(self.served_by("/granted"), "c")

    def test_gateway_host_wins_over_ingress(self):
        self.assertEqual(self.get("/not-routed").status, 404)  # gw.test's Ingress rule is not served
        self.assertEqual(self.served_by("/", host="ingress.test"), "ing")
        self.assertRegex(self.p.stderr_text(),
                         r'Ingress apps/shared: spec\.rules\[0\]\.http\.paths\[0\]: conflict: host \\?"gw\.test\\?" '
                         r'is served by a Gateway')

    def test_listener_selector_refuses_other_namespaces(self):
        self.assertEqual(self.get("/", host="outsider.gw.test").status, 404)
        self.assertEqual(self.served_by("/", host="any.gw.test"), "b")

    def test_status_json(self):
        r = h.request(self.p.admin_port, "GET", "/debug/gateway-status")
        self.assertEqual(r.status, 200)
        st = r.json()
        (gw,) = st["gateways"]
        self.assertEqual((gw["namespace"], gw["name"]), ("infra", "gw"))
        conds = {c["type"]: c for c in gw["conditions"]}
        self.assertEqual((conds["Accepted"]["status"], conds["Accepted"]["reason"]), ("True", "ListenersNotValid"))
        self.assertEqual(conds["Programmed"]["status"], "True")
        listeners = {l["name"]: l for l in gw["listeners"]}
        self.assertEqual(listeners["http"]["attachedRoutes"], 2)   # routing, any-listener (not outsider)
        self.assertEqual(listeners["https"]["attachedRoutes"], 1)  # secure
        tcp = {c["type"]: c for c in listeners["tcp"]["conditions"]}
        self.assertEqual((tcp["Accepted"]["status"], tcp["Accepted"]["reason"]), ("False", "UnsupportedProtocol"))
        https = {c["type"]: c for c in listeners["https"]["conditions"]}
        self.assertEqual(https["ResolvedRefs"]["status"], "True")
        routes = {(x["namespace"], x["name"]): x for x in st["routes"]}
        routing = routes[("apps", "routing")]
        self.assertEqual(routing["kind"], "HTTPRoute")
        (parent,) = routing["parents"]
        self.assertEqual(parent["gateway"], "infra/gw")
        self.assertEqual(parent["sectionName"], "http")
        pc = {c["type"]: c for c in parent["conditions"]}
        self.assertEqual(pc["Accepted"]["reason"], "Accepted")
        self.assertEqual((pc["ResolvedRefs"]["status"], pc["ResolvedRefs"]["reason"]), ("False", "RefNotPermitted"))
        (any_parent,) = routes[("apps", "any-listener")]["parents"]
        self.assertIsNone(any_parent["sectionName"])  # the parentRef names none
        self.assertEqual({c["type"]: c["reason"] for c in any_parent["conditions"]},
                         {"Accepted": "Accepted", "ResolvedRefs": "ResolvedRefs"})
        (out_parent,) = routes[("other", "outsider")]["parents"]
        oc = {c["type"]: c for c in out_parent["conditions"]}
        self.assertEqual((oc["Accepted"]["status"], oc["Accepted"]["reason"]), ("False", "NotAllowedByListeners"))

    def test_status_is_loopback_only_like_the_other_debug_endpoints(self):
        # The same rule as /debug/snapshot: served here because the test connects from 127.0.0.1.
        r = h.request(self.p.admin_port, "GET", "/debug/gateway-status")
        self.assertEqual(r.header("content-type"), "application/json")


if __name__ == "__main__":
    unittest.main()
