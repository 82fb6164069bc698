"""Helpers for Portico's system tests (standard library only).

Binaries:
  PORTICO_BIN            the `portico` executable (set by ctest)
  PORTICO_UPSTREAM_BIN   optional; default <build>/bench/upstream/portico-upstream, found by
                         walking up from PORTICO_BIN
  PORTICO_SOURCE_DIR     the source tree (examples, deploy scripts)

Processes:
  Portico.start(config_dir, *flags)  `portico serve` on ephemeral ports; the ports are parsed
                                     from the `listening http=P admin=P` line on stderr;
                                     wrapper=[cmd, ...] runs it through a command that execs
                                     it (same PID), such as prlimit.
  Upstream.start(name)               `portico-upstream --port 0`; the port is parsed from the
                                     first stdout line `listening on 127.0.0.1:PORT`.
  Every process started here is stopped by PID at exit (terminate, then kill after a timeout).

Config dirs: ingress_class(), service(), ingress(), backend() build manifests as YAML text;
write_manifests(dir, name, *docs) writes one multi-document file atomically.

HTTP: request() for one request on a fresh connection, Conn for keep-alive and raw bytes.
"""

import atexit
import http.client
import json
import os
import pathlib
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

# ---------------------------------------------------------------------------- binaries


def source_dir():
    env = os.environ.get("PORTICO_SOURCE_DIR")
    if env:
        return pathlib.Path(env)
    return pathlib.Path(__file__).resolve().parents[2]


def portico_bin():
    env = os.environ.get("PORTICO_BIN")
    if env:
        return pathlib.Path(env)
    for build in ("build/release", "build"):
        p = source_dir() / build / "proxy" / "portico"
        if p.exists():
            return p
    raise RuntimeError("PORTICO_BIN is not set and no build/release/proxy/portico exists")


def upstream_bin():
    env = os.environ.get("PORTICO_UPSTREAM_BIN")
    if env:
        return pathlib.Path(env)
    # <build>/proxy/portico -> <build>/bench/upstream/portico-upstream; walk up to be robust
    # against a different layout of the portico binary inside the build tree.
    start = portico_bin().resolve().parent
    for d in [start, *start.parents][:4]:
        p = d / "bench" / "upstream" / "portico-upstream"
        if p.exists():
            return p
    raise RuntimeError(f"portico-upstream not found near {portico_bin()}")


def build_variant():
    return os.environ.get("PORTICO_BUILD_VARIANT", "release")


def sanitized():
    return build_variant() == "asan"


# ---------------------------------------------------------------------------- processes

_live = []  # every Process not yet stopped
_live_lock = threading.Lock()


