#!/usr/bin/python3
"""Access control and CORS against the real binary and real upstreams, as ingress-nginx does
them.

Source address filtering: whitelist-source-range / allowlist-source-range (the newer name wins)
and denylist-source-range (checked first) answer 403 to the client addresses they exclude; an
invalid entry makes every route of its Ingress answer 503 and is reported by `portico routes`;
the ConfigMap's whitelist-source-range / denylist-source-range are the defaults of Ingresses
without the annotation; block-cidrs answers 403 on every host, unknown hosts included. The
client address is the socket peer (each test client binds its own 127.0.0.0/8 source address),
or the rightmost untrusted X-Forwarded-For entry from a peer in proxy-real-ip-cidr
(use-forwarded-headers), or the PROXY protocol header's source from such a peer.

CORS (enable-cors): the Access-Control-* headers with ingress-nginx's defaults and the
cors-* annotations as written; an origin list echoes a matching Origin (one DNS label for `*`,
the port as written) and sends nothing otherwise; a preflight OPTIONS is answered 204 by Portico
(before the access checks) and never reaches the upstream; the CORS headers replace the
upstream's own."""

import os
import re
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402
from annotations_test import configmap  # noqa: E402
from routes_cli_test import error_lines  # noqa: E402
from scripted_upstream import ScriptedUpstream  # noqa: E402

A = "nginx.ingress.kubernetes.io/"

DEFAULT_METHODS = "GET, PUT, POST, DELETE, PATCH, OPTIONS"
DEFAULT_HEADERS = ("DNT,Keep-Alive,User-Agent,X-Requested-With,If-Modified-Since,Cache-Control,"
                   "Content-Type,Range,Authorization")

# The scripted upstream's answer carrying its own CORS headers (which Portico must replace).
UPSTREAM_CORS = (b"HTTP/1.1 200 OK\r\nAccess-Control-Allow-Origin: https://upstream.test\r\n"
                 b"Access-Control-Allow-Methods: GET\r\nAccess-Control-Allow-Headers: X-Up\r\n"
                 b"Access-Control-Max-Age: 5\r\nAccess-Control-Allow-Credentials: false\r\n"
                 b"X-Other: kept\r\nContent-Length: 2\r\n\r\nok")
UPSTREAM_500 = b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 3\r\n\r\nerr"

UP = None        # portico-upstream "echo" (source-range routes)
SCRIPTED = None  # ScriptedUpstream (CORS routes): records every raw request it receives
DIR = None
P = None         # no ConfigMap
PL = None        # ConfigMap defaults: whitelist/denylist-source-range, block-cidrs
PF = None        # use-forwarded-headers, proxy-real-ip-cidr 127.0.0.1/32
PF10 = None      # use-forwarded-headers, proxy-real-ip-cidr 10.0.0.0/8 (loopback untrusted)
PP = None        # use-proxy-protocol, proxy-real-ip-cidr 127.0.0.1/32


