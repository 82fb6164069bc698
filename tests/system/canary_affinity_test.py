#!/usr/bin/python3
"""Canary Ingresses and cookie session affinity against the real binary and real upstreams.

One `portico serve` in file mode and five portico-upstream echo servers, each on its own
loopback address (127.0.0.2-6) and answering with `X-Upstream-Name`, so every response says
which endpoint served it. Services: web and trio (m0, m1, m2), cnr (the canary: c0, c1) and
flaky (m0, m1 and a closed port on 127.0.0.7).

Canary (ingress-nginx's traffic shaping): canary-by-header always/never, -value and -pattern
(a value that does not decide falls through), then canary-by-cookie always/never, then
canary-weight out of canary-weight-total; the weight's distribution; the `canary` label of
nginx_ingress_controller_requests and the access log's `canary` field; a canary without a main
Ingress and canary-* without canary "true" reported by `portico routes`; a canary without
endpoints (expected failure: Portico answers 503 where ingress-nginx lets the main serve).

Affinity (affinity: cookie): a cookie-less request gets `NAME=<key>|<backend key>; ...`; the
cookie keeps the client on one endpoint across new connections (balanced and persistent, 3
endpoints); persistent keys are md5(upstream name + "ip:port") and backend keys
md5(md5(upstream name) + upstream name), as ingress-nginx's; the cookie's attributes; an
unknown key gets a new cookie; a dead endpoint with and without
session-cookie-change-on-failure; Secure on HTTPS; a canary behind a main Ingress with
affinity keeps each client on the backend its cookie names.

Live changes (a second Portico on its own directory): the canary's weight and endpoints, the
main Service's endpoints under persistent cookies and the main Ingress's removal apply without
a restart."""

import calendar
import hashlib
import json
import os
import re
import socket
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402
import tls_support as t  # noqa: E402

A = "nginx.ingress.kubernetes.io/"
NS = "default"

MAIN = ("m0", "m1", "m2")
CANARY = ("c0", "c1")
CANARY_UPSTREAM = "default-cnr-80"  # ingress-nginx's upstream name: <ns>-<service>-<port>

OLD_CHROME = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
              "Chrome/59.0.3071.115 Safari/537.36")
OLD_IPHONE = ("Mozilla/5.0 (iPhone; CPU iPhone OS 12_1 like Mac OS X) AppleWebKit/605.1.15 "
              "(KHTML, like Gecko) Version/12.0 Mobile/15E148 Safari/604.1")
NEW_CHROME = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
              "Chrome/120.0.0.0 Safari/537.36")


def md5(s):
    return hashlib.md5(s.encode()).hexdigest()


def backend_key(upstream_name):
    """ingress-nginx's sticky backend_key: ngx.md5(ngx.md5(name) .. name)."""
    return md5(md5(upstream_name) + upstream_name)


def persistent_key(upstream_name, addr):
    """ingress-nginx's persistent (nodemap) key of an endpoint: md5(name .. "ip:port")."""
    return md5(upstream_name + addr)


def closed_address(ip):
    """ip:port where nothing listens (bound a moment ago on that address, then closed)."""
    with socket.socket() as s:
        s.bind((ip, 0))
        return ip, s.getsockname()[1]


# ---------------------------------------------------------------------------- the fixture

UPS = {}        # name -> Upstream
ADDR = {}       # name -> "ip:port"
P = None        # the Portico process
DIR = None      # its manifest directory
DEAD = None     # (ip, port) of flaky's closed endpoint


def canary_pair(name, host, canary_ann, main_ann=None, main_svc="web", path="/",
                canary_svc="cnr"):
    """A main Ingress (host, path -> main_svc), a canary Ingress (same host, path -> canary_svc)."""
    return [h.ingress(f"{name}-main", [(host, path, "Prefix", main_svc, 80)],
                      annotations=main_ann),
            h.ingress(f"{name}-canary", [(host, path, "Prefix", canary_svc, 80)],
                      annotations={A + "canary": "true", **canary_ann})]


def affinity_ingress(name, host, ann, svc="trio", path="/"):
    return h.ingress(name, [(host, path, "Prefix", svc, 80)],
                     annotations={A + "affinity": "cookie", **ann})


