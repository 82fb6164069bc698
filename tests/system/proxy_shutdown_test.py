#!/usr/bin/python3
"""Graceful shutdown: on SIGTERM /healthz fails at once, the listener keeps serving for
--shutdown-delay and then closes, an in-flight request finishes (its response says
Connection: close), idle keep-alive connections are closed, the process exits 0; past
--shutdown-grace the remaining connections are cut and the process still exits 0."""

import os
import signal
import socket
import sys
import threading
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402


class shutdown(unittest.TestCase):
    def test_in_flight_requests_finish(self):
        up = h.Upstream.start("sd")
        p = h.Portico.start(h.simple_config(h.temp_dir(), [up]), "--workers", "2",
                            "--shutdown-delay", "1s", "--shutdown-grace", "30s")
        try:
            idle = h.Conn(p.http_port)
            self.assertEqual(idle.request("GET", "/", host="app.test").status, 200)
            busy = h.Conn(p.http_port)
            busy.send(h.build_request("GET", "/delay/2500", host="app.test"))
            result = {}

            def read():
                result["r"] = busy.read_response()

            t = threading.Thread(target=read)
            t.start()
            h.wait_until(lambda: p.metric("portico_client_connections") == 2, timeout=10)
            p.send_signal(signal.SIGTERM)
            h.wait_until(lambda: h.request(p.admin_port, "GET", "/healthz").status == 500,
                         timeout=5)
            # During the delay new requests are still served.
            self.assertEqual(h.request(p.http_port, "GET", "/", host="app.test").status, 200)
            t.join(30)
            r = result["r"]
            self.assertEqual(r.status, 200)
            self.assertEqual((r.header("connection") or "").lower(), "close")
            self.assertTrue(idle.closed_by_peer(timeout=10))
            self.assertEqual(p.wait(30), 0)
            with self.assertRaises(OSError):
                socket.create_connection(("127.0.0.1", p.http_port), timeout=2).close()
        finally:
            p.stop()
            up.stop()

    def test_grace_period_cuts_what_remains(self):
        up = h.Upstream.start("sg")
        p = h.Portico.start(h.simple_config(h.temp_dir(), [up]), "--workers", "1",
                            "--shutdown-grace", "1s")
        try:
            c = h.Conn(p.http_port, timeout=30)
            c.send(h.build_request("GET", "/delay/20000", host="app.test"))
            h.wait_until(lambda: p.metric("portico_client_connections") == 1, timeout=10)
            p.send_signal(signal.SIGTERM)
            self.assertTrue(c.closed_by_peer(timeout=15))
            self.assertEqual(p.wait(30), 0)
        finally:
            p.stop()
            up.stop()


if __name__ == "__main__":
    unittest.main(verbosity=2)
