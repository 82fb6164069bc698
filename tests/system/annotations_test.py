#!/usr/bin/python3
"""ingress-nginx annotations and ConfigMap keys against the real binary and real upstreams
(portico-upstream echoes what it received; a scripted upstream answers 502): each supported
annotation's effect and default, a bad value beside a good one, refused snippets, a denied
protection, the ConfigMap applied and changed without a restart, --annotations-prefix."""

import json
import os
import socket
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402
from scripted_upstream import ScriptedUpstream  # noqa: E402

A = "nginx.ingress.kubernetes.io/"

BAD_502 = b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 3\r\n\r\nbad"


def configmap(name, data, namespace="default"):
    lines = "".join(f"  {json.dumps(k)}: {json.dumps(v)}\n" for k, v in data.items())
    return (f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n"
            f"  namespace: {namespace}\ndata:\n{lines or '  {}'}")


class annotations(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.up = h.Upstream.start("echo")
        # One 502 upstream per route that uses one: passive health (ejection) is per endpoint.
        cls.bad = [ScriptedUpstream({"/": BAD_502}) for _ in range(4)]
        cls.dead_port = h.free_port()
        cls.dir = d = h.temp_dir()
        h.write_manifests(d, "class.yaml", h.ingress_class())
        ep = [("127.0.0.1", cls.up.port)]
        h.write_manifests(
            d, "svc.yaml",
            h.service("echo", 80, ep),
            # one endpoint answers 502, the other is healthy
            *[h.service(f"mixed{i}", 80, [("127.0.0.1", b.port), ("127.0.0.1", cls.up.port)])
              for i, b in enumerate(cls.bad)],
            h.service("dead", 80, [("127.0.0.1", cls.dead_port), ("127.0.0.1", cls.up.port)]),
            configmap("hdrs", {"X-Frame-Options": "DENY", "X-Team": "web"}),
            configmap("portico", {"global-allowed-response-headers": "X-Frame-Options,X-Team",
                                  "proxy-body-size": "2k", "keep-alive-requests": "3"},
                      namespace="ingress"))
        ing = lambda name, host, ann, svc="echo": h.ingress(  # noqa: E731
            name, [(host, "/", "Prefix", svc, 80)], annotations=ann)
        h.write_manifests(
            d, "ing.yaml",
            ing("plain", "plain.test", {}),
            ing("body", "body.test", {A + "proxy-body-size": "100"}),
            ing("slow", "slow.test", {A + "proxy-read-timeout": "1"}),
            ing("retry", "retry.test", {A + "proxy-next-upstream": "error timeout http_502"}, "mixed0"),
            ing("noretry", "noretry.test", {}, "mixed1"),
            ing("post", "post.test", {A + "proxy-next-upstream": "error http_502"}, "mixed2"),
            ing("postni", "postni.test",
                {A + "proxy-next-upstream": "error http_502 non_idempotent"}, "mixed3"),
            ing("off", "off.test", {A + "proxy-next-upstream": "off"}, "dead"),
            ing("perm", "perm.test", {A + "permanent-redirect": "https://new.example/home"}),
            ing("perm308", "perm308.test", {A + "permanent-redirect": "https://new.example/",
                                           A + "permanent-redirect-code": "308"}),
            ing("temp", "temp.test", {A + "temporal-redirect": "https://tmp.example/x",
                                     A + "permanent-redirect": "https://never.example/"}),
            ing("root", "root.test", {A + "app-root": "/app1"}),
            ing("vhost", "vhost.test", {A + "upstream-vhost": "internal.svc",
                                       A + "x-forwarded-prefix": "/shop",
                                       A + "rewrite-target": "/internal",
                                       A + "connection-proxy-header": "close"}),
            ing("prefixonly", "prefixonly.test", {A + "x-forwarded-prefix": "/shop"}),
            ing("hdr", "hdr.test", {A + "custom-headers": "hdrs"}),
            ing("nolog", "nolog.test", {A + "enable-access-log": "false"}),
            ing("v10", "v10.test", {A + "proxy-http-version": "1.0"}),
            ing("bad", "bad.test", {A + "proxy-read-timeout": "soon", A + "proxy-body-size": "50"}),
            ing("snip", "snip.test", {A + "configuration-snippet": "return 200;"}),
            ing("guard", "guard.test", {A + "enable-modsecurity": "true"}),
            ing("alias", "alias.test", {"portico.dev/proxy-body-size": "10"}))
        cls.p = h.Portico.start(d, "--workers", "1", "--configmap", "ingress/portico")

    @classmethod
    def tearDownClass(cls):
        cls.p.stop()
        cls.up.stop()
        for b in cls.bad:
            b.stop()

    def get(self, host, path="/", method="GET", body=b"", headers=None):
        return h.request(self.p.http_port, method, path, headers=headers, body=body, host=host)

    def test_proxy_body_size_per_ingress_and_from_the_configmap(self):
        self.assertEqual(self.get("body.test", method="POST", body=b"x" * 100).status, 200)
        self.assertEqual(self.get("body.test", method="POST", body=b"x" * 101).status, 413)
        # The ConfigMap's proxy-body-size (2k) is every other Ingress's default.
        self.assertEqual(self.get("plain.test", method="POST", body=b"x" * 2048).status, 200)
        self.assertEqual(self.get("plain.test", method="POST", body=b"x" * 2049).status, 413)

    def test_proxy_read_timeout(self):
        self.assertEqual(self.get("slow.test", "/delay/2500").status, 504)
        self.assertEqual(self.get("plain.test", "/delay/1500").status, 200)

    def test_next_upstream_http_502_retries_on_the_other_endpoint(self):
        statuses = [self.get("retry.test").status for _ in range(12)]
        self.assertEqual(set(statuses), {200}, statuses)
        # Without http_502 (the default "error timeout"), the 502 endpoint's answers pass.
        statuses = [self.get("noretry.test").status for _ in range(12)]
        self.assertIn(502, statuses)
        self.assertIn(200, statuses)

    def test_non_idempotent_requests_are_retried_only_when_allowed(self):
        posts = [self.get("post.test", method="POST", body=b"a").status for _ in range(12)]
        self.assertIn(502, posts)  # a POST reached the 502 endpoint: not replayed
        posts = [self.get("postni.test", method="POST", body=b"a").status for _ in range(12)]
        self.assertEqual(set(posts), {200}, posts)

    def test_next_upstream_off_never_moves_on(self):
        statuses = [self.get("off.test").status for _ in range(10)]
        self.assertIn(502, statuses)  # the dead endpoint's turns fail

    def test_redirect_annotations(self):
        r = self.get("perm.test", "/a?b=1")
        self.assertEqual((r.status, r.header("location")), (301, "https://new.example/home"))
        r = self.get("perm308.test")
        self.assertEqual((r.status, r.header("location")), (308, "https://new.example/"))
        r = self.get("temp.test")  # temporal wins over permanent, as in ingress-nginx
        self.assertEqual((r.status, r.header("location")), (302, "https://tmp.example/x"))
        r = self.get("root.test", "/")
        self.assertEqual(r.status, 302)
        self.assertEqual(r.header("location"), "http://root.test/app1")
        self.assertEqual(self.get("root.test", "/other").status, 200)

    def test_upstream_vhost_forwarded_prefix_and_connection_header(self):
        r = self.get("vhost.test")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.echo_header("host"), ["internal.svc"])
        self.assertEqual(r.echo_header("x-forwarded-host"), ["vhost.test"])
        self.assertEqual(r.echo_header("x-forwarded-prefix"), ["/shop"])
        self.assertEqual(r.json()["target"], "/internal")
        self.assertEqual(r.echo_header("connection"), ["close"])
        # ingress-nginx sends X-Forwarded-Prefix only where it rewrites.
        r = self.get("prefixonly.test", "/x")
        self.assertEqual((r.status, r.echo_header("x-forwarded-prefix")), (200, []))
        # "Connection: close" upstream: no connection is reused for this route.
        ids = {self.get("vhost.test").json()["connection_id"] for _ in range(3)}
        self.assertEqual(len(ids), 3)

    def test_custom_headers_from_a_configmap(self):
        r = self.get("hdr.test")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.header("x-frame-options"), "DENY")
        self.assertEqual(r.header("x-team"), "web")
        self.assertIsNone(self.get("plain.test").header("x-team"))

    def test_enable_access_log_false(self):
        marker = f"/marker-{time.monotonic_ns()}"
        self.get("nolog.test", marker)
        self.get("plain.test", marker + "-logged")
        out = lambda: "\n".join(self.p.stdout_lines)  # noqa: E731
        self.assertTrue(h.wait_until(lambda: marker + "-logged" in out(), timeout=10))
        self.assertNotIn(f'"{marker}"', out())

    def test_proxy_http_version_10_sends_a_length(self):
        r = self.get("v10.test")
        self.assertEqual(r.json()["http_version"], "1.0")
        with h.Conn(self.p.http_port) as c:
            c.send(b"POST / HTTP/1.1\r\nHost: v10.test\r\nTransfer-Encoding: chunked\r\n"
                   b"Connection: close\r\n\r\n5\r\nhello\r\n0\r\n\r\n")
            r = c.read_response()
        self.assertEqual(r.status, 200)
        self.assertEqual(r.json()["body_bytes"], 5)
        self.assertEqual(r.echo_header("content-length"), ["5"])
        self.assertEqual(r.echo_header("transfer-encoding"), [])

    def test_a_bad_value_is_reported_and_the_good_one_applies(self):
        self.assertEqual(self.get("bad.test", method="POST", body=b"x" * 51).status, 413)
        self.assertEqual(self.get("bad.test", "/delay/1200").status, 200)  # default timeout
        r = h.run_portico("routes", "--config-dir", str(self.dir), "--configmap", "ingress/portico")
        self.assertEqual(r.returncode, 1)
        self.assertIn("Ingress default/bad: metadata.annotations[nginx.ingress.kubernetes.io/"
                      "proxy-read-timeout]", r.stdout)
        self.assertIn("\"soon\"", r.stdout)
        self.assertIn("default/snip: metadata.annotations[nginx.ingress.kubernetes.io/"
                      "configuration-snippet]: refused", r.stdout)

    def test_snippets_are_refused_and_the_route_served(self):
        r = self.get("snip.test")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.json()["name"], "echo")

    def test_an_unapplied_protection_answers_503(self):
        self.assertEqual(self.get("guard.test").status, 503)

    def test_portico_dev_alias(self):
        self.assertEqual(self.get("alias.test", method="POST", body=b"x" * 11).status, 413)

    def test_keep_alive_requests_from_the_configmap(self):
        with h.Conn(self.p.http_port) as c:
            r1 = c.request("GET", "/", host="plain.test")
            r2 = c.request("GET", "/", host="plain.test")
            r3 = c.request("GET", "/", host="plain.test")
            self.assertIsNone(r1.header("connection"))
            self.assertIsNone(r2.header("connection"))
            self.assertEqual(r3.header("connection"), "close")
            self.assertTrue(c.closed_by_peer())