def setUpModule():
    global P, DIR, DEAD
    for i, name in enumerate(MAIN + CANARY):
        u = h.Upstream.start(name, extra=("--address", f"127.0.0.{2 + i}"))
        UPS[name] = u
        ADDR[name] = f"{u.host}:{u.port}"
    DEAD = closed_address("127.0.0.7")
    ep = lambda *names: [(UPS[n].host, UPS[n].port) for n in names]  # noqa: E731
    DIR = d = h.temp_dir()
    h.write_manifests(d, "class.yaml", h.ingress_class())
    h.write_manifests(d, "svc.yaml",
                      h.service("web", 80, ep(*MAIN)),
                      h.service("trio", 80, ep(*MAIN)),
                      h.service("cnr", 80, ep(*CANARY)),
                      h.service("flaky", 80, ep("m0", "m1") + [DEAD]),
                      h.service("none", 80, []),
                      h.service("unready", 80, [("127.0.0.8", 8080, False)]))
    by_header = {A + "canary-by-header": "X-Canary", A + "canary-by-cookie": "canary_ck"}
    h.write_manifests(
        d, "canary.yaml",
        *canary_pair("order", "order.test", {**by_header, A + "canary-weight": "0"}),
        *canary_pair("order100", "order100.test", {**by_header, A + "canary-weight": "100"}),
        *canary_pair("value", "value.test", {A + "canary-by-header": "X-Tier",
                                             A + "canary-by-header-value": "gold",
                                             A + "canary-by-cookie": "canary_ck"}),
        *canary_pair("pattern", "pattern.test", {A + "canary-by-header": "X-Tier",
                                                 A + "canary-by-header-pattern": "beta-[0-9]+",
                                                 A + "canary-by-cookie": "canary_ck"}),
        *canary_pair("w30", "w30.test", {A + "canary-weight": "30"}),
        *canary_pair("wtotal", "wtotal.test", {A + "canary-weight": "100",
                                               A + "canary-weight-total": "400"}),
        *canary_pair("metrics", "metrics.test", {A + "canary-by-header": "X-Canary"}),
        # A canary whose Service has no endpoint (none listed; none ready).
        *canary_pair("emptyc", "emptyc.test", {A + "canary-by-header": "X-Canary",
                                               A + "canary-weight": "100"}, canary_svc="none"),
        *canary_pair("unready", "unready.test", {A + "canary-by-header": "X-Canary",
                                                 A + "canary-weight": "100"},
                     canary_svc="unready"),
        # A canary with no main Ingress for its host and path; canary-* without canary.
        h.ingress("orphan", [("orphan.test", "/", "Prefix", "cnr", 80)],
                  annotations={A + "canary": "true", A + "canary-weight": "100"}),
        h.ingress("notcanary", [("notcanary.test", "/", "Prefix", "web", 80)],
                  annotations={A + "canary-weight": "100"}))
    h.write_manifests(
        d, "affinity.yaml",
        affinity_ingress("balanced", "balanced.test", {}, path="/app"),
        affinity_ingress("persistent", "persistent.test",
                         {A + "affinity-mode": "persistent", A + "session-cookie-name": "route"}),
        affinity_ingress("attrs", "attrs.test",
                         {A + "session-cookie-name": "sess",
                          A + "session-cookie-path": "/custom",
                          A + "session-cookie-domain": "attrs.test",
                          A + "session-cookie-samesite": "Strict",
                          A + "session-cookie-secure": "true",
                          A + "session-cookie-expires": "3600",
                          A + "session-cookie-max-age": "120"}, path="/shop"),
        affinity_ingress("ssnone", "ssnone.test",
                         {A + "session-cookie-samesite": "None",
                          A + "session-cookie-conditional-samesite-none": "true"}),
        affinity_ingress("ssplain", "ssplain.test", {A + "session-cookie-samesite": "None"}),
        affinity_ingress("nochange", "nochange.test", {A + "affinity-mode": "persistent"},
                         svc="flaky"),
        affinity_ingress("change", "change.test",
                         {A + "affinity-mode": "persistent",
                          A + "session-cookie-change-on-failure": "true"}, svc="flaky"),
        *canary_pair("sticky0", "sticky0.test", {A + "canary-by-header": "X-Canary"},
                     main_ann={A + "affinity": "cookie"}, main_svc="trio"),
        *canary_pair("sticky100", "sticky100.test", {A + "canary-by-header": "X-Canary",
                                                     A + "canary-weight": "100"},
                     main_ann={A + "affinity": "cookie"}, main_svc="trio"))
    # An HTTPS listener too (hosts without spec.tls get the default certificate): HTTPS
    # requests always get Secure on the affinity cookie.
    P = t.start_portico(d)