class Process:
    """A child process whose stdout/stderr lines are drained by threads and kept."""

    def __init__(self, argv, env=None, keep_stdout=True):
        full_env = dict(os.environ)
        full_env.update(env or {})
        self.argv = [str(a) for a in argv]
        self.proc = subprocess.Popen(
            self.argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, env=full_env)
        self.pid = self.proc.pid
        self.stdout_lines = []
        self.stderr_lines = []
        self._cond = threading.Condition()
        self._keep_stdout = keep_stdout
        self._threads = [
            threading.Thread(target=self._drain, args=(self.proc.stdout, self.stdout_lines, True),
                             daemon=True),
            threading.Thread(target=self._drain, args=(self.proc.stderr, self.stderr_lines, False),
                             daemon=True),
        ]
        for t in self._threads:
            t.start()
        with _live_lock:
            _live.append(self)

    def _drain(self, stream, sink, is_stdout):
        for raw in iter(stream.readline, b""):
            line = raw.decode("utf-8", "replace").rstrip("\n")
            if is_stdout and not self._keep_stdout and len(sink) > 0:
                continue  # keep only the first stdout line (the port)
            with self._cond:
                sink.append(line)
                self._cond.notify_all()
        stream.close()
        with self._cond:
            self._cond.notify_all()

    def wait_line(self, pattern, stream="stderr", timeout=30.0, start=0):
        """Waits for a line matching regex `pattern`; returns the match. Raises on exit/timeout."""
        rx = re.compile(pattern)
        sink = self.stderr_lines if stream == "stderr" else self.stdout_lines
        deadline = time.monotonic() + timeout
        i = start
        with self._cond:
            while True:
                while i < len(sink):
                    m = rx.search(sink[i])
                    if m:
                        return m
                    i += 1
                if self.proc.poll() is not None and not any(t.is_alive() for t in self._threads):
                    raise RuntimeError(f"{self.argv[0]} exited ({self.proc.returncode}) before "
                                       f"/{pattern}/; stderr:\n" + self.stderr_text()[-4000:])
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"no /{pattern}/ from {self.argv[0]} in {timeout}s; "
                                       "stderr:\n" + self.stderr_text()[-4000:])
                self._cond.wait(min(left, 0.2))

    def count_lines(self, pattern, stream="stderr"):
        rx = re.compile(pattern)
        with self._cond:
            sink = list(self.stderr_lines if stream == "stderr" else self.stdout_lines)
        return sum(1 for line in sink if rx.search(line))

    def stderr_text(self):
        with self._cond:
            return "\n".join(self.stderr_lines)

    def alive(self):
        return self.proc.poll() is None

    def send_signal(self, sig):
        if self.alive():
            os.kill(self.pid, sig)

    def wait(self, timeout):
        """Waits for exit; returns the exit code (negative: killed by that signal)."""
        rc = self.proc.wait(timeout=timeout)
        for t in self._threads:
            t.join(timeout=5)
        return rc

    # What AddressSanitizer, LeakSanitizer and UndefinedBehaviorSanitizer print (asan build).
    SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:")

    def stop(self, timeout=10.0, sig=signal.SIGTERM):
        """Sends `sig`, kills after `timeout`; returns the exit code. Raises AssertionError
        when the process's stderr holds a sanitizer report: a leak or a memory error found
        while a test ran fails that test."""
        try:
            if self.alive():
                os.kill(self.pid, sig)
            try:
                rc = self.wait(timeout)
            except subprocess.TimeoutExpired:
                os.kill(self.pid, signal.SIGKILL)
                rc = self.wait(10)
        finally:
            with _live_lock:
                if self in _live:
                    _live.remove(self)
        self.check_sanitizers()
        return rc

    def check_sanitizers(self):
        text = self.stderr_text()
        for marker in self.SANITIZER_MARKERS:
            at = text.find(marker)
            if at >= 0:
                raise AssertionError(f"{marker} in the stderr of {self.argv[0]} (pid {self.pid}):\n"
                                     + text[max(0, at - 2000):at + 8000])

    def rss_kib(self):
        return rss_kib(self.pid)


def _stop_all():
    with _live_lock:
        procs = list(_live)
    for p in procs:
        try:
            p.stop(timeout=3.0)
        except Exception:  # noqa: BLE001 - best effort at exit
            pass


atexit.register(_stop_all)


def _on_term(signum, frame):
    _stop_all()
    sys.exit(128 + signum)


signal.signal(signal.SIGTERM, _on_term)


class Upstream(Process):
    """portico-upstream on an ephemeral loopback port."""

    def __init__(self, name="up", threads=1, extra=()):
        super().__init__([upstream_bin(), "--port", "0", "--name", name,
                          "--threads", str(threads), *extra], keep_stdout=False)
        m = self.wait_line(r"listening on ([0-9.]+):(\d+)", stream="stdout", timeout=30)
        self.name = name
        self.host = m.group(1)
        self.port = int(m.group(2))

    @classmethod
    def start(cls, name="up", threads=1, extra=()):
        return cls(name, threads, extra)

    def addr(self):
        return ("127.0.0.1", self.port)

    def stats(self):
        """{"connections": accepted so far, "requests": served so far, ...}"""
        return json.loads(request(self.port, "GET", "/stats").body)


