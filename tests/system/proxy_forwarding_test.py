#!/usr/bin/python3
"""Forwarding through the proxy: Host preserved, hop-by-hop headers removed (Connection and the
headers it names, Keep-Alive, TE, Trailer, Upgrade, Proxy-*), X-Forwarded-* / X-Real-IP set and
untrusted client values replaced, trusted ones used for the real client address (appended to with
compute-full-forwarded-for), the forwarded-for-header, X-Request-ID kept or generated and
returned; pipelined requests answered in order; chunked and fixed bodies both ways; HEAD, 204
and 304 without bodies; keep-alive reuse of upstream connections."""

import os
import re
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402

P = None
PT = None
PF = None
UP = None


def setUpModule():
    global P, PT, PF, UP
    UP = h.Upstream.start("fwd")
    d = h.simple_config(h.temp_dir(), [UP])
    P = h.Portico.start(d, "--workers", "1")
    PT = h.Portico.start(d, "--workers", "1", "--trusted-proxies", "127.0.0.0/8")
    # The ConfigMap way (ingress-nginx keys): trust the forwarding proxy on loopback, take the
    # client from X-Client-Chain, and pass the whole chain on.
    h.write_manifests(d, "cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n"
                      "  name: fwd\n  namespace: default\ndata:\n"
                      "  use-forwarded-headers: \"true\"\n  proxy-real-ip-cidr: 127.0.0.0/8\n"
                      "  forwarded-for-header: X-Client-Chain\n"
                      "  compute-full-forwarded-for: \"true\"\n")
    PF = h.Portico.start(d, "--workers", "1", "--configmap", "default/fwd")


def tearDownModule():
    for p in (P, PT, PF, UP):
        if p:
            p.stop()