def tearDownModule():
    if P is not None:
        P.stop()
    for u in UPS.values():
        u.stop()


def get(host, path="/", headers=None):
    """One GET on a fresh connection."""
    return h.request(P.http_port, "GET", path, host=host, headers=headers)


def served_by(r):
    """The name of the upstream that answered (the test fails on anything but a 200)."""
    if r.status != 200:
        raise AssertionError(f"status {r.status}, want 200: {r.headers} {r.body[:200]!r}")
    name = r.header("X-Upstream-Name")
    if name not in MAIN + CANARY:
        raise AssertionError(f"answered by {name!r}")
    return name


def side(name):
    return "canary" if name in CANARY else "main"


SET_COOKIE = re.compile(r"^(?P<name>[^=]+)=(?P<key>[^|;]*)\|(?P<backend>[^;]*)(?P<attrs>(;.*)?)$")


def parse_cookie(r, name):
    """The single Set-Cookie of response r: (key, backend key, attributes after the value)."""
    values = r.header_all("Set-Cookie")
    if len(values) != 1:
        raise AssertionError(f"want one Set-Cookie, got {values}")
    m = SET_COOKIE.match(values[0])
    if not m or m.group("name") != name:
        raise AssertionError(f"Set-Cookie {values[0]!r} is not {name}=<key>|<backend key>...")
    return m.group("key"), m.group("backend"), m.group("attrs")


# ---------------------------------------------------------------------------- canary