class Portico(Process):
    """`portico serve` on ephemeral ports, with stdout (the access log) drained; its lines are
    kept unless keep_stdout=False (long runs)."""

    def __init__(self, config_dir, flags=(), env=None, wait_healthy=True, timeout=60.0,
                 wrapper=(), keep_stdout=True):
        # `wrapper`: a command that execs the rest, e.g. ["prlimit", "--nofile=64", "--"].
        argv = [*wrapper, portico_bin(), "serve", "--config-dir", config_dir,
                "--http-port", "0", "--admin-port", "0",
                "--listen-address", "127.0.0.1", *flags]
        if not any(str(f).startswith("--admin-address") for f in flags):
            argv += ["--admin-address", "127.0.0.1"]
        # No HTTPS listener unless asked: the file-mode default (8443) would be shared by
        # every test running at the same time (SO_REUSEPORT).
        if not any(str(f).startswith("--https-port") for f in flags):
            argv += ["--https-port", "0"]
        if not any(str(f).startswith("--workers") for f in flags):
            argv += ["--workers", "2"]
        if not any(str(f).startswith("--shutdown-delay") for f in flags):
            argv += ["--shutdown-delay", "0s"]
        super().__init__(argv, env=env, keep_stdout=keep_stdout)
        m = self.wait_line(r"listening http=(\d+) admin=(\d+)", timeout=timeout)
        self.http_port = int(m.group(1))
        self.admin_port = int(m.group(2))
        if wait_healthy:
            self.wait_healthy(timeout)

    @classmethod
    def start(cls, config_dir, *flags, **kw):
        return cls(config_dir, flags, **kw)

    def wait_healthy(self, timeout=60.0):
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            if not self.alive():
                raise RuntimeError("portico exited; stderr:\n" + self.stderr_text()[-4000:])
            try:
                r = request(self.admin_port, "GET", "/healthz", timeout=2)
                if r.status == 200:
                    return
                last = r.status
            except OSError as e:
                last = e
            time.sleep(0.05)
        raise TimeoutError(f"/healthz not 200 within {timeout}s (last {last})")

    def metrics(self):
        """Prometheus text -> {"name{labels}": float}; labels kept as sent."""
        text = request(self.admin_port, "GET", "/metrics").body.decode()
        out = {}
        for line in text.splitlines():
            if not line or line.startswith("#"):
                continue
            key, _, value = line.rpartition(" ")
            try:
                out[key] = float(value)
            except ValueError:
                pass
        return out

    def metric(self, name, **labels):
        """Sum of every sample of `name` whose labels include `labels`; None if absent."""
        total = None
        for key, v in self.metrics().items():
            base, _, lab = key.partition("{")
            if base != name:
                continue
            got = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', lab))
            if all(got.get(k) == str(val) for k, val in labels.items()):
                total = (total or 0) + v
        return total

    def get(self, path, host="localhost", **kw):
        return request(self.http_port, "GET", path, headers={"Host": host, **kw.pop("headers", {})},
                       **kw)

    def wait_for(self, predicate, timeout=30.0, interval=0.05):
        return wait_until(predicate, timeout, interval)


def wait_until(predicate, timeout=30.0, interval=0.05):
    """Polls `predicate` until truthy (returned) or raises TimeoutError."""
    deadline = time.monotonic() + timeout
    last_exc = None
    while time.monotonic() < deadline:
        try:
            v = predicate()
            if v:
                return v
        except (OSError, http.client.HTTPException) as e:
            last_exc = e
        time.sleep(interval)
    raise TimeoutError(f"condition not met within {timeout}s (last error: {last_exc})")


def run_portico(*args, timeout=60):
    """Runs a one-shot `portico` subcommand; returns CompletedProcess with text output."""
    return subprocess.run([str(portico_bin()), *map(str, args)], capture_output=True, text=True,
                          timeout=timeout)


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for {pid}")


