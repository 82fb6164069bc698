#!/usr/bin/python3
"""External authentication (ingress-nginx's auth-url annotation family and the ConfigMap's
global-auth-* keys) against the real binary, a real upstream (portico-upstream echoes the
request headers it received; a scripted upstream echoes the raw request or answers 503) and a
real authentication service: an HTTP/1.1 server written here (Python's http.server, plain and
behind TLS with a self-signed certificate made by openssl) that records every request it
receives and answers by the request's Authorization header.

nginx's auth_request as ingress-nginx configures it: before a request is forwarded, a
subrequest without body (GET, or auth-method) goes to auth-url with X-Original-URL,
X-Original-Method, X-Sent-From, X-Real-IP, X-Forwarded-For, X-Auth-Request-Redirect,
X-Request-ID and the client's own header fields (Authorization, Cookie). A 2xx answer lets the
request through with the auth-response-headers copied upstream (replacing the client's, or
removing them when the service sent none) and the service's Set-Cookie on the client's answer
(on 2xx/3xx answers only, on every answer with auth-always-set-cookie); 401 is passed with the
service's WWW-Authenticate (or becomes a 302 to auth-signin with the original URL in rd=),
403 is passed, any other status or an unreachable service is 500. auth-cache-key /
auth-cache-duration cache the answers (never one with Set-Cookie), auth-keepalive keeps
connections to the service, auth-proxy-set-headers adds a ConfigMap's headers, auth-url may
hold variables ($host) and https:// (the certificate is not verified). An unusable auth-url,
auth-method or auth-response-headers makes the Ingress's routes answer 503 and is reported by
`portico routes`. The ConfigMap's global-auth-url protects every Ingress but those with
enable-global-auth "false", their own auth-url, or a path in no-auth-locations; an invalid one
makes routes answer 503. /debug/snapshot shows the auth-url as written."""

import http.server
import os
import ssl
import subprocess
import sys
import threading
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402
from annotations_test import configmap  # noqa: E402
from routes_cli_test import error_lines  # noqa: E402
from scripted_upstream import ScriptedUpstream  # noqa: E402

A = "nginx.ingress.kubernetes.io/"

UPSTREAM_503 = b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 5\r\n\r\ndown\n"
DENIED_BODY = b"denied by the test authentication service\n"


# ---------------------------------------------------------------------------- the service


def answer_for(authorization):
    """(status, [(header, value)], body) for an Authorization header. The token's kind is the
    part before the first "." ("Bearer good.x1" is "good"), so tests can use distinct tokens
    (distinct auth-cache-key values) with the same answer."""
    token = authorization[len("Bearer "):] if authorization.startswith("Bearer ") else None
    kind = token.split(".", 1)[0] if token is not None else None
    if kind == "good":
        return 200, [("X-User", "alice"), ("X-Email", "a@example.com"),
                     ("Set-Cookie", "session=s1; Path=/")], b""
    if kind == "noemail":  # no X-Email, no Set-Cookie
        return 200, [("X-User", "alice")], b""
    if kind == "plain":  # no Set-Cookie: cacheable
        return 200, [("X-User", "alice"), ("X-Email", "a@example.com")], b""
    if kind == "forbidden":
        return 403, [], b"forbidden\n"
    if kind == "broken":
        return 500, [], b"broken\n"
    if kind == "redirect":
        return 302, [("Location", "http://elsewhere.test/login")], b""
    return 401, [("WWW-Authenticate", 'Bearer realm="test"'),
                 ("Set-Cookie", "attempt=1; Path=/")], DENIED_BODY


class AuthService:
    """A threaded HTTP/1.1 authentication service on 127.0.0.1 (TLS with `cert`=(crt, key)).
    Every request is recorded as a dict: method, target, path, headers [(name, value)],
    client (address, port), body."""

    def __init__(self, cert=None):
        self.records = []
        self.lock = threading.Lock()
        service = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self):
                self.request.settimeout(30)
                if isinstance(self.request, ssl.SSLSocket):
                    self.request.do_handshake()  # here, not in the accepting thread
                super().setup()

            def log_message(self, *args):
                pass

            def handle_any(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n) if n else b""
                with service.lock:
                    service.records.append({
                        "method": self.command, "target": self.path,
                        "path": self.path.split("?", 1)[0],
                        "headers": list(self.headers.items()),
                        "client": self.client_address, "body": body})
                status, headers, out = answer_for(self.headers.get("Authorization", ""))
                self.send_response(status)
                for k, v in headers:
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(out)

            do_GET = do_POST = do_HEAD = do_PUT = handle_any

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.tls = cert is not None
        if cert:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(*cert)
            self.server.socket = ctx.wrap_socket(self.server.socket, server_side=True,
                                                 do_handshake_on_connect=False)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path):
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}{path}"

    def stop(self):
        self.server.shutdown()
        self.server.server_close()

    def seen(self, path):
        """The requests received for `path` (without query), in order."""
        with self.lock:
            return [r for r in self.records if r["path"] == path]


