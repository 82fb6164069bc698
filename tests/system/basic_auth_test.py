#!/usr/bin/python3
"""Basic authentication (auth-type basic, ingress-nginx's annotations) against the real binary
and a real upstream (portico-upstream echoes the request headers it received).

Users come from an Opaque Secret: an htpasswd file in its key "auth" (auth-secret-type
auth-file, the default) or one key per user (auth-map). The hashes are made by the real tools:
htpasswd (bcrypt, Apache MD5, SHA-1, crypt) and openssl passwd ($1$, $5$, $6$). Without
credentials or with wrong ones the answer is 401 with WWW-Authenticate: Basic realm="<auth-realm>";
with right ones the request is proxied without its Authorization header. A user whose hash
Portico cannot verify (plaintext) cannot sign in. A refused configuration (Secret missing, in
another namespace, without key "auth"; auth-type digest or basic without auth-secret; an unknown
auth-secret-type) makes every route of its Ingress answer 503 and is reported by
`portico routes`. Secret contents appear in no output (routes, /debug/snapshot, logs). A Secret
rewritten on disk changes the password without a restart. CORS preflights are answered before
authentication, and a 401 carries the CORS headers. In Kubernetes API mode, an Opaque Secret
protects an Ingress.

Digest authentication (auth-type digest, as ingress-nginx's nginx auth_digest module; Portico runs
with one worker, whose nonce use counts are then the only ones): users come from an htdigest file
("user:realm:HA1", HA1 = MD5(user:realm:password); one line made by the real htdigest, typed at
its prompts on a pseudo-terminal) or from auth-map (each key a user, its value "realm:HA1").
Users of another realm than auth-realm cannot sign in and are reported by `portico routes`.
Without credentials or with wrong ones (password, user, realm, URI, method, a forged nonce) the
answer is 401 with WWW-Authenticate: Digest algorithm="MD5", qop="auth", realm=..., nonce=<64
hex>. Real clients (curl --digest, urllib's HTTPDigestAuthHandler) sign in, also with a query
string and with a POST body; the request reaches the upstream without its Authorization header.
A replayed Authorization (same nonce count) gets 401 with stale="true", a rising count is
accepted; every challenge has a nonce of its own, so clients one after the other each sign in.
HA1s appear in no output. A CORS preflight is answered before digest authentication."""

import base64
import hashlib
import json
import os
import pty
import re
import select
import subprocess
import sys
import time
import unittest
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402
from routes_cli_test import error_lines  # noqa: E402

A = "nginx.ingress.kubernetes.io/"


# ---------------------------------------------------------------------------- hashes and Secrets


def htpasswd_line(flag, user, password):
    """`htpasswd -nb<flag> user password`: one "user:hash" line (B bcrypt, m $apr1$, s {SHA},
    d crypt)."""
    out = subprocess.run(["htpasswd", f"-nb{flag}", user, password], capture_output=True,
                         text=True, timeout=30, check=True).stdout
    return out.strip()


def openssl_hash(scheme, password):
    """`openssl passwd -<scheme> password`: $1$, $5$ or $6$ crypt."""
    return subprocess.run(["openssl", "passwd", f"-{scheme}", password], capture_output=True,
                          text=True, timeout=30, check=True).stdout.strip()


def b64(text):
    return base64.b64encode(text.encode()).decode()


def opaque_secret(name, data=None, string_data=None, namespace="default"):
    """A Secret of type Opaque: `data` values base64-encoded, `string_data` as written."""
    text = (f"apiVersion: v1\nkind: Secret\nmetadata:\n  name: {json.dumps(name)}\n"
            f"  namespace: {json.dumps(namespace)}\ntype: Opaque\n")
    if data:
        text += "data:\n" + "".join(f"  {json.dumps(k)}: {b64(v)}\n" for k, v in data.items())
    if string_data:
        text += "stringData:\n" + "".join(
            f"  {json.dumps(k)}: {json.dumps(v)}\n" for k, v in string_data.items())
    return text


def basic(user, password):
    return {"Authorization": "Basic " + b64(f"{user}:{password}")}


# Users of the auth-file Secret "users": (htpasswd flag, user, password). crypt keeps 8
# characters of a password, so its password has 8.
FILE_USERS = [("B", "bob", "Bcrypt-pw-7Qz"), ("m", "mal", "Apr1-pw-7Qz"), ("s", "sam", "Sha1-pw-7Qz"),
              ("d", "dan", "Des7Qz!k")]
PLAIN_USER, PLAIN_PASSWORD = "pete", "Plaintext-pw-7Qz-never-shown"
# Users of the auth-map Secret "map": (openssl scheme or "B" for htpasswd's bcrypt, user, password).
MAP_USERS = [("6", "six", "Sha512-pw-7Qz"), ("5", "five", "Sha256-pw-7Qz"), ("1", "one", "Md5-pw-7Qz"),
             ("B", "bee", "Bee-pw-7Qz")]
MAP_PLAIN_USER, MAP_PLAIN_PASSWORD = "plain", "Map-plaintext-pw-7Qz"

