#!/usr/bin/python3
"""GRPCRoute in file mode against the real binary: a Gateway with an HTTP listener (gRPC over
h2c with prior knowledge), an HTTPS listener (HTTP/2 by ALPN, certificate by SNI) and an HTTP
listener whose allowedRoutes.kinds admits HTTPRoute only; GRPCRoutes routing by service and
method (Exact and RegularExpression) and by header to real gRPC servers (python3-grpcio,
generic handlers), header modifiers, weights, a call no rule matches (UNIMPLEMENTED, as
gRPC's HTTP-to-status mapping gives Portico's 404), backendRefs that cannot be used
(UNAVAILABLE, GRPCRouteRule.BackendRefs), the route status at GET /debug/gateway-status
(Accepted, NotAllowedByListeners, BackendNotFound) and `portico routes`. Expected behaviour
follows apis/v1/grpcroute_types.go of kubernetes-sigs/gateway-api."""

import collections
import json
import os
import sys
import unittest
from concurrent import futures

# `portico routes` is forked while gRPC servers and channels exist: grpcio's fork handlers off.
os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "false")
import grpc  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402
import tls_support as t  # noqa: E402

GW = "gateway.networking.k8s.io/v1"

GATEWAY = f"""apiVersion: {GW}
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
    allowedRoutes: {{namespaces: {{from: All}}}}
  - name: https
    port: 443
    protocol: HTTPS
    hostname: secure.grpc.test
    tls: {{certificateRefs: [{{name: grpc-cert}}]}}
    allowedRoutes: {{namespaces: {{from: All}}}}
  - name: http-only
    port: 80
    protocol: HTTP
    hostname: only.grpc.test
    allowedRoutes: {{namespaces: {{from: All}}, kinds: [{{kind: HTTPRoute}}]}}
"""


def rule(matches, backends, filters=None):
    out = "  - backendRefs: " + json.dumps(backends) + "\n"
    if matches:
        out += "    matches: " + json.dumps(matches) + "\n"
    if filters:
        out += "    filters: " + json.dumps(filters) + "\n"
    return out


def ref(name, weight=None):
    r = {"name": name, "port": 50051}
    if weight is not None:
        r["weight"] = weight
    return r


def grpc_route(name, hostnames, rules, section=None):
    parent = {"name": "gw", "namespace": "infra"}
    if section:
        parent["sectionName"] = section
    return (f"apiVersion: {GW}\nkind: GRPCRoute\nmetadata: {{name: {name}, namespace: apps}}\n"
            f"spec:\n  parentRefs: [{json.dumps(parent)}]\n  hostnames: {json.dumps(hostnames)}\n"
            "  rules:\n" + "".join(rules))


ROUTING = grpc_route("shop", ["grpc.test", "secure.grpc.test"], [
    rule([{"method": {"service": "shop.Cart", "method": "Add"}}], [ref("a")], [
        {"type": "RequestHeaderModifier", "requestHeaderModifier": {"set": [{"name": "x-added", "value": "yes"}]}},
        {"type": "ResponseHeaderModifier", "responseHeaderModifier": {"set": [{"name": "x-resp", "value": "r"}]}}]),
    rule([{"method": {"type": "RegularExpression", "service": "shop\\..*", "method": "Get.*"}}], [ref("b")]),
    rule([{"method": {"service": "shop.Cart"}, "headers": [{"name": "x-tier", "value": "gold"}]}], [ref("c")]),
    rule([{"method": {"service": "shop.Cart"}}], [ref("a")]),
    rule([{"method": {"type": "RegularExpression", "method": "Ping[0-9]+"}}], [ref("c")]),
    rule([{"method": {"service": "split.Svc"}}], [ref("a", 1), ref("b", 3)]),
    rule([{"method": {"service": "half.Svc"}}], [ref("a", 1), ref("gone", 1)]),
])
DENIED = grpc_route("denied", ["only.grpc.test"], [rule([], [ref("a")])], section="http-only")
BROKEN = grpc_route("broken", ["broken.grpc.test"], [rule([], [ref("nope")])])


