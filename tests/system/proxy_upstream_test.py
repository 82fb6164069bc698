#!/usr/bin/python3
"""Balancing, retries and passive health against real upstreams: requests spread over the
endpoints, a refused endpoint is skipped (next endpoint) and ejected, killing an upstream under
keep-alive load loses no request, a non-idempotent request is not replayed after it was sent,
and pooled upstream connections are counted."""

import json
import os
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402
from scripted_upstream import ScriptedUpstream  # noqa: E402


def start(upstreams, extra_eps=(), *flags):
    d = h.temp_dir()
    eps = [("127.0.0.1", u.port) for u in upstreams] + list(extra_eps)
    h.write_manifests(d, "class.yaml", h.ingress_class())
    h.write_manifests(d, "app.yaml", h.service("app", 80, eps),
                      h.ingress("app", [("app.test", "/", "Prefix", "app", 80)]))
    return h.Portico.start(d, "--workers", "1", *flags)


def upstream_on(port, name):
    """portico-upstream on a chosen port (to restart one in place)."""
    u = h.Process([h.upstream_bin(), "--port", str(port), "--name", name], keep_stdout=False)
    u.wait_line(r"listening on", stream="stdout", timeout=30)
    u.port, u.name = port, name
    return u


class upstream(unittest.TestCase):
    def test_round_robin_spreads_requests(self):
        ups = [h.Upstream.start(f"rr{i}") for i in range(3)]
        p = start(ups)
        try:
            names = []
            with h.Conn(p.http_port) as c:
                for _ in range(30):
                    names.append(c.request("GET", "/", host="app.test").header("x-upstream-name"))
            for u in ups:
                self.assertEqual(names.count(u.name), 10, names)
        finally:
            p.stop()
            for u in ups:
                u.stop()

    def test_refused_endpoint_is_skipped_and_ejected(self):
        up = h.Upstream.start("live")
        dead = ("127.0.0.1", h.free_port())
        p = start([up], [dead])
        try:
            with h.Conn(p.http_port) as c:
                for i in range(20):
                    r = c.request("GET", f"/{i}", host="app.test")
                    self.assertEqual(r.status, 200, r.body)
                    self.assertEqual(r.header("x-upstream-name"), "live")
                r = c.request("POST", "/post", body=b"x", host="app.test")  # nothing was sent
                self.assertEqual(r.status, 200)
            # Three consecutive refusals eject the dead endpoint (the gauge is updated ~100 ms).
            h.wait_until(lambda: p.metric("portico_ejected_endpoints") == 1, timeout=10)
        finally:
            p.stop()
            up.stop()

    def test_killing_an_upstream_under_load_loses_nothing(self):
        ups = [h.Upstream.start("k0"), h.Upstream.start("k1")]
        p = start(ups)
        statuses = []
        errors = []
        stop = threading.Event()

        def load():
            try:
                with h.Conn(p.http_port, timeout=20) as c:
                    for i in range(3000):
                        if stop.is_set():
                            break
                        statuses.append(c.request("GET", f"/{i}", host="app.test").status)
            except Exception as e:  # noqa: BLE001
                errors.append(repr(e))

        threads = [threading.Thread(target=load) for _ in range(4)]
        try:
            for t in threads:
                t.start()
            h.wait_until(lambda: len(statuses) > 200, timeout=30)
            ups[0].stop(sig=9)
            n = len(statuses)
            h.wait_until(lambda: len(statuses) > n + 400 or not any(t.is_alive() for t in threads),
                         timeout=60)
            stop.set()
            for t in threads:
                t.join(60)
            self.assertEqual(errors, [])
            self.assertGreater(len(statuses), n)
            self.assertEqual(set(statuses), {200})
        finally:
            stop.set()
            p.stop()
            for u in ups:
                u.stop()

    def test_non_idempotent_request_is_not_replayed(self):
        ups = [h.Upstream.start("n0"), h.Upstream.start("n1")]
        p = start(ups)
        try:
            before = sum(u.stats()["requests"] for u in ups)
            r = h.request(p.http_port, "POST", "/close", body=b"data", host="app.test")
            self.assertEqual(r.status, 502)
            after = sum(u.stats()["requests"] for u in ups)
            # one attempt (+ the two /stats requests)
            self.assertEqual(after - before, 1 + 2)
        finally:
            p.stop()
            for u in ups:
                u.stop()

    def test_idempotent_request_is_retried_on_another_endpoint(self):
        ups = [h.Upstream.start("i0"), h.Upstream.start("i1")]
        p = start(ups)
        try:
            before = sum(u.stats()["requests"] for u in ups)
            r = h.request(p.http_port, "GET", "/close", host="app.test")
            self.assertEqual(r.status, 502)  # every endpoint closed without answering
            after = sum(u.stats()["requests"] for u in ups)
            self.assertEqual(after - before, 2 + 2)  # one try per endpoint (+ /stats)
        finally:
            p.stop()
            for u in ups:
                u.stop()

    def test_pooled_connection_closed_by_peer_is_not_used(self):
        port = h.free_port()
        a = upstream_on(port, "before")
        p = start([a])
        b = None
        try:
            with h.Conn(p.http_port) as c:
                self.assertEqual(c.request("GET", "/", host="app.test").status, 200)
            h.wait_until(lambda: p.metric("portico_pooled_upstream_connections") == 1, timeout=10)
            a.stop()  # the pooled connection is now closed by its peer
            b = upstream_on(port, "after")
            # A POST is never replayed: it succeeds only if the dead connection is not used.
            r = h.request(p.http_port, "POST", "/", body=b"payload", host="app.test")
            self.assertEqual(r.status, 200, r.body)
            self.assertEqual(r.header("x-upstream-name"), "after")
            self.assertEqual(r.json()["body_bytes"], 7)
        finally:
            p.stop()
            a.stop()
            if b:
                b.stop()

    def test_get_on_a_pooled_connection_closed_by_peer_is_sent_again_on_a_new_one(self):
        # Taken back within upstream_pool::recheck_after, the connection is not looked at
        # first for a GET: the GET's own read finds it closed and it goes out once more on a
        # new connection, answered by the new upstream, which sees it exactly once.
        port = h.free_port()
        a = upstream_on(port, "before")
        p = start([a])
        b = None
        try:
            with h.Conn(p.http_port) as c:
                self.assertEqual(c.request("GET", "/", host="app.test").status, 200)
            h.wait_until(lambda: p.metric("portico_pooled_upstream_connections") == 1, timeout=10)
            a.stop()
            b = upstream_on(port, "after")
            r = h.request(p.http_port, "GET", "/", host="app.test")
            self.assertEqual(r.status, 200, r.body)
            self.assertEqual(r.header("x-upstream-name"), "after")
            stats = h.request(port, "GET", "/stats")
            self.assertEqual(json.loads(stats.body)["requests"], 1 + 1)  # the GET (+ /stats)
        finally:
            p.stop()
            a.stop()
            if b:
                b.stop()

    def test_upstream_closing_every_connection_silently_loses_and_repeats_nothing(self):
        # Each response is keep-alive by its headers, and the upstream closes the connection
        # right after it. GETs and POSTs alternate: every one answered 200, and the upstream
        # receives each exactly once (a POST never goes out twice).
        up = ScriptedUpstream({"/": lambda raw: (b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
                                                 "close")})
        d = h.temp_dir()
        h.write_manifests(d, "class.yaml", h.ingress_class())
        h.write_manifests(d, "app.yaml", h.service("app", 80, [("127.0.0.1", up.port)]),
                          h.ingress("app", [("app.test", "/", "Prefix", "app", 80)]))
        p = h.Portico.start(d, "--workers", "1")
        try:
            sent = []
            with h.Conn(p.http_port) as c:
                for i in range(12):
                    method = "GET" if i % 2 == 0 else "POST"
                    body = b"" if method == "GET" else b"n=%d" % i
                    target = f"/?i={i}"
                    r = c.request(method, target, host="app.test", body=body)
                    self.assertEqual((r.status, r.body), (200, b"ok"), f"{method} {target}")
                    sent.append(f"{method} {target} ".encode())
                    # The upstream has closed this connection before the next request.
                    h.wait_until(lambda: up.open_connections == 0, timeout=30)
                    time.sleep(0.05)  # and its FIN is in (no timing assertion)
            seen = [raw.split(b"HTTP/1.1")[0] for raw in up.requests]
            self.assertEqual(seen, sent)
        finally:
            p.stop()
            up.stop()

    def _scripted(self, up, annotations=None):
        d = h.temp_dir()
        h.write_manifests(d, "class.yaml", h.ingress_class())
        h.write_manifests(d, "app.yaml", h.service("app", 80, [("127.0.0.1", up.port)]),
                          h.ingress("app", [("app.test", "/", "Prefix", "app", 80)],
                                    annotations=annotations))
        return h.Portico.start(d, "--workers", "1")

    def test_upstream_closing_idle_connections_fails_no_get_under_load(self):
        # The upstream closes a connection that waits 0.15 s for its next request. Four
        # clients send GETs with pauses around that, so pooled connections are taken back
        # before, around and after their close (a GET is not looked at before it is sent
        # when reused within a second: its own read finds the connection closed and it goes
        # out once more on a new one). Every GET is answered 200, and the upstream sees each
        # exactly once: none is lost or repeated.
        ok = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
        up = ScriptedUpstream({"/": lambda raw: ok}, idle_close=0.15)
        p = self._scripted(up)
        pauses = [0, 0.1, 0.14, 0.16, 0.2, 0]
        failures, sent = [], []
        lock = threading.Lock()

        def client(n):
            deadline = time.monotonic() + 60
            with h.Conn(p.http_port) as c:
                for i in range(24):
                    if time.monotonic() > deadline:
                        break
                    target = f"/?c={n}&i={i}"
                    r = c.request("GET", target, host="app.test")
                    with lock:
                        sent.append(f"GET {target} ".encode())
                        if (r.status, r.body) != (200, b"ok"):
                            failures.append((target, r.status, r.body))
                    time.sleep(pauses[(i + n) % len(pauses)])

        try:
            threads = [threading.Thread(target=client, args=(n,)) for n in range(4)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(120)
            self.assertEqual(failures, [])
            self.assertGreater(len(sent), 40)
            # Whether the upstream closed pooled connections during the load depends on the
            # timing of the four clients; one more GET after a pause well past its 0.15 s
            # makes sure a closed pooled connection was met at least once.
            before = up.connections
            with h.Conn(p.http_port) as c:
                for i in range(2):
                    target = f"/?after-pause={i}"
                    r = c.request("GET", target, host="app.test")
                    sent.append(f"GET {target} ".encode())
                    self.assertEqual((r.status, r.body), (200, b"ok"))
                    time.sleep(0.5)
            self.assertGreater(up.connections, before)  # the upstream closed the pooled one
            seen = sorted(raw.split(b"HTTP/1.1")[0] for raw in up.requests)
            self.assertEqual(seen, sorted(sent))
        finally:
            p.stop()
            up.stop()

    def test_get_on_a_pooled_connection_half_closed_with_its_answer_is_sent_again(self):
        # The upstream sends its answer (keep-alive by its headers) and a FIN in one segment and
        # goes on reading, as a lingering close does: the reactor's event for that FIN goes with
        # the answer's, and nothing else will come from that side. A GET sent on the pooled
        # connection within a second is not looked at first, and its read waits for an event
        # (net::mark_empty when the connection was pooled): the worker tick's look must find
        # the end (without it the read waits for the 10 s read timeout, then answers 504) and
        # send the GET again on a new connection: 200, answered once. A POST (never sent twice)
        # is looked at before it goes out on a pooled connection and never reaches the
        # half-closed one.
        ok = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
        up = ScriptedUpstream({"/first": lambda raw: (ok, "linger"), "/": lambda raw: ok})
        p = self._scripted(up, {"nginx.ingress.kubernetes.io/proxy-read-timeout": "10"})
        try:
            with h.Conn(p.http_port) as c:
                for method in ("GET", "POST"):
                    target = f"/?{method}-after"
                    r = c.request("GET", "/first", host="app.test")
                    self.assertEqual((r.status, r.body), (200, b"ok"))
                    r = c.request(method, target, host="app.test",
                                  body=b"x" if method == "POST" else b"")
                    self.assertEqual((r.status, r.body), (200, b"ok"), method)
            discarded = b"".join(up.discarded)
            # The GET went to the half-closed connection first (the case under test) ...
            self.assertIn(b"GET /?GET-after ", discarded)
            self.assertNotIn(b"POST", discarded)
            # ... and each request was answered once: the GET on a second connection, which
            # the next /first reused, and the POST on a third.
            seen = [raw.split(b"HTTP/1.1")[0] for raw in up.requests]
            self.assertEqual(seen, [b"GET /first ", b"GET /?GET-after ",
                                    b"GET /first ", b"POST /?POST-after "])
            self.assertEqual(up.connections, 3)
        finally:
            p.stop()
            up.stop()

    def test_retriable_post_on_a_pooled_connection_closed_by_peer_goes_out_once_on_a_new_one(self):
        # proxy-next-upstream with non_idempotent: a POST may be sent again, so like a GET it
        # is not looked at first; the upstream closed each connection after its answer, the
        # POST's own read finds that and it goes out once more on a new connection. Each is
        # answered 200 and reaches the upstream exactly once (the closed connection's copy
        # is never read).
        ok = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
        up = ScriptedUpstream({"/": lambda raw: (ok, "close")})
        p = self._scripted(up, {"nginx.ingress.kubernetes.io/proxy-next-upstream":
                                "error timeout non_idempotent"})
        try:
            sent = []
            with h.Conn(p.http_port) as c:
                for i in range(8):
                    target = f"/?i={i}"
                    r = c.request("POST", target, host="app.test", body=b"n=%d" % i)
                    self.assertEqual((r.status, r.body), (200, b"ok"), target)
                    sent.append(f"POST {target} ".encode())
                    h.wait_until(lambda: up.open_connections == 0, timeout=30)
                    time.sleep(0.05)  # and its FIN is in (no timing assertion)
            seen = [raw.split(b"HTTP/1.1")[0] for raw in up.requests]
            self.assertEqual(seen, sent)
        finally:
            p.stop()
            up.stop()

    def test_pooled_connections_are_reported(self):
        up = h.Upstream.start("pool")
        p = start([up])
        try:
            conns = [h.Conn(p.http_port) for _ in range(3)]
            for c in conns:
                c.send(h.build_request("GET", "/delay/200", host="app.test"))
            for c in conns:
                self.assertEqual(c.read_response().status, 200)
                c.close()
            h.wait_until(lambda: p.metric("portico_pooled_upstream_connections") == 3, timeout=10)
        finally:
            p.stop()
            up.stop()


if __name__ == "__main__":
    unittest.main(verbosity=2)
