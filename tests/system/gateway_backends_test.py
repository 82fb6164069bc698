#!/usr/bin/python3
"""Gateway API backends and listeners in file mode against the real binary: the Service port's
appProtocol chooses the protocol spoken to a backend (kubernetes.io/h2c: HTTP/2 with prior
knowledge; kubernetes.io/wss: TLS; an unknown one: 500 and ResolvedRefs UnsupportedProtocol),
backendRefs[].filters apply when that backend is picked, allowedRoutes.kinds naming a kind
Portico does not serve gives ResolvedRefs InvalidRouteKinds, and an HTTPS listener hostname
"*.wild.test" serves its certificate to a.b.wild.test (one or more labels, as Gateway API
hostnames match). Expected behaviour follows the Gateway API spec (apis/v1/httproute_types.go
HTTPBackendRef, gateway_types.go ListenerConditionReason) and KEP-3726."""

import asyncio
import json
import os
import socket
import ssl
import sys
import threading
import unittest

import h2.config
import h2.connection
import h2.events

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402
import tls_support as t  # noqa: E402
from loopback_server import LoopbackServer  # noqa: E402
import websockets  # noqa: E402  (Debian python3-websockets)

GW = "gateway.networking.k8s.io/v1"


class H2cEcho(LoopbackServer):
    """An HTTP/2 server with prior knowledge on a loopback port (python3-h2): every request is
    answered 200 with JSON {"name", "protocol": "h2c", "target", "headers"}; counts requests."""

    def __init__(self, name):
        self.name = name
        self.requests = 0
        self.lock = threading.Lock()
        super().__init__(32)
        self.start()


    def _serve(self, c):
        conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=False))
        conn.initiate_connection()
        c.settimeout(30)
        heads = {}
        try:
            c.sendall(conn.data_to_send())
            while not self.stopped:
                data = c.recv(65536)
                if not data:
                    return
                for ev in conn.receive_data(data):
                    if isinstance(ev, h2.events.RequestReceived):
                        heads[ev.stream_id] = [(k.decode(), v.decode()) for k, v in ev.headers]
                    elif isinstance(ev, h2.events.DataReceived):
                        conn.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
                    elif isinstance(ev, h2.events.StreamEnded):
                        self._answer(conn, ev.stream_id, heads.pop(ev.stream_id, []))
                c.sendall(conn.data_to_send())
        except OSError:
            return
        finally:
            c.close()

    def _answer(self, conn, stream_id, headers):
        with self.lock:
            self.requests += 1
        target = dict(headers).get(":path", "")
        body = json.dumps({"name": self.name, "protocol": "h2c", "target": target,
                           "headers": [[k, v] for k, v in headers if not k.startswith(":")]}).encode()
        conn.send_headers(stream_id, [(":status", "200"), ("content-type", "application/json"),
                                      ("content-length", str(len(body)))])
        conn.send_data(stream_id, body, end_stream=True)


