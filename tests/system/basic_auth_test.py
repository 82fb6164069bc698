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
protects an Ingress."""

import base64
import json
import os
import subprocess
import sys
import unittest

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