def free_port():
    """A port that was free a moment ago (prefer passing 0 to the program where possible)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---------------------------------------------------------------------------- temp dirs

_tmp_dirs = []


def temp_dir(prefix="portico-test-"):
    d = pathlib.Path(tempfile.mkdtemp(prefix=prefix))
    _tmp_dirs.append(d)
    return d


@atexit.register
def _remove_tmp():
    for d in _tmp_dirs:
        shutil.rmtree(d, ignore_errors=True)


# ---------------------------------------------------------------------------- manifests


def _q(s):
    return json.dumps(str(s))  # JSON strings are valid YAML scalars


def ingress_class(name="portico", controller="portico.dev/ingress-controller", default=True):
    ann = ""
    if default:
        ann = ('  annotations:\n'
               '    ingressclass.kubernetes.io/is-default-class: "true"\n')
    return (f"apiVersion: networking.k8s.io/v1\nkind: IngressClass\nmetadata:\n"
            f"  name: {_q(name)}\n{ann}spec:\n  controller: {_q(controller)}\n")


def service(name, port=80, endpoints=(), namespace="default", port_name="http",
            target_port=None, ready=True, slice_name=None):
    """A Service plus one EndpointSlice. endpoints: [(ip, port)] or [(ip, port, ready)]."""
    eps = list(endpoints)
    tport = target_port if target_port is not None else (eps[0][1] if eps else port)
    svc = (f"apiVersion: v1\nkind: Service\nmetadata:\n  name: {_q(name)}\n"
           f"  namespace: {_q(namespace)}\nspec:\n  ports:\n"
           f"  - name: {_q(port_name)}\n    port: {port}\n    targetPort: {tport}\n")
    # One slice per distinct endpoint port (an EndpointSlice carries one port list).
    by_port = {}
    for e in eps:
        by_port.setdefault(e[1], []).append(e)
    if not by_port:
        by_port[tport] = []
    docs = [svc]
    for i, (p, group) in enumerate(sorted(by_port.items())):
        sname = slice_name or f"{name}-{i}"
        if slice_name and i:
            sname = f"{slice_name}-{i}"
        lines = [f"apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata:\n"
                 f"  name: {_q(sname)}\n  namespace: {_q(namespace)}\n"
                 f"  labels:\n    kubernetes.io/service-name: {_q(name)}\n"
                 f"addressType: IPv4\nports:\n- name: {_q(port_name)}\n  port: {p}\n"
                 f"  protocol: TCP\nendpoints:"]
        if not group:
            lines[0] += " []"
        for e in group:
            r = e[2] if len(e) > 2 else ready
            lines.append(f"- addresses: [{_q(e[0])}]\n  conditions:\n"
                         f"    ready: {'true' if r else 'false'}")
        docs.append("\n".join(lines) + "\n")
    return "---\n".join(docs)


def backend(service_name, port=80):
    return {"service": service_name, "port": port}


def ingress(name, rules=(), namespace="default", class_name="portico", default_backend=None,
            annotations=None, creation_timestamp=None):
    """rules: [(host, path, path_type, service, port)]; host "" = any host.
    default_backend: backend(...) dict or None."""
    meta = f"metadata:\n  name: {_q(name)}\n  namespace: {_q(namespace)}\n"
    if creation_timestamp:
        meta += f"  creationTimestamp: {_q(creation_timestamp)}\n"
    if annotations:
        meta += "  annotations:\n" + "".join(
            f"    {_q(k)}: {_q(v)}\n" for k, v in annotations.items())
    spec = "spec:\n"
    if class_name:
        spec += f"  ingressClassName: {_q(class_name)}\n"
    if default_backend:
        spec += "  defaultBackend:\n" + _backend_yaml(default_backend, "    ")
    by_host = {}
    for host, path, ptype, svc, port in rules:
        by_host.setdefault(host, []).append((path, ptype, svc, port))
    if by_host:
        spec += "  rules:\n"
        for host, paths in by_host.items():
            spec += (f"  - host: {_q(host)}\n" if host else "  - ") + \
                ("    http:\n" if host else "http:\n") + "      paths:\n"
            for path, ptype, svc, port in paths:
                spec += (f"      - path: {_q(path)}\n        pathType: {ptype}\n"
                         f"        backend:\n" + _backend_yaml(backend(svc, port), "          "))
    return f"apiVersion: networking.k8s.io/v1\nkind: Ingress\n{meta}{spec}"


def _backend_yaml(b, ind):
    port = b["port"]
    port_line = f"number: {port}" if isinstance(port, int) else f"name: {_q(port)}"
    return f"{ind}service:\n{ind}  name: {_q(b['service'])}\n{ind}  port:\n{ind}    {port_line}\n"


def write_manifests(directory, filename, *docs):
    """Writes docs as one multi-document YAML file, atomically (write + rename)."""
    directory = pathlib.Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    text = "---\n".join(d if d.endswith("\n") else d + "\n" for d in docs)
    write_file(directory / filename, text)
    return directory / filename


def write_file(path, text):
    path = pathlib.Path(path)
    tmp = path.parent / f".{path.name}.tmp"
    tmp.write_text(text)
    os.replace(tmp, path)


def simple_config(directory, upstreams, host="app.test", path="/", service_name="app"):
    """IngressClass + one Service over `upstreams` + one Ingress host/path -> service."""
    eps = [("127.0.0.1", u.port) for u in upstreams]
    write_manifests(directory, "class.yaml", ingress_class())
    write_manifests(directory, f"{service_name}.yaml", service(service_name, 80, eps),
                    ingress(service_name, [(host, path, "Prefix", service_name, 80)]))
    return directory


# ---------------------------------------------------------------------------- HTTP


class Response:
    def __init__(self, status, reason, headers, body, version="HTTP/1.1"):
        self.status = status
        self.reason = reason
        self.headers = headers  # [(name, value)] in order
        self.body = body
        self.version = version

    def header(self, name, default=None):
        name = name.lower()
        for k, v in self.headers:
            if k.lower() == name:
                return v
        return default

    def header_all(self, name):
        name = name.lower()
        return [v for k, v in self.headers if k.lower() == name]

    def json(self):
        return json.loads(self.body)

    def echo_header(self, name):
        """For portico-upstream's echo body: the values of request header `name` it received."""
        name = name.lower()
        return [v for k, v in self.json()["headers"] if k.lower() == name]

    def __repr__(self):
        return f"<Response {self.status} {len(self.body)} bytes>"