class canary(unittest.TestCase):
    def check_sides(self, host, cases, repeat=4):
        """cases: [(headers, "main"|"canary")]; each is sent `repeat` times."""
        for headers, want in cases:
            got = [side(served_by(get(host, "/", headers))) for _ in range(repeat)]
            self.assertEqual(got, [want] * repeat, f"{host} {headers}")

    def test_header_then_cookie_then_weight_0(self):
        self.check_sides("order.test", [
            ({}, "main"),
            ({"X-Canary": "always"}, "canary"),
            ({"x-canary": "always"}, "canary"),  # header names are case-insensitive
            ({"X-Canary": "never"}, "main"),
            ({"Cookie": "canary_ck=always"}, "canary"),
            ({"Cookie": "a=1; canary_ck=always; b=2"}, "canary"),
            ({"Cookie": "canary_ck=never"}, "main"),
            # the header decides before the cookie
            ({"X-Canary": "never", "Cookie": "canary_ck=always"}, "main"),
            ({"X-Canary": "always", "Cookie": "canary_ck=never"}, "canary"),
            # a header value that is neither falls through to the cookie, then the weight (0)
            ({"X-Canary": "maybe", "Cookie": "canary_ck=always"}, "canary"),
            ({"X-Canary": "maybe"}, "main"),
            ({"Cookie": "canary_ck=maybe"}, "main"),
        ])

    def test_weight_100_takes_only_what_header_and_cookie_leave(self):
        self.check_sides("order100.test", [
            ({}, "canary"),
            ({"X-Canary": "maybe"}, "canary"),
            ({"Cookie": "canary_ck=maybe"}, "canary"),
            ({"X-Canary": "never"}, "main"),
            ({"Cookie": "canary_ck=never"}, "main"),
            ({"X-Canary": "maybe", "Cookie": "canary_ck=never"}, "main"),
            ({"X-Canary": "always", "Cookie": "canary_ck=never"}, "canary"),
            ({"X-Canary": "never", "Cookie": "canary_ck=always"}, "main"),
        ])

    def test_header_value(self):
        # canary-by-header-value: only that exact value goes to the canary; every other value
        # ("always" and "never" included) falls through to the cookie, then the weight (0).
        self.check_sides("value.test", [
            ({}, "main"),
            ({"X-Tier": "gold"}, "canary"),
            ({"X-Tier": "Gold"}, "main"),
            ({"X-Tier": "gold-plus"}, "main"),
            ({"X-Tier": "always"}, "main"),
            ({"X-Tier": "silver", "Cookie": "canary_ck=always"}, "canary"),
            ({"X-Tier": "never", "Cookie": "canary_ck=always"}, "canary"),
            ({"X-Tier": "gold", "Cookie": "canary_ck=never"}, "canary"),
            ({"X-Tier": "silver", "Cookie": "canary_ck=never"}, "main"),
        ])

    def test_header_pattern(self):
        # canary-by-header-pattern: the regex is searched in the value (not anchored).
        self.check_sides("pattern.test", [
            ({}, "main"),
            ({"X-Tier": "beta-7"}, "canary"),
            ({"X-Tier": "pre-beta-42-x"}, "canary"),
            ({"X-Tier": "beta-x"}, "main"),
            ({"X-Tier": "always"}, "main"),
            ({"X-Tier": "alpha", "Cookie": "canary_ck=always"}, "canary"),
            ({"X-Tier": "never", "Cookie": "canary_ck=always"}, "canary"),
            ({"X-Tier": "beta-1", "Cookie": "canary_ck=never"}, "canary"),
        ])

    def count_canary(self, host, n):
        names = [served_by(get(host)) for _ in range(n)]
        return sum(1 for x in names if side(x) == "canary"), set(names)

    def test_weight_distribution(self):
        n, names = self.count_canary("w30.test", 400)
        self.assertTrue(80 <= n <= 160, f"weight 30: {n}/400 to the canary")
        self.assertEqual(names, set(MAIN + CANARY))  # both backends balance their endpoints
        # canary-weight-total 400 with weight 100: a quarter.
        n, _ = self.count_canary("wtotal.test", 400)
        self.assertTrue(60 <= n <= 140, f"weight 100 of 400: {n}/400 to the canary")
        n, _ = self.count_canary("order.test", 100)
        self.assertEqual(n, 0, "weight 0")
        n, _ = self.count_canary("order100.test", 100)
        self.assertEqual(n, 100, "weight 100")

    def test_metrics_canary_label(self):
        for _ in range(3):
            self.assertEqual(side(served_by(get("metrics.test", "/m", {"X-Canary": "always"}))),
                             "canary")
        for _ in range(5):
            self.assertEqual(side(served_by(get("metrics.test", "/m"))), "main")
        name = "nginx_ingress_controller_requests"

        def counts():
            return (P.metric(name, host="metrics.test", canary=CANARY_UPSTREAM),
                    P.metric(name, host="metrics.test", canary=""))
        try:
            h.wait_until(lambda: counts() == (3, 5), timeout=15)
        except TimeoutError:
            self.fail(f"metrics (canary, main) = {counts()}, want (3, 5)")
        # The canary's requests carry the main Ingress's ingress and service labels.
        self.assertEqual(P.metric(name, host="metrics.test", canary=CANARY_UPSTREAM,
                                  ingress="metrics-main", service="web", namespace=NS,
                                  status="200"), 3)
        self.assertIsNone(P.metric(name, host="metrics.test", ingress="metrics-canary"))
        self.assertIsNone(P.metric(name, host="metrics.test", service="cnr"))

    def test_access_log_canary_field(self):
        marker = f"/log-{time.monotonic_ns()}"
        self.assertEqual(side(served_by(get("order.test", marker + "-c", {"X-Canary": "always"}))),
                         "canary")
        self.assertEqual(side(served_by(get("order.test", marker + "-m"))), "main")

        def lines():
            out = {}
            for line in list(P.stdout_lines):
                if marker in line:
                    rec = json.loads(line)
                    out[rec["path"]] = rec
            return out
        try:
            got = h.wait_until(lambda: len(lines()) == 2 and lines(), timeout=15)
        except TimeoutError:
            self.fail(f"access log lines for {marker}: {lines()}")
        c, m = got[marker + "-c"], got[marker + "-m"]
        self.assertEqual(c.get("canary"), CANARY_UPSTREAM, c)
        self.assertIn(c["upstream_addr"], [ADDR[n] for n in CANARY])
        self.assertEqual((c["ingress"], c["service"]), ("order-main", "web"))
        self.assertNotIn("canary", m)
        self.assertIn(m["upstream_addr"], [ADDR[n] for n in MAIN])

    def test_routes_table_and_errors(self):
        r = h.run_portico("routes", "--config-dir", DIR)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)  # errors are listed
        table, _, errors = r.stdout.partition("\nERRORS")
        rows = [ln.split() for ln in table.strip().splitlines()]
        i = next(i for i, row in enumerate(rows) if row[:2] == ["order.test", "/"])
        self.assertEqual(rows[i][2:6], ["Prefix", "Ingress", "default/order-main", "web:80"])
        self.assertEqual(rows[i + 1][:4], ["canary", "Ingress", "default/order-canary", "cnr:80"])
        self.assertIn(ADDR["c0"], table.splitlines()[i + 1])
        # The canary Ingresses never serve a route of their own (the canary rows have no host
        # and path columns: TYPE comes first).
        self.assertFalse(any(row[0] != "canary" and "default/order-canary" in row
                             for row in rows))
        self.assertEqual(sum(1 for row in rows if row[0] == "canary"), 11, table)
        self.assertFalse(any(row and row[0] == "orphan.test" for row in rows))
        err = [ln for ln in errors.splitlines() if "default/orphan" in ln]
        self.assertEqual(len(err), 1, errors)
        self.assertIn('canary: no Ingress serves host "orphan.test"', err[0])
        err = [ln for ln in errors.splitlines() if "default/notcanary" in ln]
        self.assertEqual(len(err), 1, errors)
        self.assertIn("configured but canary is not", err[0])

    def test_canary_without_main_is_ignored_and_canary_star_without_canary_serves_plainly(self):
        self.assertEqual(get("orphan.test").status, 404)
        # canary-weight without canary "true": the annotation is ignored, the Ingress served.
        names = {served_by(get("notcanary.test")) for _ in range(12)}
        self.assertTrue(names and names <= set(MAIN), names)

    # ingress-nginx keeps no balancer for a backend without endpoints (balancer.lua
    # sync_backend), so route_to_alternative_balancer() finds no alternative balancer and the
    # main backend serves, whatever header, cookie or weight say.
    def test_a_canary_without_endpoints_leaves_requests_to_main(self):
        for host in ("emptyc.test", "unready.test"):
            for headers in ({}, {"X-Canary": "always"}):
                got = [get(host, "/", headers).status for _ in range(3)]
                self.assertEqual(got, [200] * 3, f"{host} {headers}")


