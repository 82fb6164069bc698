"""Starting the test API server from a test, and talking to it over HTTPS.

    import sys; sys.path.insert(0, f"{src}/tests/k8s-watch/apiserver")
    from ktapi.testing import ApiServer
    with ApiServer(tmpdir) as srv:
        srv.create("networking.k8s.io/v1", "ingresses", ing, namespace="default")
        srv.control("drop-watches")
"""

import http.client
import json
import os
import signal
import ssl
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(HERE, "kube_test_apiserver.py")


def _die_with_parent():
    """Runs in the child before exec: SIGTERM it when the test process dies (Linux)."""
    try:
        import ctypes
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


class HttpError(Exception):
    def __init__(self, code, body):
        super().__init__(f"HTTP {code}: {body}")
        self.code = code
        self.body = body


class ApiServer:
    """The server as a child process (HTTPS, token auth, kubeconfig in `workdir`)."""

    def __init__(self, workdir, args=(), port=0, token="test-token"):
        self.workdir = workdir
        self.args = list(args)
        self.port = port
        self.token = token
        self.kubeconfig = os.path.join(workdir, "kubeconfig")
        self.pki = os.path.join(workdir, "pki")
        self.proc = None
        self.url = None
        self.admin_url = None
        self.stderr_lines = []

    def start(self, timeout=120):
        python = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable
        cmd = [python, SCRIPT, "--port", str(self.port), "--kubeconfig-out", self.kubeconfig,
               "--pki-dir", self.pki, "--token", self.token, "--admin-port", "0"] + self.args
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True, preexec_fn=_die_with_parent)
        threading.Thread(target=self._drain_stderr, daemon=True).start()
        deadline = time.monotonic() + timeout  # a large --load on a busy machine takes a while
        while time.monotonic() < deadline and (self.url is None or self.admin_url is None):
            line = self.proc.stdout.readline()
            if not line:
                raise RuntimeError("test API server exited: " + "".join(self.stderr_lines))
            if line.startswith("listening on "):
                self.url = line.split()[-1]
                self.port = int(self.url.rsplit(":", 1)[1])
            elif line.startswith("admin on "):
                self.admin_url = line.split()[-1]
        if self.url is None:
            raise RuntimeError("test API server did not report its port")
        self.ctx = ssl.create_default_context(cafile=os.path.join(self.pki, "ca.crt"))
        return self

    def restart(self, outage=0.0, edit=None):
        """Stops the server (SIGTERM saves --state-file) and starts it again on the same port
        with the same CA and token, after `outage` seconds. Pass a state file in `args`
        (`--state-file PATH`) to keep the objects and resourceVersions across the restart.
        `edit(snapshot)` may change the saved objects (a `List`) while the server is down."""
        self.stop()
        if edit is not None:
            path = self.args[self.args.index("--state-file") + 1]
            with open(path, encoding="utf-8") as f:
                snap = json.load(f)
            edit(snap)
            with open(path, "w", encoding="utf-8") as f:
                json.dump(snap, f)
        time.sleep(outage)
        self.url = None
        self.admin_url = None
        return self.start()

    def _drain_stderr(self):
        for line in self.proc.stderr:
            self.stderr_lines.append(line)

    def stop(self, sig=signal.SIGTERM):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        if self.proc:
            self.proc.stdout.close()
            self.proc.stderr.close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # ---- HTTP ---------------------------------------------------------------------------------
    def request(self, method, path, body=None, content_type="application/json", admin=False,
                headers=None, timeout=30):
        url = (self.admin_url if admin else self.url) + path
        data = None
        if body is not None:
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
        req = urllib.request.Request(url, data=data, method=method)
        if not admin:
            req.add_header("Authorization", f"Bearer {self.token}")
        if data is not None:
            req.add_header("Content-Type", content_type)
        for k, v in (headers or {}).items():
            req.add_header(k, v)
        try:
            with urllib.request.urlopen(req, context=None if admin else self.ctx,
                                        timeout=timeout) as resp:
                text = resp.read().decode()
                return json.loads(text) if text.strip() else None
        except urllib.error.HTTPError as e:
            text = e.read().decode()
            try:
                raise HttpError(e.code, json.loads(text)) from None
            except ValueError:
                raise HttpError(e.code, text) from None

    @staticmethod
    def path(api_version, plural, namespace=None, name=None, sub=None):
        base = f"/api/{api_version}" if "/" not in api_version else f"/apis/{api_version}"
        if namespace:
            base += f"/namespaces/{namespace}"
        base += f"/{plural}"
        if name:
            base += f"/{name}"
        if sub:
            base += f"/{sub}"
        return base

    def create(self, api_version, plural, obj, namespace=None):
        return self.request("POST", self.path(api_version, plural, namespace), obj)

    def get(self, api_version, plural, name=None, namespace=None, query=""):
        return self.request("GET", self.path(api_version, plural, namespace, name) + query)

    def replace(self, api_version, plural, obj, namespace=None, sub=None):
        name = obj["metadata"]["name"]
        return self.request("PUT", self.path(api_version, plural, namespace, name, sub), obj)

    def patch(self, api_version, plural, name, patch, namespace=None, sub=None,
              content_type="application/merge-patch+json"):
        return self.request("PATCH", self.path(api_version, plural, namespace, name, sub),
                            patch, content_type)

    def delete(self, api_version, plural, name, namespace=None):
        return self.request("DELETE", self.path(api_version, plural, namespace, name))

    def control(self, action, **args):
        """POST /_test/<action> with `args` as the JSON body (on the admin port)."""
        if action in ("state", "requests", "snapshot", "watch-sent"):
            query = "&".join(f"{k}={v}" for k, v in args.items())
            return self.request("GET", f"/_test/{action}" + (f"?{query}" if query else ""),
                                admin=True)
        return self.request("POST", f"/_test/{action}", args, admin=True)


class RawWatch:
    """A watch request over HTTPS, read event by event (one JSON line each)."""

    def __init__(self, server, path, timeout=20):
        self.conn = http.client.HTTPSConnection("127.0.0.1", server.port, context=server.ctx,
                                                timeout=timeout)
        self.conn.request("GET", path, headers={"Authorization": f"Bearer {server.token}"})
        self.resp = self.conn.getresponse()
        self.events = []

    def next(self):
        """The next event, or None when the stream ended cleanly."""
        line = self.resp.readline()
        if not line:
            return None
        ev = json.loads(line)
        self.events.append(ev)
        return ev

    def until(self, pred, limit=200):
        for _ in range(limit):
            ev = self.next()
            if ev is None or pred(ev):
                return ev
        raise AssertionError(f"event not seen in {limit} events: {self.events[-5:]}")

    def close(self):
        self.conn.close()


def read_json_stream(pipe, out, stop):
    """Appends to `out` the concatenated (pretty-printed) JSON documents read from `pipe`
    (e.g. `kubectl get -w -o json`), until the pipe ends or `stop` is set."""
    dec = json.JSONDecoder()
    buf = ""
    for line in pipe:
        buf += line
        while True:
            s = buf.lstrip()
            if not s:
                buf = ""
                break
            try:
                doc, end = dec.raw_decode(s)
            except ValueError:
                break
            out.append(doc)
            buf = s[end:]
        if stop.is_set():
            break
