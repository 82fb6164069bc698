#!/usr/bin/python3
"""Large bodies stream through fixed buffers: a 1 GiB upload (Content-Length and chunked) and a
1 GiB download pass through the proxy while its RSS grows by less than 16 MiB. The sanitizer
build (PORTICO_BUILD_VARIANT=asan) moves 64 MiB instead to stay quick."""

import os
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402

SIZE = (64 << 20) if h.sanitized() else (1 << 30)
RSS_LIMIT_KIB = 16 * 1024
P = None
UP = None


def setUpModule():
    global P, UP
    UP = h.Upstream.start("bodies")
    d = h.simple_config(h.temp_dir(), [UP])
    P = h.Portico.start(d, "--workers", "1", "--max-body-size", "0", "--access-log", "false")


def tearDownModule():
    for p in (P, UP):
        if p:
            p.stop()


class rss_watch:
    """Samples the proxy's VmRSS while a transfer runs; peak growth over the start value."""

    def __init__(self, pid):
        self.pid = pid
        self.start = h.rss_kib(pid)
        self.peak = self.start
        self.stop = False
        self.t = threading.Thread(target=self.run, daemon=True)
        self.t.start()

    def run(self):
        while not self.stop:
            self.peak = max(self.peak, h.rss_kib(self.pid))
            time.sleep(0.02)

    def growth(self):
        self.stop = True
        self.t.join()
        self.peak = max(self.peak, h.rss_kib(self.pid))
        return self.peak - self.start


def warm_up():
    # Buffers every request path uses exist before the baseline is taken.
    with h.Conn(P.http_port) as c:
        c.request("POST", "/", body=b"x" * 300000, host="app.test")
        c.request("GET", "/bytes/300000", host="app.test")


class bodies(unittest.TestCase):
    def upload(self, chunked):
        warm_up()
        w = rss_watch(P.pid)
        block = b"\0" * (1 << 20)
        with h.Conn(P.http_port, timeout=120) as c:
            if chunked:
                c.send(b"POST /upload HTTP/1.1\r\nHost: app.test\r\nTransfer-Encoding: chunked\r\n\r\n")
                frame = b"%x\r\n" % len(block) + block + b"\r\n"
                for _ in range(SIZE // len(block)):
                    c.sock.sendall(frame)
                c.sock.sendall(b"0\r\n\r\n")
            else:
                c.send(b"POST /upload HTTP/1.1\r\nHost: app.test\r\nContent-Length: %d\r\n\r\n" % SIZE)
                for _ in range(SIZE // len(block)):
                    c.sock.sendall(block)
            r = c.read_response()
        growth = w.growth()
        self.assertEqual(r.status, 200)
        self.assertEqual(r.json()["body_bytes"], SIZE)
        self.assertLess(growth, RSS_LIMIT_KIB, f"RSS grew by {growth} KiB")

    def test_upload_content_length(self):
        self.upload(chunked=False)

    def test_upload_chunked(self):
        self.upload(chunked=True)

    def download(self, path):
        warm_up()
        w = rss_watch(P.pid)
        got = [0]

        def sink(b):
            got[0] += len(b)

        with h.Conn(P.http_port, timeout=120) as c:
            c.send(h.build_request("GET", path, host="app.test"))
            r = c.read_response(sink=sink)
        growth = w.growth()
        self.assertEqual(r.status, 200)
        self.assertEqual(got[0], SIZE)
        self.assertLess(growth, RSS_LIMIT_KIB, f"RSS grew by {growth} KiB")

    def test_download_content_length(self):
        self.download(f"/bytes/{SIZE}")

    def test_download_chunked(self):
        self.download(f"/chunked/{SIZE}")


if __name__ == "__main__":
    unittest.main(verbosity=2)
