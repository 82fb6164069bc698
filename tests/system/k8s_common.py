"""Shared pieces of the k8s_*_test.py system tests: the test API server, kubectl, and
`portico serve` against the API (no --config-dir)."""

import json
import os
import shutil
import subprocess
import sys
import threading
import time

import harness

SRC = str(harness.source_dir())
sys.path.insert(0, os.path.join(SRC, "tests", "k8s-watch", "apiserver"))

from ktapi.testing import ApiServer  # noqa: E402,F401

KUBECTL = shutil.which("kubectl", path="/usr/bin:/usr/local/bin:" + os.environ.get("PATH", ""))


class ApiPortico(harness.Process):
    """`portico serve --kubeconfig ...` on ephemeral ports; waits for /healthz (first Snapshot)."""

    def __init__(self, kubeconfig, flags=(), wait_healthy=True, timeout=60.0, env=None):
        argv = [harness.portico_bin(), "serve", "--kubeconfig", kubeconfig,
                "--http-port", "0", "--admin-port", "0", "--listen-address", "127.0.0.1",
                "--admin-address", "127.0.0.1", "--workers", "2", "--shutdown-delay", "0s",
                "--access-log=false", *flags]
        # No HTTPS listener unless asked (the default, 443, would be shared between tests).
        if not any(str(f).startswith("--https-port") for f in flags):
            argv += ["--https-port", "0"]
        super().__init__(argv, env=env)
        m = self.wait_line(r"listening http=(\d+) admin=(\d+)", timeout=timeout)
        self.http_port = int(m.group(1))
        self.admin_port = int(m.group(2))
        if wait_healthy:
            harness.wait_until(self._healthy, timeout)

    def _healthy(self):
        if not self.alive():
            raise RuntimeError("portico exited; stderr:\n" + self.stderr_text()[-4000:])
        return harness.request(self.admin_port, "GET", "/healthz", timeout=2).status == 200

    def get(self, host, path="/"):
        return harness.request(self.http_port, "GET", path, host=host, timeout=10)

    def backend_name(self, host, path="/"):
        r = self.get(host, path)
        if r.status != 200:
            return r.status
        return json.loads(r.body).get("name")


class Kubectl:
    def __init__(self, server, workdir):
        self.server = server
        self.workdir = workdir
        if KUBECTL is None:
            raise RuntimeError("kubectl not found (Debian package kubernetes-client)")

    def __call__(self, *args, check=True, stdin=None):
        env = dict(os.environ, HOME=self.workdir,
                   KUBECACHEDIR=os.path.join(self.workdir, "kcache"))
        p = subprocess.run([KUBECTL, "--kubeconfig", self.server.kubeconfig, *args],
                           capture_output=True, text=True, timeout=60, env=env, input=stdin)
        if check and p.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)}: {p.stdout}\n{p.stderr}")
        return p

    def apply_docs(self, *docs, verb="apply"):
        text = "".join("---\n" + json.dumps(d) + "\n" for d in docs)
        args = [verb, "-f", "-"]
        if verb == "apply":
            args.append("--validate=false")
        return self(*args, stdin=text)


def ingress_class(name="portico", controller="portico.dev/ingress-controller"):
    return {"apiVersion": "networking.k8s.io/v1", "kind": "IngressClass",
            "metadata": {"name": name}, "spec": {"controller": controller}}


def service(name, ns="default", port=80):
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": ns},
            "spec": {"ports": [{"name": "http", "port": port, "targetPort": "http"}]}}


def endpoint_slice(name, service_name, upstreams, ns="default"):
    """One slice whose endpoints are the given harness.Upstream processes (all on 127.0.0.1;
    every upstream has its own port, so one slice per upstream port)."""
    port = upstreams[0].port
    assert all(u.port == port for u in upstreams)
    return {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"name": name, "namespace": ns,
                         "labels": {"kubernetes.io/service-name": service_name}},
            "addressType": "IPv4",
            "endpoints": [{"addresses": ["127.0.0.1"], "conditions": {"ready": True}}],
            "ports": [{"name": "http", "port": port, "protocol": "TCP"}]}


def ingress(name, host, service_name, ns="default", class_name="portico", port=80):
    spec = {"rules": [{"host": host, "http": {"paths": [
        {"path": "/", "pathType": "Prefix",
         "backend": {"service": {"name": service_name, "port": {"number": port}}}}]}}]}
    if class_name:
        spec["ingressClassName"] = class_name
    return {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
            "metadata": {"name": name, "namespace": ns}, "spec": spec}


class KeepAliveLoad:
    """Bounded keep-alive load on one host in a thread: at most `max_requests` requests or
    `max_seconds`; records every non-200 answer or connection error."""

    def __init__(self, port, host, max_requests=200000, max_seconds=120.0):
        self.port, self.host = port, host
        self.max_requests, self.max_seconds = max_requests, max_seconds
        self.ok = 0
        self.failures = []
        self.names = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self.stop()

    def stop(self):
        self._stop.set()
        self._thread.join(self.max_seconds + 30)

    def _run(self):
        deadline = time.monotonic() + self.max_seconds
        conn = None
        n = 0
        while not self._stop.is_set() and n < self.max_requests and time.monotonic() < deadline:
            n += 1
            try:
                if conn is None:
                    conn = harness.Conn(self.port, timeout=10)
                r = conn.request("GET", "/load", host=self.host)
                if r.status != 200:
                    self.failures.append(f"status {r.status}")
                else:
                    self.ok += 1
                    name = json.loads(r.body).get("name")
                    self.names[name] = self.names.get(name, 0) + 1
                if (r.header("connection") or "").lower() == "close":
                    conn.close()
                    conn = None
            except (OSError, ConnectionError, ValueError) as e:
                self.failures.append(repr(e))
                if conn:
                    conn.close()
                conn = None
        if conn:
            conn.close()
