#!/usr/bin/python3
"""Rate and connection limits against the real binary, as ingress-nginx configures nginx's
limit_req / limit_conn.

limit-rps / limit-rpm: requests per second / minute per client address, burst = the rate times
limit-burst-multiplier (default 5), nodelay: a new client may send burst + 1 requests at once;
a refused request gets the ConfigMap's limit-req-status-code (default 503) from Portico itself
and never reaches the upstream. limit-connections: requests of one client address in progress
at once; beyond, limit-conn-status-code (default 503); a slot is released when its request ends
or its client goes away. limit-allowlist (older name limit-whitelist; the newer name wins): never
limited. Budgets are per Ingress (every path and host of it) and per client address, shared by
all worker threads. A bad value makes every route of its Ingress answer 503 and is reported by
`portico routes`. The table of clients is bounded.

Counts are made deterministic with limit-rpm (one request drains in 60/N seconds, far longer
than a burst takes) and each test uses its own client addresses (127.0.0.0/8 source addresses
bound by the test client), since budgets live as long as the Portico process. Nothing asserts on
timings; every loop is bounded in count and time."""

import os
import re
import socket
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402
from annotations_test import configmap  # noqa: E402
from routes_cli_test import error_lines  # noqa: E402
from scripted_upstream import ScriptedUpstream  # noqa: E402

A = "nginx.ingress.kubernetes.io/"
HOLD_TIMEOUT = 20.0  # the longest the upstream holds a response whose gate is never opened

UP = None    # ScriptedUpstream: echoes, records every request; /hold waits on a gate
DIR = None
P = None     # 4 workers, no ConfigMap
P429 = None  # 2 workers, limit-req-status-code 429, limit-conn-status-code 507

_gates = {}
_gates_lock = threading.Lock()


def gate(name):
    with _gates_lock:
        return _gates.setdefault(name, threading.Event())


def _echo(raw):
    return (b"HTTP/1.1 200 OK\r\nX-Upstream-Name: scripted\r\nContent-Length: %d\r\n\r\n%s"
            % (len(raw), raw))


def _hold(raw):
    """GET /hold?gate=NAME&...: answered once the gate opens (or after HOLD_TIMEOUT)."""
    target = raw.split(b" ", 2)[1].decode("latin-1")
    m = re.search(r"[?&]gate=([\w-]+)", target)
    gate(m.group(1) if m else "none").wait(HOLD_TIMEOUT)
    return _echo(raw)


class _Routes(dict):
    def get(self, key, default=None):
        return super().get(key, _echo)


def setUpModule():
    global UP, DIR, P, P429
    UP = ScriptedUpstream(_Routes({"/hold": _hold}))
    DIR = d = h.temp_dir()
    h.write_manifests(d, "class.yaml", h.ingress_class())
    h.write_manifests(
        d, "svc.yaml",
        h.service("app", 80, [("127.0.0.1", UP.port)]),
        configmap("limits", {"limit-req-status-code": "429", "limit-conn-status-code": "507"},
                  namespace="ingress"))

    rpm6 = {A + "limit-rpm": "6", A + "limit-burst-multiplier": "2"}  # burst 12: 13 pass

    def ing(name, rules, ann):
        return h.ingress(name, [(host, path, "Prefix", "app", 80) for host, path in rules],
                         annotations=ann)

    h.write_manifests(
        d, "ing.yaml",
        ing("open", [("open.test", "/")], {}),
        # One budget for every host and path of the Ingress.
        ing("rpm", [("rpm.test", "/"), ("rpm.test", "/api"), ("rpm-b.test", "/")], rpm6),
        # Another Ingress on the same host: its own budget.
        ing("rpm-other", [("rpm.test", "/other")], rpm6),
        ing("rpm-default", [("rpmdefault.test", "/")], {A + "limit-rpm": "2"}),  # burst 10
        ing("rps", [("rps.test", "/")], {A + "limit-rps": "1"}),  # burst 5
        ing("conn", [("conn.test", "/")], {A + "limit-connections": "2"}),
        ing("allow", [("allow.test", "/")],
            {**rpm6, A + "limit-allowlist": "127.0.5.0/24, 127.0.6.1",
             A + "limit-whitelist": "127.0.7.1"}),  # the allowlist wins: 127.0.7.1 is limited
        ing("white", [("white.test", "/")], {**rpm6, A + "limit-whitelist": "127.0.7.0/24"}),
        ing("bad", [("bad.test", "/"), ("bad.test", "/api"), ("bad2.test", "/")],
            {A + "limit-rps": "five"}),
        ing("flood", [("flood.test", "/")], rpm6))
    P = h.Portico.start(d, "--workers", "4")
    P429 = h.Portico.start(d, "--workers", "2", "--configmap", "ingress/limits")


