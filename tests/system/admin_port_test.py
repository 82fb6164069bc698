#!/usr/bin/python3
"""The admin port (/healthz, /metrics, /debug/*) against the real binary.

Probes: /healthz stays answered while a thousand idle or slow (half-sent header) connections
are open on the admin port: past the admin connection cap the oldest waiting connection is
closed to make room, and each connection has a short deadline for its request.

Exposure: /debug/* is served only to loopback peers (127.0.0.0/8, ::1) by default;
`--debug-endpoints=all` serves every peer and `--debug-endpoints=off` nobody. A non-loopback
peer needs a non-loopback source address: those tests run in a private network namespace
(`unshare --net --map-root-user`) whose loopback interface also carries 10.255.0.1, so a
connection to 10.255.0.1 comes from 10.255.0.1 and never leaves the namespace."""

import os
import socket
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402

NETNS_ENV = "PORTICO_ADMIN_TEST_IN_NETNS"
OTHER_ADDR = "10.255.0.1"  # inside the private namespace only


def class_only_dir():
    d = h.temp_dir()
    h.write_manifests(d, "class.yaml", h.ingress_class())
    return d


def fd_count(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def healthz_within_attempts(port, attempts=5, addr="127.0.0.1"):
    """The status of the first /healthz answer within `attempts` tries (fresh connections,
    a generous timeout each); the last error if none answered."""
    last = None
    for _ in range(attempts):
        try:
            return h.request(port, "GET", "/healthz", timeout=20, addr=addr).status
        except (OSError, ConnectionError) as e:
            last = e
    return last


class probes(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = class_only_dir()

    def hold(self, port, n, first_bytes=b""):
        conns = []
        try:
            for _ in range(n):
                s = socket.create_connection(("127.0.0.1", port), timeout=30)
                if first_bytes:
                    s.sendall(first_bytes)
                conns.append(s)
        except BaseException:
            for s in conns:
                s.close()
            raise
        return conns

    def test_healthz_is_answered_while_a_thousand_idle_connections_are_open(self):
        p = h.Portico.start(self.dir)
        conns = []
        try:
            base = fd_count(p.pid)
            conns = self.hold(p.admin_port, 1000)
            self.assertEqual(healthz_within_attempts(p.admin_port), 200)
            # Bounded: the admin server keeps at most its cap (256) of them open.
            self.assertLess(fd_count(p.pid), base + 256 + 32)
            self.assertEqual(p.metric("nginx_ingress_controller_config_last_reload_successful"),
                             1)
        finally:
            for s in conns:
                s.close()
            p.stop()

    def test_healthz_is_answered_while_a_thousand_slow_header_connections_are_open(self):
        p = h.Portico.start(self.dir)
        conns = []
        try:
            partial = b"GET /healthz HTTP/1.1\r\nHost: probe\r\nX-Slow: "
            conns = self.hold(p.admin_port, 1000, partial)
            self.assertEqual(healthz_within_attempts(p.admin_port), 200)
            # The newest slow connection was not evicted; its request deadline (a few
            # seconds, not restarted by each byte) closes it without an answer.
            last = conns[-1]
            last.sendall(b"x")
            self.assertTrue(closed_by_peer(last, timeout=60))
        finally:
            for s in conns:
                s.close()
            p.stop()


def closed_by_peer(sock, timeout):
    sock.settimeout(timeout)
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True
    except socket.timeout:
        return False


class debug_access_in_namespace(unittest.TestCase):
    """Runs the `debug_access` tests below in a private network namespace."""

    def test_debug_endpoints_by_peer_address(self):
        if os.environ.get(NETNS_ENV):
            self.skipTest("already inside the namespace")
        argv = ["unshare", "--net", "--map-root-user", "--", sys.executable,
                os.path.abspath(__file__), "debug_access"]
        p = subprocess.run(argv, capture_output=True, text=True, timeout=600,
                           env=dict(os.environ, **{NETNS_ENV: "1"}))
        sys.stderr.write(p.stdout + p.stderr)
        self.assertEqual(p.returncode, 0, "the tests in the network namespace failed (above)")
        self.assertIn("Ran 3 tests", p.stderr)


@unittest.skipUnless(os.environ.get(NETNS_ENV), "run inside a private network namespace")
class debug_access(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        for cmd in (["ip", "link", "set", "lo", "up"],
                    ["ip", "addr", "add", f"{OTHER_ADDR}/32", "dev", "lo"]):
            subprocess.run(cmd, check=True, capture_output=True, timeout=30)
        cls.dir = class_only_dir()
        h.write_manifests(cls.dir, "app.yaml", h.service("secret-svc", 80, [("10.1.2.3", 8080)]),
                          h.ingress("tenant", [("tenant.internal", "/", "Prefix",
                                                "secret-svc", 80)]))

    def start(self, *flags):
        return h.Portico.start(self.dir, "--admin-address", "0.0.0.0", *flags)

    def get(self, p, path, addr):
        return h.request(p.admin_port, "GET", path, timeout=20, addr=addr)

    def test_default_serves_debug_to_loopback_only(self):
        p = self.start()
        try:
            r = self.get(p, "/debug/snapshot", "127.0.0.1")
            self.assertEqual(r.status, 200)
            self.assertIn(b"tenant.internal", r.body)
            r = self.get(p, "/debug/snapshot", OTHER_ADDR)
            self.assertEqual(r.status, 403)
            for secret in (b"tenant.internal", b"10.1.2.3", b"secret-svc"):
                self.assertNotIn(secret, r.body)
            # Probes and scrapes from other addresses are not affected.
            self.assertEqual(self.get(p, "/healthz", OTHER_ADDR).status, 200)
            self.assertEqual(self.get(p, "/metrics", OTHER_ADDR).status, 200)
        finally:
            p.stop()

    def test_all_serves_debug_to_every_peer(self):
        p = self.start("--debug-endpoints=all")
        try:
            r = self.get(p, "/debug/snapshot", OTHER_ADDR)
            self.assertEqual(r.status, 200)
            self.assertIn(b"tenant.internal", r.body)
        finally:
            p.stop()

    def test_off_serves_debug_to_nobody(self):
        p = self.start("--debug-endpoints=off")
        try:
            for addr in ("127.0.0.1", OTHER_ADDR):
                r = self.get(p, "/debug/snapshot", addr)
                self.assertEqual(r.status, 404, addr)
                self.assertNotIn(b"tenant.internal", r.body)
            self.assertEqual(self.get(p, "/healthz", "127.0.0.1").status, 200)
        finally:
            p.stop()


if __name__ == "__main__":
    unittest.main(verbosity=2)
