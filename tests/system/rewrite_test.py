#!/usr/bin/python3
"""use-regex and rewrite-target against the real peer: the same Ingresses are served by Portico
and, as ingress-nginx would render them, by nginx (locations `~* "^<path>"` in ingress-nginx's
order, `rewrite "(?i)<path>" <target> break;`, X-Forwarded-Prefix), both in front of the same
named echo upstreams. Every request must reach the same upstream with the same request target
(or get the same status and Location), and the X-Forwarded-Prefix header must agree.

The nginx side is written from ingress-nginx's rules (controller/location.go: a plain Prefix
path on a regex host becomes "<path>/" and an exact "<path>"; controller.go: locations sorted
by path, then by length, longest first; template.go: buildLocation and buildProxyPass), so
nginx decides the matching, the rewriting and the escaping, and Portico must agree with it."""

import json
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402
import nginx_peer  # noqa: E402

A = "nginx.ingress.kubernetes.io/"
HOST = "rw.test"

# (ingress name, annotations, [(path, pathType, upstream)])
INGRESSES = [
    ("plain", {}, [("/api", "Prefix", "api"), ("/static", "Exact", "static")]),
    ("something", {A + "rewrite-target": "/$2", A + "x-forwarded-prefix": "/something"},
     [("/something(/|$)(.*)", "ImplementationSpecific", "something")]),
    ("args", {A + "rewrite-target": "/b?item=$1"}, [("/args/(.*)", "ImplementationSpecific", "args")]),
    ("drop", {A + "rewrite-target": "/dropped/$1?"}, [("/drop/(.*)", "ImplementationSpecific", "drop")]),
    ("versions", {A + "use-regex": "true", A + "rewrite-target": "/v/$1/$2"},
     [("/ver/([0-9]+)/(.*)", "ImplementationSpecific", "versions")]),
    ("moved", {A + "rewrite-target": "https://new.test/$1"},
     [("/old/(.*)", "ImplementationSpecific", "moved")]),
    ("regex", {A + "use-regex": "true"}, [("/api/v[0-9]+/items", "Prefix", "items"),
                                          ("/[a-c]{3}$", "ImplementationSpecific", "three")]),
]

REQUESTS = [
    "/something", "/something/", "/something/new", "/SOMETHING/New?x=1", "/something/a%20b",
    "/something/a%3Fb?q=1", "/something//twice", "/api", "/api/", "/api/x", "/apix", "/API/x",
    "/api/v2/items", "/api/v2/items/7", "/api/vx/items", "/static", "/static/x", "/staticx",
    "/args/x?q=1", "/args/a%26b", "/drop/x?q=1", "/ver/12/a/b?z=1", "/ver/x/a", "/old/page?a=1",
    "/abc", "/abcd", "/nothing", "/", "/%41pi/x",
]


def locations():
    """ingress-nginx's locations for HOST: [(pattern, ingress, path, upstream, annotations)]."""
    regex_host = any(A + "use-regex" in ann or A + "rewrite-target" in ann
                     for _, ann, _ in INGRESSES)
    assert regex_host
    exact = {p for _, _, paths in INGRESSES for p, t, _ in paths if t == "Exact"}
    locs = []
    for name, ann, paths in INGRESSES:
        own_regex = ann.get(A + "use-regex") == "true" or A + "rewrite-target" in ann
        for path, ptype, up in paths:
            if ptype == "Prefix" and path != "/" and not own_regex:
                d = path if path.endswith("/") else path + "/"
                locs.append((d, name, path, up, ann))
                if path not in exact and d != path:
                    locs.append((path, name, path, up, ann))
            else:
                locs.append((path, name, path, up, ann))
    locs.sort(key=lambda l: l[0], reverse=True)          # sort.SliceStable by path desc
    locs.sort(key=lambda l: len(l[0]), reverse=True)     # then by length desc (stable)
    return locs


