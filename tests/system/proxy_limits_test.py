#!/usr/bin/python3
"""Resource limits against the real binary.

Out of file descriptors: Portico runs under `prlimit --nofile=64` and clients open more
connections (to the HTTP and the admin port) than it has descriptors for. Accepting must
neither crash nor spin: the process's CPU time over an idle window stays low (utime + stime
from /proc/PID/stat: CPU accounting, not latency), an established keep-alive connection is
still answered, the trouble is logged once rather than per attempt, and when the clients
close, new connections are accepted again.

--max-connections: past it a worker stops accepting (new connections wait in the listen
backlog) until one of its connections closes."""

import os
import socket
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402

FD_LIMIT = 64
IDLE_WINDOW = 3.0  # seconds of CPU accounting while every descriptor is taken


def fd_count(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def cpu_seconds(pid):
    """utime + stime of every thread of `pid` (fields 14 and 15 of /proc/PID/stat)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class out_of_descriptors(unittest.TestCase):
    def test_accepting_backs_off_keeps_serving_and_recovers(self):
        up = h.Upstream.start("fd")
        d = h.simple_config(h.temp_dir(), [up])
        p = h.Portico.start(d, "--workers", "2", "--access-log=false",
                            wrapper=["prlimit", f"--nofile={FD_LIMIT}", "--"])
        held = []
        try:
            ka = h.Conn(p.http_port, timeout=30)
            self.assertEqual(ka.request("GET", "/before", host="app.test").status, 200)
            # More connections than Portico has descriptors: the rest wait in the backlogs.
            for port, n in ((p.http_port, 3 * FD_LIMIT), (p.admin_port, 16)):
                for _ in range(n):
                    held.append(socket.create_connection(("127.0.0.1", port), timeout=30))
            h.wait_until(lambda: fd_count(p.pid) >= FD_LIMIT, timeout=30)

            # The established connection is still served: a local answer, and a proxied one
            # over the upstream connection pooled by its first request.
            self.assertEqual(ka.request("GET", "/", host="unknown.test").status, 404)
            self.assertEqual(ka.request("GET", "/during", host="app.test").status, 200)

            before = cpu_seconds(p.pid)
            time.sleep(IDLE_WINDOW)
            used = cpu_seconds(p.pid) - before
            # A spinning accept loop burns what CPU it gets (1.2 s of this window on a busy
            # 2-core machine, unfixed); backing off costs milliseconds.
            self.assertLess(used, 0.1 * IDLE_WINDOW, f"{used:.2f} s CPU in {IDLE_WINDOW} s")
            self.assertTrue(p.alive())

            for s in held:
                s.close()
            held = []
            h.wait_until(lambda: h.request(p.http_port, "GET", "/after", host="app.test",
                                           timeout=10).status == 200, timeout=60)
            self.assertEqual(h.request(p.admin_port, "GET", "/healthz", timeout=10).status, 200)
            self.assertEqual(ka.request("GET", "/again", host="app.test").status, 200)

            errors = p.metric("portico_accept_errors_total")
            logged = p.count_lines(r"accept.*Too many open files")
            self.assertGreaterEqual(errors, 10)  # retried every 10-100 ms per listener
            self.assertGreaterEqual(logged, 1)
            self.assertLessEqual(logged, 3, p.stderr_text()[-3000:])
            ka.close()
        finally:
            for s in held:
                s.close()
            p.stop()
            up.stop()


class max_connections(unittest.TestCase):
    def test_a_full_worker_stops_accepting_until_a_connection_closes(self):
        up = h.Upstream.start("mc")
        d = h.simple_config(h.temp_dir(), [up])
        p = h.Portico.start(d, "--workers", "1", "--max-connections", "3", "--access-log=false")
        conns = []
        try:
            for i in range(3):
                c = h.Conn(p.http_port, timeout=30)
                conns.append(c)
                self.assertEqual(c.request("GET", f"/{i}", host="app.test").status, 200)
            h.wait_until(lambda: p.metric("portico_accept_paused") == 1, timeout=30)

            waiting = h.Conn(p.http_port, timeout=30)  # the kernel completes the handshake
            waiting.send(h.build_request("GET", "/waiting", host="app.test"))
            waiting.sock.settimeout(1.0)
            with self.assertRaises(socket.timeout):
                waiting.sock.recv(1)
            self.assertEqual(p.metric("portico_client_connections"), 3)
            # The open connections are served as usual.
            self.assertEqual(conns[1].request("GET", "/again", host="app.test").status, 200)

            conns.pop(0).close()
            waiting.sock.settimeout(30)
            self.assertEqual(waiting.read_response().status, 200)
            self.assertEqual(p.metric("portico_client_connections"), 3)
            self.assertEqual(p.metric("portico_accept_paused"), 1)
            waiting.close()
            h.wait_until(lambda: p.metric("portico_accept_paused") == 0, timeout=30)
        finally:
            for c in conns:
                c.close()
            p.stop()
            up.stop()


if __name__ == "__main__":
    unittest.main(verbosity=2)