class WssEcho:
    """A WebSocket echo server over TLS (python3-websockets) on a loopback port, in a thread
    with its own event loop; counts the connections it accepted."""

    def __init__(self, cert):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(*cert.files())
        self.connections = 0
        self.loop = asyncio.new_event_loop()
        ready = threading.Event()

        async def echo(ws, *_):
            self.connections += 1
            async for message in ws:
                await ws.send(message)

        async def start():
            self.server = await websockets.serve(echo, "127.0.0.1", 0, ssl=ctx)
            self.port = self.server.sockets[0].getsockname()[1]
            ready.set()

        def run():
            asyncio.set_event_loop(self.loop)
            self.loop.run_until_complete(start())
            self.loop.run_forever()

        self.thread = threading.Thread(target=run, daemon=True)
        self.thread.start()
        if not ready.wait(30):
            raise RuntimeError("the wss server did not start")

    def stop(self):
        async def close():
            self.server.close()
            await self.server.wait_closed()
        asyncio.run_coroutine_threadsafe(close(), self.loop).result(30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(30)


def echo_over(port, host, path):
    """One text message through a WebSocket to ws://host<path> via Portico's plain port."""
    async def run():
        async with websockets.connect(f"ws://{host}:{port}{path}", host="127.0.0.1", port=port,
                                      open_timeout=10) as ws:
            await ws.send("hello " + path)
            return await asyncio.wait_for(ws.recv(), 10)
    return asyncio.run(run())


def service(name, port, backend_port, app_protocol=None, namespace="apps"):
    text = h.service(name, port, [("127.0.0.1", backend_port)], namespace=namespace)
    if app_protocol:
        text = text.replace(f"    port: {port}\n", f"    port: {port}\n    appProtocol: {app_protocol}\n", 1)
    return text


def route(name, host, rules, parent="sectionName: http"):
    return (f"apiVersion: {GW}\nkind: HTTPRoute\nmetadata: {{name: {name}, namespace: apps}}\n"
            f"spec:\n  parentRefs: [{{name: gw, namespace: infra, {parent}}}]\n"
            f"  hostnames: [{json.dumps(host)}]\n  rules:\n" + "".join(rules))


def rule(path, backends, filters=None):
    out = f"  - matches: [{{path: {{type: PathPrefix, value: {path}}}}}]\n"
    out += "    backendRefs: " + json.dumps(backends) + "\n"
    if filters:
        out += "    filters: " + json.dumps(filters) + "\n"
    return out


def set_header(kind, name, value):
    key = "requestHeaderModifier" if kind == "RequestHeaderModifier" else "responseHeaderModifier"
    return {"type": kind, key: {"set": [{"name": name, "value": value}]}}


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
  - name: kinds
    port: 80
    protocol: HTTP
    hostname: kinds.test
    allowedRoutes:
      namespaces: {{from: All}}
      kinds: [{{kind: InvalidRoute}}, {{kind: HTTPRoute}}]
  - name: wild
    port: 443
    protocol: HTTPS
    hostname: "*.wild.test"
    tls: {{certificateRefs: [{{name: wild-cert}}]}}
    allowedRoutes: {{namespaces: {{from: All}}}}
---
apiVersion: {GW}
kind: Gateway
metadata: {{name: only-invalid, namespace: infra}}
spec:
  gatewayClassName: portico
  listeners:
  - name: http
    port: 80
    protocol: HTTP
    hostname: invalid-kinds.test
    allowedRoutes:
      namespaces: {{from: All}}
      kinds: [{{kind: InvalidRoute}}]
"""

A, B = {"name": "a", "port": 80}, {"name": "b", "port": 80}

PROTOCOLS = route("protocols", "proto.test", [
    rule("/h2c", [{"name": "h2", "port": 80}]),
    rule("/wss", [{"name": "wss", "port": 443}]),
    rule("/odd", [{"name": "odd", "port": 80}]),
    rule("/ws", [{"name": "ws", "port": 80}]),
    rule("/wss-socket", [{"name": "wss-socket", "port": 443}]),
    # HTTP/1.1 and h2c backends behind one rule: each request speaks its backend's protocol.
    rule("/mixed", [dict(A, weight=1), {"name": "h2", "port": 80, "weight": 1}]),
])

FILTERS = route("per-backend", "filters.test", [
    rule("/split", [
        dict(A, weight=1, filters=[set_header("RequestHeaderModifier", "X-Backend", "a"),
                                   set_header("ResponseHeaderModifier", "X-Picked", "a")]),
        dict(B, weight=1, filters=[{"type": "RequestHeaderModifier",
                                    "requestHeaderModifier": {"set": [{"name": "X-Backend", "value": "b"}],
                                                              "remove": ["X-Rule"]}}]),
    ], [set_header("RequestHeaderModifier", "X-Rule", "rule"),
        set_header("ResponseHeaderModifier", "X-Rule-Resp", "r")]),
    rule("/single", [dict(A, filters=[set_header("RequestHeaderModifier", "X-Rule", "backend")])],
         [set_header("RequestHeaderModifier", "X-Rule", "rule")]),
    # A filter a backendRef cannot have here: its share answers 500, the other's is served.
    rule("/unsupported", [dict(A, weight=1, filters=[{"type": "URLRewrite", "urlRewrite": {
        "path": {"type": "ReplaceFullPath", "replaceFullPath": "/x"}}}]), dict(B, weight=0)]),
])

KINDS = route("kinds-route", "kinds.test", [rule("/", [A])], parent="sectionName: kinds")
INVALID_KINDS = (f"apiVersion: {GW}\nkind: HTTPRoute\nmetadata: {{name: invalid-kinds, namespace: apps}}\n"
                 "spec:\n  parentRefs: [{name: only-invalid, namespace: infra}]\n"
                 "  hostnames: [invalid-kinds.test]\n  rules:\n" + rule("/", [A]))
WILD = route("wild", "*.wild.test", [rule("/", [B])], parent="sectionName: wild")


class gateway_backends(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.ca = t.CA()
        cls.wild_cert = cls.ca.issue("*.wild.test")
        cls.up_cert = cls.ca.issue("wss.test")
        cls.ups = {n: h.Upstream.start(n) for n in ("a", "b")}
        cls.h2 = H2cEcho("h2")
        cls.tls_up = t.HTTPSUpstream(cls.up_cert, name="wss")
        cls.wss = WssEcho(cls.up_cert)
        d = h.temp_dir()
        h.write_manifests(d, "gateway.yaml", GATEWAY, t.tls_secret("wild-cert", cls.wild_cert, namespace="infra"))
        h.write_manifests(d, "services.yaml",
                          service("a", 80, cls.ups["a"].port),
                          service("b", 80, cls.ups["b"].port),
                          service("h2", 80, cls.h2.port, "kubernetes.io/h2c"),
                          service("wss", 443, cls.tls_up.port, "kubernetes.io/wss"),
                          service("odd", 80, cls.ups["a"].port, "kubernetes.io/mystery"),
                          service("ws", 80, cls.ups["b"].port, "kubernetes.io/ws"),
                          service("wss-socket", 443, cls.wss.port, "kubernetes.io/wss"))
        h.write_manifests(d, "routes.yaml", PROTOCOLS, FILTERS, KINDS, INVALID_KINDS, WILD)
        cls.p = t.start_portico(d)

    @classmethod
    def tearDownClass(cls):
        cls.p.stop()
        for u in cls.ups.values():
            u.stop()
        cls.h2.stop()
        cls.tls_up.stop()
        cls.wss.stop()

    def get(self, path, host, headers=None):
        return h.request(self.p.http_port, "GET", path, headers=headers or {}, host=host)

    def ok(self, path, host, headers=None):
        r = self.get(path, host, headers)
        self.assertEqual(r.status, 200, (path, host, r.status, r.body[:300]))
        return r

    def status(self):
        r = h.request(self.p.admin_port, "GET", "/debug/gateway-status")
        self.assertEqual(r.status, 200)
        return r.json()

    def route_conditions(self, name):
        (rt,) = [x for x in self.status()["routes"] if x["name"] == name]
        (parent,) = rt["parents"]
        return {c["type"]: c for c in parent["conditions"]}

    def test_h2c_app_protocol_speaks_http2_with_prior_knowledge(self):
        before = self.h2.requests
        body = self.ok("/h2c/x?y=1", "proto.test").json()
        self.assertEqual((body["name"], body["protocol"], body["target"]), ("h2", "h2c", "/h2c/x?y=1"))
        self.assertEqual(self.h2.requests, before + 1)

    def test_wss_app_protocol_speaks_tls(self):
        before = self.tls_up.connections
        body = self.ok("/wss/page", "proto.test").json()
        self.assertEqual((body["name"], body["path"]), ("wss", "/wss/page"))
        self.assertGreater(self.tls_up.connections, before)  # a TLS handshake reached it

    def test_websocket_over_ws_and_wss_app_protocols(self):
        # portico-upstream echoes WebSocket messages on any path.
        self.assertEqual(echo_over(self.p.http_port, "proto.test", "/ws"), "hello /ws")
        before = self.wss.connections
        self.assertEqual(echo_over(self.p.http_port, "proto.test", "/wss-socket"), "hello /wss-socket")
        self.assertEqual(self.wss.connections, before + 1)  # it came over TLS to the TLS server

    def test_unknown_app_protocol_answers_500_and_reports_it(self):
        self.assertEqual(self.get("/odd", "proto.test").status, 500)
        rc = self.route_conditions("protocols")["ResolvedRefs"]
        self.assertEqual((rc["status"], rc["reason"]), ("False", "UnsupportedProtocol"))
        self.assertIn("kubernetes.io/mystery", rc["message"])
        # The reader thread may not have the line yet: wait for it (bounded), do not sample.
        self.p.wait_line(r"HTTPRoute apps/protocols: spec\.rules\[2\]\.backendRefs\[0\]", timeout=30)

    def test_mixed_protocols_in_one_rule(self):
        seen = {}
        for _ in range(60):
            body = self.ok("/mixed", "proto.test").json()
            seen[body["name"]] = body.get("protocol", "http/1.1")
            if len(seen) == 2:
                break
        # Equal weights: 60 draws all one way has probability 2^-59.
        self.assertEqual(seen, {"a": "http/1.1", "h2": "h2c"})

    def test_backend_filters_apply_to_the_picked_backend(self):
        seen = set()
        for _ in range(60):
            r = self.ok("/split", "filters.test", headers={"X-Rule": "client", "X-Backend": "client"})
            name = r.json()["name"]
            seen.add(name)
            self.assertEqual(r.echo_header("x-backend"), [name])
            self.assertEqual(r.header("x-rule-resp"), "r")  # the rule's filters apply to both
            if name == "a":
                self.assertEqual(r.echo_header("x-rule"), ["rule"])
                self.assertEqual(r.header("x-picked"), "a")
            else:
                self.assertEqual(r.echo_header("x-rule"), [])  # b's filter removes it
                self.assertIsNone(r.header("x-picked"))
            if len(seen) == 2:
                break
        self.assertEqual(seen, {"a", "b"})

    def test_single_backend_filters_follow_the_rules(self):
        r = self.ok("/single", "filters.test")
        self.assertEqual(r.echo_header("x-rule"), ["backend"])

    def test_unsupported_backend_filter_answers_500(self):
        self.assertEqual(self.get("/unsupported", "filters.test").status, 500)
        self.p.wait_line(r"HTTPRoute apps/per-backend: spec\.rules\[2\]\.backendRefs\[0\]\.filters\[0\]: "
                         r"filter type URLRewrite on a backendRef is not supported", timeout=30)

    def test_invalid_route_kinds(self):
        gws = {g["name"]: g for g in self.status()["gateways"]}
        kinds = {l["name"]: l for l in gws["gw"]["listeners"]}["kinds"]
        rc = {c["type"]: c for c in kinds["conditions"]}["ResolvedRefs"]
        self.assertEqual((rc["status"], rc["reason"]), ("False", "InvalidRouteKinds"))
        self.assertIn("InvalidRoute", rc["message"])
        self.assertEqual(kinds["attachedRoutes"], 1)  # HTTPRoute is still served there
        self.assertEqual(self.ok("/", "kinds.test").json()["name"], "a")
        (only,) = gws["only-invalid"]["listeners"]
        self.assertEqual(only["attachedRoutes"], 0)
        oc = {c["type"]: c for c in only["conditions"]}["ResolvedRefs"]
        self.assertEqual((oc["status"], oc["reason"]), ("False", "InvalidRouteKinds"))
        self.assertEqual(self.get("/", "invalid-kinds.test").status, 404)
        pc = self.route_conditions("invalid-kinds")["Accepted"]
        self.assertEqual((pc["status"], pc["reason"]), ("False", "NotAllowedByListeners"))

    def test_wildcard_listener_certificate_covers_several_labels(self):
        for name in ("a.wild.test", "a.b.wild.test", "x.y.z.wild.test"):
            self.assertEqual(t.peer_certificate(self.p.https_port, name), self.wild_cert.der, name)
            r = t.https_request(self.p.https_port, name, "/")
            self.assertEqual((r.status, r.json()["name"]), (200, "b"), name)
        # Not a name under the wildcard: the default certificate answers.
        self.assertNotEqual(t.peer_certificate(self.p.https_port, "wild.test"), self.wild_cert.der)


if __name__ == "__main__":
    unittest.main()