# ---------------------------------------------------------------------------- affinity


class affinity(unittest.TestCase):
    TRIO = "default-trio-80"
    FLAKY = "default-flaky-80"

    def assert_sticky(self, host, cookie, want, n=20, headers=None):
        """n requests on new connections with `cookie`: all served by `want`, no new cookie."""
        for i in range(n):
            r = get(host, "/app" if host == "balanced.test" else "/",
                    {"Cookie": cookie, **(headers or {})})
            self.assertEqual(served_by(r), want, f"{host} request {i} with {cookie}")
            self.assertEqual(r.header_all("Set-Cookie"), [], f"{host} request {i}")

    def cookies_for_every_endpoint(self, host, path, name, tries=60):
        """Cookie-less requests until each of m0..m2 handed out a cookie: {endpoint: (key, bk)}."""
        got = {}
        for _ in range(tries):
            r = get(host, path)
            key, bk, _ = parse_cookie(r, name)
            got.setdefault(served_by(r), (key, bk))
            if len(got) == 3:
                break
        self.assertEqual(set(got), set(MAIN), f"{host}: endpoints that handed out cookies")
        return got

    def test_balanced_cookie_and_stickiness(self):
        r = get("balanced.test", "/app/x")
        key, bk, attrs = parse_cookie(r, "INGRESSCOOKIE")
        self.assertEqual(bk, backend_key(self.TRIO))
        self.assertRegex(key, r"^[0-9a-zA-Z._-]+$")
        self.assertEqual(attrs, "; Path=/app; HttpOnly")  # the default Path: the Ingress path
        cookies = self.cookies_for_every_endpoint("balanced.test", "/app", "INGRESSCOOKIE")
        for ep, (key, bk) in cookies.items():
            self.assertEqual(bk, backend_key(self.TRIO))
            self.assertNotIn(key, [md5(self.TRIO + a) for a in ADDR.values()])
            self.assert_sticky("balanced.test", f"INGRESSCOOKIE={key}|{bk}", ep)
        # A balanced key is hashed onto the endpoints: any key sticks to one of them and is kept
        # (no new cookie), as ingress-nginx's sticky_balanced.
        r = get("balanced.test", "/app", {"Cookie": f"INGRESSCOOKIE=some-key|{bk}"})
        self.assert_sticky("balanced.test", f"INGRESSCOOKIE=some-key|{bk}", served_by(r), n=5)

    def test_persistent_exact_cookie_values_and_stickiness(self):
        want = {persistent_key(self.TRIO, ADDR[n]): n for n in MAIN}
        cookies = self.cookies_for_every_endpoint("persistent.test", "/", "route")
        for ep, (key, bk) in cookies.items():
            self.assertEqual(want.get(key), ep, f"key {key} from {ep}")
            self.assertEqual(bk, backend_key(self.TRIO))
        # A cookie computed here names its endpoint: 20 new connections each land there.
        for key, ep in want.items():
            self.assert_sticky("persistent.test", f"route={key}|{backend_key(self.TRIO)}", ep)
        # Without the backend part, the key alone is enough.
        key = persistent_key(self.TRIO, ADDR["m1"])
        self.assert_sticky("persistent.test", f"route={key}", "m1", n=3)

    def test_unknown_key_gets_a_new_cookie(self):
        want = {persistent_key(self.TRIO, ADDR[n]): n for n in MAIN}
        for bad in ("0" * 32, "nonsense", persistent_key(self.FLAKY, ADDR["m0"])):
            r = get("persistent.test", "/", {"Cookie": f"route={bad}|{backend_key(self.TRIO)}"})
            key, bk, attrs = parse_cookie(r, "route")
            self.assertEqual(want.get(key), served_by(r), f"cookie {bad}: new key {key}")
            self.assertEqual(bk, backend_key(self.TRIO))
            self.assertEqual(attrs, "; Path=/; HttpOnly")

    def test_cookie_attributes(self):
        before = time.time()
        r = get("attrs.test", "/shop")
        after = time.time()
        key, bk, attrs = parse_cookie(r, "sess")
        self.assertEqual(bk, backend_key(self.TRIO))
        m = re.fullmatch(r"; Expires=(?P<date>[^;]+); Max-Age=120; Domain=attrs\.test; "
                         r"Path=/custom; Secure; HttpOnly; SameSite=Strict", attrs)
        self.assertIsNotNone(m, attrs)
        # nginx's cookie time, "Thu, 18-Nov-2010 11:27:35 GMT", 3600 s from now.
        expires = calendar.timegm(time.strptime(m.group("date"), "%a, %d-%b-%Y %H:%M:%S GMT"))
        self.assertTrue(before + 3600 - 2 <= expires <= after + 3600 + 2,
                        (m.group("date"), before, after))

    def test_samesite_none_and_old_user_agents(self):
        def attrs(host, ua):
            return parse_cookie(get(host, "/", {"User-Agent": ua} if ua else {}),
                                "INGRESSCOOKIE")[2]
        with_none = "; Path=/; HttpOnly; SameSite=None"
        without = "; Path=/; HttpOnly"
        self.assertEqual(attrs("ssnone.test", NEW_CHROME), with_none)
        self.assertEqual(attrs("ssnone.test", None), with_none)
        self.assertEqual(attrs("ssnone.test", OLD_CHROME), without)
        self.assertEqual(attrs("ssnone.test", OLD_IPHONE), without)
        # Without session-cookie-conditional-samesite-none, every user agent gets it.
        self.assertEqual(attrs("ssplain.test", OLD_CHROME), with_none)
        self.assertEqual(attrs("ssplain.test", OLD_IPHONE), with_none)

    def test_https_always_gets_secure(self):
        r = t.https_request(P.https_port, "balanced.test", "/app")
        self.assertEqual(r.status, 200)
        _, _, attrs = parse_cookie(r, "INGRESSCOOKIE")
        self.assertEqual(attrs, "; Path=/app; Secure; HttpOnly")

    def test_dead_endpoint_without_change_on_failure_fails(self):
        dead = f"{DEAD[0]}:{DEAD[1]}"
        cookie = f"INGRESSCOOKIE={persistent_key(self.FLAKY, dead)}|{backend_key(self.FLAKY)}"
        for i in range(3):
            r = get("nochange.test", "/", {"Cookie": cookie})
            self.assertEqual(r.status, 502, f"request {i}: {r.headers}")
            self.assertEqual(r.header_all("Set-Cookie"), [])
        # A live endpoint's cookie on the same route: served there.
        live = persistent_key(self.FLAKY, ADDR["m1"])
        self.assert_sticky("nochange.test", f"INGRESSCOOKIE={live}|{backend_key(self.FLAKY)}",
                           "m1", n=3)

    def test_dead_endpoint_with_change_on_failure_moves_and_recookies(self):
        dead = f"{DEAD[0]}:{DEAD[1]}"
        cookie = f"INGRESSCOOKIE={persistent_key(self.FLAKY, dead)}|{backend_key(self.FLAKY)}"
        for i in range(3):
            r = get("change.test", "/", {"Cookie": cookie})
            ep = served_by(r)
            self.assertIn(ep, ("m0", "m1"), f"request {i}")
            key, bk, attrs = parse_cookie(r, "INGRESSCOOKIE")
            self.assertEqual(key, persistent_key(self.FLAKY, ADDR[ep]), f"request {i}")
            self.assertEqual(bk, backend_key(self.FLAKY))
            self.assertEqual(attrs, "; Path=/; HttpOnly")
        # The new cookie sticks.
        self.assert_sticky("change.test", f"INGRESSCOOKIE={key}|{bk}", ep, n=10)