def tearDownModule():
    with _gates_lock:
        for ev in _gates.values():
            ev.set()
    for p in (P, P429):
        if p:
            p.stop()
    if UP:
        UP.stop()


def get(p, host, source, target="/", timeout=15.0):
    return h.request(p.http_port, "GET", target, host=host, source=source, timeout=timeout)


def refused_at_once(p, host, source, target, timeout=5.0):
    """(status, X-Upstream-Name) of one request, or ("held", None) when no answer came within
    `timeout` (the request was admitted and is held by the upstream)."""
    try:
        r = get(p, host, source, target, timeout=timeout)
    except socket.timeout:
        return "held", None
    return r.status, r.header("X-Upstream-Name")


def upstream_saw(prefix):
    """How many requests whose target starts with `prefix` reached the upstream."""
    start = f"GET {prefix}".encode()
    with UP.lock:
        return sum(1 for raw in UP.requests if raw.startswith(start))


def burst(p, host, source, prefix, n, hosts=None):
    """`n` sequential requests, each on a new connection; returns the statuses in order and
    checks every 200 came from the upstream and every refusal from Portico."""
    out = []
    for i in range(n):
        hh = hosts[i % len(hosts)] if hosts else (host, prefix)
        r = get(p, hh[0], source, f"{hh[1]}{i}")
        out.append((r.status, r.header("X-Upstream-Name")))
    for st, name in out:
        assert (st == 200) == (name == "scripted"), out
    return [st for st, _ in out]