def setUpModule():
    global UP, SCRIPTED, DIR, P, PL, PF, PF10, PP
    UP = h.Upstream.start("echo")
    SCRIPTED = ScriptedUpstream({"/acao": UPSTREAM_CORS, "/err": UPSTREAM_500})
    DIR = d = h.temp_dir()
    h.write_manifests(d, "class.yaml", h.ingress_class())
    h.write_manifests(
        d, "svc.yaml",
        h.service("app", 80, [("127.0.0.1", UP.port)]),
        h.service("scripted", 80, [("127.0.0.1", SCRIPTED.port)]),
        configmap("lists", {"whitelist-source-range": "127.0.0.2, 127.0.0.4, 127.0.1.9",
                            "denylist-source-range": "127.0.1.9",
                            "block-cidrs": "127.0.1.7, 127.0.3.0/24"}, namespace="ingress"),
        configmap("fwd", {"use-forwarded-headers": "true",
                          "proxy-real-ip-cidr": "127.0.0.1/32"}, namespace="ingress"),
        configmap("fwd10", {"use-forwarded-headers": "true",
                            "proxy-real-ip-cidr": "10.0.0.0/8"}, namespace="ingress"),
        configmap("pp", {"use-proxy-protocol": "true",
                         "proxy-real-ip-cidr": "127.0.0.1/32"}, namespace="ingress"))

    def ing(name, hosts, ann, svc="app", path="/"):
        return h.ingress(name, [(host, path, "Prefix", svc, 80) for host in hosts],
                         annotations=ann)

    cors = {A + "enable-cors": "true"}
    h.write_manifests(
        d, "ing.yaml",
        ing("open", ["open.test"], {}),
        ing("allow", ["allow.test"], {A + "whitelist-source-range": "127.0.0.2, 127.0.1.0/24, ::1"}),
        # Another Ingress's path on the same host: the list belongs to the allow Ingress only.
        ing("allow-public", ["allow.test"], {}, path="/public"),
        ing("both", ["both.test"], {A + "whitelist-source-range": "127.0.0.3",
                                    A + "allowlist-source-range": "127.0.0.2"}),
        ing("deny", ["deny.test"], {A + "denylist-source-range": "127.0.0.9, 127.0.2.0/24"}),
        ing("denyfirst", ["denyfirst.test"], {A + "allowlist-source-range": "127.0.0.0/24",
                                              A + "denylist-source-range": "127.0.0.9"}),
        h.ingress("bad-allow", [("bad.test", "/", "Prefix", "app", 80),
                                ("bad.test", "/api", "Prefix", "app", 80),
                                ("badother.test", "/", "Prefix", "app", 80)],
                  annotations={A + "whitelist-source-range": "127.0.0.2, 10.0.0.0/33"}),
        ing("bad-deny", ["baddeny.test"], {A + "denylist-source-range": "not-an-ip"}),
        ing("cors", ["cors.test"], cors, svc="scripted"),
        ing("corsopts", ["corsopts.test"],
            {**cors, A + "cors-allow-methods": "GET, POST",
             A + "cors-allow-headers": "X-Custom, X-Other",
             A + "cors-expose-headers": "X-Exposed, X-Two", A + "cors-max-age": "600",
             A + "cors-allow-credentials": "false"}, svc="scripted"),
        ing("corslist", ["corslist.test"],
            {**cors, A + "cors-allow-origin": "https://origin.test:8080, http://*.wild.test"},
            svc="scripted"),
        ing("corsstar", ["corsstar.test"], {**cors, A + "cors-allow-origin": "*, https://a.test"},
            svc="scripted"),
        ing("corsacl", ["corsacl.test"], {**cors, A + "allowlist-source-range": "127.0.0.2"},
            svc="scripted"),
        ing("nocors", ["nocors.test"], {}, svc="scripted"))
    common = ("--workers", "1")
    P = h.Portico.start(d, *common)
    PL = h.Portico.start(d, *common, "--configmap", "ingress/lists")
    PF = h.Portico.start(d, *common, "--configmap", "ingress/fwd")
    PF10 = h.Portico.start(d, *common, "--configmap", "ingress/fwd10")
    PP = h.Portico.start(d, *common, "--configmap", "ingress/pp")


def tearDownModule():
    for p in (P, PL, PF, PF10, PP, UP):
        if p:
            p.stop()
    if SCRIPTED:
        SCRIPTED.stop()


def get(p, host, source=None, target="/", method="GET", headers=None):
    return h.request(p.http_port, method, target, host=host, source=source, headers=headers)


def via_proxy_protocol(p, header, host, source=None, target="/"):
    """One GET after a PROXY protocol header, on a connection from `source`."""
    with h.Conn(p.http_port, source=source, timeout=15) as c:
        c.send(header)
        return c.request("GET", target, {"Connection": "close"}, host=host)


