#!/usr/bin/python3
"""Bodies of every framing and size pass byte-exact, both ways, whether they go socket -> pipe
-> socket inside the kernel (splice: Content-Length with 64 KiB or more left, plain TCP on both
sides) or through user space (chunked, TLS clients, --body-splice=false, buffered requests).
A real upstream (threads, standard library) decodes what it receives, Content-Length or
chunked, and reports its length and SHA-256; it answers generated bodies with either framing.
Peers that close mid-body: a client that stops halfway through its request body leaves the
upstream with a truncated request and never a complete one; an upstream that stops halfway
through its response leaves the client with the head, the bytes sent and a closed connection;
an upstream that stops reading a request body gets the client a 502 or a closed connection;
a client that stalls mid-body past --client-body-timeout is answered 408.
Each time the worker (one) serves the next request, and the same cases give the same answers
and log lines with --body-splice=false."""

import hashlib
import json
import os
import random
import socket
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402
import tls_support as t  # noqa: E402
from loopback_server import LoopbackServer  # noqa: E402

MIB = 1 << 20
SIZES = (0, 1, 64 * 1024 - 1, 64 * 1024, MIB, 16 * MIB + 3)
STREAM = ("--proxy-request-buffering=false", "--max-body-size", "0")

_bodies = {}


def body(n, seed):
    """n bytes from a seeded generator (every size and seed a different body)."""
    key = (n, seed)
    if key not in _bodies:
        _bodies[key] = random.Random(seed * 1000003 + n).randbytes(n)
    return _bodies[key]


def sha(b):
    return hashlib.sha256(b).hexdigest()


def chunked(data, seed):
    """`data` in chunks of varied sizes (1 byte to 100 KiB), then the last chunk."""
    rnd = random.Random(seed)
    out, i = [], 0
    while i < len(data):
        n = min(len(data) - i, rnd.choice((1, 7, 4096, 65535, 65536, 100 * 1024)))
        out.append(b"%x\r\n" % n + data[i:i + n] + b"\r\n")
        i += n
    out.append(b"0\r\n\r\n")
    return b"".join(out)


class BodyUpstream(LoopbackServer):
    """HTTP/1.1 keep-alive upstream. Every request's body is read (Content-Length or chunked)
    and recorded as (path, bytes received, sha256, complete). Paths:
      /sink                    200, JSON {"len", "sha"} of the body received
      /gen/N/cl|chunked/SEED   200 with body(N, SEED) in that framing
      /cut/N/K                 Content-Length N, then K bytes and close
      /drop/K                  reads K bytes of the body, then closes without answering"""

    def __init__(self):
        self.log = []
        self.lock = threading.Lock()
        super().__init__(64)
        self.start()


    def records(self, path):
        with self.lock:
            return [r for r in self.log if r[0] == path]


    def _serve(self, c):
        c.settimeout(60)
        r = _Reader(c)
        try:
            while True:
                head = r.until(b"\r\n\r\n")
                if head is None:
                    return
                lines = head.decode("latin-1").split("\r\n")
                path = lines[0].split(" ")[1]
                hdrs = {k.strip().lower(): v.strip() for k, v in
                        (ln.split(":", 1) for ln in lines[1:] if ":" in ln)}
                limit = int(path.split("/")[2]) if path.startswith("/drop/") else None
                got, complete = self._body(r, hdrs, limit)
                with self.lock:
                    self.log.append((path, len(got), sha(got), complete))
                if not complete or limit is not None:
                    return
                if not self._answer(c, path, got):
                    return
        except OSError:
            return
        finally:
            c.close()

    @staticmethod
    def _body(r, hdrs, limit):
        """(bytes, complete): the request body, or what came of it before EOF / `limit`."""
        parts = []
        if "chunked" in hdrs.get("transfer-encoding", "").lower():
            while True:
                line = r.until(b"\r\n")
                if line is None:
                    return b"".join(parts), False
                n = int(line.split(b";")[0], 16)
                if n == 0:
                    r.until(b"\r\n")
                    return b"".join(parts), True
                piece = r.exact(n)
                if piece is None or r.exact(2) is None:
                    return b"".join(parts) + (r.rest() if piece is None else piece), False
                parts.append(piece)
        n = int(hdrs.get("content-length", "0"))
        if limit is not None:
            return r.exact(min(n, limit)) or b"", False
        got = r.exact(n)
        return (got, True) if got is not None else (r.rest(), False)

    @staticmethod
    def _answer(c, path, got):
        seg = path.split("/")
        if seg[1] == "sink":
            out = json.dumps({"len": len(got), "sha": sha(got)}).encode()
            c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(out) + out)
        elif seg[1] == "gen":
            data = body(int(seg[2]), int(seg[4]))
            if seg[3] == "cl":
                c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(data))
                c.sendall(data)
            else:
                c.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
                c.sendall(chunked(data, int(seg[4])))
        elif seg[1] == "cut":
            n, k = int(seg[2]), int(seg[3])
            c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % n)
            c.sendall(body(n, 9)[:k])
            return False
        return True


