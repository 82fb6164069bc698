#!/usr/bin/python3
"""The raw request corpus (tests/data/http/request_corpus.yaml), byte for byte, against the
real binary: each entry's status, whether the connection closes, and that nothing refused
reached the upstream. The same bytes are fed to nginx (the reference peer, in front of the
same upstream): where nginx answers differently the corpus says so and why, so a change in
either is noticed."""

import os
import pathlib
import shutil
import socket
import subprocess
import sys
import unittest

import yaml

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402
import nginx_peer  # noqa: E402

CORPUS = h.source_dir() / "tests" / "data" / "http" / "request_corpus.yaml"
MAX_BODY = 1000
MAX_HEADER = "4k"


def load_corpus():
    entries = yaml.safe_load(CORPUS.read_text())
    for e in entries:
        if "request" in e:
            e["raw"] = e["request"].encode("latin-1")
        else:
            e["raw"] = generate(e["request_generate"])
    return entries


def generate(g):
    head = "GET / HTTP/1.1\r\nHost: app.test\r\n"
    if "fields" in g:
        return (head + "".join(f"X-F{i}: v\r\n" for i in range(g["fields"])) + "\r\n").encode()
    if "field_bytes" in g:
        return (head + "X-Big: " + "a" * g["field_bytes"] + "\r\n\r\n").encode()
    if "chunks_of" in g:
        size = g["chunks_of"]
        chunk = f"{size:x}\r\n".encode() + b"b" * size + b"\r\n"
        return (b"POST / HTTP/1.1\r\nHost: app.test\r\nTransfer-Encoding: chunked\r\n\r\n"
                + chunk * g["chunks"] + b"0\r\n\r\n")
    raise ValueError(f"unknown generator {g}")


def exchange(port, raw, timeout=15):
    """Sends raw bytes on a new connection; returns (status, closed_after, conn); status None
    when no answer came."""
    c = h.Conn(port, timeout=timeout)
    c.send(raw)
    try:
        r = c.read_response()
    except (ConnectionError, socket.timeout) as e:
        c.close()
        return None, True, None
    return r.status, None, c


def still_open(c):
    """The connection serves another request (keep-alive intact after the first answer)."""
    try:
        c.send(b"GET / HTTP/1.1\r\nHost: app.test\r\n\r\n")
        return c.read_response().status == 200
    except (ConnectionError, socket.timeout, OSError):
        return False


NGINX_HTTP = """
  client_max_body_size {max_body};
  large_client_header_buffers 4 {max_header};
  server {{ listen 127.0.0.1:{{port}} default_server; return 404; }}
  server {{
    listen 127.0.0.1:{{port}};
    server_name app.test;
    location / {{
      proxy_pass http://127.0.0.1:{up};
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }}
  }}
"""


def start_nginx(upstream_port):
    return nginx_peer.start(NGINX_HTTP.format(up=upstream_port, max_body=MAX_BODY,
                                              max_header=MAX_HEADER))


class corpus(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.entries = load_corpus()
        cls.up = h.Upstream.start("corpus")
        d = h.temp_dir()
        h.write_manifests(d, "class.yaml", h.ingress_class())
        h.write_manifests(d, "app.yaml", h.service("app", 80, [("127.0.0.1", cls.up.port)]),
                          h.ingress("app", [("app.test", "/", "Prefix", "app", 80)]))
        cls.p = h.Portico.start(d, "--workers", "1", "--max-body-size", str(MAX_BODY),
                                "--max-header-size", MAX_HEADER, "--client-header-timeout", "5s",
                                "--client-body-timeout", "5s")
        cls.nginx, cls.nginx_port = start_nginx(cls.up.port)

    @classmethod
    def tearDownClass(cls):
        for p in (cls.p, cls.nginx, cls.up):
            if p:
                p.stop()

    def upstream_requests(self):
        return self.up.stats()["requests"]

    def test_corpus_has_sources(self):
        names = set()
        for e in self.entries:
            self.assertTrue(e.get("source"), e["name"])
            self.assertNotIn(e["name"], names)
            names.add(e["name"])
        self.assertGreaterEqual(len(self.entries), 50)

    def test_portico_answers_every_entry_as_the_corpus_says(self):
        for e in self.entries:
            with self.subTest(e["name"]):
                before = self.upstream_requests()
                status, closed, c = exchange(self.p.http_port, e["raw"])
                forwarded = self.upstream_requests() - before - 1  # minus the stats request
                self.assertEqual(status, e["status"], e["name"])
                if status >= 400:
                    self.assertEqual(forwarded, 0, "a refused request reached the upstream")
                if c is not None:
                    if e["close"]:
                        self.assertTrue(c.closed_by_peer(timeout=5), "left open")
                    else:
                        self.assertTrue(still_open(c), "not reusable")
                    c.close()

    def test_nginx_answers_every_entry_as_the_corpus_says(self):
        if self.nginx is None:
            self.skipTest("nginx is not installed (deploy/install-deps.sh installs nginx-light)")
        for e in self.entries:
            with self.subTest(e["name"]):
                want = e.get("nginx", {}).get("status", e["status"])
                status, _, c = exchange(self.nginx_port, e["raw"], timeout=5)
                if c is not None:
                    c.close()
                self.assertEqual(status, want, e["name"])


if __name__ == "__main__":
    unittest.main()
