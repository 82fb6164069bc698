"""`portico routes`: the resolved table of a manifest directory, then every error.

Runs the real binary on deploy/examples/local, on a copy of it with broken manifests added,
and through deploy/local-up.sh --routes-only.
"""

import os
import pathlib
import shutil
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

EXAMPLES = harness.source_dir() / "deploy" / "examples" / "local"

# (HOST, PATH, TYPE, KIND, NAME, SERVICE, ENDPOINTS) of the examples.
EXPECTED = {
    ("demo.local", "/", "Prefix", "Ingress", "default/demo", "demo-a:80", "127.0.0.1:9001"),
    ("demo.local", "/api", "Prefix", "Ingress", "default/demo", "demo-b:http", "127.0.0.1:9002"),
    ("demo.local", "/healthcheck", "Exact", "Ingress", "default/demo", "demo-b:80", "127.0.0.1:9002"),
    ("b.demo.local", "/", "Prefix", "Ingress", "default/demo-b", "demo-b:80", "127.0.0.1:9002"),
    ("*.apps.local", "/", "Prefix", "Ingress", "default/apps", "demo-a:80", "127.0.0.1:9001"),
    ("*", "*", "defaultBackend", "Ingress", "default/fallback", "demo-b:80", "127.0.0.1:9002"),
}

BROKEN_INGRESS = """\
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: broken-port
  namespace: default
spec:
  ingressClassName: portico
  rules:
  - host: broken.local
    http:
      paths:
      - path: /
        pathType: Prefix
        backend:
          service:
            name: demo-a
            port:
              number: 70000
"""

SYNTAX_ERROR = """\
apiVersion: v1
kind: Service
metadata:
  name: [unclosed
  namespace: default
"""


def table_rows(stdout):
    """The table's rows (before the ERRORS section) as tuples of their seven columns."""
    lines = stdout.split("\nERRORS")[0].strip().splitlines()
    assert lines and lines[0].split() == ["HOST", "PATH", "TYPE", "KIND", "NAME", "SERVICE",
                                          "ENDPOINTS"], stdout
    return {tuple(line.split(None, 6)) for line in lines[1:]}


def error_lines(stdout):
    if "\nERRORS" not in stdout:
        return []
    return [ln.strip() for ln in stdout.split("\nERRORS", 1)[1].splitlines()[1:] if ln.strip()]


