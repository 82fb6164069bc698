#!/usr/bin/python3
"""HTTP/2 from clients (RFC 9113): over TLS when ALPN chooses h2, with prior knowledge (h2c) on
the plain port, routed by :authority through the same route table, default backend and access
log as HTTP/1.1, forwarded to HTTP/1.1 upstreams (section 8.3.1 request line and Host, 8.2.3
cookies, bodies byte-exact), with real clients (curl, nghttp, h2load) and raw frames for the
protections (connection-specific fields, header list bound, concurrent streams, rapid reset,
CONTINUATION flood, PING flood), each followed by a normal client being served."""

import hashlib
import http.server
import json
import os
import re
import socket
import struct
import subprocess
import sys
import threading
import unittest

import hpack

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402
import tls_support as t  # noqa: E402

A = "nginx.ingress.kubernetes.io/"
PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
# RFC 9113 6: frame types and error codes used here.
DATA, HEADERS, RST_STREAM, SETTINGS, PING, GOAWAY, WINDOW_UPDATE, CONTINUATION = 0, 1, 3, 4, 6, 7, 8, 9
END_STREAM, END_HEADERS, ACK = 0x1, 0x4, 0x1
PROTOCOL_ERROR, REFUSED_STREAM, ENHANCE_YOUR_CALM = 0x1, 0x7, 0xb


