#!/usr/bin/python3
"""Keep-alive connections around the warm wait (proxy/http_session.hpp): after an answer the
session waits for the connection's next request itself for one to two worker ticks (about
100-200 ms), then hands the connection to an idle_conn. Pinned, over plain HTTP and TLS:
requests in quick succession and after pauses longer than the warm wait, pipelined requests
arriving during it and after it, keep-alive-requests counted across both kinds of wait, a
client that closes (or half-closes) during the warm wait, and the keep-alive timeout still
closing a quiet connection. All of it again with --warm-waits 0, where every connection, after
an answer, is looked at once for its next request (served by the same session when it is
there) and otherwise waits in an idle_conn at once; and more connections at a time than the
default 64 warm waits of a worker."""

import json
import os
import socket
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402
import tls_support as t  # noqa: E402
from annotations_test import configmap  # noqa: E402

PAUSE = 0.4  # longer than a warm wait: the connection is in an idle_conn after it
HOST = "app.test"


def setUpModule():
    global P, P0, UP, CA
    CA = t.CA()
    UP = h.Upstream.start("echo")
    d = h.temp_dir()
    h.write_manifests(d, "class.yaml", h.ingress_class())
    h.write_manifests(d, "app.yaml", h.service("echo", 80, [("127.0.0.1", UP.port)]),
                      configmap("portico", {"keep-alive-requests": "6"}, namespace="ingress"),
                      t.tls_secret("app-tls", CA.issue(HOST)),
                      t.tls_ingress("app", [(HOST, "/", "Prefix", "echo", 80)],
                                    tls=[([HOST], "app-tls")],
                                    annotations={"nginx.ingress.kubernetes.io/ssl-redirect": "false"}))
    P = t.start_portico(d, "--workers", "1", "--configmap", "ingress/portico",
                        "--keepalive-timeout", "600s")
    P0 = t.start_portico(d, "--workers", "1", "--configmap", "ingress/portico",
                         "--keepalive-timeout", "600s", "--warm-waits", "0")


def tearDownModule():
    P.stop()
    P0.stop()
    UP.stop()


def target(resp):
    return json.loads(resp.body)["target"]


def connections(p):
    return [("http", lambda: h.Conn(p.http_port, timeout=30)),
            ("https", lambda: t.TLSConn(p.https_port, HOST, ca=CA, timeout=30))]