class _Reader:
    def __init__(self, sock):
        self.sock, self.buf = sock, bytearray()

    def _fill(self):
        data = self.sock.recv(1 << 20)
        if not data:
            return False
        self.buf += data
        return True

    def until(self, sep):
        while True:
            i = self.buf.find(sep)
            if i >= 0:
                out = bytes(self.buf[:i])
                del self.buf[:i + len(sep)]
                return out
            if not self._fill():
                return None

    def exact(self, n):
        while len(self.buf) < n:
            if not self._fill():
                return None
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out

    def rest(self):
        out = bytes(self.buf)
        self.buf.clear()
        return out


def config(up, tls_cert=None):
    d = h.temp_dir()
    h.write_manifests(d, "class.yaml", h.ingress_class())
    docs = [h.service("app", 80, [("127.0.0.1", up.port)])]
    if tls_cert is None:
        docs.append(h.ingress("app", [("app.test", "/", "Prefix", "app", 80)]))
    else:
        docs += [t.tls_secret("app-tls", tls_cert),
                 t.tls_ingress("app", [("app.test", "/", "Prefix", "app", 80)],
                               tls=[(["app.test"], "app-tls")])]
    h.write_manifests(d, "app.yaml", *docs)
    return d


def post(c, path, data, framing, seed):
    """Sends a POST with `data` in that framing (in 256 KiB writes); returns the response."""
    if framing == "cl":
        head = b"POST %s HTTP/1.1\r\nHost: app.test\r\nContent-Length: %d\r\n\r\n" % (
            path.encode(), len(data))
        wire = data
    else:
        head = b"POST %s HTTP/1.1\r\nHost: app.test\r\nTransfer-Encoding: chunked\r\n\r\n" % (
            path.encode())
        wire = chunked(data, seed)
    c.sock.sendall(head)
    for i in range(0, len(wire), 256 * 1024):
        c.sock.sendall(wire[i:i + 256 * 1024])
    return c.read_response()


def pipe_fds(pid):
    """Pipe descriptors the process holds (a worker keeps its splice pipes between bodies)."""
    fd_dir = f"/proc/{pid}/fd"
    n = 0
    for fd in os.listdir(fd_dir):
        try:
            n += os.readlink(os.path.join(fd_dir, fd)).startswith("pipe:")
        except OSError:
            pass
    return n


def access_records(p, path, count=1):
    def found():
        recs = [json.loads(ln) for ln in list(p.stdout_lines) if ln.startswith("{")]
        recs = [r for r in recs if r["path"] == path]
        return recs if len(recs) >= count else None
    h.wait_until(found, timeout=30)
    return found()