def cors_headers(r):
    return {k.lower(): v for k, v in r.headers if k.lower().startswith("access-control-")}


def upstream_saw(method, target):
    start = f"{method} {target} ".encode()
    with SCRIPTED.lock:
        return any(raw.startswith(start) for raw in SCRIPTED.requests)


class source_ranges(unittest.TestCase):
    """Annotations only (no ConfigMap); the client address is the socket peer."""

    def assert_served(self, p, host, source, target="/", headers=None):
        r = get(p, host, source, target, headers=headers)
        self.assertEqual((r.status, r.header("X-Upstream-Name")), (200, "echo"),
                         f"{host}{target} from {source} {headers or ''}")
        return r

    def assert_refused(self, p, host, source, status=403, target="/", headers=None):
        r = get(p, host, source, target, headers=headers)
        # Answered by Portico itself: never proxied.
        self.assertEqual((r.status, r.header("X-Upstream-Name")), (status, None),
                         f"{host}{target} from {source} {headers or ''}")
        return r

    def test_allow_list_admits_listed_addresses_and_networks_only(self):
        for src in ("127.0.0.2", "127.0.1.5", "127.0.1.200"):
            self.assert_served(P, "allow.test", src, "/page")
        for src in ("127.0.0.1", "127.0.0.3", "127.0.2.1"):
            self.assert_refused(P, "allow.test", src, target="/page")
        # The list is the allow Ingress's: another Ingress's path on the host is open.
        self.assert_served(P, "allow.test", "127.0.0.3", "/public/x")
        # An Ingress without lists serves everybody.
        for src in ("127.0.0.1", "127.0.0.3"):
            self.assert_served(P, "open.test", src)

    def test_allowlist_source_range_wins_over_whitelist_source_range(self):
        self.assert_served(P, "both.test", "127.0.0.2")
        self.assert_refused(P, "both.test", "127.0.0.3")

    def test_deny_list_refuses_listed_addresses_and_networks(self):
        for src in ("127.0.0.9", "127.0.2.7"):
            self.assert_refused(P, "deny.test", src)
        for src in ("127.0.0.1", "127.0.0.2"):
            self.assert_served(P, "deny.test", src)

    def test_deny_list_is_checked_before_the_allow_list(self):
        self.assert_refused(P, "denyfirst.test", "127.0.0.9")  # in both lists
        self.assert_served(P, "denyfirst.test", "127.0.0.2")
        self.assert_refused(P, "denyfirst.test", "127.0.1.5")  # outside the allow-list

    def test_x_forwarded_for_from_an_untrusted_peer_is_not_the_client(self):
        # No use-forwarded-headers, no --trusted-proxies: the header is the client's own claim.
        self.assert_refused(P, "allow.test", "127.0.0.1", headers={"X-Forwarded-For": "127.0.0.2"})
        self.assert_refused(P, "allow.test", "127.0.0.3", headers={"X-Forwarded-For": "127.0.0.2",
                                                                   "X-Real-IP": "127.0.0.2"})
        self.assert_served(P, "deny.test", "127.0.0.1", headers={"X-Forwarded-For": "127.0.0.9"})
        self.assert_refused(P, "deny.test", "127.0.0.9", headers={"X-Forwarded-For": "127.0.0.2"})

    def test_invalid_entry_makes_every_route_of_the_ingress_503(self):
        for src in ("127.0.0.2", "127.0.0.1"):  # the valid entry does not open it either
            for host, target in (("bad.test", "/"), ("bad.test", "/api/x"), ("badother.test", "/")):
                self.assert_refused(P, host, src, status=503, target=target)
        self.assert_refused(P, "baddeny.test", "127.0.0.1", status=503)
        # The other Ingresses keep working.
        self.assert_served(P, "open.test", "127.0.0.1")
        self.assert_served(P, "allow.test", "127.0.0.2")

    def test_routes_reports_the_invalid_entry(self):
        out = h.run_portico("routes", "--config-dir", DIR)
        errs = error_lines(out.stdout)
        self.assertEqual(out.returncode, 1, out.stdout + out.stderr)
        self.assertTrue(any(
            "Ingress default/bad-allow" in e and
            "metadata.annotations[nginx.ingress.kubernetes.io/whitelist-source-range]" in e and
            "10.0.0.0/33" in e for e in errs), errs)
        self.assertTrue(any(
            "Ingress default/bad-deny" in e and
            "metadata.annotations[nginx.ingress.kubernetes.io/denylist-source-range]" in e and
            "not-an-ip" in e for e in errs), errs)
        # Valid lists (IPv6 entries included) are no error.
        for name in ("allow", "deny", "denyfirst", "open"):
            self.assertFalse([e for e in errs if re.search(rf"Ingress default/{name}\b(?!-)", e)],
                             name)