class warm_wait(unittest.TestCase):
    def p(self):
        return P

    def test_quick_requests_and_pauses_share_the_request_count(self):
        # keep-alive-requests 6: two quick requests (the second from the warm wait), a pause,
        # two more (the first from an idle_conn), a pause, then the fifth and the sixth, which
        # closes the connection.
        for kind, make in connections(self.p()):
            with self.subTest(kind=kind):
                with make() as c:
                    seen = []
                    for i in range(6):
                        if i in (2, 4):
                            time.sleep(PAUSE)
                        r = c.request("GET", f"/q/{i}", host=HOST)
                        self.assertEqual(r.status, 200)
                        seen.append(target(r))
                        if i < 5:
                            self.assertIsNone(r.header("connection"))
                    self.assertEqual(r.header("connection"), "close")
                    self.assertEqual(seen, [f"/q/{i}" for i in range(6)])
                    self.assertTrue(c.closed_by_peer(timeout=30))

    def test_pipelined_requests_during_and_after_the_warm_wait(self):
        for kind, make in connections(self.p()):
            with self.subTest(kind=kind):
                with make() as c:
                    self.assertEqual(c.request("GET", "/one", host=HOST).status, 200)
                    # At once: into the warm wait.
                    c.send(h.build_request("GET", "/a", None, b"", HOST) +
                           h.build_request("GET", "/b", None, b"", HOST))
                    got = [target(c.read_response()), target(c.read_response())]
                    time.sleep(PAUSE)
                    # After the pause: into the idle_conn.
                    c.send(h.build_request("GET", "/c", None, b"", HOST) +
                           h.build_request("GET", "/d", None, b"", HOST))
                    got += [target(c.read_response()), target(c.read_response())]
                    self.assertEqual(got, ["/a", "/b", "/c", "/d"])

    def test_heads_and_bodies_larger_than_the_warm_read(self):
        # A plain connection's warm wait reads the next request into a 2 KiB block, then moves
        # it to the receive buffer: heads and bodies larger than that, whole or in pieces, and
        # pipelined requests beyond it, arrive byte for byte.
        cookie = "k=" + "c" * 6000
        for kind, make in connections(self.p()):
            with self.subTest(kind=kind):
                with make() as c:
                    self.assertEqual(c.request("GET", "/first", host=HOST).status, 200)
                    r = c.request("GET", "/big-head", {"Cookie": cookie}, host=HOST)
                    self.assertEqual((r.status, target(r)), (200, "/big-head"))
                    self.assertEqual(r.echo_header("cookie"), [cookie])
                    # In pieces: 100 bytes into the warm wait, the rest a moment later.
                    raw = h.build_request("GET", "/pieces", {"Cookie": cookie}, b"", HOST)
                    c.send(raw[:100])
                    time.sleep(0.05)
                    c.send(raw[100:])
                    r = c.read_response()
                    self.assertEqual((r.status, target(r)), (200, "/pieces"))
                    self.assertEqual(r.echo_header("cookie"), [cookie])
                    body = bytes(range(256)) * 40
                    r = c.request("POST", "/body", None, body, HOST)
                    self.assertEqual((r.status, r.json()["body_bytes"]), (200, len(body)))
                    pad = {"X-Pad": "p" * 1500}
                    c.send(h.build_request("GET", "/p1", pad, b"", HOST) +
                           h.build_request("GET", "/p2", pad, b"", HOST))
                    got = [c.read_response(), c.read_response()]
                    self.assertEqual([target(x) for x in got], ["/p1", "/p2"])
                    self.assertEqual([x.echo_header("x-pad") for x in got], [[pad["X-Pad"]]] * 2)

    def test_a_client_closing_during_the_warm_wait(self):
        for kind, make in connections(self.p()):
            with self.subTest(kind=kind):
                for i in range(20):
                    c = make()
                    self.assertEqual(c.request("GET", f"/bye/{i}", host=HOST).status, 200)
                    c.close()  # right after the answer: the session waits warm
                # The proxy goes on serving, and every one of those connections is gone.
                with make() as c:
                    self.assertEqual(c.request("GET", "/still", host=HOST).status, 200)
                self.assertTrue(h.wait_until(
                    lambda: self.p().metric("portico_client_connections") == 0, timeout=30),
                    self.p().metric("portico_client_connections"))

    def test_a_half_closed_client_gets_its_answer_then_the_end(self):
        with h.Conn(self.p().http_port, timeout=30) as c:
            self.assertEqual(c.request("GET", "/first", host=HOST).status, 200)
            c.send(h.build_request("GET", "/last", None, b"", HOST))
            c.sock.shutdown(socket.SHUT_WR)  # the request and the FIN during the warm wait
            self.assertEqual(target(c.read_response()), "/last")
            self.assertTrue(c.closed_by_peer(timeout=30))


    def test_a_request_and_its_fin_in_one_segment(self):
        # The read that takes the request takes the FIN's event with it; the close must still
        # follow the answer soon (the warm wait's end at the latest), not the keep-alive
        # timeout (600 s here). First and later requests of a connection.
        for later in (False, True):
            with self.subTest(later=later):
                with h.Conn(self.p().http_port, timeout=30) as c:
                    if later:
                        self.assertEqual(c.request("GET", "/before", host=HOST).status, 200)
                    c.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_CORK, 1)
                    c.send(h.build_request("GET", "/with-fin", None, b"", HOST))
                    c.sock.shutdown(socket.SHUT_WR)  # uncorks: request and FIN together
                    self.assertEqual(target(c.read_response()), "/with-fin")
                    self.assertTrue(c.closed_by_peer(timeout=20))

    def test_a_request_sent_while_the_answer_is_on_its_way(self):
        # The second request is in the socket, unread, when the first answer has been written.
        for kind, make in connections(self.p()):
            with self.subTest(kind=kind):
                with make() as c:
                    c.send(h.build_request("GET", "/slow?delay=300", None, b"", HOST))
                    time.sleep(0.1)
                    c.send(h.build_request("GET", "/next", None, b"", HOST))
                    got = [target(c.read_response()), target(c.read_response())]
                    self.assertEqual(got, ["/slow?delay=300", "/next"])
                    self.assertEqual(target(c.request("GET", "/after", host=HOST)), "/after")

    def test_more_connections_than_warm_waits(self):
        # 100 connections of one worker between requests at once: 64 wait warm (none with
        # --warm-waits 0), the others are looked at and wait in an idle_conn. Every next
        # request is answered (a wait that missed its request would time the client out).
        conns = [h.Conn(self.p().http_port, timeout=30) for _ in range(100)]
        try:
            for rnd in range(4):
                if rnd == 3:
                    time.sleep(PAUSE)  # every warm wait over: all from idle_conns
                for i, c in enumerate(conns):
                    r = c.request("GET", f"/many/{rnd}/{i}", host=HOST)
                    self.assertEqual((r.status, target(r)), (200, f"/many/{rnd}/{i}"))
            # All at once: each request sent before any answer is read.
            for i, c in enumerate(conns):
                c.send(h.build_request("GET", f"/burst/{i}", None, b"", HOST))
            for i, c in enumerate(conns):
                self.assertEqual(target(c.read_response()), f"/burst/{i}")
        finally:
            for c in conns:
                c.close()
        self.assertTrue(h.wait_until(
            lambda: self.p().metric("portico_client_connections") == 0, timeout=30),
            self.p().metric("portico_client_connections"))


class no_warm_waits(warm_wait):
    def p(self):
        return P0


class keepalive_timeout(unittest.TestCase):
    def test_a_quiet_connection_still_closes_after_the_keepalive_timeout(self):
        d = h.temp_dir()
        h.write_manifests(d, "class.yaml", h.ingress_class())
        h.write_manifests(d, "app.yaml", h.service("echo", 80, [("127.0.0.1", UP.port)]),
                          h.ingress("app", [(HOST, "/", "Prefix", "echo", 80)]))
        p = h.Portico.start(d, "--workers", "1", "--keepalive-timeout", "1s")
        try:
            with h.Conn(p.http_port, timeout=30) as c:
                for i in range(5):  # the later ones from the warm wait
                    self.assertEqual(c.request("GET", f"/k/{i}", host=HOST).status, 200)
                self.assertTrue(c.closed_by_peer(timeout=30))
        finally:
            p.stop()


if __name__ == "__main__":
    unittest.main()