# Refused configurations: Ingress name -> (its annotations, the annotation named in the error,
# a fragment of the error).
REFUSED = {
    "missing": ({A + "auth-type": "basic", A + "auth-secret": "nothere"},
                "auth-secret", "Secret default/nothere not found"),
    "foreign": ({A + "auth-type": "basic", A + "auth-secret": "other/users"},
                "auth-secret", "is in another namespace"),
    "digest": ({A + "auth-type": "digest"}, "auth-type", "auth-type digest needs auth-secret"),
    "nosecret": ({A + "auth-type": "basic"}, "auth-type", "auth-type basic needs auth-secret"),
    "badtype": ({A + "auth-type": "basic", A + "auth-secret": "users",
                 A + "auth-secret-type": "something-else"},
                "auth-secret-type", "something-else"),
    "nokey": ({A + "auth-type": "basic", A + "auth-secret": "nokey"},
              "auth-secret", 'has no key "auth"'),
}


class basic_auth(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.up = h.Upstream.start("echo")
        cls.cors_up = h.Upstream.start("cors")
        cls.file_lines = [htpasswd_line(f, u, pw) for f, u, pw in FILE_USERS]
        cls.auth_file = "\n".join(cls.file_lines + [f"{PLAIN_USER}:{PLAIN_PASSWORD}"]) + "\n"
        cls.map_hashes = {u: (htpasswd_line("B", u, pw).split(":", 1)[1] if s == "B"
                              else openssl_hash(s, pw)) for s, u, pw in MAP_USERS}
        cls.dir = d = h.temp_dir()
        h.write_manifests(d, "class.yaml", h.ingress_class())
        h.write_manifests(
            d, "svc.yaml", h.service("echo", 80, [("127.0.0.1", cls.up.port)]),
            h.service("cors", 80, [("127.0.0.1", cls.cors_up.port)]))
        h.write_manifests(
            d, "secrets.yaml",
            opaque_secret("users", data={"auth": cls.auth_file}),
            opaque_secret("map", string_data={**cls.map_hashes,
                                              MAP_PLAIN_USER: MAP_PLAIN_PASSWORD}),
            opaque_secret("nokey", data={"other": cls.auth_file}),
            opaque_secret("users", data={"auth": cls.auth_file}, namespace="other"))
        auth = lambda secret, **more: {A + "auth-type": "basic",  # noqa: E731
                                       A + "auth-secret": secret, **more}
        ing = lambda name, ann, svc="echo": h.ingress(  # noqa: E731
            name, [(f"{name}.test", "/", "Prefix", svc, 80),
                   (f"{name}.test", "/api", "Prefix", svc, 80)], annotations=ann)
        h.write_manifests(
            d, "ing.yaml",
            ing("file", auth("users", **{A + "auth-realm": "Staff only"})),
            ing("qualified", auth("default/users")),
            ing("map", auth("map", **{A + "auth-secret-type": "auth-map",
                                      A + "auth-realm": "Map users"})),
            ing("cors", auth("users", **{A + "enable-cors": "true"}), svc="cors"),
            ing("open", {}),
            *[ing(name, ann) for name, (ann, _, _) in REFUSED.items()])
        cls.p = h.Portico.start(d)

    @classmethod
    def tearDownClass(cls):
        for p in (cls.p, cls.up, cls.cors_up):
            p.stop()

    def get(self, host, path="/", headers=None, method="GET"):
        return h.request(self.p.http_port, method, path, headers=headers, host=host)

    def assert_challenge(self, r, realm):
        self.assertEqual(r.status, 401)
        self.assertEqual(r.header_all("WWW-Authenticate"), [f'Basic realm="{realm}"'])

    def assert_proxied(self, r, upstream="echo"):
        self.assertEqual((r.status, r.header("X-Upstream-Name")), (200, upstream), r.body[:300])
        self.assertEqual(r.echo_header("authorization"), [])

    def test_no_or_wrong_credentials_get_401_with_the_realm(self):
        for headers in (None, basic("bob", "wrong"), basic("nobody", "Bcrypt-pw-7Qz"),
                        basic("bob", ""), {"Authorization": "Bearer abc"},
                        {"Authorization": "Basic !!!not-base64"},
                        {"Authorization": "Basic " + b64("no-colon")}):
            for path in ("/", "/api/x"):
                self.assert_challenge(self.get("file.test", path, headers), "Staff only")
        # No auth-realm: an empty realm.
        self.assert_challenge(self.get("qualified.test"), "")
        self.assert_challenge(self.get("map.test", headers=basic("six", "wrong")), "Map users")
        # An Ingress without auth-type is not protected.
        r = self.get("open.test")
        self.assertEqual(r.status, 200)
        self.assertIsNone(r.header("WWW-Authenticate"))

    def test_right_credentials_are_proxied_without_the_authorization_header(self):
        # The Authorization header as sent by a client.
        r = self.get("file.test", "/api/v1", basic("bob", "Bcrypt-pw-7Qz"))
        self.assert_proxied(r)
        self.assertEqual(r.json()["target"], "/api/v1")
        r = self.get("qualified.test", "/", basic("sam", "Sha1-pw-7Qz"))  # default/users
        self.assert_proxied(r)
        # The same password again (verified before), then a wrong one for the same user.
        self.assert_proxied(self.get("file.test", "/", basic("bob", "Bcrypt-pw-7Qz")))
        self.assert_challenge(self.get("file.test", "/", basic("bob", "Bcrypt-pw-7Qy")),
                              "Staff only")
        # curl -u.
        out = h.curl("-u", "mal:Apr1-pw-7Qz", "-H", "Host: file.test", "-w", "\n%{http_code}",
                     f"http://127.0.0.1:{self.p.http_port}/curl")
        self.assertEqual(out.returncode, 0, out.stderr)
        body, _, code = out.stdout.rpartition(b"\n")
        self.assertEqual(code, b"200")
        echo = json.loads(body)
        self.assertEqual(echo["target"], "/curl")
        self.assertEqual([v for k, v in echo["headers"] if k.lower() == "authorization"], [])
        out = h.curl("-u", "mal:wrong", "-H", "Host: file.test", "-o", "/dev/null", "-w",
                     "%{http_code}", f"http://127.0.0.1:{self.p.http_port}/curl")
        self.assertEqual(out.stdout, b"401")

    def test_every_htpasswd_format_signs_in_and_plaintext_does_not(self):
        for _, user, password in FILE_USERS:
            self.assert_proxied(self.get("file.test", "/", basic(user, password)))
            # (A different last character: crypt ignores what follows the 8th.)
            self.assert_challenge(self.get("file.test", "/", basic(user, password[:-1] + "#")),
                                  "Staff only")
        self.assert_challenge(self.get("file.test", "/", basic(PLAIN_USER, PLAIN_PASSWORD)),
                              "Staff only")

    def test_auth_map_every_format_signs_in_and_plaintext_does_not(self):
        for _, user, password in MAP_USERS:
            self.assert_proxied(self.get("map.test", "/api", basic(user, password)))
            self.assert_challenge(self.get("map.test", "/", basic(user, "nope")), "Map users")
        self.assert_challenge(self.get("map.test", "/", basic(MAP_PLAIN_USER, MAP_PLAIN_PASSWORD)),
                              "Map users")
        # A user of another Secret is not one of these.
        self.assert_challenge(self.get("map.test", "/", basic("bob", "Bcrypt-pw-7Qz")),
                              "Map users")

    def test_refused_configurations_answer_503_on_every_route(self):
        for name in REFUSED:
            for path in ("/", "/api", "/api/x"):
                for headers in (None, basic("bob", "Bcrypt-pw-7Qz")):
                    r = self.get(f"{name}.test", path, headers)
                    self.assertEqual(r.status, 503, (name, path, headers))
                    self.assertIsNone(r.header("X-Upstream-Name"), name)

    def test_refused_configurations_are_reported_by_portico_routes(self):
        r = h.run_portico("routes", "--config-dir", self.dir)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        errs = error_lines(r.stdout)
        for name, (_, annotation, fragment) in REFUSED.items():
            self.assertTrue(any(f"Ingress default/{name}:" in e and
                                f"metadata.annotations[{A}{annotation}]" in e and fragment in e
                                for e in errs), (name, errs))
        # The protected Ingresses are served: only their user that cannot sign in is reported,
        # by line number or user name (never the line, which holds the hash).
        for name in ("file", "qualified", "cors"):
            mine = [e for e in errs if f"Ingress default/{name}:" in e]
            self.assertEqual(len(mine), 1, (name, errs))
            self.assertIn("Secret default/users: line 5", mine[0])
            self.assertIn("cannot sign in", mine[0])
            self.assertNotIn("503", mine[0])
        mine = [e for e in errs if "Ingress default/map:" in e]
        self.assertEqual(len(mine), 1, errs)
        self.assertIn(f"Secret default/map: user {MAP_PLAIN_USER}:", mine[0])
        self.assertNotIn("503", mine[0])
        self.assertFalse(any("Ingress default/open:" in e for e in errs), errs)

    def test_secret_contents_appear_in_no_output(self):
        # Requests with right and wrong credentials first, so that the access log has them.
        for _, user, password in FILE_USERS:
            self.get("file.test", "/", basic(user, password))
            self.get("file.test", "/", basic(user, password[:-1] + "#"))
        self.get("file.test", "/", basic(PLAIN_USER, PLAIN_PASSWORD))
        for _, user, password in MAP_USERS:
            self.get("map.test", "/", basic(user, password))
        self.get("map.test", "/", basic(MAP_PLAIN_USER, MAP_PLAIN_PASSWORD))
        marker = "/leak-marker-7Qz"
        self.assert_proxied(self.get("file.test", marker, basic("bob", "Bcrypt-pw-7Qz")))
        h.wait_until(lambda: any(marker in line for line in self.p.stdout_lines), timeout=10)

        secrets = [line.split(":", 1)[1] for line in self.file_lines]  # the hashes
        secrets += list(self.map_hashes.values())
        secrets += [pw for _, _, pw in FILE_USERS + MAP_USERS]
        secrets += [PLAIN_PASSWORD, f"{PLAIN_USER}:{PLAIN_PASSWORD}", MAP_PLAIN_PASSWORD,
                    b64(self.auth_file)]
        routes = h.run_portico("routes", "--config-dir", self.dir)
        snapshot = h.request(self.p.admin_port, "GET", "/debug/snapshot")
        self.assertEqual(snapshot.status, 200)
        self.assertIn(b'"basic_auth"', snapshot.body)
        outputs = {
            "portico routes": routes.stdout + routes.stderr,
            "/debug/snapshot": snapshot.body.decode("utf-8", "replace"),
            "stdout": "\n".join(self.p.stdout_lines),
            "stderr": self.p.stderr_text(),
        }
        self.assertIn(marker, outputs["stdout"])
        for where, text in outputs.items():
            leaked = [s for s in secrets if s in text]
            self.assertEqual(leaked, [], f"Secret contents in {where}")

    def test_cors_preflight_is_answered_before_authentication(self):
        before = self.cors_up.stats()["requests"]
        r = self.get("cors.test", "/api", method="OPTIONS",
                     headers={"Origin": "https://app.example",
                              "Access-Control-Request-Method": "GET"})
        self.assertEqual(r.status, 204)
        self.assertEqual(r.header("Access-Control-Allow-Origin"), "*")
        self.assertIsNone(r.header("WWW-Authenticate"))
        # A GET without credentials: 401 with the CORS headers.
        r = self.get("cors.test", "/api", headers={"Origin": "https://app.example"})
        self.assert_challenge(r, "")
        self.assertEqual(r.header("Access-Control-Allow-Origin"), "*")
        # Nothing reached the upstream (each /stats request counts itself).
        self.assertEqual(self.cors_up.stats()["requests"], before + 1)
        # With credentials: proxied, with the CORS headers.
        r = self.get("cors.test", "/api", headers={"Origin": "https://app.example",
                                                   **basic("dan", "Des7Qz!k")})
        self.assert_proxied(r, "cors")
        self.assertEqual(r.header("Access-Control-Allow-Origin"), "*")


class basic_auth_reload(unittest.TestCase):
    def test_a_rewritten_secret_changes_the_password_without_restart(self):
        up = h.Upstream.start("reload")
        d = h.temp_dir()
        h.write_manifests(d, "class.yaml", h.ingress_class())
        h.write_manifests(d, "app.yaml", h.service("app", 80, [("127.0.0.1", up.port)]),
                          h.ingress("app", [("app.test", "/", "Prefix", "app", 80)],
                                    annotations={A + "auth-type": "basic",
                                                 A + "auth-secret": "htpasswd"}))
        write_secret = lambda pw: h.write_manifests(  # noqa: E731
            d, "secret.yaml",
            opaque_secret("htpasswd", data={"auth": htpasswd_line("B", "ann", pw) + "\n"}))
        write_secret("Old-pw-1")
        p = h.Portico.start(d)
        try:
            status = lambda pw: h.request(p.http_port, "GET", "/", headers=basic("ann", pw),  # noqa: E731
                                          host="app.test").status
            self.assertEqual(status("Old-pw-1"), 200)
            self.assertEqual(status("New-pw-2"), 401)
            pid = p.pid
            write_secret("New-pw-2")
            h.wait_until(lambda: status("New-pw-2") == 200, timeout=20)
            self.assertEqual(status("Old-pw-1"), 401)
            self.assertEqual(status("New-pw-2"), 200)
            self.assertEqual(p.pid, pid)
            self.assertTrue(p.alive())
        finally:
            p.stop()
            up.stop()


# ---------------------------------------------------------------------------- digest authentication


def md5_hex(text):
    return hashlib.md5(text.encode()).hexdigest()


def ha1(user, realm, password):
    return md5_hex(f"{user}:{realm}:{password}")


def htdigest_line(realm, user, password):
    """`htdigest -c FILE realm user` with the password typed at its two prompts on a
    pseudo-terminal (as a person would); the "user:realm:HA1" line it wrote."""
    path = os.path.join(h.temp_dir(prefix="htdigest-"), "htdigest")
    master, slave = pty.openpty()
    try:
        proc = subprocess.Popen(["htdigest", "-c", path, realm, user], stdin=slave,
                                stdout=slave, stderr=slave, start_new_session=True)
    finally:
        os.close(slave)
    out, typed = b"", 0
    deadline = time.monotonic() + 30
    try:
        while True:
            ready, _, _ = select.select([master], [], [], max(0.0, deadline - time.monotonic()))
            if not ready:
                raise TimeoutError(f"htdigest did not finish: {out!r}")
            try:
                chunk = os.read(master, 1024)
            except OSError:  # EIO: htdigest exited and closed the terminal
                break
            if not chunk:
                break
            out += chunk
            if out.lower().count(b"password:") > typed:
                os.write(master, password.encode() + b"\n")
                typed += 1
        rc = proc.wait(timeout=30)
    finally:
        os.close(master)
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert (rc, typed) == (0, 2), (rc, typed, out)
    assert password.encode() not in out, "htdigest echoed the password"
    with open(path) as f:
        return f.read().strip()


DIGEST_REALM = "Digest Realm"
MAP_REALM = "Map Realm"
OTHER_REALM = "Elsewhere"
# The htdigest file of Secret "digest-users": alice's line is made by htdigest, carol's here;
# otto is of another realm.
ALICE, ALICE_PW = "alice", "Alice-pw-7Qz"
CAROL, CAROL_PW = "carol", "Carol-pw-7Qz"
OTTO, OTTO_PW = "otto", "Otto-pw-7Qz"
# The auth-map Secret "digest-map": mia of MAP_REALM, omar of another realm.
MIA, MIA_PW = "mia", "Mia-pw-7Qz"
OMAR, OMAR_PW = "omar", "Omar-pw-7Qz"

CHALLENGE = re.compile(r'Digest algorithm="MD5", qop="auth", realm="(?P<realm>[^"]*)", '
                       r'nonce="(?P<nonce>[0-9a-fA-F]{64})"(?P<stale>, stale="true")?')


def digest_authorization(user, realm, ha1_hex, method, uri, nonce, nc, cnonce="c0ffee42d00d"):
    """The Authorization of RFC 7616 (MD5, qop auth): response = MD5(HA1:nonce:nc:cnonce:auth:
    MD5(method:uri))."""
    nc_hex = f"{nc:08x}"
    response = md5_hex(f"{ha1_hex}:{nonce}:{nc_hex}:{cnonce}:auth:{md5_hex(f'{method}:{uri}')}")
    return (f'Digest username="{user}", realm="{realm}", nonce="{nonce}", uri="{uri}", '
            f'algorithm=MD5, qop=auth, nc={nc_hex}, cnonce="{cnonce}", response="{response}"')


class digest_auth(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.alice_line = htdigest_line(DIGEST_REALM, ALICE, ALICE_PW)
        cls.up = h.Upstream.start("echo")
        cls.cors_up = h.Upstream.start("cors")
        cls.ha1s = {ALICE: ha1(ALICE, DIGEST_REALM, ALICE_PW),
                    CAROL: ha1(CAROL, DIGEST_REALM, CAROL_PW),
                    OTTO: ha1(OTTO, OTHER_REALM, OTTO_PW),
                    MIA: ha1(MIA, MAP_REALM, MIA_PW),
                    OMAR: ha1(OMAR, OTHER_REALM, OMAR_PW)}
        cls.htdigest_file = "\n".join([
            cls.alice_line,
            f"{CAROL}:{DIGEST_REALM}:{cls.ha1s[CAROL]}",
            f"{OTTO}:{OTHER_REALM}:{cls.ha1s[OTTO]}"]) + "\n"
        cls.dir = d = h.temp_dir()
        h.write_manifests(d, "class.yaml", h.ingress_class())
        h.write_manifests(
            d, "svc.yaml", h.service("echo", 80, [("127.0.0.1", cls.up.port)]),
            h.service("cors", 80, [("127.0.0.1", cls.cors_up.port)]))
        h.write_manifests(
            d, "secrets.yaml",
            opaque_secret("digest-users", data={"auth": cls.htdigest_file}),
            opaque_secret("digest-map", string_data={
                MIA: f"{MAP_REALM}:{cls.ha1s[MIA]}", OMAR: f"{OTHER_REALM}:{cls.ha1s[OMAR]}"}))
        auth = lambda secret, realm, **more: {A + "auth-type": "digest",  # noqa: E731
                                              A + "auth-secret": secret,
                                              A + "auth-realm": realm, **more}
        ing = lambda name, ann, svc="echo": h.ingress(  # noqa: E731
            name, [(f"{name}.test", "/", "Prefix", svc, 80),
                   (f"{name}.test", "/api", "Prefix", svc, 80)], annotations=ann)
        h.write_manifests(
            d, "ing.yaml",
            ing("dfile", auth("digest-users", DIGEST_REALM)),
            ing("dmap", auth("digest-map", MAP_REALM, **{A + "auth-secret-type": "auth-map"})),
            ing("dcors", auth("digest-users", DIGEST_REALM, **{A + "enable-cors": "true"}),
                svc="cors"))
        # One worker: the nonce use counts (kept per worker) are those of every request.
        cls.p = h.Portico.start(d, "--workers", "1")

    @classmethod
    def tearDownClass(cls):
        for p in (cls.p, cls.up, cls.cors_up):
            p.stop()

    # -- helpers

    def get(self, host, path="/", headers=None, method="GET", body=b""):
        return h.request(self.p.http_port, method, path, headers=headers, body=body, host=host)

    def assert_challenge(self, r, realm, stale=False):
        """A 401 with one Digest challenge of `realm`; its nonce."""
        self.assertEqual(r.status, 401, r.body[:300])
        values = r.header_all("WWW-Authenticate")
        self.assertEqual(len(values), 1, values)
        m = CHALLENGE.fullmatch(values[0])
        self.assertIsNotNone(m, values[0])
        self.assertEqual(m["realm"], realm)
        self.assertEqual(m["stale"] is not None, stale, values[0])
        return m["nonce"]

    def assert_proxied(self, r, target, upstream="echo"):
        self.assertEqual((r.status, r.header("X-Upstream-Name")), (200, upstream), r.body[:300])
        echo = r.json()
        self.assertEqual(echo["target"], target)
        self.assertEqual(r.echo_header("authorization"), [])
        return echo

    def nonce(self, host="dfile.test", realm=DIGEST_REALM, path="/"):
        return self.assert_challenge(self.get(host, path), realm)

    def curl_digest(self, host, path, user, password, *more):
        """curl --digest -u user:password: (status code, echo body or None)."""
        out = h.curl("--digest", "-u", f"{user}:{password}", "-H", f"Host: {host}", *more,
                     "-w", "\n%{http_code}", f"http://127.0.0.1:{self.p.http_port}{path}")
        body, _, code = out.stdout.rpartition(b"\n")
        self.assertEqual(out.returncode, 0, (user, path, out.stderr))
        return int(code), body

    def urllib_open(self, host, path, user, password, data=None):
        """urllib.request with HTTPDigestAuthHandler (no proxy): (status, body)."""
        url = f"http://127.0.0.1:{self.p.http_port}{path}"
        passwords = urllib.request.HTTPPasswordMgrWithDefaultRealm()
        passwords.add_password(None, url, user, password)
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}),
                                             urllib.request.HTTPDigestAuthHandler(passwords))
        req = urllib.request.Request(url, data=data, headers={"Host": host})
        try:
            with opener.open(req, timeout=30) as resp:
                return resp.status, resp.read()
        except urllib.error.HTTPError as e:
            with e:
                return e.code, e.read()

    # -- tests

    def test_htdigest_writes_the_md5_of_user_realm_password(self):
        self.assertEqual(self.alice_line,
                         f"{ALICE}:{DIGEST_REALM}:{md5_hex(f'{ALICE}:{DIGEST_REALM}:{ALICE_PW}')}")

    def test_no_or_wrong_credentials_get_401_with_a_digest_challenge(self):
        for path in ("/", "/api/x"):
            self.assert_challenge(self.get("dfile.test", path), DIGEST_REALM)
        self.assert_challenge(self.get("dmap.test"), MAP_REALM)
        # Basic credentials, even right ones, and other schemes are no Digest credentials.
        for headers in (basic(ALICE, ALICE_PW), {"Authorization": "Bearer abc"},
                        {"Authorization": "Digest"}, {"Authorization": "Digest garbage"}):
            self.assert_challenge(self.get("dfile.test", "/", headers), DIGEST_REALM)

    def test_curl_signs_in_and_the_upstream_gets_no_authorization(self):
        for user, password in ((ALICE, ALICE_PW), (CAROL, CAROL_PW)):
            code, body = self.curl_digest("dfile.test", "/api/curl", user, password)
            self.assertEqual(code, 200, (user, body[:300]))
            echo = json.loads(body)
            self.assertEqual(echo["target"], "/api/curl")
            self.assertEqual([v for k, v in echo["headers"] if k.lower() == "authorization"], [])
        code, body = self.curl_digest("dmap.test", "/", MIA, MIA_PW)
        self.assertEqual(code, 200, body[:300])

    def test_curl_wrong_password_unknown_user_or_other_realm_gets_401(self):
        for host, user, password in (("dfile.test", ALICE, "wrong"),
                                     ("dfile.test", ALICE, ALICE_PW + "x"),
                                     ("dfile.test", "nobody", ALICE_PW),
                                     ("dfile.test", OTTO, OTTO_PW),  # of realm Elsewhere
                                     ("dfile.test", MIA, MIA_PW),  # a user of another Secret
                                     ("dmap.test", OMAR, OMAR_PW),  # of realm Elsewhere
                                     ("dmap.test", ALICE, ALICE_PW)):
            code, _ = self.curl_digest(host, "/", user, password)
            self.assertEqual(code, 401, (host, user, password))

    def test_urllib_digest_handler_signs_in(self):
        status, body = self.urllib_open("dfile.test", "/api/urllib", CAROL, CAROL_PW)
        self.assertEqual(status, 200, body[:300])
        echo = json.loads(body)
        self.assertEqual(echo["target"], "/api/urllib")
        self.assertEqual([v for k, v in echo["headers"] if k.lower() == "authorization"], [])
        status, body = self.urllib_open("dmap.test", "/p?a=1&b=2", MIA, MIA_PW)
        self.assertEqual(status, 200, body[:300])
        self.assertEqual(json.loads(body)["target"], "/p?a=1&b=2")
        status, _ = self.urllib_open("dfile.test", "/", CAROL, "wrong")
        self.assertEqual(status, 401)

    def test_a_query_string_and_a_post_body_sign_in(self):
        code, body = self.curl_digest("dfile.test", "/p?a=1&b=2", ALICE, ALICE_PW)
        self.assertEqual(code, 200, body[:300])
        self.assertEqual(json.loads(body)["target"], "/p?a=1&b=2")
        payload = "field=value&other=" + "x" * 3000
        code, body = self.curl_digest("dfile.test", "/api/form?q=1", CAROL, CAROL_PW,
                                      "--data-binary", payload)
        self.assertEqual(code, 200, body[:300])
        echo = json.loads(body)
        self.assertEqual((echo["method"], echo["target"], echo["body_bytes"]),
                         ("POST", "/api/form?q=1", len(payload)))
        # Computed here: POST with a body and a query string.
        uri = "/api/post?x=1&y=%20z"
        nonce = self.nonce()
        auth = digest_authorization(ALICE, DIGEST_REALM, self.ha1s[ALICE], "POST", uri, nonce, 1)
        r = self.get("dfile.test", uri, {"Authorization": auth}, method="POST", body=b"hello")
        echo = self.assert_proxied(r, uri)
        self.assertEqual((echo["method"], echo["body_bytes"]), ("POST", 5))

    def test_a_replayed_authorization_is_stale_and_a_rising_count_is_accepted(self):
        with h.Conn(self.p.http_port) as c:
            r = c.request("GET", "/replay", host="dfile.test")
            nonce = self.assert_challenge(r, DIGEST_REALM)
            first = digest_authorization(CAROL, DIGEST_REALM, self.ha1s[CAROL], "GET",
                                         "/replay", nonce, 1)
            r = c.request("GET", "/replay", {"Authorization": first}, host="dfile.test")
            self.assert_proxied(r, "/replay")
            # The same Authorization again, on the same connection: stale.
            r = c.request("GET", "/replay", {"Authorization": first}, host="dfile.test")
            self.assert_challenge(r, DIGEST_REALM, stale=True)
            # The same nonce with a rising count (and another cnonce): accepted.
            second = digest_authorization(CAROL, DIGEST_REALM, self.ha1s[CAROL], "GET",
                                          "/replay", nonce, 2, cnonce="feedbeef")
            r = c.request("GET", "/replay", {"Authorization": second}, host="dfile.test")
            self.assert_proxied(r, "/replay")
            # A count that does not rise: stale.
            for nc in (2, 1):
                auth = digest_authorization(CAROL, DIGEST_REALM, self.ha1s[CAROL], "GET",
                                            "/replay", nonce, nc, cnonce="abad1dea")
                r = c.request("GET", "/replay", {"Authorization": auth}, host="dfile.test")
                self.assert_challenge(r, DIGEST_REALM, stale=True)
            r = c.request("GET", "/replay", {"Authorization": digest_authorization(
                CAROL, DIGEST_REALM, self.ha1s[CAROL], "GET", "/replay", nonce, 7)},
                host="dfile.test")
            self.assert_proxied(r, "/replay")

    def test_every_challenge_has_a_nonce_of_its_own(self):
        # RFC 7616 3.3 and nginx's auth_digest (a random part in every nonce): two challenges
        # in a row do not carry the same nonce, and the nonce of a stale answer is a new one.
        a, b = self.nonce(), self.nonce()
        self.assertNotEqual(a, b, "two challenges in a row carry the same nonce")
        auth = digest_authorization(ALICE, DIGEST_REALM, self.ha1s[ALICE], "GET", "/", a, 1)
        self.assert_proxied(self.get("dfile.test", "/", {"Authorization": auth}), "/")
        fresh = self.assert_challenge(self.get("dfile.test", "/", {"Authorization": auth}),
                                      DIGEST_REALM, stale=True)
        self.assertNotEqual(fresh, a, "the stale answer carries the used nonce")
        auth = digest_authorization(ALICE, DIGEST_REALM, self.ha1s[ALICE], "GET", "/", fresh, 1)
        self.assert_proxied(self.get("dfile.test", "/", {"Authorization": auth}), "/")

    def test_clients_one_after_another_each_sign_in(self):
        # Each client starts at nonce count 1 on the nonce of its own challenge.
        codes = [self.curl_digest("dfile.test", f"/run{i}", user, pw)[0]
                 for i, (user, pw) in enumerate([(ALICE, ALICE_PW), (CAROL, CAROL_PW),
                                                 (ALICE, ALICE_PW)])]
        self.assertEqual(codes, [200, 200, 200])
        status, _ = self.urllib_open("dfile.test", "/run3", CAROL, CAROL_PW)
        self.assertEqual(status, 200)

    def test_an_authorization_for_another_uri_method_or_realm_gets_401(self):
        nonce = self.nonce()
        key = self.ha1s[ALICE]
        cases = [
            # (request method, request target, Authorization)
            ("GET", "/b", digest_authorization(ALICE, DIGEST_REALM, key, "GET", "/a", nonce, 1)),
            ("GET", "/p?a=1&b=2",
             digest_authorization(ALICE, DIGEST_REALM, key, "GET", "/p?a=1", nonce, 2)),
            ("GET", "/p?a=1&b=2",
             digest_authorization(ALICE, DIGEST_REALM, key, "GET", "/p", nonce, 3)),
            ("POST", "/a", digest_authorization(ALICE, DIGEST_REALM, key, "GET", "/a", nonce, 4)),
            ("GET", "/a", digest_authorization(ALICE, OTHER_REALM, key, "GET", "/a", nonce, 5)),
            ("GET", "/a", digest_authorization(OTTO, OTHER_REALM, self.ha1s[OTTO], "GET", "/a",
                                               nonce, 6)),
            ("GET", "/a", digest_authorization(CAROL, DIGEST_REALM, key, "GET", "/a", nonce, 7)),
        ]
        # The uri field names the request's target but the response is for another URI.
        good = digest_authorization(ALICE, DIGEST_REALM, key, "GET", "/b", nonce, 8)
        other = digest_authorization(ALICE, DIGEST_REALM, key, "GET", "/a", nonce, 8)
        forged = good.replace(re.search(r'response="(\w+)"', good)[1],
                              re.search(r'response="(\w+)"', other)[1])
        cases.append(("GET", "/b", forged))
        for method, target, auth in cases:
            r = self.get("dfile.test", target, {"Authorization": auth}, method=method,
                         body=b"x" if method == "POST" else b"")
            self.assert_challenge(r, DIGEST_REALM)  # not stale
        # The same nonce still signs in (nothing above was a use of it).
        auth = digest_authorization(ALICE, DIGEST_REALM, key, "GET", "/b", nonce, 9)
        self.assert_proxied(self.get("dfile.test", "/b", {"Authorization": auth}), "/b")

    def test_a_forged_nonce_gets_401_without_stale(self):
        nonce = self.nonce()
        flip = lambda s, i: s[:i] + ("0" if s[i] != "0" else "1") + s[i + 1:]  # noqa: E731
        # A flipped character in the signature and in the time stamp (an older issue time).
        for forged in (flip(nonce, len(nonce) - 1), flip(nonce, 20), flip(nonce, 12),
                       nonce[:-2], nonce.upper() if nonce != nonce.upper() else nonce.lower()):
            if forged == nonce:
                continue
            auth = digest_authorization(ALICE, DIGEST_REALM, self.ha1s[ALICE], "GET", "/f",
                                        forged, 1)
            self.assert_challenge(self.get("dfile.test", "/f", {"Authorization": auth}),
                                  DIGEST_REALM)

    def test_other_realm_users_are_reported_by_portico_routes(self):
        r = h.run_portico("routes", "--config-dir", self.dir)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        errs = error_lines(r.stdout)
        on_secret = f"metadata.annotations[{A}auth-secret]"
        for name, user in (("dfile", OTTO), ("dcors", OTTO), ("dmap", OMAR)):
            mine = [e for e in errs if f"Ingress default/{name}:" in e]
            self.assertEqual(len(mine), 1, (name, errs))
            self.assertIn(on_secret, mine[0])
            self.assertIn(f"user {user} ", mine[0])
            self.assertIn("realm", mine[0])
            self.assertIn(OTHER_REALM, mine[0])
            self.assertNotIn("503", mine[0])
        # The served routes (no 503).
        for host in ("dfile.test", "dmap.test", "dcors.test"):
            self.assertIn(host, r.stdout)

    def test_secret_contents_appear_in_no_output(self):
        self.assertEqual(self.curl_digest("dfile.test", "/leak-marker-dg", ALICE, ALICE_PW)[0], 200)
        self.curl_digest("dfile.test", "/", OTTO, OTTO_PW)
        h.wait_until(lambda: any("/leak-marker-dg" in line for line in self.p.stdout_lines),
                     timeout=10)
        secrets = list(self.ha1s.values()) + [ALICE_PW, CAROL_PW, OTTO_PW, MIA_PW, OMAR_PW,
                                              b64(self.htdigest_file)]
        routes = h.run_portico("routes", "--config-dir", self.dir)
        snapshot = h.request(self.p.admin_port, "GET", "/debug/snapshot")
        self.assertEqual(snapshot.status, 200)
        outputs = {
            "portico routes": routes.stdout + routes.stderr,
            "/debug/snapshot": snapshot.body.decode("utf-8", "replace"),
            "stdout": "\n".join(self.p.stdout_lines),
            "stderr": self.p.stderr_text(),
        }
        for where, text in outputs.items():
            self.assertEqual([s for s in secrets if s in text], [], f"Secret contents in {where}")

    def test_cors_preflight_is_answered_before_digest_authentication(self):
        before = self.cors_up.stats()["requests"]
        r = self.get("dcors.test", "/api", method="OPTIONS",
                     headers={"Origin": "https://app.example",
                              "Access-Control-Request-Method": "GET"})
        self.assertEqual(r.status, 204)
        self.assertEqual(r.header("Access-Control-Allow-Origin"), "*")
        self.assertIsNone(r.header("WWW-Authenticate"))
        r = self.get("dcors.test", "/api", headers={"Origin": "https://app.example"})
        nonce = self.assert_challenge(r, DIGEST_REALM)
        self.assertEqual(r.header("Access-Control-Allow-Origin"), "*")
        self.assertEqual(self.cors_up.stats()["requests"], before + 1)  # /stats counts itself
        auth = digest_authorization(CAROL, DIGEST_REALM, self.ha1s[CAROL], "GET", "/api", nonce, 1)
        r = self.get("dcors.test", "/api", headers={"Origin": "https://app.example",
                                                    "Authorization": auth})
        self.assert_proxied(r, "/api", upstream="cors")
        self.assertEqual(r.header("Access-Control-Allow-Origin"), "*")