class forwarding(unittest.TestCase):
    def test_forwarding_headers_replace_untrusted_values(self):
        r = h.request(P.http_port, "GET", "/x?a=1", host="app.test:8080", headers={
            "X-Forwarded-For": "6.6.6.6", "X-Real-IP": "6.6.6.6",
            "X-Forwarded-Proto": "https", "X-Forwarded-Host": "evil.test"})
        self.assertEqual(r.status, 200)
        self.assertEqual(r.echo_header("host"), ["app.test:8080"])
        self.assertEqual(r.echo_header("x-forwarded-for"), ["127.0.0.1"])
        self.assertEqual(r.echo_header("x-real-ip"), ["127.0.0.1"])
        self.assertEqual(r.echo_header("x-forwarded-proto"), ["http"])
        self.assertEqual(r.echo_header("x-forwarded-host"), ["app.test:8080"])
        self.assertEqual(r.echo_header("x-forwarded-port"), [str(P.http_port)])
        self.assertEqual(r.json()["target"], "/x?a=1")

    def test_trusted_peer_values_give_the_real_client(self):
        # ingress-nginx without compute-full-forwarded-for: X-Forwarded-For is the client.
        r = h.request(PT.http_port, "GET", "/", host="app.test", headers={
            "X-Forwarded-For": "1.2.3.4", "X-Forwarded-Proto": "https"})
        self.assertEqual(r.echo_header("x-forwarded-for"), ["1.2.3.4"])
        self.assertEqual(r.echo_header("x-real-ip"), ["1.2.3.4"])
        self.assertEqual(r.echo_header("x-forwarded-proto"), ["https"])

    def test_configmap_forwarded_for_header_and_compute_full(self):
        r = h.request(PF.http_port, "GET", "/", host="app.test", headers={
            "X-Client-Chain": "5.6.7.8, 127.0.0.9", "X-Forwarded-For": "6.6.6.6"})
        self.assertEqual(r.echo_header("x-real-ip"), ["5.6.7.8"])
        # compute-full appends the peer to the client's X-Forwarded-For, as ingress-nginx's
        # $full_x_forwarded_for does, whatever forwarded-for-header names.
        self.assertEqual(r.echo_header("x-forwarded-for"), ["6.6.6.6, 127.0.0.1"])

    def test_request_id_generated_and_returned(self):
        r = h.request(P.http_port, "GET", "/", host="app.test")
        rid = r.header("x-request-id")
        self.assertRegex(rid, r"^[0-9a-f]{32}$")
        self.assertEqual(r.echo_header("x-request-id"), [rid])
        r2 = h.request(P.http_port, "GET", "/", host="app.test")
        self.assertNotEqual(r2.header("x-request-id"), rid)

    def test_request_id_kept_when_sent(self):
        r = h.request(P.http_port, "GET", "/", host="app.test", headers={"X-Request-ID": "abc-123"})
        self.assertEqual(r.header("x-request-id"), "abc-123")
        self.assertEqual(r.echo_header("x-request-id"), ["abc-123"])

    def test_hop_by_hop_headers_are_removed(self):
        r = h.request(P.http_port, "GET", "/", host="app.test", headers={
            "Connection": "keep-alive, X-Hop", "X-Hop": "secret", "Keep-Alive": "timeout=5",
            "TE": "trailers", "Trailer": "X-T", "Upgrade": "h2c",
            "Proxy-Connection": "keep-alive", "Proxy-Authorization": "Basic eA==",
            "X-Kept": "yes"})
        names = {k.lower() for k, _ in r.json()["headers"]}
        for gone in ["x-hop", "keep-alive", "te", "trailer", "upgrade", "proxy-connection",
                     "proxy-authorization", "connection"]:
            self.assertNotIn(gone, names)
        self.assertEqual(r.echo_header("x-kept"), ["yes"])

    def test_pipelined_requests_are_answered_in_order(self):
        with h.Conn(P.http_port) as c:
            c.send(b"".join(h.build_request("GET", f"/p{i}", host="app.test") for i in range(5)))
            targets = [c.read_response().json()["target"] for _ in range(5)]
        self.assertEqual(targets, [f"/p{i}" for i in range(5)])

    def test_pipelined_post_bodies_stay_framed(self):
        with h.Conn(P.http_port) as c:
            c.send(h.build_request("POST", "/a", body=b"x" * 10, host="app.test") +
                   b"POST /b HTTP/1.1\r\nHost: app.test\r\nTransfer-Encoding: chunked\r\n\r\n"
                   b"3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n" +
                   h.build_request("GET", "/c", host="app.test"))
            got = [c.read_response().json() for _ in range(3)]
        self.assertEqual([(g["target"], g["body_bytes"]) for g in got],
                         [("/a", 10), ("/b", 5), ("/c", 0)])

    def test_chunked_request_is_reframed(self):
        with h.Conn(P.http_port) as c:
            c.send(b"POST /up HTTP/1.1\r\nHost: app.test\r\nTransfer-Encoding: chunked\r\n\r\n"
                   b"5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n")
            r = c.read_response()
        self.assertEqual(r.status, 200)
        self.assertEqual(r.json()["body_bytes"], 11)

    def test_chunked_and_fixed_responses(self):
        with h.Conn(P.http_port) as c:
            r = c.request("GET", "/chunked/300000", host="app.test")
            self.assertEqual(len(r.body), 300000)
            self.assertEqual(r.header("transfer-encoding"), "chunked")
            r = c.request("GET", "/bytes/200000", host="app.test")
            self.assertEqual(len(r.body), 200000)
            self.assertEqual(r.header("content-length"), "200000")

    def test_responses_without_body(self):
        with h.Conn(P.http_port) as c:
            r = c.request("HEAD", "/bytes/5000", host="app.test")
            self.assertEqual((r.status, r.body, r.header("content-length")), (200, b"", "5000"))
            r = c.request("GET", "/status/204", host="app.test")
            self.assertEqual((r.status, r.body), (204, b""))
            r = c.request("GET", "/status/304", host="app.test")
            self.assertEqual((r.status, r.body), (304, b""))
            # the connection is still in sync
            self.assertEqual(c.request("GET", "/after", host="app.test").json()["target"], "/after")

    def test_keep_alive_reuses_upstream_connections(self):
        before = UP.stats()["connections"]
        with h.Conn(P.http_port) as c:
            ids = {c.request("GET", "/", host="app.test").json()["connection_id"] for _ in range(20)}
        self.assertEqual(len(ids), 1)
        self.assertLessEqual(UP.stats()["connections"] - before, 2)  # + the /stats connection

    def test_empty_post_keeps_content_length_zero(self):
        with h.Conn(P.http_port) as c:
            r = c.request("POST", "/", headers={"Content-Length": "0"}, host="app.test")
            self.assertEqual(r.echo_header("content-length"), ["0"])
            self.assertEqual(c.request("GET", "/next", host="app.test").status, 200)

    def test_http10_client(self):
        with h.Conn(P.http_port) as c:
            c.send(b"GET /bytes/10 HTTP/1.0\r\nHost: app.test\r\n\r\n")
            r = c.read_response()
            self.assertEqual((r.status, len(r.body)), (200, 10))
            self.assertTrue(c.closed_by_peer())

    def test_expect_continue(self):
        with h.Conn(P.http_port) as c:
            c.send(b"POST / HTTP/1.1\r\nHost: app.test\r\nContent-Length: 4\r\n"
                   b"Expect: 100-continue\r\n\r\n")
            head = c._read_until(b"\r\n\r\n")
            self.assertTrue(head.startswith(b"HTTP/1.1 100"), head)
            c.send(b"body")
            r = c.read_response()
            self.assertEqual(r.json()["body_bytes"], 4)
            self.assertEqual(r.echo_header("expect"), [])


if __name__ == "__main__":
    unittest.main(verbosity=2)
