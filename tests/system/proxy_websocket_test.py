#!/usr/bin/python3
"""WebSocket through the proxy with a real client (python3-websockets): the Upgrade is
forwarded, after the upstream's 101 messages flow both ways, the tunnel survives a
configuration change, and an idle tunnel is closed after --tunnel-idle-timeout."""

import asyncio
import os
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402
import websockets  # noqa: E402  (Debian python3-websockets)

UP = None
P = None
PIDLE = None
CFG = None


def setUpModule():
    global UP, P, PIDLE, CFG
    UP = h.Upstream.start("ws")
    CFG = h.simple_config(h.temp_dir(), [UP])
    P = h.Portico.start(CFG, "--workers", "2")
    PIDLE = h.Portico.start(h.simple_config(h.temp_dir(), [UP]), "--workers", "1",
                            "--tunnel-idle-timeout", "1s")


def tearDownModule():
    for p in (P, PIDLE, UP):
        if p:
            p.stop()


def ws_connect(port):
    return websockets.connect(f"ws://app.test:{port}/ws", host="127.0.0.1", port=port,
                              max_size=None, open_timeout=10)


class websocket(unittest.TestCase):
    def test_echo_text_and_binary(self):
        async def run():
            async with ws_connect(P.http_port) as ws:
                await ws.send("hello")
                self.assertEqual(await asyncio.wait_for(ws.recv(), 10), "hello")
                big = os.urandom(1 << 20)
                await ws.send(big)
                self.assertEqual(await asyncio.wait_for(ws.recv(), 30), big)
        asyncio.run(run())

    def test_tunnel_survives_configuration_change(self):
        async def run():
            async with ws_connect(P.http_port) as ws:
                await ws.send("before")
                self.assertEqual(await asyncio.wait_for(ws.recv(), 10), "before")
                # Add a route: a new Snapshot reaches every worker.
                h.write_manifests(CFG, "extra.yaml", h.service("other", 80, [("127.0.0.1", UP.port)]),
                                  h.ingress("other", [("other.test", "/", "Prefix", "other", 80)]))
                deadline = time.monotonic() + 20
                while time.monotonic() < deadline:
                    if h.request(P.http_port, "GET", "/", host="other.test").status == 200:
                        break
                    await asyncio.sleep(0.05)
                else:
                    self.fail("new route never served")
                await ws.send("after")
                self.assertEqual(await asyncio.wait_for(ws.recv(), 10), "after")
        asyncio.run(run())

    def test_idle_tunnel_is_closed(self):
        async def run():
            async with ws_connect(PIDLE.http_port) as ws:
                await ws.send("x")
                self.assertEqual(await asyncio.wait_for(ws.recv(), 10), "x")
                ws.ping_interval = None
                with self.assertRaises(websockets.ConnectionClosed):
                    await asyncio.wait_for(ws.recv(), 15)
        asyncio.run(run())

    def test_upgrade_headers_reach_the_upstream(self):
        with h.Conn(P.http_port) as c:
            c.send(b"GET /ws HTTP/1.1\r\nHost: app.test\r\nConnection: Upgrade\r\n"
                   b"Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n"
                   b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n")
            r = c.read_response()
            self.assertEqual(r.status, 101)
            self.assertEqual((r.header("upgrade") or "").lower(), "websocket")
            self.assertEqual(r.header("sec-websocket-accept"), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")


if __name__ == "__main__":
    unittest.main(verbosity=2)