class configmap_lists(unittest.TestCase):
    """ConfigMap: whitelist-source-range "127.0.0.2, 127.0.0.4, 127.0.1.9",
    denylist-source-range "127.0.1.9", block-cidrs "127.0.1.7, 127.0.3.0/24"."""

    def status(self, host, source, target="/"):
        r = get(PL, host, source, target)
        return r.status, r.header("X-Upstream-Name")

    def test_configmap_lists_are_the_default_of_ingresses_without_annotations(self):
        for src, want in (("127.0.0.2", (200, "echo")), ("127.0.0.4", (200, "echo")),
                          ("127.0.0.1", (403, None)), ("127.0.1.5", (403, None)),
                          ("127.0.1.9", (403, None))):  # in both: the deny-list first
            self.assertEqual(self.status("open.test", src), want, src)

    def test_an_annotation_replaces_the_configmap_list_of_its_kind_only(self):
        # allow.test's allow-list replaces the ConfigMap's; the ConfigMap's deny-list stays.
        for src, want in (("127.0.1.5", (200, "echo")), ("127.0.0.2", (200, "echo")),
                          ("127.0.0.4", (403, None)), ("127.0.1.9", (403, None))):
            self.assertEqual(self.status("allow.test", src), want, f"allow.test from {src}")
        # deny.test's deny-list replaces the ConfigMap's; the ConfigMap's allow-list stays.
        for src, want in (("127.0.1.9", (200, "echo")), ("127.0.0.4", (200, "echo")),
                          ("127.0.0.9", (403, None)), ("127.0.0.1", (403, None))):
            self.assertEqual(self.status("deny.test", src), want, f"deny.test from {src}")

    def test_block_cidrs_refuses_on_every_host_whatever_the_annotations_say(self):
        # allow.test's annotation admits 127.0.1.0/24, but 127.0.1.7 is blocked.
        self.assertEqual(self.status("allow.test", "127.0.1.7"), (403, None))
        self.assertEqual(self.status("allow.test", "127.0.1.5"), (200, "echo"))
        self.assertEqual(self.status("allow.test", "127.0.3.3", "/public"), (403, None))
        # Unknown hosts: blocked addresses get 403, the others the built-in 404.
        for src in ("127.0.1.7", "127.0.3.3"):
            self.assertEqual(self.status("unknown.test", src)[0], 403, src)
        for src in ("127.0.1.5", "127.0.0.4"):
            self.assertEqual(self.status("unknown.test", src)[0], 404, src)
        # Only on the Portico with that ConfigMap.
        self.assertEqual(get(P, "unknown.test", "127.0.1.7").status, 404)
        self.assertEqual(get(P, "allow.test", "127.0.1.7").status, 200)


