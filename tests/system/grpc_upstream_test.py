#!/usr/bin/python3
"""gRPC upstreams: nginx.ingress.kubernetes.io/backend-protocol GRPC (HTTP/2 with prior
knowledge, cleartext) and GRPCS (HTTP/2 over TLS with ALPN h2, verified with proxy-ssl-secret
and proxy-ssl-name). python3-grpcio is both the client (generic calls on bytes) and the
upstream (grpc_echo_server.py, its own process so that it can be killed).

Every call kind (unary, server-streaming, client-streaming, bidirectional ping-pong) goes
through h2c on the plain port and through TLS with SNI on the HTTPS port, to both upstream
kinds; metadata and trailing metadata pass both ways, an upstream status with its message
passes, grpc-timeout reaches the upstream, a deadline ends a call, 1 MiB messages pass, many
concurrent calls of one channel spread over several upstream connections (the upstream allows
8 streams per connection), a stream that keeps moving outlives proxy-read-timeout while a
silent one does not, a killed upstream answers UNAVAILABLE and the restarted one serves again,
an HTTP/1.1 client's call reaches the HTTP/2 upstream, and the access log and metrics record
the calls."""

import concurrent.futures
import os
import socket
import sys
import threading
import time
import unittest

import grpc

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402
import tls_support as t  # noqa: E402
from h2_early_answer_server import ANSWER, EarlyAnswerServer  # noqa: E402

A = "nginx.ingress.kubernetes.io/"
SERVER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "grpc_echo_server.py")
MIB = 1 << 20
OPTS = [("grpc.max_receive_message_length", 32 << 20), ("grpc.max_send_message_length", 32 << 20)]

P = None
CA = None
UP = {}  # "plain" / "tls" -> echo_server
EARLY = None  # EarlyAnswerServer


class echo_server:
    """grpc_echo_server.py as a child process; restartable on the same port."""

    def __init__(self, cert=None, port=0):
        self.files = cert.files() if cert else ()
        self.start(port)

    def start(self, port):
        self.proc = h.Process(["/usr/bin/python3", SERVER, str(port), *self.files])
        m = self.proc.wait_line(r"^port (\d+)$", stream="stdout", timeout=30)
        self.port = int(m.group(1))

    def kill(self):
        self.proc.stop(sig=9)

    def restart(self):
        self.start(self.port)


def setUpModule():
    global P, CA, EARLY
    CA = t.CA("gRPC Test CA")
    EARLY = EarlyAnswerServer()
    up_cert = CA.issue("grpc-upstream.test")
    edge_cert = CA.issue("grpc.test", "grpcs.test", "stream.test", "plain.test", "early.test")
    UP["plain"] = echo_server()
    UP["tls"] = echo_server(up_cert)
    d = h.temp_dir()
    hosts = ["grpc.test", "grpcs.test", "stream.test", "plain.test", "early.test"]
    # h2c on the plain port too; messages of 1 MiB and more (proxy-body-size applies to a
    # call's whole request stream, as client_max_body_size does with grpc_pass).
    plain_ok = {A + "ssl-redirect": "false", A + "proxy-body-size": "16m"}
    h.write_manifests(d, "class.yaml", h.ingress_class())
    h.write_manifests(
        d, "apps.yaml",
        t.tls_secret("edge", edge_cert),
        t.ca_secret("upstream-ca", CA.pem),
        h.service("plain", 50051, [("127.0.0.1", UP["plain"].port)]),
        h.service("secure", 50052, [("127.0.0.1", UP["tls"].port)]),
        h.service("early", 50053, [("127.0.0.1", EARLY.port)]),
        t.tls_ingress("early", [("early.test", "/", "Prefix", "early", 50053)],
                      tls=[(hosts, "edge")], annotations={**plain_ok, A + "backend-protocol": "GRPC"}),
        t.tls_ingress("grpc", [("grpc.test", "/", "Prefix", "plain", 50051)],
                      tls=[(hosts, "edge")], annotations={**plain_ok, A + "backend-protocol": "GRPC"}),
        t.tls_ingress("grpcs", [("grpcs.test", "/", "Prefix", "secure", 50052)],
                      tls=[(hosts, "edge")],
                      annotations={**plain_ok, A + "backend-protocol": "GRPCS",
                                   A + "proxy-ssl-verify": "on",
                                   A + "proxy-ssl-secret": "default/upstream-ca",
                                   A + "proxy-ssl-name": "grpc-upstream.test"}),
        t.tls_ingress("stream", [("stream.test", "/", "Prefix", "plain", 50051)],
                      tls=[(hosts, "edge")],
                      annotations={**plain_ok, A + "backend-protocol": "grpc",
                                   A + "proxy-read-timeout": "1"}),
        # The same Service as an HTTP/1.1 backend: the gRPC server refuses HTTP/1.1.
        t.tls_ingress("plain", [("plain.test", "/", "Prefix", "plain", 50051)],
                      tls=[(hosts, "edge")], annotations=plain_ok))
    P = t.start_portico(d, "--workers", "1")