# ---------------------------------------------------------------------------- both


class canary_affinity(unittest.TestCase):
    TRIO_BK = backend_key("default-trio-80")
    CANARY_BK = backend_key(CANARY_UPSTREAM)

    def sticky_run(self, host, cookie, headers=None, n=20):
        names = []
        for i in range(n):
            r = get(host, "/", {"Cookie": cookie, **(headers or {})})
            names.append(served_by(r))
            self.assertEqual(r.header_all("Set-Cookie"), [], f"{host} request {i}")
        return names

    def test_a_client_the_canary_served_stays_on_the_canary(self):
        r = get("sticky0.test", "/", {"X-Canary": "always"})
        ep = served_by(r)
        self.assertIn(ep, CANARY)
        key, bk, attrs = parse_cookie(r, "INGRESSCOOKIE")  # the main Ingress's affinity
        self.assertEqual(bk, self.CANARY_BK)
        self.assertEqual(attrs, "; Path=/; HttpOnly")
        cookie = f"INGRESSCOOKIE={key}|{bk}"
        # No header, weight 0: still the canary, and the same canary endpoint.
        self.assertEqual(self.sticky_run("sticky0.test", cookie), [ep] * 20)
        # The cookie decides before the header, as ingress-nginx's is_affinitized.
        self.assertEqual(self.sticky_run("sticky0.test", cookie, {"X-Canary": "never"}, n=5),
                         [ep] * 5)
        # Without a cookie the main backend serves (weight 0), and its cookie names main.
        r = get("sticky0.test")
        self.assertIn(served_by(r), MAIN)
        self.assertEqual(parse_cookie(r, "INGRESSCOOKIE")[1], self.TRIO_BK)

    def test_a_client_main_served_stays_on_main_despite_weight_100(self):
        # Weight 100: a cookie-less client goes to the canary and gets the canary's key.
        for _ in range(5):
            r = get("sticky100.test")
            self.assertIn(served_by(r), CANARY)
            self.assertEqual(parse_cookie(r, "INGRESSCOOKIE")[1], self.CANARY_BK)
        r = get("sticky100.test", "/", {"X-Canary": "never"})
        ep = served_by(r)
        self.assertIn(ep, MAIN)
        key, bk, _ = parse_cookie(r, "INGRESSCOOKIE")
        self.assertEqual(bk, self.TRIO_BK)
        cookie = f"INGRESSCOOKIE={key}|{bk}"
        self.assertEqual(self.sticky_run("sticky100.test", cookie), [ep] * 20)
        self.assertEqual(self.sticky_run("sticky100.test", cookie, {"X-Canary": "always"}, n=5),
                         [ep] * 5)