class named_handler(grpc.GenericRpcHandler):
    """Answers every service and method with "<server> <path>"; x-added comes back as
    trailing metadata."""

    def __init__(self, name):
        self.name = name

    def service(self, details):
        path = details.method

        def unary(request, context):
            meta = dict(context.invocation_metadata())
            context.set_trailing_metadata((("x-added", meta.get("x-added", "-")),))
            return f"{self.name} {path}".encode()
        return grpc.unary_unary_rpc_method_handler(unary)


def start_server(name):
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8), options=[("grpc.so_reuseport", 0)])
    server.add_generic_rpc_handlers((named_handler(name),))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    return server, port


class gateway_grpcroute(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.ca = t.CA("GRPCRoute Test CA")
        cert = cls.ca.issue("secure.grpc.test")
        cls.servers = {n: start_server(n) for n in ("a", "b", "c")}
        d = h.temp_dir()
        h.write_manifests(d, "gateway.yaml", GATEWAY, t.tls_secret("grpc-cert", cert, namespace="infra"))
        h.write_manifests(d, "services.yaml",
                          *[h.service(n, 50051, [("127.0.0.1", port)], namespace="apps")
                            for n, (_, port) in cls.servers.items()])
        h.write_manifests(d, "routes.yaml", ROUTING, DENIED, BROKEN)
        cls.dir = d
        cls.p = t.start_portico(d)
        cls.channels = []

    @classmethod
    def tearDownClass(cls):
        for ch in cls.channels:
            ch.close()
        cls.p.stop()
        for server, _ in cls.servers.values():
            server.stop(0)

    def channel(self, authority, tls=False):
        if tls:
            creds = grpc.ssl_channel_credentials(root_certificates=self.ca.pem.encode())
            ch = grpc.secure_channel(f"127.0.0.1:{self.p.https_port}", creds,
                                     options=[("grpc.ssl_target_name_override", authority),
                                              ("grpc.default_authority", authority)])
        else:
            ch = grpc.insecure_channel(f"127.0.0.1:{self.p.http_port}",
                                       options=[("grpc.default_authority", authority)])
        self.channels.append(ch)
        return ch

    def call(self, ch, path, metadata=()):
        """(answer text, initial metadata, trailing metadata) of a unary call."""
        resp, c = ch.unary_unary(path).with_call(b"hello", timeout=10, metadata=metadata)
        return resp.decode(), dict(c.initial_metadata()), dict(c.trailing_metadata())

    def code(self, ch, path):
        with self.assertRaises(grpc.RpcError) as cm:
            ch.unary_unary(path)(b"hello", timeout=10)
        return cm.exception.code()

    def test_method_matches_over_h2c_and_tls(self):
        for ch in (self.channel("grpc.test"), self.channel("secure.grpc.test", tls=True)):
            # Exact service and method; its header modifiers apply both ways.
            text, initial, trailing = self.call(ch, "/shop.Cart/Add")
            self.assertEqual(text, "a /shop.Cart/Add")
            self.assertEqual(initial.get("x-resp"), "r")
            self.assertEqual(trailing.get("x-added"), "yes")
            # RegularExpression service and method.
            self.assertEqual(self.call(ch, "/shop.Stock/GetOne")[0], "b /shop.Stock/GetOne")
            # Exact service only, with and without the header match. GetAll matches the regex
            # rule too, but "shop.Cart" has more characters (9) than "shop\\..*" (8).
            self.assertEqual(self.call(ch, "/shop.Cart/GetAll")[0], "a /shop.Cart/GetAll")
            self.assertEqual(self.call(ch, "/shop.Cart/Remove")[0], "a /shop.Cart/Remove")
            self.assertEqual(self.call(ch, "/shop.Cart/Remove", metadata=(("x-tier", "gold"),))[0],
                             "c /shop.Cart/Remove")
            # RegularExpression method only, any service.
            self.assertEqual(self.call(ch, "/any.Thing/Ping42")[0], "c /any.Thing/Ping42")

    def test_header_match_breaks_the_tie_of_equal_services(self):
        # Both "shop.Cart" rules match GetAll with x-tier gold (and the regex rule, whose
        # service has fewer characters): the one with a header match wins.
        ch = self.channel("grpc.test")
        self.assertEqual(self.call(ch, "/shop.Cart/GetAll", metadata=(("x-tier", "gold"),))[0],
                         "c /shop.Cart/GetAll")

    def test_no_matching_rule_is_unimplemented(self):
        ch = self.channel("grpc.test")
        self.assertEqual(self.code(ch, "/other.Svc/Call"), grpc.StatusCode.UNIMPLEMENTED)
        tls = self.channel("secure.grpc.test", tls=True)
        self.assertEqual(self.code(tls, "/other.Svc/Call"), grpc.StatusCode.UNIMPLEMENTED)
        # A host no route claims: Portico's 404 as well.
        self.assertEqual(self.code(self.channel("nothing.test"), "/shop.Cart/Add"), grpc.StatusCode.UNIMPLEMENTED)

    def test_plain_http_request_is_not_a_grpc_call(self):
        r = h.request(self.p.http_port, "GET", "/shop.Cart/Add", host="grpc.test")
        self.assertEqual(r.status, 404)
        r = h.request(self.p.http_port, "POST", "/shop.Cart/Add", host="grpc.test",
                      headers={"Content-Type": "application/json"}, body=b"{}")
        self.assertEqual(r.status, 404)

    def test_weights(self):
        ch = self.channel("grpc.test")
        counts = collections.Counter(self.call(ch, "/split.Svc/Go")[0].split()[0] for _ in range(200))
        self.assertEqual(set(counts) - {"a", "b"}, set(), counts)
        # Weights 1:3, so about 150 of 200 to b; bounds at more than four standard deviations.
        self.assertTrue(110 <= counts["b"] <= 185, counts)

    def test_backend_that_cannot_be_used_is_unavailable(self):
        ch = self.channel("grpc.test")
        got = collections.Counter()
        for _ in range(60):
            try:
                got[self.call(ch, "/half.Svc/Go")[0].split()[0]] += 1
            except grpc.RpcError as e:
                got[e.code()] += 1
        self.assertEqual(set(got) - {"a", grpc.StatusCode.UNAVAILABLE}, set(), got)
        self.assertGreater(got["a"], 0, got)
        self.assertGreater(got[grpc.StatusCode.UNAVAILABLE], 0, got)
        self.assertEqual(self.code(self.channel("broken.grpc.test"), "/x.Y/Z"), grpc.StatusCode.UNAVAILABLE)

    def test_listener_kinds_refuse_grpcroute(self):
        self.assertEqual(self.code(self.channel("only.grpc.test"), "/shop.Cart/Add"), grpc.StatusCode.UNIMPLEMENTED)

    def test_status_json(self):
        r = h.request(self.p.admin_port, "GET", "/debug/gateway-status")
        self.assertEqual(r.status, 200)
        status = r.json()
        routes = {(x["kind"], x["name"]): x for x in status["routes"]}

        def conds(name):
            parent = routes[("GRPCRoute", name)]["parents"][0]
            return {c["type"]: (c["status"], c["reason"]) for c in parent["conditions"]}
        self.assertEqual(conds("shop")["Accepted"], ("True", "Accepted"))
        # half.Svc's "gone" does not exist: ResolvedRefs is False for the whole route.
        self.assertEqual(conds("shop")["ResolvedRefs"], ("False", "BackendNotFound"))
        self.assertEqual(conds("denied")["Accepted"], ("False", "NotAllowedByListeners"))
        self.assertEqual(conds("broken")["Accepted"], ("True", "Accepted"))
        self.assertEqual(conds("broken")["ResolvedRefs"], ("False", "BackendNotFound"))
        listeners = {l["name"]: l for l in status["gateways"][0]["listeners"]}
        self.assertEqual(listeners["http"]["attachedRoutes"], 2)  # shop, broken
        self.assertEqual(listeners["https"]["attachedRoutes"], 1)  # shop (secure.grpc.test)
        self.assertEqual(listeners["http-only"]["attachedRoutes"], 0)

    def test_routes_cli_lists_grpcroute_rules(self):
        r = h.run_portico("routes", "--config-dir", self.dir)
        rows = [line.split() for line in r.stdout.splitlines()]
        self.assertIn(["grpc.test", "/shop.Cart/Add", "Exact", "GRPCRoute", "apps/shop", "a:50051"],
                      [row[:6] for row in rows], r.stdout)
        self.assertIn(["grpc.test", "/*/Ping[0-9]+", "RegularExpression", "GRPCRoute", "apps/shop", "c:50051"],
                      [row[:6] for row in rows], r.stdout)


if __name__ == "__main__":
    unittest.main()