def concurrent(jobs, timeout=30.0):
    """Runs the callables at once (after a barrier); returns their results, raising the first
    exception."""
    results = [None] * len(jobs)
    errors = []
    barrier = threading.Barrier(len(jobs))

    def run(i, job):
        try:
            barrier.wait(timeout)
            results[i] = job()
        except Exception as e:  # noqa: BLE001 - re-raised below
            errors.append(e)

    threads = [threading.Thread(target=run, args=(i, j), daemon=True) for i, j in enumerate(jobs)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + timeout
    for t in threads:
        t.join(max(0.1, deadline - time.monotonic()))
    if any(t.is_alive() for t in threads):
        raise TimeoutError("concurrent clients did not finish")
    if errors:
        raise errors[0]
    return results


def keep_alive_client(p, host, source, prefix, n):
    """`n` requests on one keep-alive connection (a new one only if Portico closes it)."""
    statuses = []
    c = h.Conn(p.http_port, timeout=15, source=source)
    try:
        for i in range(n):
            r = c.request("GET", f"{prefix}{i}", host=host)
            statuses.append(r.status)
            if (r.header("Connection") or "").lower() == "close":
                c.close()
                c = h.Conn(p.http_port, timeout=15, source=source)
    finally:
        c.close()
    return statuses


class request_rate(unittest.TestCase):
    def test_a_new_client_gets_burst_plus_one_then_503(self):
        # limit-rpm 6 x limit-burst-multiplier 2: burst 12.
        statuses = burst(P, "rpm.test", "127.0.1.1", "/seq/", 30)
        self.assertEqual(statuses, [200] * 13 + [503] * 17)
        self.assertEqual(upstream_saw("/seq/"), 13)  # refusals never reach the upstream
        # The budget stays spent for later requests of the same process.
        self.assertEqual(burst(P, "rpm.test", "127.0.1.1", "/seq-again/", 3), [503] * 3)
        self.assertEqual(upstream_saw("/seq-again/"), 0)

    def test_client_addresses_have_separate_budgets(self):
        self.assertEqual(burst(P, "rpm.test", "127.0.1.2", "/sep-a/", 20), [200] * 13 + [503] * 7)
        self.assertEqual(burst(P, "rpm.test", "127.0.1.3", "/sep-b/", 20), [200] * 13 + [503] * 7)
        self.assertEqual(get(P, "rpm.test", "127.0.1.2", "/sep-a/again").status, 503)

    def test_every_host_and_path_of_the_ingress_share_one_budget(self):
        mix = [("rpm.test", "/mix/"), ("rpm.test", "/api/mix/"), ("rpm-b.test", "/mix/")]
        statuses = burst(P, None, "127.0.1.4", None, 30, hosts=mix)
        self.assertEqual(statuses, [200] * 13 + [503] * 17)
        self.assertEqual(upstream_saw("/mix/") + upstream_saw("/api/mix/"), 13)
        # Another Ingress's path on the same host has its own budget for the same client.
        self.assertEqual(burst(P, "rpm.test", "127.0.1.4", "/other/mix/", 20),
                         [200] * 13 + [503] * 7)
        # Routes without limits are not affected.
        self.assertEqual(burst(P, "open.test", "127.0.1.4", "/open/", 20), [200] * 20)

    def test_default_burst_multiplier_is_5(self):
        # limit-rpm 2, no multiplier: burst 10.
        self.assertEqual(burst(P, "rpmdefault.test", "127.0.1.5", "/def/", 20),
                         [200] * 11 + [503] * 9)

    def test_limit_rps_refuses_beyond_the_burst(self):
        # limit-rps 1, burst 5: the first 6 pass whatever the pace; 30 quick requests cannot
        # all pass (that would take 24 s at one per second).
        statuses = burst(P, "rps.test", "127.0.1.6", "/rps/", 30)
        self.assertEqual(statuses[:6], [200] * 6, statuses)
        self.assertLessEqual(set(statuses), {200, 503}, statuses)
        self.assertIn(503, statuses)
        self.assertEqual(upstream_saw("/rps/"), statuses.count(200))

    def test_limit_req_status_code_from_the_configmap(self):
        statuses = burst(P429, "rpm.test", "127.0.3.1", "/s429/", 20)
        self.assertEqual(statuses, [200] * 13 + [429] * 7)
        self.assertEqual(upstream_saw("/s429/"), 13)


class shared_by_workers(unittest.TestCase):
    """Portico P runs 4 worker threads; one client's budget is the same on all of them."""

    def test_new_connection_per_request_from_concurrent_clients(self):
        def client(k):
            return lambda: [get(P, "rpm.test", "127.0.2.1", f"/wnew/{k}/{i}").status
                            for i in range(10)]
        statuses = sum(concurrent([client(k) for k in range(4)]), [])
        self.assertEqual(len(statuses), 40)
        self.assertEqual((statuses.count(200), statuses.count(503)), (13, 27), statuses)
        self.assertEqual(upstream_saw("/wnew/"), 13)

    def test_concurrent_keep_alive_connections(self):
        statuses = sum(concurrent([
            (lambda k=k: keep_alive_client(P, "rpm.test", "127.0.2.2", f"/wka/{k}/", 8))
            for k in range(6)]), [])
        self.assertEqual(len(statuses), 48)
        self.assertEqual((statuses.count(200), statuses.count(503)), (13, 35), statuses)
        self.assertEqual(upstream_saw("/wka/"), 13)

    def test_sequential_new_connections(self):
        statuses = burst(P, "rpm.test", "127.0.2.3", "/wseq/", 40)
        self.assertEqual(statuses, [200] * 13 + [503] * 27)


class connections(unittest.TestCase):
    """conn.test: limit-connections 2; /hold?gate=G answers once gate G opens."""

    def open_held(self, p, source, g, n, tag):
        """Sends `n` held requests from `source` (on gate `g`, or on gates g[i] when `g` is a
        list) and waits until the upstream has them all; returns the open connections."""
        conns = []
        for i in range(n):
            gi = g[i] if isinstance(g, list) else g
            self.addCleanup(gate(gi).set)
            c = h.Conn(p.http_port, timeout=HOLD_TIMEOUT + 10, source=source)
            self.addCleanup(c.close)
            conns.append(c)
            c.send(h.build_request("GET", f"/hold?gate={gi}&t={tag}{i}", host="conn.test"))
            h.wait_until(lambda: upstream_saw(f"/hold?gate={gi}&t={tag}{i}") == 1, timeout=10)
        return conns

    def poll_until_passes(self, source, prefix, timeout=5.0):
        """Requests from `source` until one is admitted (bounded); returns the statuses."""
        tries = []

        def passes():
            tries.append(get(P, "conn.test", source, f"{prefix}{len(tries)}").status)
            return tries[-1] == 200
        try:
            h.wait_until(passes, timeout=timeout, interval=0.1)
        except TimeoutError:
            pass
        return tries

    def test_beyond_the_limit_503_then_slots_are_released(self):
        g = "c1"
        held = self.open_held(P, "127.0.4.1", g, 2, "a")
        try:
            # Two more requests of the same client: refused at once, never proxied.
            for i in range(2):
                self.assertEqual(
                    refused_at_once(P, "conn.test", "127.0.4.1", f"/hold?gate={g}&t=x{i}"),
                    (503, None))
                self.assertEqual(refused_at_once(P, "conn.test", "127.0.4.1", f"/quick-c1/{i}"),
                                 (503, None))
            self.assertEqual(upstream_saw(f"/hold?gate={g}&"), 2)
            self.assertEqual(upstream_saw("/quick-c1/"), 0)
            # Another client address is not affected.
            self.assertEqual(get(P, "conn.test", "127.0.4.2", "/quick-other").status, 200)
        finally:
            gate(g).set()
        for c in held:
            r = c.read_response()
            self.assertEqual((r.status, r.header("X-Upstream-Name")), (200, "scripted"))
            c.close()
        # The slots are free again: two held at once pass, a third is refused.
        g2 = "c1b"
        held = self.open_held(P, "127.0.4.1", g2, 2, "b")
        try:
            self.assertEqual(refused_at_once(P, "conn.test", "127.0.4.1", "/quick-c1b"),
                             (503, None))
        finally:
            gate(g2).set()
        for c in held:
            self.assertEqual(c.read_response().status, 200)
            c.close()
        # Sequential requests are never limited (each ends before the next).
        for i in range(10):
            self.assertEqual(get(P, "conn.test", "127.0.4.1", f"/seq-c1/{i}").status, 200)

    def test_concurrent_requests_beyond_the_limit(self):
        g = "c2"
        statuses = {}

        def client(k):
            def run():
                with h.Conn(P.http_port, timeout=HOLD_TIMEOUT + 10, source="127.0.4.4") as c:
                    r = c.request("GET", f"/hold?gate={g}&t={k}", host="conn.test")
                    statuses[k] = r.status
                    return r.status
            return run

        results = []
        runner = threading.Thread(
            target=lambda: results.extend(concurrent([client(k) for k in range(4)],
                                                     timeout=HOLD_TIMEOUT + 15)),
            daemon=True)
        runner.start()
        try:
            # The two refusals come back while the two admitted requests are held.
            try:
                h.wait_until(lambda: len(statuses) >= 2 and upstream_saw(f"/hold?gate={g}&") >= 2,
                             timeout=5)
            except TimeoutError:
                pass
            self.assertEqual(sorted(statuses.values()), [503, 503],
                             f"upstream saw {upstream_saw(f'/hold?gate={g}&')}")
            self.assertEqual(upstream_saw(f"/hold?gate={g}&"), 2)
        finally:
            gate(g).set()
        runner.join(HOLD_TIMEOUT + 20)
        self.assertFalse(runner.is_alive())
        self.assertEqual(sorted(results), [200, 200, 503, 503])
        self.assertEqual(get(P, "conn.test", "127.0.4.4", "/after-c2").status, 200)

    def test_slot_of_a_client_gone_mid_request_is_released_when_its_request_ends(self):
        # Each held request on its own gate.
        held = self.open_held(P, "127.0.4.5", ["c5a", "c5b"], 2, "a")
        self.assertEqual(get(P, "conn.test", "127.0.4.5", "/quick-c5/full").status, 503)
        held[0].close()  # the client goes away while its request is in progress
        gate("c5a").set()  # then the upstream answers it
        tries = self.poll_until_passes("127.0.4.5", "/quick-c5/")
        # Admitted while the other request still holds its slot.
        self.assertEqual(tries[-1:], [200], tries[-5:])
        self.assertEqual(get(P, "conn.test", "127.0.4.5", "/quick-c5/full2").status, 200)
        gate("c5b").set()
        self.assertEqual(held[1].read_response().status, 200)
        for i in range(3):
            self.assertEqual(get(P, "conn.test", "127.0.4.5", f"/quick-c5/end{i}").status, 200)

    def test_limit_conn_status_code_from_the_configmap(self):
        g = "c4"
        held = self.open_held(P429, "127.0.3.2", g, 2, "a")
        try:
            r = get(P429, "conn.test", "127.0.3.2", "/quick-c4")
            self.assertEqual((r.status, r.header("X-Upstream-Name")), (507, None))
        finally:
            gate(g).set()
        for c in held:
            self.assertEqual(c.read_response().status, 200)
            c.close()


class allowlist(unittest.TestCase):
    """allow.test: limit-allowlist "127.0.5.0/24, 127.0.6.1" (and limit-whitelist 127.0.7.1,
    ignored); white.test: limit-whitelist "127.0.7.0/24"; both limit-rpm 6, burst 12."""

    def test_allowlisted_addresses_are_never_limited(self):
        for src in ("127.0.5.9", "127.0.6.1"):
            self.assertEqual(burst(P, "allow.test", src, f"/al-{src}/", 39), [200] * 39, src)
        # Others are limited as usual.
        self.assertEqual(burst(P, "allow.test", "127.0.6.2", "/al-other/", 20),
                         [200] * 13 + [503] * 7)

    def test_allowlist_wins_over_whitelist(self):
        self.assertEqual(burst(P, "allow.test", "127.0.7.1", "/al-white/", 20),
                         [200] * 13 + [503] * 7)

    def test_whitelist_is_the_older_name(self):
        self.assertEqual(burst(P, "white.test", "127.0.7.2", "/wl/", 39), [200] * 39)
        self.assertEqual(burst(P, "white.test", "127.0.8.2", "/wl-other/", 20),
                         [200] * 13 + [503] * 7)


class invalid_values(unittest.TestCase):
    def test_bad_value_makes_every_route_of_the_ingress_503(self):
        for src in ("127.0.8.1", "127.0.8.3"):
            for host, target in (("bad.test", "/bad/x"), ("bad.test", "/api/bad"),
                                 ("bad2.test", "/bad/y")):
                r = get(P, host, src, target)
                self.assertEqual((r.status, r.header("X-Upstream-Name")), (503, None),
                                 f"{host}{target} from {src}")
        self.assertEqual(upstream_saw("/bad/") + upstream_saw("/api/bad"), 0)
        self.assertEqual(get(P, "open.test", "127.0.8.1", "/fine").status, 200)

    def test_routes_reports_the_bad_value(self):
        out = h.run_portico("routes", "--config-dir", DIR)
        errs = error_lines(out.stdout)
        self.assertEqual(out.returncode, 1, out.stdout + out.stderr)
        self.assertTrue(any(
            "Ingress default/bad" in e and
            "metadata.annotations[nginx.ingress.kubernetes.io/limit-rps]" in e for e in errs),
            errs)
        for name in ("rpm", "rpm-other", "rpm-default", "rps", "conn", "allow", "white",
                     "flood", "open"):
            self.assertFalse([e for e in errs if re.search(rf"Ingress default/{name}\b(?!-)", e)],
                             name)


class bounded_memory(unittest.TestCase):
    def test_flood_of_distinct_addresses(self):
        # A client whose budget is spent before the flood.
        self.assertEqual(burst(P, "flood.test", "127.0.9.1", "/pre/", 15), [200] * 13 + [503] * 2)
        before = P.rss_kib()
        sources = [f"127.1.{i // 250}.{i % 250 + 1}" for i in range(3000)]
        statuses = {}
        deadline = time.monotonic() + 60

        def client(part):
            def run():
                for src in part:
                    if time.monotonic() > deadline:
                        return
                    statuses[src] = get(P, "flood.test", src, "/flood").status
            return run

        concurrent([client(sources[k::4]) for k in range(4)], timeout=75)
        self.assertEqual(len(statuses), len(sources))
        refused = {s: st for s, st in statuses.items() if st != 200}
        self.assertEqual(refused, {})
        self.assertTrue(P.alive())
        after = P.rss_kib()
        self.assertLess(after - before, 64 * 1024, (before, after))
        # Portico answers normally afterwards; the spent budget is still spent.
        self.assertEqual(get(P, "flood.test", "127.0.9.2", "/after").status, 200)
        self.assertEqual(get(P, "open.test", "127.1.0.1", "/after").status, 200)
        self.assertEqual(get(P, "flood.test", "127.0.9.1", "/after").status, 503)


if __name__ == "__main__":
    unittest.main()