class forwarded_client_address(unittest.TestCase):
    """use-forwarded-headers with proxy-real-ip-cidr 127.0.0.1/32 (PF) or 10.0.0.0/8 (PF10)."""

    def status(self, p, host, source, xff=None):
        r = get(p, host, source, headers={"X-Forwarded-For": xff} if xff is not None else None)
        return r.status, r.header("X-Upstream-Name")

    def test_trusted_peer_x_forwarded_for_gives_the_client(self):
        r = get(PF, "allow.test", "127.0.0.1", headers={"X-Forwarded-For": "127.0.0.2"})
        self.assertEqual((r.status, r.header("X-Upstream-Name")), (200, "echo"))
        self.assertEqual(r.echo_header("x-real-ip"), ["127.0.0.2"])
        # The rightmost entry that is not itself in proxy-real-ip-cidr.
        for xff in ("127.0.0.2, 127.0.0.1", "127.0.0.3, 127.0.0.2", "127.0.0.3,127.0.1.5"):
            self.assertEqual(self.status(PF, "allow.test", "127.0.0.1", xff), (200, "echo"), xff)
        for xff in ("127.0.0.2, 127.0.0.3", "127.0.0.3", None):
            self.assertEqual(self.status(PF, "allow.test", "127.0.0.1", xff), (403, None), xff)
        # The deny-list sees the forwarded client too.
        self.assertEqual(self.status(PF, "deny.test", "127.0.0.1", "127.0.0.9"), (403, None))
        self.assertEqual(self.status(PF, "deny.test", "127.0.0.1", "127.0.0.2"), (200, "echo"))

    def test_spoofed_x_forwarded_for_from_an_untrusted_peer_cannot_pass(self):
        # The peer is not in proxy-real-ip-cidr: the peer itself is the client.
        self.assertEqual(self.status(PF, "allow.test", "127.0.0.3", "127.0.0.2"), (403, None))
        self.assertEqual(self.status(PF, "allow.test", "127.0.0.2", "127.0.0.3"), (200, "echo"))
        self.assertEqual(self.status(PF, "deny.test", "127.0.0.9", "127.0.0.2"), (403, None))
        self.assertEqual(self.status(PF10, "allow.test", "127.0.0.1", "127.0.0.2"), (403, None))
        self.assertEqual(self.status(PF10, "allow.test", "127.0.0.2", "127.0.0.3"), (200, "echo"))


class proxy_protocol_client_address(unittest.TestCase):
    """use-proxy-protocol with proxy-real-ip-cidr 127.0.0.1/32."""

    def status(self, header, source, host="allow.test"):
        r = via_proxy_protocol(PP, header, host, source)
        return r.status, r.header("X-Upstream-Name")

    def test_proxy_header_source_is_the_client_from_a_trusted_peer_only(self):
        v1 = lambda src: f"PROXY TCP4 {src} 127.0.0.1 40000 80\r\n".encode()  # noqa: E731
        v2 = lambda src: (b"\r\n\r\n\x00\r\nQUIT\n\x21\x11\x00\x0c" +  # noqa: E731
                          bytes(int(x) for x in src.split(".")) + bytes([127, 0, 0, 1]) +
                          b"\x9c\x40\x00\x50")
        self.assertEqual(self.status(v1("127.0.0.2"), "127.0.0.1"), (200, "echo"))
        self.assertEqual(self.status(v2("127.0.1.5"), "127.0.0.1"), (200, "echo"))
        self.assertEqual(self.status(v1("127.0.0.3"), "127.0.0.1"), (403, None))
        self.assertEqual(self.status(v1("127.0.0.9"), "127.0.0.1", "deny.test"), (403, None))
        # From a peer outside proxy-real-ip-cidr the header's address is not believed.
        self.assertEqual(self.status(v1("127.0.0.2"), "127.0.0.3"), (403, None))
        self.assertEqual(self.status(v1("127.0.0.3"), "127.0.0.2"), (200, "echo"))