def nginx_http(ups):
    """What goes in nginx's http { } for HOST (nginx_peer writes the rest)."""
    blocks = []
    for pattern, name, path, up, ann in locations():
        target = ann.get(A + "rewrite-target", "")
        body = ["proxy_set_header Host $host;", "proxy_set_header X-Forwarded-Prefix \"\";"]
        if target and target != path:
            body.append(f'rewrite "(?i){path}" {target} break;')
            if A + "x-forwarded-prefix" in ann:
                body.append(f'proxy_set_header X-Forwarded-Prefix "{ann[A + "x-forwarded-prefix"]}";')
        body.append(f"proxy_pass http://127.0.0.1:{ups[up].port};")
        blocks.append(f'    location ~* "^{pattern}" {{\n      ' + "\n      ".join(body) + "\n    }")
    return ("  server { listen 127.0.0.1:{port} default_server; return 404; }\n"
            "  server {\n    listen 127.0.0.1:{port};\n    server_name " + HOST + ";\n" +
            "\n".join(blocks) + "\n    location / { return 404; }\n  }\n")


def answer(port, target):
    """(status, upstream name or None, target the upstream saw, X-Forwarded-Prefix, Location)."""
    r = h.request(port, "GET", target, host=HOST, timeout=10)
    if r.status == 200:
        echo = json.loads(r.body)
        prefix = [v for k, v in echo["headers"] if k.lower() == "x-forwarded-prefix"]
        return (200, echo["name"], echo["target"], prefix[0] if prefix else "", None)
    return (r.status, None, None, None, r.header("Location"))


class rewrite(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        names = {up for _, _, paths in INGRESSES for _, _, up in paths}
        cls.ups = {n: h.Upstream.start(n) for n in sorted(names)}
        d = h.temp_dir()
        h.write_manifests(d, "class.yaml", h.ingress_class())
        h.write_manifests(d, "svc.yaml", *[h.service(n, 80, [("127.0.0.1", u.port)])
                                           for n, u in cls.ups.items()])
        docs = []
        for i, (name, ann, paths) in enumerate(INGRESSES):
            docs.append(h.ingress(name, [(HOST, p, t, up, 80) for p, t, up in paths],
                                  annotations=ann,
                                  creation_timestamp=f"2024-01-0{i + 1}T00:00:00Z"))
        h.write_manifests(d, "ing.yaml", *docs)
        cls.dir = d
        cls.p = h.Portico.start(d, "--workers", "1")
        cls.nginx, cls.nginx_port = nginx_peer.start(nginx_http(cls.ups))

    @classmethod
    def tearDownClass(cls):
        for p in [cls.p, cls.nginx, *cls.ups.values()]:
            if p is not None:
                p.stop()

    def test_routes_print_regex_paths_without_errors(self):
        out = h.run_portico("routes", "--config-dir", str(self.dir))
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
        self.assertIn("(regex)", out.stdout)

    def test_same_answers_as_nginx(self):
        if self.nginx is None:
            self.skipTest("nginx is not installed (deploy/install-deps.sh installs nginx-light)")
        for target in REQUESTS:
            with self.subTest(target=target):
                self.assertEqual(answer(self.p.http_port, target), answer(self.nginx_port, target))

    def test_expected_answers(self):
        # What the comparison must see, written down so that a change on both sides is caught.
        cases = {
            "/something": (200, "something", "/", "/something", None),
            "/something/new": (200, "something", "/new", "/something", None),
            "/SOMETHING/New?x=1": (200, "something", "/New?x=1", "/something", None),
            "/api/x": (200, "api", "/api/x", "", None),
            "/apix": (200, "api", "/apix", "", None),  # "^/api": a string prefix on a regex host
            "/api/v2/items/7": (200, "items", "/api/v2/items/7", "", None),
            "/args/x?q=1": (200, "args", "/b?item=x&q=1", "", None),
            "/drop/x?q=1": (200, "drop", "/dropped/x", "", None),
            "/ver/12/a/b?z=1": (200, "versions", "/v/12/a/b?z=1", "", None),
            "/abc": (200, "three", "/abc", "", None),
            "/nothing": (404, None, None, None, None),
        }
        for target, want in cases.items():
            with self.subTest(target=target):
                self.assertEqual(answer(self.p.http_port, target), want)
        status, _, _, _, location = answer(self.p.http_port, "/old/page?a=1")
        self.assertEqual((status, location), (302, "https://new.test/page?a=1"))


if __name__ == "__main__":
    unittest.main()
