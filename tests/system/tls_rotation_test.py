#!/usr/bin/python3
"""Certificate rotation: the Secret's file is rewritten with a new certificate while clients
keep making new HTTPS connections (bounded load); no handshake and no request fails, new
handshakes get the new certificate, and a keep-alive connection opened before the change
keeps working on the certificate it negotiated. A Secret that becomes broken only moves its
own host to the default certificate."""

import os
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402
import tls_support as t  # noqa: E402

THREADS = 4
MAX_CONNECTIONS = 400   # per thread
MAX_SECONDS = 60.0      # per thread, whatever happens


def write_config(d, up, cert_a, cert_b):
    h.write_manifests(d, "class.yaml", h.ingress_class())
    h.write_manifests(
        d, "app.yaml", h.service("app", 80, [("127.0.0.1", up.port)]),
        t.tls_ingress("app", [("a.test", "/", "Prefix", "app", 80),
                              ("b.test", "/", "Prefix", "app", 80)],
                      tls=[(["a.test"], "a-tls"), (["b.test"], "b-tls")]))
    write_secrets(d, cert_a, cert_b)


def write_secrets(d, cert_a, cert_b_or_none):
    b = (t.tls_secret("b-tls", cert_b_or_none) if cert_b_or_none is not None
         else t.tls_secret("b-tls", cert_pem="-----BEGIN CERTIFICATE-----\nbroken\n",
                           key_pem="nope"))
    h.write_manifests(d, "secrets.yaml", t.tls_secret("a-tls", cert_a), b)


class load:
    """Threads that each open HTTPS connections to a.test (verified against the CA) and send
    two keep-alive requests on each, until stopped or bounded out."""

    def __init__(self, port, ca):
        self.port, self.ca = port, ca
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.seen = {}       # certificate DER -> handshakes
        self.failures = []
        self.requests = 0
        self.threads = [threading.Thread(target=self.run, daemon=True) for _ in range(THREADS)]

    def run(self):
        deadline = time.monotonic() + MAX_SECONDS
        for _ in range(MAX_CONNECTIONS):
            if self.stop.is_set() or time.monotonic() > deadline:
                return
            try:
                with t.TLSConn(self.port, "a.test", ca=self.ca) as c:
                    der = c.peer_der()
                    statuses = [c.request("GET", "/r", host="a.test").status for _ in range(2)]
                with self.lock:
                    self.seen[der] = self.seen.get(der, 0) + 1
                    if statuses != [200, 200]:
                        self.failures.append(f"statuses {statuses}")
                    self.requests += 2
            except Exception as e:  # noqa: BLE001 - every failure is counted
                with self.lock:
                    self.failures.append(repr(e))

    def start(self):
        for th in self.threads:
            th.start()

    def handshakes(self, der):
        with self.lock:
            return self.seen.get(der, 0)

    def finish(self):
        self.stop.set()
        for th in self.threads:
            th.join(MAX_SECONDS + 10)


class rotation(unittest.TestCase):
    def test_rotation_under_load_loses_no_handshake(self):
        ca = t.CA()
        old_a, new_a = ca.issue("a.test"), ca.issue("a.test")
        cert_b = ca.issue("b.test")
        up = h.Upstream.start("plain", threads=2)
        d = h.temp_dir()
        write_config(d, up, old_a, cert_b)
        p = t.start_portico(d, "--access-log=false")
        try:
            early = t.TLSConn(p.https_port, "a.test", ca=ca)
            self.assertEqual(early.peer_der(), old_a.der)
            self.assertEqual(early.request("GET", "/", host="a.test").status, 200)

            ld = load(p.https_port, ca)
            ld.start()
            try:
                h.wait_until(lambda: ld.handshakes(old_a.der) >= 20, timeout=30)
                write_secrets(d, new_a, cert_b)
                h.wait_until(lambda: ld.handshakes(new_a.der) >= 20, timeout=30)
            finally:
                ld.finish()
            self.assertEqual(ld.failures, [])
            self.assertEqual(set(ld.seen), {old_a.der, new_a.der})
            # New handshakes only get the new certificate from now on.
            self.assertEqual(t.peer_certificate(p.https_port, "a.test"), new_a.der)

            # The connection opened before the change was not dropped.
            self.assertEqual(early.request("GET", "/after", host="a.test").status, 200)
            self.assertEqual(early.peer_der(), old_a.der)
            early.close()

            # The metric follows the new certificate.
            h.wait_until(lambda: p.metric("nginx_ingress_controller_ssl_expire_time_seconds",
                                          host="a.test") == new_a.not_after, timeout=10)
        finally:
            p.stop()
            up.stop()

    def test_secret_turning_broken_moves_only_its_host_to_the_default(self):
        ca = t.CA()
        cert_a, cert_b = ca.issue("a.test"), ca.issue("b.test")
        up = h.Upstream.start("plain")
        d = h.temp_dir()
        write_config(d, up, cert_a, cert_b)
        p = t.start_portico(d)
        try:
            self.assertEqual(t.peer_certificate(p.https_port, "b.test"), cert_b.der)
            write_secrets(d, cert_a, None)
            h.wait_until(lambda: t.subject_cn(t.peer_certificate(p.https_port, "b.test"))
                         == t.FAKE_CN, timeout=30)
            self.assertEqual(t.peer_certificate(p.https_port, "a.test"), cert_a.der)
            self.assertEqual(t.curl(p.https_port, "a.test", ca=ca)[0], 200)
            self.assertEqual(t.https_request(p.https_port, "b.test").status, 200)
        finally:
            p.stop()
            up.stop()


if __name__ == "__main__":
    unittest.main(verbosity=2)