class cors(unittest.TestCase):
    def assert_default_cors(self, r, origin="*"):
        self.assertEqual(cors_headers(r), {
            "access-control-allow-origin": origin,
            "access-control-allow-credentials": "true",
            "access-control-allow-methods": DEFAULT_METHODS,
            "access-control-allow-headers": DEFAULT_HEADERS,
            "access-control-max-age": "1728000"})
        for name in ("Access-Control-Allow-Origin", "Access-Control-Allow-Methods",
                     "Access-Control-Allow-Headers", "Access-Control-Max-Age",
                     "Access-Control-Allow-Credentials"):
            self.assertEqual(len(r.header_all(name)), 1, name)  # once, not added twice

    def test_defaults_on_every_response_of_the_route(self):
        r = get(P, "cors.test", target="/plain")
        self.assertEqual(r.status, 200)
        self.assertTrue(r.body.startswith(b"GET /plain "), r.body[:80])  # proxied
        self.assert_default_cors(r)
        r = get(P, "cors.test", target="/o", headers={"Origin": "https://any.test"})
        self.assertEqual(r.status, 200)
        self.assert_default_cors(r)
        r = get(P, "cors.test", target="/err")
        self.assertEqual(r.status, 500)
        self.assert_default_cors(r)
        # A route without enable-cors gets none.
        r = get(P, "nocors.test", target="/o", headers={"Origin": "https://any.test"})
        self.assertEqual((r.status, cors_headers(r)), (200, {}))

    def test_annotations_are_sent_as_written(self):
        r = get(P, "corsopts.test", target="/x", headers={"Origin": "https://any.test"})
        self.assertEqual(r.status, 200)
        self.assertEqual(cors_headers(r), {
            "access-control-allow-origin": "*",
            "access-control-allow-methods": "GET, POST",
            "access-control-allow-headers": "X-Custom, X-Other",
            "access-control-expose-headers": "X-Exposed, X-Two",
            "access-control-max-age": "600"})  # no Allow-Credentials with "false"

    def test_origin_list_echoes_a_matching_origin(self):
        for origin in ("https://origin.test:8080", "HTTPS://Origin.TEST:8080",
                       "http://a.wild.test", "http://A-1.Wild.test"):
            r = get(P, "corslist.test", target="/m", headers={"Origin": origin})
            self.assertEqual(r.status, 200, origin)
            self.assert_default_cors(r, origin)

    def test_origin_is_still_read_right_after_a_large_body_arrives_later(self):
        # The head comes alone, the 256 KiB body after a pause: reading the body must not
        # disturb the request's header fields, which the response's CORS headers still need.
        origin = "https://origin.test:8080"
        body = b"b" * (256 * 1024)
        with h.Conn(P.http_port, timeout=15) as c:
            c.send(b"POST /late-body HTTP/1.1\r\nHost: corslist.test\r\nOrigin: " +
                   origin.encode() + b"\r\nContent-Length: " + str(len(body)).encode() +
                   b"\r\nConnection: close\r\n\r\n")
            time.sleep(0.3)
            c.send(body)
            r = c.read_response("POST")
        self.assertEqual(r.status, 200)
        self.assertTrue(r.body.startswith(b"POST /late-body "))
        self.assert_default_cors(r, origin)

    def test_origin_list_sends_nothing_to_other_origins_and_still_proxies(self):
        for origin in ("http://a.b.wild.test", "http://wild.test", "https://a.wild.test",
                       "http://a.wild.test:80", "https://origin.test",
                       "https://origin.test:8081", "http://origin.test:8080",
                       "https://evil.test", "null", None):
            headers = {"Origin": origin} if origin is not None else None
            r = get(P, "corslist.test", target="/n", headers=headers)
            self.assertEqual(r.status, 200, origin)
            self.assertTrue(r.body.startswith(b"GET /n "), origin)
            self.assertEqual(cors_headers(r), {}, origin)

    def test_a_star_among_origins_means_every_origin(self):
        for origin in ("https://zzz.test", "https://a.test", None):
            headers = {"Origin": origin} if origin is not None else None
            r = get(P, "corsstar.test", target="/s", headers=headers)
            self.assertEqual(r.status, 200, origin)
            self.assert_default_cors(r)

    def test_preflight_is_answered_by_portico(self):
        pre = {"Access-Control-Request-Method": "PUT", "Access-Control-Request-Headers": "X-Custom"}
        cases = (("cors.test", "/pf-star", {"Origin": "https://any.test", **pre}, "*"),
                 ("cors.test", "/pf-star-no-origin", {}, "*"),
                 ("corsstar.test", "/pf-star2", {"Origin": "https://q.test", **pre}, "*"),
                 ("corslist.test", "/pf-list", {"Origin": "http://x.wild.test", **pre},
                  "http://x.wild.test"))
        for host, target, headers, origin in cases:
            with self.subTest(host=host, target=target):
                r = get(P, host, target=target, method="OPTIONS", headers=headers)
                self.assertEqual(r.status, 204)
                # RFC 9110 8.6: a 204 carries no Content-Length (ingress-nginx's template asks
                # for "Content-Length: 0"; Portico follows the RFC).
                self.assertIsNone(r.header("Content-Length"))
                self.assertEqual(r.body, b"")
                self.assert_default_cors(r, origin)
                self.assertFalse(upstream_saw("OPTIONS", target))
        r = get(P, "corsopts.test", target="/pf-opts", method="OPTIONS",
                headers={"Origin": "https://any.test", **pre})
        self.assertEqual((r.status, r.header("Access-Control-Allow-Methods"),
                          r.header("Access-Control-Max-Age")), (204, "GET, POST", "600"))
        self.assertFalse(upstream_saw("OPTIONS", "/pf-opts"))

    def test_preflight_from_another_origin_goes_to_the_upstream(self):
        for target, headers in (("/pf-evil", {"Origin": "https://evil.test",
                                              "Access-Control-Request-Method": "PUT"}),
                                ("/pf-none", {})):
            r = get(P, "corslist.test", target=target, method="OPTIONS", headers=headers)
            self.assertEqual(r.status, 200, target)  # the scripted upstream's answer
            self.assertTrue(r.body.startswith(f"OPTIONS {target} ".encode()), target)
            self.assertEqual(cors_headers(r), {}, target)
            self.assertTrue(upstream_saw("OPTIONS", target))

    def test_cors_headers_replace_the_upstreams(self):
        r = get(P, "cors.test", target="/acao", headers={"Origin": "https://any.test"})
        self.assertEqual((r.status, r.body), (200, b"ok"))
        self.assert_default_cors(r)
        self.assertEqual(r.header("X-Other"), "kept")
        r = get(P, "corslist.test", target="/acao", headers={"Origin": "https://origin.test:8080"})
        self.assertEqual((r.status, r.body), (200, b"ok"))
        self.assert_default_cors(r, "https://origin.test:8080")

    def test_preflight_comes_before_the_allow_list(self):
        r = get(P, "corsacl.test", "127.0.0.1", "/pf-acl", method="OPTIONS",
                headers={"Origin": "https://any.test", "Access-Control-Request-Method": "GET"})
        self.assertEqual((r.status, r.header("Content-Length")), (204, None))
        self.assert_default_cors(r)
        self.assertFalse(upstream_saw("OPTIONS", "/pf-acl"))
        r = get(P, "corsacl.test", "127.0.0.1", "/acl", headers={"Origin": "https://any.test"})
        self.assertEqual(r.status, 403)
        self.assertFalse(upstream_saw("GET", "/acl"))
        r = get(P, "corsacl.test", "127.0.0.2", "/acl2", headers={"Origin": "https://any.test"})
        self.assertEqual(r.status, 200)
        self.assert_default_cors(r)
        self.assertTrue(upstream_saw("GET", "/acl2"))


if __name__ == "__main__":
    unittest.main()
