#!/usr/bin/python3
"""custom-http-errors with --default-backend-service and the default-backend annotation,
against the real binary and real upstreams: a listed status (from the upstream, or Portico's
own 503 for a Service without endpoints) is replaced by the error backend's answer to
"GET /" carrying X-Code, X-Format, X-Original-URI, X-Namespace, X-Ingress-Name,
X-Service-Name, X-Service-Port and X-Request-ID, as ingress-nginx's @custom_ locations send
it; other statuses pass through; the annotation's list replaces the ConfigMap's; a
default-backend Service serves every request while the rule's Service has no endpoints;
unknown hosts go to --default-backend-service."""

import json
import os
import re
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402
from scripted_upstream import ScriptedUpstream  # noqa: E402

A = "nginx.ingress.kubernetes.io/"


def error_page(raw):
    """Like ingress-nginx's custom error pages backend: the status is X-Code."""
    head = raw.split(b"\r\n\r\n", 1)[0].decode("latin-1")
    code = re.search(r"(?im)^X-Code: *(\d+)", head)
    status = code.group(1) if code else "200"
    body = json.dumps({"request": head}).encode()
    return (f"HTTP/1.1 {status} Page\r\nX-Upstream-Name: pages\r\nContent-Length: {len(body)}"
            f"\r\n\r\n").encode() + body


class custom_errors(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.app = h.Upstream.start("app")
        cls.errors = h.Upstream.start("errors")  # the controller's default backend (echo)
        cls.pages = ScriptedUpstream({"/": error_page, "/any": error_page})
        cls.dir = d = h.temp_dir()
        h.write_manifests(d, "class.yaml", h.ingress_class())
        h.write_manifests(
            d, "svc.yaml",
            h.service("app", 80, [("127.0.0.1", cls.app.port)]),
            h.service("empty", 80, [], target_port=8080),
            h.service("errors", 80, [("127.0.0.1", cls.errors.port)], namespace="ingress"),
            h.service("pages", 80, [("127.0.0.1", cls.pages.port)], namespace="shop"),
            h.service("empty", 80, [], target_port=8080, namespace="shop"),
            h.service("app", 80, [("127.0.0.1", cls.app.port)], namespace="shop"),
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: portico\n  namespace: ingress\n"
            "data:\n  custom-http-errors: \"404,503\"\n")
        h.write_manifests(
            d, "ing.yaml",
            h.ingress("web", [("web.test", "/", "Prefix", "app", 80),
                              ("web.test", "/gone", "Prefix", "empty", 80)]),
            h.ingress("shop", [("shop.test", "/", "Prefix", "app", 80)], namespace="shop",
                      annotations={A + "custom-http-errors": "500,502",
                                   A + "default-backend": "pages"}),
            h.ingress("fallback", [("fallback.test", "/", "Prefix", "empty", 80)],
                      namespace="shop", annotations={A + "default-backend": "pages"}))
        cls.p = h.Portico.start(d, "--configmap", "ingress/portico",
                                "--default-backend-service", "ingress/errors")

    @classmethod
    def tearDownClass(cls):
        for p in (cls.p, cls.app, cls.errors):
            p.stop()
        cls.pages.stop()

    def get(self, host, target, method="GET", headers=None):
        return h.request(self.p.http_port, method, target, host=host, headers=headers)

    def test_a_listed_upstream_status_is_answered_by_the_default_backend(self):
        r = self.get("web.test", "/status/404?x=1", headers={"Accept": "application/json",
                                                             "X-Request-ID": "rid-1"})
        self.assertEqual((r.status, r.header("X-Upstream-Name")), (200, "errors"))
        self.assertEqual(r.json()["target"], "/")
        self.assertEqual(r.json()["method"], "GET")
        for name, value in (("x-code", "404"), ("x-format", "application/json"),
                            ("x-original-uri", "/status/404?x=1"), ("x-namespace", "default"),
                            ("x-ingress-name", "web"), ("x-service-name", "app"),
                            ("x-service-port", "80"), ("x-request-id", "rid-1"),
                            ("host", "web.test")):
            self.assertEqual(r.echo_header(name), [value], name)

    def test_other_statuses_pass_through(self):
        r = self.get("web.test", "/status/500")
        self.assertEqual((r.status, r.header("X-Upstream-Name")), (500, "app"))
        r = self.get("web.test", "/ok")
        self.assertEqual((r.status, r.header("X-Upstream-Name")), (200, "app"))

    def test_portico_own_503_is_intercepted(self):
        r = self.get("web.test", "/gone/x")
        self.assertEqual((r.status, r.header("X-Upstream-Name")), (200, "errors"))
        self.assertEqual(r.echo_header("x-code"), ["503"])
        self.assertEqual(r.echo_header("x-service-name"), ["empty"])

    def test_the_annotation_list_and_default_backend_replace_the_configmap(self):
        r = self.get("shop.test", "/status/500")
        self.assertEqual((r.status, r.header("X-Upstream-Name")), (500, "pages"))
        self.assertIn("X-Code: 500", r.json()["request"])
        self.assertIn("X-Namespace: shop", r.json()["request"])
        r = self.get("shop.test", "/status/404")  # not in the annotation's list
        self.assertEqual((r.status, r.header("X-Upstream-Name")), (404, "app"))
        r = self.get("shop.test", "/status/500", method="HEAD")
        self.assertEqual((r.status, r.header("X-Upstream-Name")), (500, "pages"))
        self.assertEqual(r.body, b"")
        # Keep-alive survives an error page: two requests on one connection.
        with h.Conn(self.p.http_port) as c:
            for _ in range(2):
                r = c.request("GET", "/status/500", host="shop.test")
                self.assertEqual((r.status, r.header("X-Upstream-Name")), (500, "pages"))

    def test_default_backend_serves_while_the_service_has_no_endpoints(self):
        r = self.get("fallback.test", "/any?q=1")
        self.assertEqual((r.status, r.header("X-Upstream-Name")), (200, "pages"))
        self.assertIn("GET /any?q=1 HTTP/1.1", r.json()["request"])
        self.assertNotIn("X-Code", r.json()["request"])


    def test_unknown_hosts_go_to_the_default_backend_service(self):
        r = self.get("nobody.test", "/x")
        self.assertEqual((r.status, r.header("X-Upstream-Name")), (200, "errors"))
        self.assertEqual(r.json()["target"], "/x")  # proxied as received, not an error page
        self.assertEqual(r.echo_header("x-code"), [])
        out = h.run_portico("routes", "--config-dir", self.dir, "--configmap", "ingress/portico",
                            "--default-backend-service", "ingress/errors")
        self.assertIn("--default-backend-service", out.stdout)


if __name__ == "__main__":
    unittest.main()