class RoutesCli(unittest.TestCase):
    def copy_examples(self):
        d = harness.temp_dir() / "examples"
        shutil.copytree(EXAMPLES, d)
        return d

    def test_examples_print_the_expected_table_and_exit_0(self):
        r = harness.run_portico("routes", "--config-dir", EXAMPLES)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual(table_rows(r.stdout), EXPECTED)
        self.assertEqual(error_lines(r.stdout), [])

    def test_broken_ingress_is_named_and_good_routes_still_print(self):
        d = self.copy_examples()
        (d / "50-broken.yaml").write_text(BROKEN_INGRESS)
        r = harness.run_portico("routes", "--config-dir", d)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertEqual(table_rows(r.stdout), EXPECTED)
        errs = error_lines(r.stdout)
        self.assertTrue(any("50-broken.yaml" in e and "Ingress default/broken-port" in e and
                            "port" in e for e in errs), errs)

    def test_syntax_error_names_file_and_line_and_good_routes_still_print(self):
        d = self.copy_examples()
        (d / "60-syntax.yaml").write_text(SYNTAX_ERROR)
        r = harness.run_portico("routes", "--config-dir", d)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertEqual(table_rows(r.stdout), EXPECTED)
        errs = error_lines(r.stdout)
        self.assertTrue(any(f"{d / '60-syntax.yaml'}:" in e and
                            e.split(f"{d / '60-syntax.yaml'}:")[1][:1].isdigit() for e in errs),
                        errs)

    def test_service_without_endpoints_shows_503(self):
        d = harness.temp_dir()
        harness.write_manifests(d, "all.yaml", harness.ingress_class(),
                                harness.service("empty", 80, []),
                                harness.ingress("e", [("e.test", "/", "Prefix", "empty", 80)]))
        r = harness.run_portico("routes", "--config-dir", d)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn(("e.test", "/", "Prefix", "Ingress", "default/e", "empty:80", "<none: 503>"),
                      table_rows(r.stdout))

    def test_httproute_rows_name_their_origin(self):
        # An Ingress and an HTTPRoute in one table, each row saying which object it came from.
        gw = "gateway.networking.k8s.io/v1"
        d = harness.temp_dir()
        harness.write_manifests(
            d, "all.yaml", harness.ingress_class(),
            harness.service("a", 80, [("127.0.0.1", 9001)]),
            harness.ingress("web", [("ing.test", "/", "Prefix", "a", 80)]),
            f"apiVersion: {gw}\nkind: GatewayClass\nmetadata: {{name: portico}}\n"
            "spec: {controllerName: portico.dev/gateway-controller}",
            f"apiVersion: {gw}\nkind: Gateway\nmetadata: {{name: gw, namespace: default}}\n"
            "spec:\n  gatewayClassName: portico\n  listeners:\n"
            "  - {name: http, port: 80, protocol: HTTP}",
            f"apiVersion: {gw}\nkind: HTTPRoute\nmetadata: {{name: shop, namespace: default}}\n"
            "spec:\n  parentRefs: [{name: gw}]\n  hostnames: [gw.test]\n  rules:\n"
            "  - matches: [{path: {type: PathPrefix, value: /cart}}]\n"
            "    backendRefs: [{name: a, port: 80}]")
        r = harness.run_portico("routes", "--config-dir", d)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        rows = table_rows(r.stdout)
        self.assertIn(("ing.test", "/", "Prefix", "Ingress", "default/web", "a:80", "127.0.0.1:9001"), rows)
        self.assertIn(("gw.test", "/cart", "PathPrefix", "HTTPRoute", "default/shop", "a:80",
                       "127.0.0.1:9001"), rows)

    def test_missing_directory_is_an_error(self):
        r = harness.run_portico("routes", "--config-dir", harness.temp_dir() / "missing")
        self.assertEqual(r.returncode, 1)
        self.assertIn("missing", r.stdout)

    def test_local_up_routes_only_prints_the_table(self):
        build_dir = harness.portico_bin().resolve().parent.parent
        env = dict(os.environ, BUILD_DIR=str(build_dir))
        r = subprocess.run(["bash", str(harness.source_dir() / "deploy" / "local-up.sh"),
                            "--routes-only", "--no-build"], capture_output=True, text=True,
                           env=env, timeout=120)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        table = r.stdout[r.stdout.index("HOST"):]
        self.assertEqual(table_rows(table), EXPECTED)

    def test_help_and_version(self):
        for cmd in ("routes", "serve"):
            r = harness.run_portico(cmd, "--help")
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertIn("--config-dir", r.stdout)
        r = harness.run_portico("serve", "--help")
        for flag in ("--http-port", "--admin-port", "--workers", "--max-body-size",
                     "--connect-timeout", "--trusted-proxies", "--access-log",
                     "--shutdown-grace", "--controller-class", "--ingress-class"):
            self.assertIn(flag, r.stdout)
        r = harness.run_portico("version")
        self.assertEqual(r.returncode, 0)
        self.assertRegex(r.stdout, r"^portico \d+\.\d+\.\d+")

    def test_bad_flag_values_are_rejected(self):
        r = harness.run_portico("serve", "--config-dir", EXAMPLES, "--max-body-size", "12q")
        self.assertEqual(r.returncode, 2)
        self.assertIn("--max-body-size", r.stderr)
        r = harness.run_portico("routes")
        self.assertEqual(r.returncode, 2)
        self.assertIn("config-dir", r.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)