class body_upstream:
    """HTTP/1.1 upstream that answers what it received: method, target, Host, Cookie, the body's
    framing, length and SHA-256."""

    def __init__(self, name):
        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def read_body(self):
                if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                    data = b""
                    while True:
                        size = int(self.rfile.readline().split(b";")[0], 16)
                        if size == 0:
                            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                                pass
                            return data, "chunked"
                        data += self.rfile.read(size)
                        self.rfile.readline()
                n = int(self.headers.get("Content-Length", "0"))
                return self.rfile.read(n), "length" if "Content-Length" in self.headers else "none"

            def answer(self):
                body, framing = self.read_body()
                out = json.dumps({
                    "upstream": name, "method": self.command, "target": self.path,
                    "host": self.headers.get("Host"), "cookie": self.headers.get_all("Cookie"),
                    "framing": framing, "length": len(body),
                    "sha256": hashlib.sha256(body).hexdigest(),
                    "connection_headers": [k for k in self.headers.keys()
                                           if k.lower() in ("upgrade", "keep-alive", "te")],
                }).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(out)))
                self.send_header("X-Upstream-Header", "Kept")
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(out)

            do_GET = do_POST = do_PUT = do_HEAD = answer  # noqa: N815

            def log_message(self, *a):
                pass

        class Server(http.server.ThreadingHTTPServer):
            daemon_threads = True
            request_queue_size = 256

        self.server = Server(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


# ---------------------------------------------------------------------------- raw frames


def frame(ftype, flags, stream, payload=b""):
    return struct.pack(">I", len(payload))[1:] + bytes([ftype, flags]) + struct.pack(">I", stream) + payload


class raw_h2:
    """A minimal HTTP/2 client over h2c: frames written by hand, HPACK by python3-hpack."""

    def __init__(self, port, rcvbuf=None):
        self.sock = socket.socket()
        if rcvbuf:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(30)
        self.sock.connect(("127.0.0.1", port))
        self.enc = hpack.Encoder()
        self.dec = hpack.Decoder()
        self.buf = b""
        self.streams = {}
        self.sock.sendall(PREFACE + frame(SETTINGS, 0, 0))
        self.server_settings = {}

    def close(self):
        self.sock.close()

    def send(self, data):
        self.sock.sendall(data)

    def reply(self, data):
        """What reading frames makes us send; the server may have closed already."""
        try:
            self.sock.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def headers(self, stream, fields, end_stream=True, max_frame=16384):
        block = self.enc.encode(fields)
        first, rest = block[:max_frame], block[max_frame:]
        flags = (END_STREAM if end_stream else 0) | (0 if rest else END_HEADERS)
        out = frame(HEADERS, flags, stream, first)
        while rest:
            piece, rest = rest[:max_frame], rest[max_frame:]
            out += frame(CONTINUATION, 0 if rest else END_HEADERS, stream, piece)
        self.send(out)

    def read_frame(self):
        """(type, flags, stream, payload), or None at the end of the connection."""
        while len(self.buf) < 9 or len(self.buf) < 9 + int.from_bytes(self.buf[:3], "big"):
            try:
                chunk = self.sock.recv(65536)
            except ConnectionResetError:
                return None
            if not chunk:
                return None
            self.buf += chunk
        n = int.from_bytes(self.buf[:3], "big")
        ftype, flags = self.buf[3], self.buf[4]
        stream = int.from_bytes(self.buf[5:9], "big") & 0x7FFFFFFF
        payload = self.buf[9:9 + n]
        self.buf = self.buf[9 + n:]
        if ftype == SETTINGS and not flags & ACK:
            for i in range(0, len(payload), 6):
                k, v = struct.unpack(">HI", payload[i:i + 6])
                self.server_settings[k] = v
            self.reply(frame(SETTINGS, ACK, 0))
        st = self.streams.setdefault(stream, {"headers": {}, "body": b"", "end": None})
        if ftype == HEADERS:  # decoded in arrival order (HPACK state)
            st["headers"].update({k.decode() if isinstance(k, bytes) else k:
                                  v.decode() if isinstance(v, bytes) else v
                                  for k, v in self.dec.decode(payload)})
        elif ftype == DATA and payload:
            st["body"] += payload
            self.reply(frame(WINDOW_UPDATE, 0, 0, struct.pack(">I", len(payload))) +
                       frame(WINDOW_UPDATE, 0, stream, struct.pack(">I", len(payload))))
        if stream and ftype in (HEADERS, DATA) and flags & END_STREAM:
            st["end"] = (int(st["headers"][":status"]), st["headers"], st["body"])
        elif stream and ftype == RST_STREAM and st["end"] is None:
            st["end"] = ("reset", int.from_bytes(payload, "big"), b"")
        return ftype, flags, stream, payload

    def until(self, predicate):
        """Reads frames until predicate(frame) is true (that frame) or the connection ends."""
        while True:
            f = self.read_frame()
            if f is None or predicate(f):
                return f

    def response(self, stream):
        """(status, headers dict, body) of one stream, or ("reset", code, b"")."""
        while self.streams.get(stream, {}).get("end") is None:
            if self.read_frame() is None:
                raise AssertionError("connection closed before the response")
        return self.streams[stream]["end"]


def get_fields(authority, path="/", method="GET", extra=()):
    return [(":method", method), (":scheme", "http"), (":authority", authority), (":path", path),
            *extra]


P = None
UPS = []
CA = None
DIR = None


def configmap(data):
    lines = "".join(f"  {k}: \"{v}\"\n" for k, v in data.items())
    return f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: portico\n  namespace: ingress\ndata:\n{lines}"


def setUpModule():
    global P, CA, DIR
    CA = t.CA()
    cert = CA.issue("app.test", "other.test", "nothere.test")
    app, other = body_upstream("app"), body_upstream("other")
    fast = h.Upstream.start("fast")
    UPS.extend([app, other, fast])
    DIR = h.temp_dir()
    h.write_manifests(DIR, "class.yaml", h.ingress_class())
    h.write_manifests(
        DIR, "apps.yaml",
        h.service("app", 80, [("127.0.0.1", app.port)]),
        h.service("other", 80, [("127.0.0.1", other.port)]),
        h.service("fast", 80, [("127.0.0.1", fast.port)]),
        h.ingress("fast", [("fast.test", "/", "Prefix", "fast", 80)]),
        t.tls_secret("cert", cert),
        t.tls_ingress("app", [("app.test", "/", "Prefix", "app", 80)], tls=[(["app.test"], "cert")],
                      annotations={A + "ssl-redirect": "false", A + "proxy-body-size": "8m"}),
        t.tls_ingress("other", [("other.test", "/", "Prefix", "other", 80)],
                      tls=[(["other.test"], "cert")], annotations={A + "ssl-redirect": "false"}))
    # A connection without a request in progress is closed after the client header timeout,
    # then keep-alive.
    h.write_manifests(DIR, "config.yaml", configmap({"client-header-timeout": "2", "keep-alive": "2"}))
    P = t.start_portico(DIR, "--workers", "1", "--configmap", "ingress/portico")


def tearDownModule():
    if P:
        P.stop()
    for u in UPS:
        u.stop()


def curl(*args, timeout=60):
    r = subprocess.run(["curl", "-sS", "--max-time", "30", *args], capture_output=True, timeout=timeout)
    if r.returncode != 0:
        raise AssertionError(f"curl failed ({r.returncode}): {r.stderr.decode(errors='replace')}")
    return r.stdout


def tls_args(host):
    return ["--resolve", f"{host}:{P.https_port}:127.0.0.1", "--cacert", str(CA.path)]


class clients(unittest.TestCase):
    def test_curl_http2_over_tls_by_alpn(self):
        out = curl("--http2", *tls_args("app.test"), "-w", "\n%{http_version} %{http_code}",
                   f"https://app.test:{P.https_port}/x?y=1")
        body, _, tail = out.rpartition(b"\n")
        self.assertEqual(tail, b"2 200")
        got = json.loads(body)
        self.assertEqual((got["upstream"], got["method"], got["target"], got["host"]),
                         ("app", "GET", "/x?y=1", f"app.test:{P.https_port}"))

    def test_http11_still_chosen_when_asked(self):
        out = curl("--http1.1", *tls_args("app.test"), "-w", "\n%{http_version} %{http_code}",
                   f"https://app.test:{P.https_port}/")
        self.assertTrue(out.endswith(b"\n1.1 200"), out[-40:])
        r = h.request(P.http_port, "GET", "/", headers={"Host": "app.test"})
        self.assertEqual(r.status, 200)
        self.assertEqual(json.loads(r.body)["upstream"], "app")

    def test_curl_h2c_prior_knowledge(self):
        out = curl("--http2-prior-knowledge", "-H", "Host: other.test", "-w",
                   "\n%{http_version} %{http_code}", f"http://127.0.0.1:{P.http_port}/p")
        body, _, tail = out.rpartition(b"\n")
        self.assertEqual(tail, b"2 200")
        self.assertEqual(json.loads(body)["upstream"], "other")

    def test_routing_by_authority_and_default_backend(self):
        c = raw_h2(P.http_port)
        try:
            c.headers(1, get_fields("app.test", "/a"))
            c.headers(3, get_fields("other.test", "/b"))
            c.headers(5, get_fields("nothere.test", "/c"))
            s1, _, b1 = c.response(1)
            s3, _, b3 = c.response(3)
            s5, h5, _ = c.response(5)
        finally:
            c.close()
        self.assertEqual((s1, json.loads(b1)["upstream"], json.loads(b1)["host"]), (200, "app", "app.test"))
        self.assertEqual((s3, json.loads(b3)["upstream"]), (200, "other"))
        self.assertEqual(s5, 404)  # the built-in default backend
        self.assertEqual(h5.get("server"), "portico")

    def test_request_translation(self):
        # RFC 9113 8.2.3: cookie crumbs arrive as one Cookie field joined with "; "; 8.2.2:
        # no connection-specific field reaches the upstream; response names are lower-case.
        c = raw_h2(P.http_port)
        try:
            c.headers(1, get_fields("app.test", "/c", extra=[("cookie", "a=1"), ("cookie", "b=2"),
                                                            ("te", "trailers")]))
            status, hdrs, body = c.response(1)
        finally:
            c.close()
        self.assertEqual(status, 200)
        got = json.loads(body)
        self.assertEqual(got["cookie"], ["a=1; b=2"])
        self.assertEqual(got["connection_headers"], [])
        self.assertEqual(hdrs.get("x-upstream-header"), "Kept")
        self.assertNotIn("connection", hdrs)
        self.assertNotIn("keep-alive", hdrs)

    def test_upload_1mib_byte_exact(self):
        data = os.urandom(1024 * 1024)
        path = os.path.join(DIR, "upload.bin")
        with open(path, "wb") as f:
            f.write(data)
        want = hashlib.sha256(data).hexdigest()
        # curl over TLS sends content-length; nghttp over h2c sends none (chunked upstream).
        out = curl("--http2", *tls_args("app.test"), "--data-binary", f"@{path}",
                   "-H", "Content-Type: application/octet-stream", f"https://app.test:{P.https_port}/up")
        got = json.loads(out)
        self.assertEqual((got["length"], got["sha256"], got["framing"]), (len(data), want, "length"))
        r = subprocess.run(["nghttp", "-d", path, "-H", ":authority: app.test",
                            f"http://127.0.0.1:{P.http_port}/up2"],
                           capture_output=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        got = json.loads(r.stdout)
        self.assertEqual((got["length"], got["sha256"], got["method"]), (len(data), want, "POST"))

    def test_h2load_100_streams_one_connection(self):
        # 1000 requests: keep-alive-requests (default 1000) caps the streams of one connection
        # as in nginx, and the GOAWAY sent when the 1000th starts lets the 99 before it finish.
        r = subprocess.run(["h2load", "-n", "1000", "-c", "1", "-m", "100", "-H", ":authority: fast.test",
                            f"http://127.0.0.1:{P.http_port}/bench"],
                           capture_output=True, text=True, timeout=120)
        self.assertEqual(r.returncode, 0, r.stderr)
        m = re.search(r"requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded", r.stdout)
        self.assertIsNotNone(m, r.stdout)
        self.assertEqual(m.groups(), ("1000", "1000", "1000", "1000"), r.stdout)
        codes = re.search(r"status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx", r.stdout)
        self.assertEqual(codes.groups(), ("1000", "0", "0", "0"), r.stdout)
        rps = re.search(r"finished in .*?, ([0-9.]+) req/s", r.stdout)
        print(f"h2load 1 connection x 100 streams: {rps.group(1)} req/s", file=sys.stderr)

    def test_access_log_records_protocol(self):
        curl("--http2-prior-knowledge", "-H", "Host: app.test", f"http://127.0.0.1:{P.http_port}/logged-h2")
        line = P.wait_line(r'"path":"/logged-h2".*', stream="stdout", timeout=30)
        self.assertIn('"protocol":"HTTP/2.0"', line.group(0))


class settings_keys(unittest.TestCase):
    """The ConfigMap's http2-max-requests, http2-max-field-size and http2-max-header-size, and
    the HTTP/2 gauges and counter of /metrics."""

    @classmethod
    def setUpClass(cls):
        cls.dir = h.temp_dir()
        h.write_manifests(
            cls.dir, "a.yaml", h.ingress_class(),
            configmap({"http2-max-requests": "3", "http2-max-field-size": "1k",
                       "http2-max-header-size": "8k"}),
            h.service("app", 80, [("127.0.0.1", UPS[0].port)]),
            h.ingress("app", [("app.test", "/", "Prefix", "app", 80)]))
        cls.p = t.start_portico(cls.dir, "--workers", "1", "--configmap", "ingress/portico")

    @classmethod
    def tearDownClass(cls):
        cls.p.stop()

    def test_max_requests_then_graceful_goaway(self):
        c = raw_h2(self.p.http_port)
        try:
            for sid in (1, 3, 5):
                c.headers(sid, get_fields("app.test", f"/n{sid}"))
            goaway = c.until(lambda f: f[0] == GOAWAY)
            self.assertIsNotNone(goaway, "no GOAWAY after the third request")
            last = int.from_bytes(goaway[3][0:4], "big") & 0x7FFFFFFF
            self.assertEqual((last, int.from_bytes(goaway[3][4:8], "big")), (5, 0))  # NO_ERROR
            for sid in (1, 3, 5):  # the three requests are answered in full
                self.assertEqual(c.response(sid)[0], 200)
            # A stream after the GOAWAY's last one is not served (RFC 9113 6.8); the server
            # may have closed the connection already, its streams being done.
            try:
                c.headers(7, get_fields("app.test", "/n7"))
            except (BrokenPipeError, ConnectionResetError):
                pass
            c.until(lambda f: False)  # until the server closes the connection
            self.assertIsNone(c.streams.get(7, {}).get("end"))
        finally:
            c.close()

    def test_field_size_bound(self):
        c = raw_h2(self.p.http_port)
        try:
            c.headers(1, get_fields("app.test", extra=[("x-fits", "v" * 1000)]))  # 1006 <= 1024
            self.assertEqual(c.response(1)[0], 200)
            c.headers(3, get_fields("app.test", extra=[("x-long", "v" * 1100)]))
            self.assertEqual(c.response(3)[0], 431)
        finally:
            c.close()

    def test_header_list_bound(self):
        c = raw_h2(self.p.http_port)
        try:
            c.until(lambda f: f[0] == SETTINGS and not f[1] & ACK)
            self.assertEqual(c.server_settings.get(0x6), 8192)  # SETTINGS_MAX_HEADER_LIST_SIZE
            fields = [(f"x-f{i}", "v" * 900) for i in range(10)]  # each fits; 9 KB in all
            c.headers(1, get_fields("app.test", extra=fields))
            self.assertEqual(c.response(1)[0], 431)
        finally:
            c.close()

    def test_metrics(self):
        def value(name, **labels):
            return self.p.metric(name, **labels) or 0
        h2_before = value("portico_requests_by_protocol_total", protocol="HTTP/2")
        h1_before = value("portico_requests_by_protocol_total", protocol="HTTP/1.x")
        c = raw_h2(self.p.http_port)
        try:
            c.headers(1, get_fields("app.test", "/counted"))
            self.assertEqual(c.response(1)[0], 200)
            # A request whose body never comes keeps its stream open.
            c.headers(3, get_fields("app.test", "/hold", "POST", [("content-length", "10")]),
                      end_stream=False)
            h.wait_until(lambda: value("portico_http2_streams") == 1, timeout=30)
            self.assertEqual(value("portico_http2_connections"), 1)
        finally:
            c.close()
        # Closed with a stream still open: both gauges go back to 0.
        h.wait_until(lambda: value("portico_http2_connections") == 0 and value("portico_http2_streams") == 0,
                     timeout=30)
        with h.Conn(self.p.http_port) as conn:
            conn.send(b"GET / HTTP/1.1\r\nHost: app.test\r\n\r\n")
            self.assertEqual(conn.read_response("GET").status, 200)
        # The held request ends as a 4xx when its connection goes; it counts as HTTP/2 too.
        h.wait_until(lambda: value("portico_requests_by_protocol_total", protocol="HTTP/1.x") == h1_before + 1,
                     timeout=30)
        self.assertGreaterEqual(value("portico_requests_by_protocol_total",
                                      protocol="HTTP/2"), h2_before + 1)


class switched_off(unittest.TestCase):
    """use-http2: "false" keeps HTTPS at HTTP/1.1; --h2c=false answers the preface as the
    HTTP/1.1 request it is not."""

    @classmethod
    def setUpClass(cls):
        cls.dir = h.temp_dir()
        cert = CA.issue("app.test")
        h.write_manifests(
            cls.dir, "a.yaml", h.ingress_class(), configmap({"use-http2": "false"}),
            h.service("app", 80, [("127.0.0.1", UPS[0].port)]), t.tls_secret("cert", cert),
            t.tls_ingress("app", [("app.test", "/", "Prefix", "app", 80)], tls=[(["app.test"], "cert")],
                          annotations={A + "ssl-redirect": "false"}))
        cls.p = t.start_portico(cls.dir, "--workers", "1", "--h2c=false", "--configmap", "ingress/portico")

    @classmethod
    def tearDownClass(cls):
        cls.p.stop()

    def test_alpn_without_h2(self):
        out = curl("--http2", "--resolve", f"app.test:{self.p.https_port}:127.0.0.1", "--cacert",
                   str(CA.path), "-w", "\n%{http_version} %{http_code}", f"https://app.test:{self.p.https_port}/")
        self.assertTrue(out.endswith(b"\n1.1 200"), out[-40:])

    def test_preface_without_h2c(self):
        with h.Conn(self.p.http_port) as c:
            c.send(PREFACE)
            self.assertEqual(c.read_response("PRI").status, 400)


class protections(unittest.TestCase):
    def assert_served(self):
        """A normal HTTP/2 client is served."""
        out = curl("--http2-prior-knowledge", "-H", "Host: app.test", "-w", "\n%{http_code}",
                   f"http://127.0.0.1:{P.http_port}/after")
        self.assertTrue(out.endswith(b"\n200"), out[-40:])

    def test_connection_specific_field_is_protocol_error(self):
        # RFC 9113 8.2.2: a request with Connection (or Upgrade, ...) is malformed.
        c = raw_h2(P.http_port)
        try:
            c.headers(1, get_fields("app.test", extra=[("connection", "keep-alive")]))
            self.assertEqual(c.response(1), ("reset", PROTOCOL_ERROR, b""))
            c.headers(3, get_fields("app.test", extra=[("upgrade", "websocket")]))
            self.assertEqual(c.response(3), ("reset", PROTOCOL_ERROR, b""))
            c.headers(5, get_fields("app.test", extra=[("x-ok", "1")]))
            self.assertEqual(c.response(5)[0], 200)  # the connection goes on
        finally:
            c.close()
        self.assert_served()

    def test_header_list_bound_431(self):
        c = raw_h2(P.http_port)
        try:
            big = [(f"x-big-{i}", "v" * 2000) for i in range(20)]  # 40 KB > 32 KiB
            c.headers(1, get_fields("app.test", extra=big))
            status, _, _ = c.response(1)
            self.assertEqual(status, 431)
        finally:
            c.close()
        self.assert_served()

    def test_max_concurrent_streams(self):
        c = raw_h2(P.http_port)
        try:
            c.until(lambda f: f[0] == SETTINGS and not f[1] & ACK)
            self.assertEqual(c.server_settings.get(0x3), 128)  # SETTINGS_MAX_CONCURRENT_STREAMS
            # 129 requests whose bodies never come: the last one is refused.
            for i in range(129):
                c.headers(1 + 2 * i, get_fields("app.test", "/hold", "POST",
                                                [("content-length", "10")]), end_stream=False)
            # RFC 9113 5.1.2: refused as a stream error, or (nghttp2, once the limit is
            # acknowledged) as a connection error whose last stream is the 128th.
            f = c.until(lambda f: f[0] in (RST_STREAM, GOAWAY))
            self.assertIsNotNone(f)
            if f[0] == RST_STREAM:
                self.assertEqual(f[2], 1 + 2 * 128)
                self.assertIn(int.from_bytes(f[3], "big"), (REFUSED_STREAM, PROTOCOL_ERROR))
            else:
                self.assertEqual(int.from_bytes(f[3][0:4], "big") & 0x7FFFFFFF, 1 + 2 * 127)
                self.assertEqual(int.from_bytes(f[3][4:8], "big"), PROTOCOL_ERROR)
            self.assertFalse(any(s.get("end") and s["end"][0] == "reset"
                                 for sid, s in c.streams.items() if sid < 1 + 2 * 128))
        finally:
            c.close()
        self.assert_served()

    def test_rapid_reset_gets_goaway(self):
        # CVE-2023-44487: streams opened and cancelled at once, without limit.
        c = raw_h2(P.http_port)
        try:
            out = b""
            for i in range(600):
                sid = 1 + 2 * i
                out += frame(HEADERS, END_STREAM | END_HEADERS, sid, c.enc.encode(get_fields("app.test", "/r")))
                out += frame(RST_STREAM, 0, sid, struct.pack(">I", 0x8))  # CANCEL
            try:
                c.send(out)
            except (BrokenPipeError, ConnectionResetError):
                pass
            f = c.until(lambda f: f[0] == GOAWAY)
            self.assertIsNotNone(f, "no GOAWAY")
            self.assertEqual(int.from_bytes(f[3][4:8], "big"), ENHANCE_YOUR_CALM)
        finally:
            c.close()
        self.assert_served()

    def test_continuation_flood_is_bounded(self):
        # CVE-2024-28182 class: a header block spread over endless CONTINUATION frames.
        c = raw_h2(P.http_port)
        try:
            block = c.enc.encode(get_fields("app.test"))
            out = frame(HEADERS, END_STREAM, 1, block)
            for i in range(2000):
                out += frame(CONTINUATION, 0, 1, c.enc.encode([(f"x-{i}", "y")]))
            try:
                c.send(out)
            except (BrokenPipeError, ConnectionResetError):
                pass
            f = c.until(lambda f: f[0] == GOAWAY)
            # The connection ends (GOAWAY, or closed) long before 2000 frames are taken.
            if f is not None:
                self.assertNotEqual(int.from_bytes(f[3][4:8], "big"), 0)
            self.assertIsNone(c.until(lambda f: False))
        finally:
            c.close()
        self.assert_served()

    def test_idle_connection_closed(self):
        # No request within the client header timeout (2 s here): GOAWAY NO_ERROR, then close.
        c = raw_h2(P.http_port)
        try:
            f = c.until(lambda f: f[0] == GOAWAY)
            self.assertIsNotNone(f)
            self.assertEqual(int.from_bytes(f[3][4:8], "big"), 0)
            self.assertIsNone(c.until(lambda f: False))
        finally:
            c.close()
        # After an answered request, keep-alive (2 s here) applies the same way.
        c = raw_h2(P.http_port)
        try:
            c.headers(1, get_fields("app.test"))
            self.assertEqual(c.response(1)[0], 200)
            f = c.until(lambda f: f[0] == GOAWAY)
            self.assertIsNotNone(f)
            self.assertEqual(int.from_bytes(f[3][0:4], "big"), 1)  # last stream processed
            self.assertIsNone(c.until(lambda f: False))
        finally:
            c.close()

    def test_unfinished_header_block_is_timed_out(self):
        # A HEADERS frame without END_HEADERS and no CONTINUATION after it: no stream is
        # served, so the client header timeout (2 s here) ends the connection.
        c = raw_h2(P.http_port)
        try:
            c.send(frame(HEADERS, END_STREAM, 1, c.enc.encode(get_fields("app.test"))))
            self.assertIsNone(c.until(lambda f: False))  # the server closes the connection
            self.assertIsNone(c.streams.get(1, {}).get("end"))
        finally:
            c.close()
        self.assert_served()

    def test_ping_flood_is_bounded(self):
        # A client that sends PINGs and never reads the ACKs: the ACKs waiting to be written
        # are bounded (nghttp2's max outbound ACKs), then the connection is closed.
        c = raw_h2(P.http_port, rcvbuf=4096)
        sent = 0
        try:
            pings = b"".join(frame(PING, 0, 0, struct.pack(">Q", i)) for i in range(1000))
            try:
                # Far more ACKs than the kernel's socket buffers hold (17 bytes each).
                for _ in range(2000):
                    c.send(pings)
                    sent += 1000
            except (BrokenPipeError, ConnectionResetError, socket.timeout):
                pass
            acks = 0
            while c.until(lambda f: f[0] == PING and f[1] & ACK) is not None:
                acks += 1
            self.assertLess(acks, sent)
        finally:
            c.close()
        self.assert_served()


if __name__ == "__main__":
    unittest.main()