# ---------------------------------------------------------------------------- live changes


class live_changes(unittest.TestCase):
    """Manifest changes applied by the running process (its own Portico and directory)."""

    def setUp(self):
        self.dir = h.temp_dir()
        h.write_manifests(self.dir, "class.yaml", h.ingress_class())
        self.write(MAIN, CANARY, weight=0)
        self.p = h.Portico.start(self.dir)

    def tearDown(self):
        self.p.stop()

    def write(self, main_eps, canary_eps, weight, with_main=True):
        ep = lambda names: [(UPS[n].host, UPS[n].port) for n in names]  # noqa: E731
        docs = [h.service("trio", 80, ep(main_eps)), h.service("cnr", 80, ep(canary_eps))]
        if with_main:
            docs.append(affinity_ingress("live", "live.test", {A + "affinity-mode": "persistent"}))
        docs.append(h.ingress("live-canary", [("live.test", "/", "Prefix", "cnr", 80)],
                              annotations={A + "canary": "true", A + "canary-weight": str(weight),
                                           A + "canary-by-header": "X-Canary"}))
        h.write_manifests(self.dir, "live.yaml", *docs)

    def get(self, headers=None):
        return h.request(self.p.http_port, "GET", "/", host="live.test", headers=headers)

    def wait(self, what, predicate):
        try:
            h.wait_until(predicate, timeout=20)
        except TimeoutError:
            self.fail(f"not applied within 20 s: {what}")

    def test_weight_endpoints_and_the_main_ingress_change_without_restart(self):
        pid = self.p.pid
        trio = "default-trio-80"
        cookie = lambda n: (f"INGRESSCOOKIE={persistent_key(trio, ADDR[n])}"  # noqa: E731
                            f"|{backend_key(trio)}")
        self.assertEqual(served_by(self.get({"Cookie": cookie("m0")})), "m0")
        # m0 leaves the Service and the canary loses c0; the weight goes to 100.
        self.write(("m1", "m2"), ("c1",), weight=100)
        self.wait("canary weight 100", lambda: served_by(self.get()) == "c1")
        names = {served_by(self.get()) for _ in range(20)}
        self.assertEqual(names, {"c1"})  # weight 100, and the canary's endpoints follow
        # The persistent cookies of the endpoints that stay keep them (a cookie that names the
        # main backend beats the header and the weight); m0's gets a new one.
        for n in ("m1", "m2"):
            for _ in range(5):
                r = self.get({"Cookie": cookie(n), "X-Canary": "always"})
                self.assertEqual((served_by(r), r.header_all("Set-Cookie")), (n, []))
        r = self.get({"Cookie": cookie("m0"), "X-Canary": "never"})
        key, _, _ = parse_cookie(r, "INGRESSCOOKIE")
        self.assertEqual(key, persistent_key(trio, ADDR[served_by(r)]))
        self.assertIn(served_by(r), ("m1", "m2"))
        # Without its main Ingress, the canary serves nothing.
        self.write(("m1", "m2"), ("c1",), weight=100, with_main=False)
        self.wait("main Ingress removed", lambda: self.get().status == 404)
        self.write(MAIN, CANARY, weight=0)
        self.wait("main Ingress back", lambda: self.get().status == 200)
        self.assertEqual({side(served_by(self.get())) for _ in range(10)}, {"main"})
        self.assertEqual(self.p.pid, pid)
        self.assertTrue(self.p.alive())


if __name__ == "__main__":
    unittest.main()
