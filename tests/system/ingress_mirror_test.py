#!/usr/bin/python3
"""ingress-nginx request mirroring (mirror-target, mirror-request-body, mirror-host) against
the real binary in file mode, with recording upstreams on loopback.

The copy carries the client's method, the target's URI with $request_uri expanded, the
client's header fields, the body (plain and chunked), and the Host of the target (or
mirror-host); "off" drops the body. The target's host may be an IP address, a Service's
cluster DNS name (mapped to its endpoints from the manifests), a name resolved by DNS
(localhost), or https. A mirror that holds its answer, refuses connections or does not
resolve changes nothing in the client's answers and counts in
portico_mirror_requests_total; a bad value is reported with the Ingress and the annotation
and its route keeps serving; a canary Ingress's mirror-target is reported and not used, and
the main Ingress's mirror copies the requests the canary serves too."""

import os
import sys
import threading
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402
import tls_support as t  # noqa: E402
from scripted_upstream import ScriptedUpstream, default_response  # noqa: E402

A = "nginx.ingress.kubernetes.io/"


def ing(name, host, annotations):
    return h.ingress(name, [(host, "/", "Prefix", "main", 80)], annotations=annotations)


def parse(raw):
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    fields = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        fields.setdefault(k.strip().lower(), []).append(v.strip())
    return lines[0], fields, body


def dechunk(body):
    out, pos = b"", 0
    while True:
        end = body.index(b"\r\n", pos)
        size = int(body[pos:end], 16)
        if size == 0:
            return out
        out += body[end + 2:end + 2 + size]
        pos = end + 4 + size