class exact_bodies(unittest.TestCase):
    """Every size and framing, both ways, over the splice and the user-space paths."""

    def run_both_ways(self, conn_factory, seed0):
        seed = seed0
        with conn_factory() as c:
            for framing in ("cl", "chunked"):
                for n in SIZES:
                    seed += 1
                    data = body(n, seed)
                    what = f"{framing} {n}"
                    r = post(c, "/sink", data, framing, seed)
                    self.assertEqual(r.status, 200, what)
                    self.assertEqual(r.json(), {"len": n, "sha": sha(data)}, what)
                    r = c.request("GET", f"/gen/{n}/{framing}/{seed}", host="app.test")
                    self.assertEqual(r.status, 200, what)
                    self.assertEqual((len(r.body), sha(r.body)), (n, sha(data)), what)
            # 1 MiB up and 1 MiB down in one exchange (the bench's bodies case).
            data = body(MIB, 77)
            r = post(c, f"/gen/{MIB}/cl/78", data, "cl", 77)
            self.assertEqual(r.status, 200)
            self.assertEqual(sha(r.body), sha(body(MIB, 78)))

    def check(self, flags, tls=False, spliced=False):
        up = BodyUpstream()
        cert = t.CA().issue("app.test") if tls else None
        d = config(up, cert)
        p = t.start_portico(d, "--workers", "1", *flags)
        try:
            pipes = pipe_fds(p.pid)
            if tls:
                self.run_both_ways(lambda: t.TLSConn(p.https_port, "app.test", timeout=60), 100)
            else:
                self.run_both_ways(lambda: h.Conn(p.http_port, timeout=60), 200)
            # Every request body reached the upstream whole.
            self.assertTrue(all(rec[3] for rec in up.log), up.log)
            self.assertEqual(len(up.records(f"/gen/{MIB}/cl/78")), 1)
            # The access log counts every byte of the bodies: 16 MiB + 3 each way.
            big = access_records(p, f"/gen/{16 * MIB + 3}/cl/{(100 if tls else 200) + 6}")[0]
            self.assertEqual(big["status"], 200)
            self.assertGreater(big["bytes_out"], 16 * MIB + 3)
            sink = [r for r in access_records(p, "/sink", 12) if r["bytes_in"] > 16 * MIB + 3]
            self.assertEqual(len(sink), 2)  # Content-Length and chunked (framing included)
            # The worker kept the pipe its spliced bodies went through (and only then has one).
            self.assertEqual(pipe_fds(p.pid) > pipes, spliced)
        finally:
            p.stop()
            up.stop()

    def test_plain_streamed_requests_and_responses(self):
        self.check(STREAM, spliced=True)

    def test_plain_buffered_requests(self):
        # proxy-request-buffering on: the body goes to memory and a temporary file first.
        self.check(("--max-body-size", "0"), spliced=True)  # the responses are spliced

    def test_plain_with_splice_off(self):
        self.check(STREAM + ("--body-splice=false",))

    def test_tls_client(self):
        self.check(STREAM, tls=True)


