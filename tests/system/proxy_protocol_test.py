#!/usr/bin/python3
"""ConfigMap use-proxy-protocol: Portico behind an L4 load balancer that speaks the PROXY
protocol. With it on, the client address of a v1 or v2 header is the request's client address
(X-Forwarded-For / X-Real-IP upstream, remote_addr in the access log), over HTTP and over
HTTPS (the header comes before the TLS handshake); a connection without a header is closed
without an answer, as nginx closes it; a v2 LOCAL header (a load balancer's health check)
keeps the connecting address; with proxy-real-ip-cidr not covering the connecting address
the header is read but its address is not believed. Turned off in the ConfigMap, plain
connections work again without a restart."""

import json
import os
import socket
import ssl
import struct
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402
from annotations_test import configmap  # noqa: E402

V2_SIG = b"\r\n\r\n\x00\r\nQUIT\n"


def v2_ipv4(src, dst="10.0.0.2", sport=40000, dport=80, command=0x21):
    payload = socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack("!HH", sport, dport)
    return V2_SIG + bytes([command, 0x11]) + struct.pack("!H", len(payload)) + payload


def exchange(port, prefix, host="pp.test", tls=False, pieces=1):
    """Sends `prefix` (a PROXY header, maybe in several pieces), then a GET; returns the
    Response, or None when the connection was closed without one."""
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    try:
        step = max(1, len(prefix) // pieces) if prefix else 1
        for i in range(0, len(prefix), step):
            s.sendall(prefix[i:i + step])
        if tls:
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            s = ctx.wrap_socket(s, server_hostname=host)
        try:
            s.sendall(f"GET /who HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
        except (ConnectionResetError, BrokenPipeError):
            return None  # closed by Portico after the broken header
        data = b""
        while True:
            try:
                chunk = s.recv(65536)
            except (ConnectionResetError, ssl.SSLError, OSError):
                break
            if not chunk:
                break
            data += chunk
        if not data:
            return None
        head, _, body = data.partition(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        return status, json.loads(body) if status == 200 else None
    finally:
        s.close()


def real_ip(echo):
    return [v for k, v in echo["headers"] if k.lower() == "x-real-ip"]


def forwarded_for(echo):
    return [v for k, v in echo["headers"] if k.lower() == "x-forwarded-for"]


class proxy_protocol(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.up = h.Upstream.start("pp")
        cls.dir = d = h.temp_dir()
        h.write_manifests(d, "class.yaml", h.ingress_class())
        h.write_manifests(d, "app.yaml", h.service("app", 80, [("127.0.0.1", cls.up.port)]),
                          h.ingress("app", [("pp.test", "/", "Prefix", "app", 80)]))
        cls.write_settings({"use-proxy-protocol": "true"})
        cls.https_port = h.free_port()
        cls.p = h.Portico.start(d, "--configmap", "ingress/portico", "--https-port",
                                str(cls.https_port), "--access-log=true")

    @classmethod
    def write_settings(cls, data):
        h.write_manifests(cls.dir, "settings.yaml", configmap("portico", data, namespace="ingress"))

    @classmethod
    def tearDownClass(cls):
        cls.p.stop()
        cls.up.stop()

    def setUp(self):
        self.write_settings({"use-proxy-protocol": "true"})
        h.wait_until(lambda: exchange(self.p.http_port, b"") is None, timeout=30)

    def test_v1_and_v2_give_the_client_address(self):
        for header in (b"PROXY TCP4 203.0.113.7 10.0.0.2 40000 80\r\n", v2_ipv4("203.0.113.7")):
            for pieces in (1, 3):
                with self.subTest(header=header, pieces=pieces):
                    status, echo = exchange(self.p.http_port, header, pieces=pieces)
                    self.assertEqual(status, 200)
                    self.assertEqual(real_ip(echo), ["203.0.113.7"])
                    self.assertEqual(forwarded_for(echo), ["203.0.113.7"])
                    self.assertEqual(echo["target"], "/who")  # nothing after the header lost
        status, echo = exchange(self.p.http_port, b"PROXY TCP6 2001:db8::9 2001:db8::1 1 80\r\n")
        self.assertEqual((status, real_ip(echo)), (200, ["2001:db8::9"]))
        self.p.wait_line(r'"remote_addr":"203\.0\.113\.7"', stream="stdout", timeout=30)

    def test_https_header_comes_before_the_handshake(self):
        status, echo = exchange(self.https_port, v2_ipv4("198.51.100.4", dport=443), tls=True)
        self.assertEqual((status, real_ip(echo)), (200, ["198.51.100.4"]))
        self.assertEqual([v for k, v in echo["headers"] if k.lower() == "x-forwarded-proto"],
                         ["https"])

    def test_missing_or_broken_header_closes_without_an_answer(self):
        self.assertIsNone(exchange(self.p.http_port, b""))  # a plain request
        self.assertIsNone(exchange(self.p.http_port, b"PROXY TCP4 1.2.3.4 nope 1 2\r\n"))
        self.assertIsNone(exchange(self.p.http_port, V2_SIG + b"\x31\x11\x00\x00"))
        # Portico keeps serving.
        status, _ = exchange(self.p.http_port, b"PROXY UNKNOWN\r\n")
        self.assertEqual(status, 200)

    def test_local_and_unknown_keep_the_connecting_address(self):
        for header in (v2_ipv4("203.0.113.7", command=0x20), b"PROXY UNKNOWN\r\n"):
            with self.subTest(header=header):
                status, echo = exchange(self.p.http_port, header)
                self.assertEqual((status, real_ip(echo)), (200, ["127.0.0.1"]))

    def test_untrusted_load_balancer_address_is_not_believed_and_off_turns_it_off(self):
        self.write_settings({"use-proxy-protocol": "true", "proxy-real-ip-cidr": "10.0.0.0/8"})
        header = b"PROXY TCP4 203.0.113.7 10.0.0.2 40000 80\r\n"
        h.wait_until(lambda: real_ip(exchange(self.p.http_port, header)[1]) == ["127.0.0.1"],
                     timeout=30)
        self.write_settings({"use-proxy-protocol": "false"})
        h.wait_until(lambda: exchange(self.p.http_port, b"") is not None, timeout=30)
        status, echo = exchange(self.p.http_port, b"")
        self.assertEqual((status, real_ip(echo)), (200, ["127.0.0.1"]))


if __name__ == "__main__":
    unittest.main()