class basic_auth_kubernetes_api(unittest.TestCase):
    def test_an_opaque_secret_protects_an_ingress(self):
        from k8s_common import (ApiPortico, ApiServer, Kubectl, endpoint_slice, ingress,  # noqa: E402
                                ingress_class, service)
        tmp = str(h.temp_dir(prefix="basic-auth-k8s-"))
        api = ApiServer(tmp).start()
        up = p = None
        try:
            kubectl = Kubectl(api, tmp)
            up = h.Upstream.start("k8s")
            ing = ingress("guarded", "guarded.test", "app")
            ing["metadata"]["annotations"] = {A + "auth-type": "basic",
                                              A + "auth-secret": "htpasswd",
                                              A + "auth-realm": "API"}
            secret = {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
                      "metadata": {"name": "htpasswd", "namespace": "default"},
                      "data": {"auth": b64(htpasswd_line("B", "kim", "Kube-pw-7Qz") + "\n")}}
            kubectl.apply_docs(ingress_class(), service("app"),
                               endpoint_slice("app-1", "app", [up]), secret, ing, verb="create")
            p = ApiPortico(api.kubeconfig, ["--update-status=false"])
            get = lambda headers=None: h.request(p.http_port, "GET", "/", headers=headers,  # noqa: E731
                                                 host="guarded.test", timeout=10)
            h.wait_until(lambda: get().status == 401, timeout=20)
            r = get()
            self.assertEqual(r.header_all("WWW-Authenticate"), ['Basic realm="API"'])
            self.assertEqual(get(basic("kim", "wrong")).status, 401)
            r = get(basic("kim", "Kube-pw-7Qz"))
            self.assertEqual((r.status, r.header("X-Upstream-Name")), (200, "k8s"))
            self.assertEqual(r.echo_header("authorization"), [])
        finally:
            if p is not None:
                p.stop()
            if up is not None:
                up.stop()
            api.stop()


if __name__ == "__main__":
    unittest.main(verbosity=2)