class Conn:
    """One client connection for raw and keep-alive HTTP/1.1 exchanges."""

    def __init__(self, port, host="127.0.0.1", timeout=30.0, source=None):
        # `source`: the local address to connect from (any 127.0.0.0/8 address works on Linux
        # loopback), for tests of client-address rules.
        self.sock = socket.create_connection(
            (host, port), timeout=timeout, source_address=(source, 0) if source else None)
        self.buf = b""

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()

    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        self.sock.sendall(data)

    def request(self, method, target, headers=None, body=b"", host="localhost"):
        """Sends one request and reads its response."""
        self.send(build_request(method, target, headers, body, host))
        return self.read_response(method)

    def _fill(self):
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionError("connection closed")
        self.buf += chunk

    def _read_until(self, sep):
        while sep not in self.buf:
            self._fill()
        head, _, self.buf = self.buf.partition(sep)
        return head

    def _read_exact(self, n):
        while len(self.buf) < n:
            self._fill()
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def read_response(self, method="GET", sink=None):
        """Parses one response (Content-Length, chunked, or until close). With `sink`, the
        body is passed to sink(bytes) in pieces instead of being kept (for huge bodies)."""
        while True:
            head = self._read_until(b"\r\n\r\n").decode("latin-1")
            lines = head.split("\r\n")
            version, status, reason = (lines[0].split(" ", 2) + [""])[:3]
            headers = [tuple(x.strip() for x in ln.split(":", 1)) for ln in lines[1:] if ln]
            resp = Response(int(status), reason, headers, b"", version)
            if not 100 <= resp.status < 200 or resp.status == 101:
                break
        parts = []
        out = sink or parts.append
        te = (resp.header("transfer-encoding") or "").lower()
        cl = resp.header("content-length")
        if method == "HEAD" or resp.status in (204, 304) or resp.status == 101:
            pass
        elif "chunked" in te:
            while True:
                size = int(self._read_until(b"\r\n").split(b";")[0], 16)
                if size == 0:
                    self._read_until(b"\r\n")  # no trailers expected
                    break
                self._stream(size, out)
                self._read_exact(2)
        elif cl is not None:
            self._stream(int(cl), out)
        else:
            while True:
                try:
                    self._fill()
                except ConnectionError:
                    break
                out(self.buf)
                self.buf = b""
            if self.buf:
                out(self.buf)
                self.buf = b""
        resp.body = b"".join(parts)
        return resp

    def _stream(self, n, out):
        while n > 0:
            if not self.buf:
                self._fill()
            piece = self.buf[:n]
            self.buf = self.buf[len(piece):]
            n -= len(piece)
            out(piece)

    def read_all(self, timeout=10.0):
        """Reads until the peer closes (or timeout); returns what came."""
        self.sock.settimeout(timeout)
        data = self.buf
        self.buf = b""
        try:
            while True:
                chunk = self.sock.recv(65536)
                if not chunk:
                    break
                data += chunk
        except (socket.timeout, ConnectionResetError):
            pass
        return data

    def closed_by_peer(self, timeout=5.0):
        """True when the peer closed the connection (EOF or reset) within `timeout`."""
        self.sock.settimeout(timeout)
        try:
            return self.sock.recv(1) == b""
        except ConnectionResetError:
            return True
        except socket.timeout:
            return False


def build_request(method, target, headers=None, body=b"", host="localhost"):
    if isinstance(body, str):
        body = body.encode()
    hdrs = dict(headers or {})
    lower = {k.lower() for k in hdrs}
    if "host" not in lower:
        hdrs["Host"] = host
    if body and "content-length" not in lower and "transfer-encoding" not in lower:
        hdrs["Content-Length"] = str(len(body))
    head = f"{method} {target} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in hdrs.items())
    return head.encode("latin-1") + b"\r\n" + body


def request(port, method="GET", target="/", headers=None, body=b"", host="localhost",
            timeout=30.0, addr="127.0.0.1", source=None):
    """One request on a fresh connection (Connection: close unless given); `source`: the
    local address to connect from."""
    hdrs = dict(headers or {})
    if not any(k.lower() == "connection" for k in hdrs):
        hdrs["Connection"] = "close"
    with Conn(port, addr, timeout, source=source) as c:
        return c.request(method, target, hdrs, body, host)


def curl(*args, timeout=60):
    """Runs curl with `args`; returns CompletedProcess (bytes output)."""
    return subprocess.run(["curl", "-sS", *map(str, args)], capture_output=True, timeout=timeout)