def tearDownModule():
    if P:
        P.stop()
    for u in UP.values():
        u.proc.stop(sig=9)
    if EARLY:
        EARLY.stop()


def channel(authority, tls):
    if not tls:
        return grpc.insecure_channel(f"127.0.0.1:{P.http_port}",
                                     options=OPTS + [("grpc.default_authority", authority)])
    creds = grpc.ssl_channel_credentials(root_certificates=CA.pem.encode())
    return grpc.secure_channel(f"127.0.0.1:{P.https_port}", creds,
                               options=OPTS + [("grpc.ssl_target_name_override", authority),
                                               ("grpc.default_authority", authority)])


def unary(ch, name="Unary"):
    return ch.unary_unary(f"/test.Echo/{name}")


# The four combinations: downstream h2c or TLS, upstream GRPC or GRPCS.
COMBOS = [(down, host) for down in (False, True) for host in ("grpc.test", "grpcs.test")]


class call_kinds(unittest.TestCase):
    def test_unary_with_metadata_both_ways(self):
        for tls, host in COMBOS:
            with self.subTest(tls=tls, host=host), channel(host, tls) as ch:
                resp, call = unary(ch).with_call(b"hello", metadata=(("x-meta", "m1"),), timeout=30)
                self.assertEqual(resp, b"hello")
                self.assertIn(("x-echo", "m1"), tuple(call.initial_metadata()))
                trailing = dict(call.trailing_metadata())
                self.assertEqual(trailing.get("x-trail"), "t-m1")
                self.assertEqual(call.code(), grpc.StatusCode.OK)

    def test_server_streaming(self):
        for tls, host in COMBOS:
            with self.subTest(tls=tls, host=host), channel(host, tls) as ch:
                got = list(ch.unary_stream("/test.Echo/ServerStream")(b"5:1000:0", timeout=30))
                self.assertEqual(got, [bytes([65 + i]) * 1000 for i in range(5)])

    def test_client_streaming(self):
        for tls, host in COMBOS:
            with self.subTest(tls=tls, host=host), channel(host, tls) as ch:
                msgs = (b"x" * n for n in (1, 10, 100, 1000, 10000))
                resp = ch.stream_unary("/test.Echo/ClientStream")(msgs, timeout=30)
                self.assertEqual(resp, b"5:11111")

    def test_bidirectional_ping_pong(self):
        # Each message is sent only once the previous answer came back: the request and the
        # response must both be moving through the proxy at the same time.
        for tls, host in COMBOS:
            with self.subTest(tls=tls, host=host), channel(host, tls) as ch:
                answers = []
                turn = concurrent.futures.Future()
                turn.set_result(None)
                state = {"turn": turn}

                def requests():
                    for i in range(5):
                        state["turn"].result(timeout=20)
                        state["turn"] = concurrent.futures.Future()
                        yield f"ping-{i}".encode()

                for m in ch.stream_stream("/test.Echo/Bidi")(requests(), timeout=30):
                    answers.append(m)
                    state["turn"].set_result(None)
                self.assertEqual(answers, [f"ping-{i}".encode() for i in range(5)])

    def test_one_mib_messages(self):
        big = bytes(range(256)) * (MIB // 256)
        for tls, host in COMBOS:
            with self.subTest(tls=tls, host=host), channel(host, tls) as ch:
                self.assertEqual(unary(ch)(big, timeout=60), big)
                got = list(ch.stream_stream("/test.Echo/Bidi")(iter([big, big[::-1], big]), timeout=60))
                self.assertEqual(got, [big, big[::-1], big])
                got = list(ch.unary_stream("/test.Echo/ServerStream")(f"3:{MIB}:0".encode(), timeout=60))
                self.assertEqual([len(m) for m in got], [MIB] * 3)


class statuses(unittest.TestCase):
    def test_upstream_status_and_message_pass(self):
        for tls, host in COMBOS:
            with self.subTest(tls=tls, host=host), channel(host, tls) as ch:
                with self.assertRaises(grpc.RpcError) as cm:
                    unary(ch)(b"status:no such thing", metadata=(("x-meta", "m2"),), timeout=30)
                e = cm.exception
                self.assertEqual((e.code(), e.details()), (grpc.StatusCode.NOT_FOUND, "no such thing"))
                self.assertEqual(dict(e.trailing_metadata()).get("x-trail"), "t-m2")

    def test_grpc_timeout_reaches_the_upstream(self):
        with channel("grpc.test", False) as ch:
            left = unary(ch)(b"deadline", timeout=20)
        self.assertNotEqual(left, b"none")  # the client's grpc-timeout reached the upstream
        self.assertGreater(float(left), 0)
        # gRPC's own timeout encoding may round up (a client's 20 s arrived as 20.099 s left
        # once): bounded by one second of rounding, not by the exact value.
        self.assertLessEqual(float(left), 21)

    def test_deadline_exceeded(self):
        for tls, host in COMBOS:
            with self.subTest(tls=tls, host=host), channel(host, tls) as ch:
                with self.assertRaises(grpc.RpcError) as cm:
                    unary(ch)(b"sleep:3", timeout=0.5)
                self.assertEqual(cm.exception.code(), grpc.StatusCode.DEADLINE_EXCEEDED)
                self.assertEqual(unary(ch)(b"after", timeout=30), b"after")

    def test_unknown_method_status_passes(self):
        with channel("grpcs.test", True) as ch, self.assertRaises(grpc.RpcError) as cm:
            unary(ch, "Nothing")(b"x", timeout=30)
        self.assertEqual(cm.exception.code(), grpc.StatusCode.UNIMPLEMENTED)

    def test_body_size_limit_is_answered(self):
        # 17 MiB over the 16m proxy-body-size: Portico answers 413 as a gRPC status (UNKNOWN by
        # gRPC's HTTP mapping), not 502.
        with channel("grpc.test", False) as ch, self.assertRaises(grpc.RpcError) as cm:
            unary(ch)(b"x" * (17 << 20), timeout=60)
        self.assertEqual((cm.exception.code(), cm.exception.details()),
                         (grpc.StatusCode.UNKNOWN, "413 Content Too Large"))

    def test_http1_upstream_refuses_a_grpc_server(self):
        # Without backend-protocol the same Service is spoken to in HTTP/1.1: no gRPC answer.
        with channel("plain.test", False) as ch, self.assertRaises(grpc.RpcError) as cm:
            unary(ch)(b"x", timeout=30)
        self.assertNotEqual(cm.exception.code(), grpc.StatusCode.OK)


class early_answer(unittest.TestCase):
    def test_an_answer_before_the_request_body_is_relayed(self):
        # The upstream answers on the call's HEADERS and resets the stream with NO_ERROR while
        # Portico is still sending the 1 MiB request: the answer is the call's result.
        big = b"r" * MIB
        before = EARLY.answered
        for tls in (False, True):
            with self.subTest(tls=tls), channel("early.test", tls) as ch:
                call = unary(ch)
                for _ in range(5):
                    self.assertEqual(call(big, timeout=30), ANSWER)
                with concurrent.futures.ThreadPoolExecutor(8) as pool:
                    got = list(pool.map(lambda m: call(m, timeout=30), [big] * 16 + [b"s"] * 16))
                self.assertEqual(got, [ANSWER] * 32)
        self.assertEqual(EARLY.answered - before, 74)


    def test_http11_client_gets_one_answer_and_the_connection_closes(self):
        # The rest of the body the upstream did not want is not read as a next request on the
        # same connection: Portico answers once and closes.
        msg = b"\x00" + MIB.to_bytes(4, "big") + b"r" * MIB
        head = (b"POST /test.Echo/Unary HTTP/1.1\r\nHost: early.test\r\n"
                b"Content-Type: application/grpc\r\nTE: trailers\r\n"
                b"Content-Length: %d\r\n\r\n" % len(msg))
        s = socket.create_connection(("127.0.0.1", P.http_port), timeout=30)
        try:
            s.sendall(head)

            def send_body():
                try:
                    s.sendall(msg)
                except OSError:
                    pass  # closed by Portico after its answer
            sender = threading.Thread(target=send_body, daemon=True)
            sender.start()
            got = b""
            while True:
                try:
                    data = s.recv(65536)
                except ConnectionResetError:
                    break
                if not data:
                    break
                got += data
            sender.join(30)
        finally:
            s.close()
        self.assertTrue(got.startswith(b"HTTP/1.1 200 "), got[:300])
        self.assertEqual(got.count(b"HTTP/1.1 "), 1, got[:600])
        self.assertIn(ANSWER, got)
        self.assertIn(b"grpc-status: 0", got.lower())


class streams_and_timeouts(unittest.TestCase):
    def test_moving_stream_outlives_read_timeout(self):
        # proxy-read-timeout is 1 s on stream.test: answers 0.25 s apart for 2.5 s keep the
        # server-streaming call alive...
        with channel("stream.test", False) as ch:
            got = list(ch.unary_stream("/test.Echo/ServerStream")(b"10:10:0.25", timeout=30))
            self.assertEqual(len(got), 10)

            # ...and so do request messages 0.25 s apart while the upstream says nothing.
            def slow():
                for _ in range(10):
                    time.sleep(0.25)
                    yield b"m"
            self.assertEqual(ch.stream_unary("/test.Echo/ClientStream")(slow(), timeout=30), b"10:10")

    def test_silent_upstream_hits_read_timeout(self):
        with channel("stream.test", False) as ch, self.assertRaises(grpc.RpcError) as cm:
            unary(ch)(b"sleep:4", timeout=30)
        self.assertEqual((cm.exception.code(), cm.exception.details()),
                         (grpc.StatusCode.DEADLINE_EXCEEDED, "504 Gateway Timeout"))


class concurrency(unittest.TestCase):
    def test_many_calls_on_one_channel(self):
        # 60 calls at once, each 0.3 s long; the upstream takes 8 streams per connection, so
        # Portico must open several connections (and never more streams than allowed on one).
        for tls, host in COMBOS:
            with self.subTest(tls=tls, host=host), channel(host, tls) as ch:
                stub = unary(ch)
                calls = [stub.future(b"sleep:0.3", metadata=(("x-meta", str(i)),), timeout=60)
                         for i in range(60)]
                peers = set()
                for i, f in enumerate(calls):
                    self.assertEqual(f.result(timeout=60), b"sleep:0.3")
                    self.assertEqual(dict(f.trailing_metadata())["x-trail"], f"t-{i}")
                    peers.add(dict(f.trailing_metadata())["x-peer"])
                self.assertGreater(len(peers), 1, peers)


class http1_client(unittest.TestCase):
    def test_http11_request_reaches_the_h2_upstream(self):
        # grpc_pass speaks HTTP/2 upstream whatever the client spoke; so does Portico. The
        # answer's trailers come as the chunked body's trailer section.
        msg = b"\x00\x00\x00\x00\x05hello"
        r = h.request(P.http_port, "POST", "/test.Echo/Unary", host="grpc.test",
                      headers={"Content-Type": "application/grpc", "TE": "trailers"}, body=msg)
        self.assertEqual(r.status, 200)
        self.assertEqual(r.body, msg)


class upstream_failure(unittest.TestCase):
    def test_killed_upstream_is_unavailable_then_recovers(self):
        up = UP["plain"]
        with channel("grpc.test", False) as ch:
            self.assertEqual(unary(ch)(b"before", timeout=30), b"before")
            # A call in progress when the upstream dies fails (not OK) ...
            stream = ch.unary_stream("/test.Echo/ServerStream")(b"100:10:0.1", timeout=30)
            self.assertEqual(len(next(stream)), 10)
            up.kill()
            with self.assertRaises(grpc.RpcError) as cm:
                for _ in stream:
                    pass
            self.assertNotEqual(cm.exception.code(), grpc.StatusCode.OK)
            # ... and a new call is answered UNAVAILABLE by Portico (refused connection).
            with self.assertRaises(grpc.RpcError) as cm:
                unary(ch)(b"during", timeout=30)
            self.assertEqual((cm.exception.code(), cm.exception.details()),
                             (grpc.StatusCode.UNAVAILABLE, "502 Bad Gateway"))
            up.restart()
            # Passive health may hold the endpoint back for a moment after the failures.
            deadline = time.monotonic() + 30
            while True:
                try:
                    self.assertEqual(unary(ch)(b"after", timeout=30), b"after")
                    break
                except grpc.RpcError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.2)


class records(unittest.TestCase):
    def test_access_log_and_metrics(self):
        before = P.metric("nginx_ingress_controller_requests", host="grpcs.test", status="200") or 0
        start = len(P.stdout_lines)
        with channel("grpcs.test", True) as ch:
            unary(ch)(b"logged", timeout=30)
        line = P.wait_line(r'.*"host":"grpcs.test".*"path":"/test.Echo/Unary".*', stream="stdout",
                           timeout=30, start=start).group(0)
        self.assertIn('"status":200', line)
        self.assertIn('"protocol":"HTTP/2.0"', line)
        self.assertIn(f'127.0.0.1:{UP["tls"].port}', line)
        h.wait_until(lambda: (P.metric("nginx_ingress_controller_requests", host="grpcs.test",
                                       status="200") or 0) >= before + 1)


if __name__ == "__main__":
    unittest.main()