class peers_closing_mid_body(unittest.TestCase):
    """The same answers with and without splice; the worker serves on afterwards."""

    def start(self, splice, *flags):
        up = BodyUpstream()
        p = t.start_portico(config(up), "--workers", "1", "--access-log=true", *STREAM,
                            "--body-splice=" + ("true" if splice else "false"), *flags)
        return up, p

    def next_request_works(self, p):
        with h.Conn(p.http_port, timeout=30) as c:
            r = c.request("GET", f"/gen/{MIB}/cl/5", host="app.test")
            self.assertEqual((r.status, sha(r.body)), (200, sha(body(MIB, 5))))

    def client_stops(self, splice):
        up, p = self.start(splice)
        try:
            data = body(4 * MIB, 3)
            with socket.create_connection(("127.0.0.1", p.http_port), timeout=30) as s:
                s.sendall(b"POST /sink HTTP/1.1\r\nHost: app.test\r\nContent-Length: %d\r\n\r\n"
                          % len(data) + data[:MIB + 5])
                time.sleep(0.3)  # then the close (no timing assertion)
            h.wait_until(lambda: up.records("/sink") or None, timeout=30)
            (path, got, _, complete), = up.records("/sink")
            self.assertFalse(complete)  # never a whole request of another length
            self.assertLessEqual(got, MIB + 5)
            rec, = access_records(p, "/sink")
            self.next_request_works(p)
            return rec["status"], rec["bytes_in"] > MIB
        finally:
            p.stop()
            up.stop()

    def test_client_closes_mid_request_body(self):
        on = self.client_stops(True)
        off = self.client_stops(False)
        self.assertEqual(on, off)

    def client_stalls(self, splice):
        up, p = self.start(splice, "--client-body-timeout", "1s")
        try:
            data = body(4 * MIB, 6)
            with socket.create_connection(("127.0.0.1", p.http_port), timeout=30) as s:
                s.sendall(b"POST /sink HTTP/1.1\r\nHost: app.test\r\nContent-Length: %d\r\n\r\n"
                          % len(data) + data[:MIB])
                c = h.Conn.__new__(h.Conn)
                c.sock, c.buf = s, b""
                status = c.read_response().status  # no more bytes: the body deadline passes
            h.wait_until(lambda: up.records("/sink") or None, timeout=30)
            (path, got, _, complete), = up.records("/sink")
            self.assertFalse(complete)
            rec, = access_records(p, "/sink")
            self.next_request_works(p)
            return status, rec["status"], rec["bytes_in"] > MIB
        finally:
            p.stop()
            up.stop()

    def test_client_stalling_mid_request_body_is_answered_408(self):
        on = self.client_stalls(True)
        off = self.client_stalls(False)
        self.assertEqual(on, off)
        self.assertEqual(on, (408, 408, True))

    def upstream_cuts(self, splice):
        up, p = self.start(splice)
        try:
            n, k = 4 * MIB, MIB + 7
            with socket.create_connection(("127.0.0.1", p.http_port), timeout=30) as s:
                s.sendall(h.build_request("GET", f"/cut/{n}/{k}", host="app.test"))
                got = b""
                while True:
                    data = s.recv(1 << 20)  # EOF or reset, not a timeout
                    if not data:
                        break
                    got += data
            head, _, rest = got.partition(b"\r\n\r\n")
            self.assertIn(b"Content-Length: %d" % n, head)
            self.assertEqual(rest, body(n, 9)[:k])
            rec, = access_records(p, f"/cut/{n}/{k}")
            self.next_request_works(p)
            return rec["status"], rec["bytes_out"] - len(head) - 4
        finally:
            p.stop()
            up.stop()

    def test_upstream_closes_mid_response_body(self):
        on = self.upstream_cuts(True)
        off = self.upstream_cuts(False)
        self.assertEqual(on, off)
        self.assertEqual(on[1], MIB + 7)  # bytes_out: what the client got

    def upstream_stops_reading(self, splice):
        up, p = self.start(splice)
        try:
            data = body(8 * MIB, 4)
            status = None
            with socket.create_connection(("127.0.0.1", p.http_port), timeout=30) as s:
                try:
                    s.sendall(b"POST /drop/%d HTTP/1.1\r\nHost: app.test\r\nContent-Length: %d"
                              b"\r\n\r\n" % (512 * 1024, len(data)) + data)
                except OSError:
                    pass  # the proxy closed while the body was still coming
                c = h.Conn.__new__(h.Conn)
                c.sock, c.buf = s, b""
                try:
                    status = c.read_response().status
                except (OSError, ValueError, IndexError):
                    status = None  # closed (or reset) before an answer could be read
            self.assertIn(status, (502, None))
            (path, got, _, complete), = up.records(f"/drop/{512 * 1024}")
            self.assertEqual((got, complete), (512 * 1024, False))
            rec, = access_records(p, f"/drop/{512 * 1024}")
            self.next_request_works(p)
            return rec["status"]
        finally:
            p.stop()
            up.stop()

    def test_upstream_closes_mid_request_body(self):
        on = self.upstream_stops_reading(True)
        off = self.upstream_stops_reading(False)
        self.assertEqual((on, off), (502, 502))


if __name__ == "__main__":
    unittest.main(verbosity=2)