def header(record, name):
    """The values of header `name` in a recorded request."""
    return [v for k, v in record["headers"] if k.lower() == name.lower()]


def self_signed(directory):
    crt, key = directory / "auth.crt", directory / "auth.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-subj", "/CN=auth.test", "-keyout", str(key), "-out", str(crt)],
                   capture_output=True, timeout=60, check=True)
    return crt, key


def raw_head_fields(raw):
    """[(name, value)] of a raw request's head."""
    head = raw.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")[1:]
    return [tuple(x.strip() for x in ln.split(":", 1)) for ln in head if ln]


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


def snapshot_route(p, host, path="/"):
    snap = h.request(p.admin_port, "GET", "/debug/snapshot")
    assert snap.status == 200, snap.status
    for r in snap.json()["routes"]:
        if r["host"] == host and r["path"] == path:
            return r
    raise AssertionError(f"no route {host}{path} in /debug/snapshot")


# ---------------------------------------------------------------------------- annotations


class external_auth(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.up = h.Upstream.start("echo")
        cls.raw = ScriptedUpstream({})               # echoes the raw request it received
        cls.failing = ScriptedUpstream({"/": UPSTREAM_503})
        cls.svc = AuthService()
        cls.tls_svc = AuthService(self_signed(h.temp_dir()))
        cls.dead_port = h.free_port()
        cls.dir = d = h.temp_dir()
        h.write_manifests(d, "class.yaml", h.ingress_class())
        h.write_manifests(
            d, "svc.yaml",
            h.service("echo", 80, [("127.0.0.1", cls.up.port)]),
            h.service("raw", 80, [("127.0.0.1", cls.raw.port)]),
            h.service("failing", 80, [("127.0.0.1", cls.failing.port)]),
            configmap("tenant-headers", {"X-Tenant": "blue"}))
        url = cls.svc.url
        rh = {A + "auth-response-headers": "X-User, X-Email"}

        def ing(name, ann, svc="echo", host=None):
            return h.ingress(name, [(host or f"{name}.test", "/", "Prefix", svc, 80)],
                             annotations=ann)

        h.write_manifests(
            d, "ing.yaml",
            ing("plain", {A + "auth-url": url("/verify-plain"), **rh}),
            ing("sub", {A + "auth-url": url("/verify-sub?x=1"), **rh}, svc="raw"),
            ing("method", {A + "auth-url": url("/verify-method"), A + "auth-method": "POST"}),
            ing("signin", {A + "auth-url": url("/verify-signin"),
                           A + "auth-signin": "http://$host/auth/start"}),
            ing("signin-param", {A + "auth-url": url("/verify-signin"),
                                 A + "auth-signin": "http://$host/auth/start",
                                 A + "auth-signin-redirect-param": "orig"}),
            ing("signin-rd", {A + "auth-url": url("/verify-signin"),
                              A + "auth-signin": "http://$host/auth/start?rd=/home"}),
            ing("var", {A + "auth-url": f"http://$host:{cls.svc.port}/verify-var", **rh},
                host="localhost"),
            ing("redirect", {A + "auth-url": url("/verify-redirect"),
                             A + "auth-request-redirect": "https://example.test/back"}),
            ing("cache", {A + "auth-url": url("/verify-cache"), **rh,
                          A + "auth-cache-key": "$http_authorization",
                          A + "auth-cache-duration": "200 1m"}),
            ing("cookie-always", {A + "auth-url": url("/verify-cookie"),
                                  A + "auth-always-set-cookie": "true"}),
            ing("cookie-fail", {A + "auth-url": url("/verify-cookie")}, svc="failing"),
            ing("cookie-fail-always", {A + "auth-url": url("/verify-cookie"),
                                       A + "auth-always-set-cookie": "true"}, svc="failing"),
            ing("ka", {A + "auth-url": url("/verify-ka"), A + "auth-keepalive": "5"}),
            ing("tenant", {A + "auth-url": url("/verify-tenant"),
                           A + "auth-proxy-set-headers": "tenant-headers"}),
            ing("tls", {A + "auth-url": cls.tls_svc.url("/verify-tls"), **rh}),
            ing("dead", {A + "auth-url": f"http://127.0.0.1:{cls.dead_port}/verify"}),
            ing("badurl", {A + "auth-url": "https://invalid..auth.url"}),
            ing("badmethod", {A + "auth-url": url("/verify-badmethod"),
                              A + "auth-method": "FETCH"}),
            ing("badheaders", {A + "auth-url": url("/verify-badheaders"),
                               A + "auth-response-headers": "Bad Header"}),
            ing("open", {}))
        # One worker: one auth cache and one connection pool, so the counts are deterministic.
        cls.p = h.Portico.start(d, "--workers", "1")

    @classmethod
    def tearDownClass(cls):
        for p in (cls.p, cls.up):
            p.stop()
        for s in (cls.raw, cls.failing, cls.svc, cls.tls_svc):
            s.stop()

    def req(self, host, target="/", headers=None, method="GET", body=b""):
        return h.request(self.p.http_port, method, target, headers=headers, body=body, host=host)

    def upstream_requests(self):
        return self.up.stats()["requests"]

    # -- verdicts

    def test_no_credentials_get_401_with_the_services_www_authenticate(self):
        before_up = self.upstream_requests()
        before_svc = len(self.svc.seen("/verify-plain"))
        r = self.req("plain.test", "/page")
        self.assertEqual(r.status, 401)
        self.assertEqual(r.header_all("WWW-Authenticate"), ['Bearer realm="test"'])
        self.assertIsNone(r.header("X-Upstream-Name"))
        # Portico's own 401 page, not the service's body.
        self.assertNotIn(DENIED_BODY.strip(), r.body)
        # The service was asked; the upstream was not (each /stats request counts itself).
        self.assertEqual(len(self.svc.seen("/verify-plain")), before_svc + 1)
        self.assertEqual(self.upstream_requests(), before_up + 1)

    def test_good_credentials_are_proxied_with_the_response_headers(self):
        r = self.req("plain.test", "/page", {**bearer("good"), "X-User": "mallory",
                                             "X-Email": "eve@example.com"})
        self.assertEqual((r.status, r.header("X-Upstream-Name")), (200, "echo"), r.body[:300])
        self.assertEqual(r.echo_header("X-User"), ["alice"])
        self.assertEqual(r.echo_header("X-Email"), ["a@example.com"])
        self.assertEqual(r.header_all("Set-Cookie"), ["session=s1; Path=/"])

    def test_client_response_header_is_removed_when_the_service_sends_none(self):
        r = self.req("plain.test", "/page", {**bearer("noemail"), "X-User": "mallory",
                                             "X-Email": "eve@example.com"})
        self.assertEqual((r.status, r.header("X-Upstream-Name")), (200, "echo"), r.body[:300])
        self.assertEqual(r.echo_header("X-User"), ["alice"])
        self.assertEqual(r.echo_header("X-Email"), [])
        self.assertEqual(r.header_all("Set-Cookie"), [])

    def test_403_is_passed_and_other_answers_or_failures_are_500(self):
        before_up = self.upstream_requests()
        for token, status in (("forbidden", 403), ("broken", 500), ("redirect", 500)):
            r = self.req("plain.test", "/page", bearer(token))
            self.assertEqual((r.status, r.header("X-Upstream-Name")), (status, None), token)
            self.assertIsNone(r.header("Location"), token)
            self.assertIsNone(r.header("WWW-Authenticate"), token)
        # The authentication service is not listening.
        r = self.req("dead.test", "/page", bearer("good"))
        self.assertEqual((r.status, r.header("X-Upstream-Name")), (500, None))
        self.assertEqual(self.upstream_requests(), before_up + 1)

    # -- the subrequest

    def test_subrequest_is_a_get_without_body_with_ingress_nginx_headers(self):
        body = b"the client's body \x00\xff" * 50
        seen = len(self.svc.seen("/verify-sub"))
        up_seen = len(self.raw.requests)
        target = "/post/path?q=1&r=%2F"
        # The client's own fields of the names the subrequest sets are replaced (nginx's
        # proxy_set_header); its X-Forwarded-Proto is dropped (set to "" by ingress-nginx).
        spoofed = {"X-Original-URL": "http://evil.test/", "X-Original-Method": "DELETE",
                   "X-Sent-From": "client", "X-Real-IP": "10.9.9.9",
                   "X-Forwarded-For": "10.9.9.9", "X-Auth-Request-Redirect": "http://evil.test/",
                   "X-Forwarded-Proto": "https"}
        r = self.req("sub.test", target, {**bearer("good"), "Cookie": "c=1; d=2",
                                          "Content-Type": "application/octet-stream", **spoofed},
                     method="POST", body=body)
        self.assertEqual(r.status, 200, r.body[:300])
        got = self.svc.seen("/verify-sub")[seen:]
        self.assertEqual(len(got), 1)
        s = got[0]
        self.assertEqual((s["method"], s["target"]), ("GET", "/verify-sub?x=1"))
        self.assertEqual(s["body"], b"")
        self.assertEqual(header(s, "Content-Length"), [])
        self.assertEqual(header(s, "Transfer-Encoding"), [])
        expect = {
            "Host": "127.0.0.1",
            "X-Original-URL": f"http://sub.test{target}",
            "X-Original-Method": "POST",
            "X-Sent-From": "nginx-ingress-controller",
            "X-Real-IP": "127.0.0.1",
            "X-Forwarded-For": "127.0.0.1",
            "X-Auth-Request-Redirect": target,
            "Authorization": "Bearer good",
            "Cookie": "c=1; d=2",
        }
        for name, value in expect.items():
            self.assertEqual(header(s, name), [value], name)
        self.assertEqual(header(s, "X-Forwarded-Proto"), [])
        # X-Original-URI and X-Scheme come with auth-method only.
        self.assertEqual(header(s, "X-Original-URI"), [])
        self.assertEqual(header(s, "X-Scheme"), [])
        # The upstream got the POST, its body intact, and the same X-Request-ID.
        with self.raw.lock:
            ups = self.raw.requests[up_seen:]
        self.assertEqual(len(ups), 1)
        raw = ups[0]
        self.assertTrue(raw.startswith(f"POST {target} ".encode()), raw[:100])
        self.assertEqual(raw.split(b"\r\n\r\n", 1)[1], body)
        fields = raw_head_fields(raw)
        up_id = [v for k, v in fields if k.lower() == "x-request-id"]
        self.assertEqual(len(up_id), 1, fields)
        self.assertTrue(up_id[0])
        self.assertEqual(header(s, "X-Request-ID"), up_id)
        self.assertEqual([v for k, v in fields if k.lower() == "x-user"], ["alice"])

    def test_subrequest_has_no_body_when_the_client_sends_a_chunked_one(self):
        seen = len(self.svc.seen("/verify-sub"))
        up_seen = len(self.raw.requests)
        with h.Conn(self.p.http_port) as c:
            c.send(b"POST /chunked HTTP/1.1\r\nHost: sub.test\r\nAuthorization: Bearer good\r\n"
                   b"Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n")
            r = c.read_response("POST")
        self.assertEqual(r.status, 200, r.body[:300])
        got = self.svc.seen("/verify-sub")[seen:]
        self.assertEqual(len(got), 1)
        self.assertEqual((got[0]["method"], got[0]["body"]), ("GET", b""))
        self.assertEqual(header(got[0], "Transfer-Encoding"), [])
        self.assertEqual(header(got[0], "Content-Length"), [])
        self.assertEqual(header(got[0], "X-Original-Method"), ["POST"])
        # The upstream got the whole body (chunked as sent, or with a length).
        with self.raw.lock:
            ups = self.raw.requests[up_seen:]
        self.assertEqual(len(ups), 1)
        head, _, sent = ups[0].partition(b"\r\n\r\n")
        if b"chunked" in head.lower():
            self.assertEqual(sent, b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n")
        else:
            self.assertEqual(sent, b"hello world")

    def test_auth_method_post_adds_x_original_uri_and_x_scheme(self):
        seen = len(self.svc.seen("/verify-method"))
        r = self.req("method.test", "/m/x?y=1", bearer("good"))
        self.assertEqual(r.status, 200)
        got = self.svc.seen("/verify-method")[seen:]
        self.assertEqual(len(got), 1)
        s = got[0]
        self.assertEqual(s["method"], "POST")
        self.assertEqual(s["body"], b"")
        self.assertEqual(header(s, "X-Original-URI"), ["/m/x?y=1"])
        self.assertEqual(header(s, "X-Scheme"), ["http"])
        self.assertEqual(header(s, "X-Original-Method"), ["GET"])

    def test_auth_url_with_a_variable_in_the_host(self):
        seen = len(self.svc.seen("/verify-var"))
        r = self.req("localhost", "/v", bearer("good"))
        self.assertEqual((r.status, r.header("X-Upstream-Name")), (200, "echo"), r.body[:300])
        self.assertEqual(r.echo_header("X-User"), ["alice"])
        self.assertEqual(self.req("localhost", "/v").status, 401)
        got = self.svc.seen("/verify-var")[seen:]
        self.assertEqual(len(got), 2)
        self.assertEqual(header(got[0], "Host"), ["localhost"])
        self.assertEqual(header(got[0], "X-Original-URL"), ["http://localhost/v"])

    def test_auth_request_redirect_replaces_x_auth_request_redirect(self):
        seen = len(self.svc.seen("/verify-redirect"))
        self.assertEqual(self.req("redirect.test", "/r?s=1", bearer("good")).status, 200)
        got = self.svc.seen("/verify-redirect")[seen:]
        self.assertEqual(len(got), 1)
        self.assertEqual(header(got[0], "X-Auth-Request-Redirect"), ["https://example.test/back"])

    def test_auth_proxy_set_headers_from_a_configmap(self):
        seen = len(self.svc.seen("/verify-tenant"))
        self.assertEqual(self.req("tenant.test", "/", bearer("good")).status, 200)
        got = self.svc.seen("/verify-tenant")[seen:]
        self.assertEqual(len(got), 1)
        self.assertEqual(header(got[0], "X-Tenant"), ["blue"])

    def test_https_auth_service_with_a_self_signed_certificate(self):
        seen = len(self.tls_svc.seen("/verify-tls"))
        r = self.req("tls.test", "/t", {**bearer("good"), "X-User": "mallory"})
        self.assertEqual((r.status, r.header("X-Upstream-Name")), (200, "echo"), r.body[:300])
        self.assertEqual(r.echo_header("X-User"), ["alice"])
        r = self.req("tls.test", "/t")
        self.assertEqual(r.status, 401)
        self.assertEqual(r.header_all("WWW-Authenticate"), ['Bearer realm="test"'])
        got = self.tls_svc.seen("/verify-tls")[seen:]
        self.assertEqual(len(got), 2)
        self.assertEqual(header(got[0], "X-Original-URL"), ["http://tls.test/t"])

    # -- auth-signin

    def test_auth_signin_redirects_with_the_original_url_in_rd(self):
        r = self.req("signin.test", "/?a=b&c=d")
        self.assertEqual(r.status, 302)
        self.assertEqual(r.header("Location"),
                         "http://signin.test/auth/start?rd=http://signin.test%2F%3Fa%3Db%26c%3Dd")
        self.assertIsNone(r.header("X-Upstream-Name"))
        # The sign-in location adds the service's cookie (add_header Set-Cookie $auth_cookie;
        # a 302 is one of add_header's statuses).
        self.assertEqual(r.header_all("Set-Cookie"), ["attempt=1; Path=/"])
        # With credentials: proxied; a 403 stays a 403.
        self.assertEqual(self.req("signin.test", "/?a=b", bearer("good")).status, 200)
        r = self.req("signin.test", "/?a=b", bearer("forbidden"))
        self.assertEqual((r.status, r.header("Location")), (403, None))

    def test_auth_signin_redirect_param(self):
        r = self.req("signin-param.test", "/?a=b&c=d")
        self.assertEqual(r.status, 302)
        self.assertEqual(r.header("Location"),
                         "http://signin-param.test/auth/start"
                         "?orig=http://signin-param.test%2F%3Fa%3Db%26c%3Dd")

    def test_auth_signin_with_rd_in_its_query_is_used_as_is(self):
        r = self.req("signin-rd.test", "/?a=b&c=d")
        self.assertEqual(r.status, 302)
        self.assertEqual(r.header("Location"), "http://signin-rd.test/auth/start?rd=/home")

    # -- auth-cache-key

    def test_auth_cache_serves_a_cached_200_without_asking_again(self):
        seen = len(self.svc.seen("/verify-cache"))
        for i in range(3):
            r = self.req("cache.test", f"/c{i}", {**bearer("plain.cache1"), "X-User": "mallory"})
            self.assertEqual((r.status, r.header("X-Upstream-Name")), (200, "echo"), i)
            self.assertEqual(r.echo_header("X-User"), ["alice"], i)
            self.assertEqual(r.echo_header("X-Email"), ["a@example.com"], i)
        self.assertEqual(len(self.svc.seen("/verify-cache")) - seen, 1)
        # Another key is asked for.
        self.assertEqual(self.req("cache.test", "/", bearer("plain.cache2")).status, 200)
        self.assertEqual(len(self.svc.seen("/verify-cache")) - seen, 2)

    def test_auth_cache_does_not_keep_an_answer_with_set_cookie(self):
        seen = len(self.svc.seen("/verify-cache"))
        for _ in range(2):
            r = self.req("cache.test", "/", bearer("good.cookie1"))
            self.assertEqual(r.status, 200)
            self.assertEqual(r.header_all("Set-Cookie"), ["session=s1; Path=/"])
        self.assertEqual(len(self.svc.seen("/verify-cache")) - seen, 2)

    def test_auth_cache_does_not_keep_a_status_it_does_not_list(self):
        seen = len(self.svc.seen("/verify-cache"))
        for _ in range(2):
            self.assertEqual(self.req("cache.test", "/", bearer("forbidden.c1")).status, 403)
        self.assertEqual(len(self.svc.seen("/verify-cache")) - seen, 2)

    # -- Set-Cookie

    def test_always_set_cookie_passes_the_401_cookie(self):
        r = self.req("cookie-always.test", "/")
        self.assertEqual(r.status, 401)
        self.assertEqual(r.header_all("Set-Cookie"), ["attempt=1; Path=/"])
        # Without the annotation a 401 carries no cookie.
        r = self.req("plain.test", "/")
        self.assertEqual(r.status, 401)
        self.assertEqual(r.header_all("Set-Cookie"), [])

    def test_set_cookie_on_an_upstream_error_only_with_always_set_cookie(self):
        # (The 503 is the upstream's own answer: its body.)
        r = self.req("cookie-fail.test", "/", bearer("good"))
        self.assertEqual((r.status, r.body), (503, b"down\n"))
        self.assertEqual(r.header_all("Set-Cookie"), [])
        r = self.req("cookie-fail-always.test", "/", bearer("good"))
        self.assertEqual((r.status, r.body), (503, b"down\n"))
        self.assertEqual(r.header_all("Set-Cookie"), ["session=s1; Path=/"])

    # -- connections to the service

    def test_auth_keepalive_reuses_one_connection(self):
        seen = len(self.svc.seen("/verify-ka"))
        for token in ("good", "plain", None, "forbidden", "good"):
            r = self.req("ka.test", "/", bearer(token) if token else None)
            self.assertIn(r.status, (200, 401, 403), token)
        got = self.svc.seen("/verify-ka")[seen:]
        self.assertEqual(len(got), 5)
        self.assertEqual([header(s, "Connection") for s in got if
                          "close" in ",".join(header(s, "Connection")).lower()], [])
        self.assertEqual(len({s["client"] for s in got}), 1, [s["client"] for s in got])

    def test_without_auth_keepalive_each_subrequest_has_its_own_connection(self):
        seen = len(self.svc.seen("/verify-plain"))
        for _ in range(3):
            self.assertEqual(self.req("plain.test", "/", bearer("plain")).status, 200)
        got = self.svc.seen("/verify-plain")[seen:]
        self.assertEqual(len(got), 3)
        for s in got:
            self.assertEqual(header(s, "Connection"), ["close"])
        self.assertEqual(len({s["client"] for s in got}), 3, [s["client"] for s in got])

    # -- refused configurations

    def test_refused_configurations_answer_503(self):
        for host in ("badurl.test", "badmethod.test", "badheaders.test"):
            for headers in (None, bearer("good")):
                r = self.req(host, "/", headers)
                self.assertEqual((r.status, r.header("X-Upstream-Name")), (503, None),
                                 (host, headers))
        self.assertEqual(self.svc.seen("/verify-badmethod"), [])
        self.assertEqual(self.svc.seen("/verify-badheaders"), [])
        r = self.req("open.test", "/")
        self.assertEqual((r.status, r.header("X-Upstream-Name")), (200, "echo"))

    def test_refused_configurations_are_reported_by_portico_routes(self):
        out = h.run_portico("routes", "--config-dir", self.dir)
        errs = error_lines(out.stdout)
        self.assertEqual(out.returncode, 1, out.stdout + out.stderr)
        self.assertTrue(any("Ingress default/badurl:" in e and
                            f"metadata.annotations[{A}auth-url]" in e and
                            "could not parse auth-url annotation" in e for e in errs), errs)
        for name, key in (("badmethod", "auth-method"), ("badheaders", "auth-response-headers")):
            self.assertTrue(any(f"Ingress default/{name}:" in e and
                                f"metadata.annotations[{A}{key}]" in e for e in errs),
                            (name, errs))
        for name in ("plain", "sub", "cache", "ka", "tenant", "tls", "var", "open"):
            self.assertEqual([e for e in errs if f"Ingress default/{name}:" in e], [], name)

    # -- /debug/snapshot

    def test_debug_snapshot_shows_the_auth_url_as_written(self):
        ext = snapshot_route(self.p, "plain.test")["access"]["external_auth"]
        self.assertEqual(ext["url"], self.svc.url("/verify-plain"))
        self.assertEqual(ext["global"], False)
        ext = snapshot_route(self.p, "localhost")["access"]["external_auth"]
        self.assertEqual(ext["url"], f"http://$host:{self.svc.port}/verify-var")
        ext = snapshot_route(self.p, "sub.test")["access"]["external_auth"]
        self.assertEqual(ext["url"], self.svc.url("/verify-sub?x=1"))
        self.assertIsNone(snapshot_route(self.p, "open.test")["access"]["external_auth"])


class external_auth_reload(unittest.TestCase):
    def test_a_rewritten_auth_proxy_set_headers_configmap_applies_without_restart(self):
        up = h.Upstream.start("reload")
        svc = AuthService()
        d = h.temp_dir()
        h.write_manifests(d, "class.yaml", h.ingress_class())
        h.write_manifests(d, "app.yaml", h.service("app", 80, [("127.0.0.1", up.port)]),
                          h.ingress("app", [("app.test", "/", "Prefix", "app", 80)],
                                    annotations={A + "auth-url": svc.url("/verify"),
                                                 A + "auth-proxy-set-headers": "hdrs"}))
        h.write_manifests(d, "cm.yaml", configmap("hdrs", {"X-Tenant": "blue"}))
        p = h.Portico.start(d, "--workers", "1")
        try:
            def tenant():
                r = h.request(p.http_port, "GET", "/", headers=bearer("good"), host="app.test")
                assert r.status == 200, r.status
                return header(svc.records[-1], "X-Tenant")

            self.assertEqual(tenant(), ["blue"])
            pid = p.pid
            h.write_manifests(d, "cm.yaml", configmap("hdrs", {"X-Tenant": "green"}))
            h.wait_until(lambda: tenant() == ["green"], timeout=20)
            self.assertEqual(p.pid, pid)
        finally:
            p.stop()
            up.stop()
            svc.stop()


# ---------------------------------------------------------------------------- global auth


class global_auth(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.up = h.Upstream.start("echo")
        cls.gsvc = AuthService()    # the ConfigMap's global-auth-url
        cls.own = AuthService()     # one Ingress's own auth-url
        cls.dir = d = h.temp_dir()
        h.write_manifests(d, "class.yaml", h.ingress_class())
        h.write_manifests(
            d, "svc.yaml", h.service("echo", 80, [("127.0.0.1", cls.up.port)]),
            configmap("global", {"global-auth-url": cls.gsvc.url("/verify-global"),
                                 "global-auth-response-headers": "X-User",
                                 "no-auth-locations": "/public"}, namespace="ingress"),
            configmap("badglobal", {"global-auth-url": "https://invalid..auth.url"},
                      namespace="ingress"))
        h.write_manifests(
            d, "ing.yaml",
            h.ingress("protected", [("g.test", "/", "Prefix", "echo", 80)]),
            h.ingress("public", [("g.test", "/public", "Prefix", "echo", 80)]),
            h.ingress("optout", [("optout.test", "/", "Prefix", "echo", 80)],
                      annotations={A + "enable-global-auth": "false"}),
            h.ingress("own", [("own.test", "/", "Prefix", "echo", 80)],
                      annotations={A + "auth-url": cls.own.url("/verify-own")}))
        cls.p = h.Portico.start(d, "--workers", "1", "--configmap", "ingress/global")
        cls.pbad = h.Portico.start(d, "--workers", "1", "--configmap", "ingress/badglobal")

    @classmethod
    def tearDownClass(cls):
        for p in (cls.p, cls.pbad, cls.up):
            p.stop()
        cls.gsvc.stop()
        cls.own.stop()

    def req(self, host, target="/", headers=None, p=None):
        return h.request((p or self.p).http_port, "GET", target, headers=headers, host=host)

    def test_an_ingress_without_annotations_is_protected(self):
        seen = len(self.gsvc.seen("/verify-global"))
        r = self.req("g.test", "/x")
        self.assertEqual((r.status, r.header("X-Upstream-Name")), (401, None))
        self.assertEqual(r.header_all("WWW-Authenticate"), ['Bearer realm="test"'])
        r = self.req("g.test", "/x", {**bearer("good"), "X-User": "mallory"})
        self.assertEqual((r.status, r.header("X-Upstream-Name")), (200, "echo"), r.body[:300])
        self.assertEqual(r.echo_header("X-User"), ["alice"])
        got = self.gsvc.seen("/verify-global")[seen:]
        self.assertEqual(len(got), 2)
        self.assertEqual(header(got[1], "X-Original-URL"), ["http://g.test/x"])

    def test_enable_global_auth_false_is_not_protected(self):
        seen = len(self.gsvc.seen("/verify-global"))
        r = self.req("optout.test", "/")
        self.assertEqual((r.status, r.header("X-Upstream-Name")), (200, "echo"))
        self.assertEqual(len(self.gsvc.seen("/verify-global")), seen)

    def test_no_auth_locations_are_not_protected(self):
        seen = len(self.gsvc.seen("/verify-global"))
        for target in ("/public", "/public/page"):
            r = self.req("g.test", target)
            self.assertEqual((r.status, r.header("X-Upstream-Name")), (200, "echo"), target)
        self.assertEqual(len(self.gsvc.seen("/verify-global")), seen)

    def test_an_ingress_with_its_own_auth_url_uses_its_own_service(self):
        seen_g = len(self.gsvc.seen("/verify-global"))
        seen_o = len(self.own.seen("/verify-own"))
        self.assertEqual(self.req("own.test", "/").status, 401)
        self.assertEqual(self.req("own.test", "/", bearer("good")).status, 200)
        self.assertEqual(len(self.own.seen("/verify-own")) - seen_o, 2)
        self.assertEqual(len(self.gsvc.seen("/verify-global")), seen_g)

    def test_an_unknown_host_is_not_authenticated(self):
        seen = len(self.gsvc.seen("/verify-global"))
        r = self.req("unknown.test", "/")
        self.assertEqual(r.status, 404)
        self.assertEqual(len(self.gsvc.seen("/verify-global")), seen)

    def test_an_invalid_global_auth_url_makes_routes_answer_503(self):
        for headers in (None, bearer("good")):
            r = self.req("g.test", "/x", headers, p=self.pbad)
            self.assertEqual((r.status, r.header("X-Upstream-Name")), (503, None), headers)

    def test_debug_snapshot_shows_the_global_auth_url(self):
        ext = snapshot_route(self.p, "g.test")["access"]["external_auth"]
        self.assertEqual(ext["url"], self.gsvc.url("/verify-global"))
        self.assertEqual(ext["global"], True)
        self.assertIsNone(snapshot_route(self.p, "g.test", "/public")["access"]["external_auth"])
        ext = snapshot_route(self.p, "own.test")["access"]["external_auth"]
        self.assertEqual((ext["url"], ext["global"]), (self.own.url("/verify-own"), False))


if __name__ == "__main__":
    unittest.main(verbosity=2)