class configmap_reload(unittest.TestCase):
    def test_a_configmap_change_applies_without_restart(self):
        up = h.Upstream.start("cm")
        d = h.temp_dir()
        h.write_manifests(d, "class.yaml", h.ingress_class())
        h.write_manifests(d, "app.yaml", h.service("app", 80, [("127.0.0.1", up.port)]),
                          h.ingress("app", [("app.test", "/", "Prefix", "app", 80)]))
        h.write_manifests(d, "cm.yaml", configmap("cfg", {"proxy-body-size": "10"}))
        p = h.Portico.start(d, "--workers", "1", "--configmap", "default/cfg")
        try:
            post = lambda n: h.request(p.http_port, "POST", "/", body=b"x" * n,  # noqa: E731
                                       host="app.test").status
            self.assertEqual(post(11), 413)
            pid = p.proc.pid
            h.write_manifests(d, "cm.yaml", configmap("cfg", {"proxy-body-size": "1k"}))
            self.assertTrue(h.wait_until(lambda: post(11) == 200, timeout=20))
            self.assertEqual(post(1025), 413)
            self.assertEqual(p.proc.pid, pid)
            self.assertTrue(p.alive())
        finally:
            p.stop()
            up.stop()

    def test_annotations_prefix(self):
        up = h.Upstream.start("pfx")
        d = h.temp_dir()
        h.write_manifests(d, "class.yaml", h.ingress_class())
        h.write_manifests(d, "app.yaml", h.service("app", 80, [("127.0.0.1", up.port)]),
                          h.ingress("app", [("app.test", "/", "Prefix", "app", 80)],
                                    annotations={"example.com/proxy-body-size": "5",
                                                 A + "proxy-body-size": "1m"}))
        p = h.Portico.start(d, "--workers", "1", "--annotations-prefix", "example.com")
        try:
            r = h.request(p.http_port, "POST", "/", body=b"x" * 6, host="app.test")
            self.assertEqual(r.status, 413)
        finally:
            p.stop()
            up.stop()


if __name__ == "__main__":
    unittest.main()