class ingress_mirror(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.main = h.Upstream.start("main")
        cls.canary = h.Upstream.start("canary")
        cls.release = threading.Event()

        def held(raw):
            cls.release.wait(20)
            return default_response(raw)

        cls.rec = ScriptedUpstream({})      # the recording mirror
        cls.svc_rec = ScriptedUpstream({})  # behind the Service "shadow"
        cls.held = ScriptedUpstream({"/held": held})
        ca = t.CA()
        cls.tls_up = t.HTTPSUpstream(ca.issue("localhost"), name="tls-mirror")
        lo = "127.0.0.1"
        dead = h.free_port()
        d = h.temp_dir()
        rec = f"http://{lo}:{cls.rec.port}"
        h.write_manifests(d, "ingresses.yaml", h.ingress_class(),
                          ing("copy", "copy.test", {A + "mirror-target": rec + "$request_uri"}),
                          ing("vars", "vars.test", {A + "mirror-target": rec + "/vars/$server_port$uri"}),
                          ing("nobody", "nobody.test", {A + "mirror-target": rec + "/shadow",
                                                        A + "mirror-request-body": "off",
                                                        A + "mirror-host": "shadow.example"}),
                          ing("svc", "svc.test", {A + "mirror-target":
                                                  "http://shadow.default.svc.cluster.local:8080$request_uri"}),
                          ing("dns", "dns.test", {A + "mirror-target": f"http://localhost:{cls.rec.port}/dns$request_uri"}),
                          ing("tls", "tls.test", {A + "mirror-target": f"https://localhost:{cls.tls_up.port}$request_uri"}),
                          ing("held", "held.test", {A + "mirror-target": f"http://{lo}:{cls.held.port}/held"}),
                          ing("dead", "dead.test", {A + "mirror-target": f"http://{lo}:{dead}$request_uri"}),
                          ing("nxdomain", "nxdomain.test", {A + "mirror-target": "http://mirror.portico-test.invalid$request_uri"}),
                          ing("bad", "bad.test", {A + "mirror-target": "mirror.example.com$request_uri"}),
                          ing("cmain", "canary.test", {A + "mirror-target": rec + "/main-mirror$request_uri"}),
                          h.ingress("cside", [("canary.test", "/", "Prefix", "canary", 80)],
                                    annotations={A + "canary": "true", A + "canary-by-header": "X-Canary",
                                                 A + "mirror-target": rec + "/canary-mirror$request_uri"}))
        h.write_manifests(d, "services.yaml",
                          h.service("main", 80, [(lo, cls.main.port)]),
                          h.service("canary", 80, [(lo, cls.canary.port)]),
                          h.service("shadow", 8080, [(lo, cls.svc_rec.port)]))
        cls.dir = d
        cls.p = t.start_portico(d)  # stop() checks for sanitizer reports

    @classmethod
    def tearDownClass(cls):
        cls.release.set()
        cls.p.stop()
        cls.main.stop()
        cls.canary.stop()
        for u in (cls.rec, cls.svc_rec, cls.held):
            u.stop()
        cls.tls_up.stop()

    def get(self, host, path="/", **kw):
        return h.request(self.p.http_port, kw.pop("method", "GET"), path, host=host, **kw)

    def mirrored(self, up, target, timeout=20):
        def find():
            return next((r for r in list(up.requests) if r.split(b"\r\n", 1)[0].split(b" ")[1] == target.encode()), None)
        self.assertTrue(h.wait_until(lambda: find() is not None, timeout=timeout),
                        f"{target} not mirrored: {up.requests[-3:]}")
        return find()

    def counted(self, result):
        return self.p.metric("portico_mirror_requests_total", result=result) or 0

    def test_copy_has_the_method_uri_headers_body_and_target_host(self):
        r = self.get("copy.test", "/orders/7?q=1", method="POST",
                     headers={"X-Client": "c1", "Content-Type": "text/plain"}, body=b"hello mirror")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.json()["name"], "main")  # the client's answer is the main backend's
        line, fields, body = parse(self.mirrored(self.rec, "/orders/7?q=1"))
        self.assertEqual(line, "POST /orders/7?q=1 HTTP/1.1")
        self.assertEqual(fields.get("host"), ["127.0.0.1"])  # the target's host, without port
        self.assertEqual(fields.get("x-client"), ["c1"])
        self.assertEqual(fields.get("content-type"), ["text/plain"])
        self.assertEqual(fields.get("content-length"), ["12"])
        self.assertEqual(fields.get("connection"), ["close"])
        self.assertNotIn("x-forwarded-for", fields)  # the client's fields, as nginx's mirror location
        self.assertEqual(body, b"hello mirror")

    def test_uri_variables_are_nginx_s(self):
        # $uri is the normalized path (as routing matched it), $server_port the listener's port.
        self.assertEqual(self.get("vars.test", "/a/./b/../c?x=1").status, 200)
        line, _, _ = parse(self.mirrored(self.rec, f"/vars/{self.p.http_port}/a/c"))
        self.assertEqual(line, f"GET /vars/{self.p.http_port}/a/c HTTP/1.1")

    def test_a_chunked_body_is_copied(self):
        with h.Conn(self.p.http_port) as c:
            c.send(b"PUT /chunked/1 HTTP/1.1\r\nHost: copy.test\r\nTransfer-Encoding: chunked\r\n"
                   b"Connection: close\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n")
            r = c.read_response()
        self.assertEqual(r.status, 200)
        line, fields, body = parse(self.mirrored(self.rec, "/chunked/1"))
        self.assertEqual(line, "PUT /chunked/1 HTTP/1.1")
        self.assertEqual(fields.get("transfer-encoding"), ["chunked"])
        self.assertEqual(dechunk(body), b"hello world")

    def test_request_body_off_and_mirror_host(self):
        r = self.get("nobody.test", "/form?a=b", method="POST", body=b"secret")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.json()["name"], "main")
        self.assertEqual(r.json()["body_bytes"], 6)  # the main backend has the body
        line, fields, body = parse(self.mirrored(self.rec, "/shadow?a=b"))
        # A path without variables gets the request's query (nginx's proxy_pass with a URI).
        self.assertEqual(line, "POST /shadow?a=b HTTP/1.1")
        self.assertEqual(fields.get("host"), ["shadow.example"])
        self.assertNotIn("content-length", fields)
        self.assertNotIn("transfer-encoding", fields)
        self.assertEqual(body, b"")

    def test_a_service_name_goes_to_its_endpoints(self):
        self.assertEqual(self.get("svc.test", "/via-service").status, 200)
        line, fields, _ = parse(self.mirrored(self.svc_rec, "/via-service"))
        self.assertEqual(line, "GET /via-service HTTP/1.1")
        self.assertEqual(fields.get("host"), ["shadow.default.svc.cluster.local"])

    def test_a_name_is_resolved_off_the_request_path(self):
        # The first copy of a worker looks the name up itself, then is sent; a later one uses
        # the worker's cached addresses (or, on another worker, looks it up too).
        for i in range(2):
            self.assertEqual(self.get("dns.test", f"/n{i}").status, 200)
            line, fields, _ = parse(self.mirrored(self.rec, f"/dns/n{i}"))
            self.assertEqual(line, f"GET /dns/n{i} HTTP/1.1")
            self.assertEqual(fields.get("host"), ["localhost"])

    def test_an_https_target(self):
        answered = self.counted("answered")
        self.assertEqual(self.get("tls.test", "/secure").status, 200)
        self.assertTrue(h.wait_until(lambda: self.tls_up.connections >= 1, timeout=20))
        self.assertIn("localhost", self.tls_up.server_names)  # the target's name as SNI
        self.assertTrue(h.wait_until(lambda: self.counted("answered") > answered, timeout=20))

    def test_the_client_never_waits_for_the_mirror(self):
        # The mirror holds its answer until released after the client's answer: were the
        # client waiting for it, this request would time out.
        r = self.get("held.test", "/x", timeout=10)
        self.assertEqual(r.status, 200)
        self.assertEqual(r.json()["name"], "main")
        self.mirrored(self.held, "/held")
        self.release.set()

    def test_a_dead_mirror_changes_nothing_and_counts(self):
        failed = self.counted("failed")
        for i in range(10):
            r = self.get("dead.test", f"/d{i}", method="POST", body=b"payload")
            self.assertEqual(r.status, 200)
            self.assertEqual(r.json()["name"], "main")
            self.assertEqual(r.json()["body_bytes"], 7)
        self.assertTrue(h.wait_until(lambda: self.counted("failed") >= failed + 10, timeout=30),
                        self.counted("failed"))
        self.assertTrue(self.p.alive())

    def test_an_unresolvable_name_changes_nothing_counts_and_logs(self):
        failed = self.counted("failed")
        # A failed lookup is kept a few seconds and the log says at most one line a second
        # per worker: a request every 1.2 s until the line shows (bounded).
        logged = False
        for i in range(12):
            r = self.get("nxdomain.test", f"/x{i}", method="POST", body=b"payload")
            self.assertEqual(r.status, 200)
            self.assertEqual(r.json()["name"], "main")
            self.assertEqual(r.json()["body_bytes"], 7)
            try:
                h.wait_until(lambda: self.p.count_lines("could not resolve mirror.portico-test.invalid") >= 1,
                             timeout=1.2)
                logged = True
                break
            except TimeoutError:
                pass
        self.assertTrue(logged, self.p.stderr_text()[-2000:])
        self.assertTrue(h.wait_until(lambda: self.counted("failed") >= failed + 1, timeout=30))
        self.assertTrue(self.p.alive())

    def test_a_bad_value_is_reported_and_the_route_serves(self):
        r = self.get("bad.test", "/still")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.json()["name"], "main")
        out = h.run_portico("routes", "--config-dir", str(self.dir))
        self.assertIn("Ingress default/bad: metadata.annotations[nginx.ingress.kubernetes.io/mirror-target]",
                      out.stdout)
        self.assertIn("requests are not mirrored", out.stdout)
        # The good ones are no error.
        for name in ("copy", "nobody", "svc", "dns", "tls", "held", "dead", "nxdomain", "cmain"):
            self.assertNotIn(f"Ingress default/{name}:", out.stdout)

    def test_the_main_ingress_mirror_copies_what_the_canary_serves(self):
        r = self.get("canary.test", "/c1", headers={"X-Canary": "always"})
        self.assertEqual(r.status, 200)
        self.assertEqual(r.json()["name"], "canary")
        r = self.get("canary.test", "/c2")
        self.assertEqual(r.json()["name"], "main")
        for path in ("/c1", "/c2"):
            line, _, _ = parse(self.mirrored(self.rec, "/main-mirror" + path))
            self.assertEqual(line, f"GET /main-mirror{path} HTTP/1.1")
        # The canary's own mirror-target is not used, and is reported.
        self.assertFalse([r for r in list(self.rec.requests) if b" /canary-mirror" in r.split(b"\r\n", 1)[0]])
        out = h.run_portico("routes", "--config-dir", str(self.dir))
        self.assertIn("Ingress default/cside: metadata.annotations[nginx.ingress.kubernetes.io/mirror-target]: "
                      "not used on a canary Ingress", out.stdout)

    def test_answered_copies_are_counted(self):
        answered = self.counted("answered")
        for i in range(5):
            self.assertEqual(self.get("copy.test", f"/count/{i}").status, 200)
        self.assertTrue(h.wait_until(lambda: self.counted("answered") >= answered + 5, timeout=20))


if __name__ == "__main__":
    unittest.main(verbosity=2)
