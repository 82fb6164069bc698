"""The server process: options, listeners, watcher registry, request log, main()."""

import argparse
import collections
import os
import shutil
import secrets
import signal
import sys
import tempfile
import threading
import time
import uuid

from . import certs, loader
from .faults import Faults
from .handler import Handler
from .resources import Registry
from .server import Listener, tls_context
from .store import DEFAULT_NAMESPACES, Store

KUBE_VERSION = ("1", "32", "v1.32.4")


class App:
    """Shared state of all connections; passed to Handler as its `server`."""

    def __init__(self, opts):
        self.opts = opts
        self.verbose = opts.verbose
        self.registry = Registry(gateway_api=not opts.no_gateway_api)
        self.store = Store(self.registry, history=opts.history, initial_rv=opts.initial_rv,
                           check_namespaces=not opts.no_namespace_check,
                           validation=not opts.no_validation)
        self.faults = Faults()
        self.token = None if opts.anonymous else opts.token
        self.client_ca = None
        self.gzip = not opts.no_gzip
        self.chunked_responses = not opts.no_chunked_responses
        self.paginate_rv0 = opts.paginate_rv0
        self.watch_chunk_bytes = opts.watch_chunk_bytes
        self.aggregated_discovery = not opts.no_aggregated_discovery
        self.watch_timeout = opts.watch_timeout
        self.bookmark_interval = opts.bookmark_interval
        self.flowschema_uid = str(uuid.uuid4())
        self.prioritylevel_uid = str(uuid.uuid4())
        self.watchers = set()
        self.watch_lock = threading.Lock()
        self.requests = collections.deque(maxlen=20000)
        self.watch_sent = collections.OrderedDict()  # rv -> monotonic time first sent
        self.request_seq = 0
        self.requests_total = 0
        self.listener = None
        self.admin = None
        self.scheme = "http"

    # ---- BaseHTTPRequestHandler's expectations of `server` -------------------------------
    def server_address(self):
        host = self.opts.host
        return f"[{host}]:{self.listener.port}" if ":" in host else f"{host}:{self.listener.port}"

    def version_info(self):
        major, minor, git = KUBE_VERSION
        return {"major": major, "minor": minor, "emulationMajor": major,
                "emulationMinor": minor, "minCompatibilityMajor": major,
                "minCompatibilityMinor": str(int(minor) - 1), "gitVersion": git,
                "gitCommit": "0000000000000000000000000000000000000000",
                "gitTreeState": "clean", "buildDate": "2025-04-22T00:00:00Z",
                "goVersion": "go1.23.8", "compiler": "gc", "platform": "linux/amd64"}

    # ---- watchers ---------------------------------------------------------------------------
    def add_watcher(self, w):
        with self.watch_lock:
            self.watchers.add(w)

    def remove_watcher(self, w):
        with self.watch_lock:
            self.watchers.discard(w)

    def signal_watchers(self, action, resource=None):
        with self.watch_lock:
            targets = [w for w in self.watchers
                       if resource is None or resource in (w.rt.plural, w.rt.qualified)]
        for w in targets:
            w.signal(action)
        self.store.wake()
        return len(targets)

    # ---- request log ------------------------------------------------------------------------
    def log_request_entry(self, method, target, code, watch, agent, started):
        with self.watch_lock:
            self.request_seq += 1
            self.requests.append({"seq": self.request_seq, "method": method, "url": target,
                                  "code": code, "watch": watch, "userAgent": agent,
                                  "start": started})

    def note_watch_sent(self, rv):
        """Remembers when the event of resourceVersion rv was first written to a watch
        (time.monotonic(), comparable across processes on Linux), for latency benchmarks."""
        with self.watch_lock:
            if rv not in self.watch_sent:
                self.watch_sent[rv] = time.monotonic()
                while len(self.watch_sent) > 10000:
                    self.watch_sent.popitem(last=False)

    def requests_since(self, seq):
        with self.watch_lock:
            return [r for r in self.requests if r["seq"] > seq]

    def state(self):
        with self.watch_lock:
            watches = collections.Counter(w.rt.qualified for w in self.watchers)
        return {"resourceVersion": str(self.store.rv),
                "compactedResourceVersion": str(self.store.compacted_rv),
                "objects": self.store.counts(), "watches": dict(watches),
                "requests": self.requests_total, "faults": self.faults.describe(),
                "refusing": self.listener.refusing(), "port": self.listener.port}

    def count_request(self):
        with self.watch_lock:
            self.requests_total += 1

    def serve_connection(self, sock, addr):
        Handler(sock, addr, self)


def parse_args(argv):
    p = argparse.ArgumentParser(description="Kubernetes API server for tests (see README.md)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0, help="0 picks a free port")
    p.add_argument("--plain-http", action="store_true", help="serve HTTP instead of HTTPS")
    p.add_argument("--tls-cert", help="server certificate (default: generated)")
    p.add_argument("--tls-key", help="server key (default: generated)")
    p.add_argument("--ca-cert", help="CA of --tls-cert, written into the kubeconfig")
    p.add_argument("--pki-dir", help="where generated certificates go (default: temp dir)")
    p.add_argument("--token", help="bearer token to require (default: a random one)")
    p.add_argument("--anonymous", action="store_true",
                   help="accept requests without credentials (the kubeconfig still has one)")
    p.add_argument("--client-cert-auth", action="store_true",
                   help="accept client certificates signed by the (generated) CA")
    p.add_argument("--kubeconfig-out", help="write a kubeconfig for this server here")
    p.add_argument("--load", action="append", default=[], help="objects to load (JSON/YAML)")
    p.add_argument("--state-file", help="load at start if present, save on SIGTERM")
    p.add_argument("--history", type=int, default=10000, help="events kept for watch resume")
    p.add_argument("--initial-rv", type=int, default=1000)
    p.add_argument("--watch-timeout", type=float, default=1800.0,
                   help="seconds a watch lasts without timeoutSeconds")
    p.add_argument("--bookmark-interval", type=float, default=10.0)
    p.add_argument("--admin-port", type=int, default=None,
                   help="also serve the API and /_test/ over plain HTTP, without auth")
    p.add_argument("--no-gzip", action="store_true", help="never gzip (default: bodies "
                   "over 128 KiB are gzipped when the client accepts it)")
    p.add_argument("--no-chunked-responses", action="store_true",
                   help="always send Content-Length (default: bodies over 2048 bytes are "
                        "chunked, as Go's net/http does)")
    p.add_argument("--paginate-rv0", action="store_true",
                   help="honour limit on lists with resourceVersion=0 (default: ignored, as "
                        "the watch cache of kube-apiserver 1.32 does)")
    p.add_argument("--watch-chunk-bytes", type=int, default=0,
                   help="split each watch event into chunks of at most this many bytes")
    p.add_argument("--no-aggregated-discovery", action="store_true")
    p.add_argument("--no-namespace-check", action="store_true",
                   help="allow objects in namespaces that do not exist")
    p.add_argument("--no-validation", action="store_true")
    p.add_argument("--no-gateway-api", action="store_true",
                   help="do not serve the Gateway API kinds (404, as without their CRDs) until "
                        "POST /_test/install-gateway-api")
    p.add_argument("--verbose", action="store_true")
    return p.parse_args(argv)


def _setup_tls(app, opts, tmpdirs):
    if opts.plain_http:
        return None, None
    if opts.tls_cert and opts.tls_key:
        paths = {"cert": opts.tls_cert, "key": opts.tls_key, "ca": opts.ca_cert}
    else:
        pki = opts.pki_dir or tempfile.mkdtemp(prefix="kube-test-apiserver-")
        if not opts.pki_dir:
            tmpdirs.append(pki)
        paths = certs.make_pki(pki, client=opts.client_cert_auth)
    if opts.client_cert_auth:
        app.client_ca = paths.get("ca")
    return tls_context(paths["cert"], paths["key"], app.client_ca), paths


def main(argv=None):
    opts = parse_args(sys.argv[1:] if argv is None else argv)
    if not opts.token:
        opts.token = secrets.token_hex(16)
    app = App(opts)
    tmpdirs = []
    ctx, paths = _setup_tls(app, opts, tmpdirs)
    app.scheme = "http" if ctx is None else "https"
    for ns in DEFAULT_NAMESPACES:
        app.store.ensure_namespace(ns)
    if opts.state_file and os.path.exists(opts.state_file):
        import json
        with open(opts.state_file, encoding="utf-8") as f:
            app.store.restore(json.load(f))
    for path in opts.load:
        loader.load_file(app.store, path)
    app.listener = Listener(opts.host, opts.port, app.serve_connection, ctx)
    host = f"[{opts.host}]" if ":" in opts.host else opts.host
    url = f"{app.scheme}://{host}:{app.listener.port}"
    if opts.kubeconfig_out:
        certs.write_kubeconfig(opts.kubeconfig_out, url, (paths or {}).get("ca"), opts.token,
                               (paths or {}).get("client_cert"), (paths or {}).get("client_key"))
    if opts.admin_port is not None:
        admin_app = _admin_app(app)
        app.admin = Listener(opts.host, opts.admin_port, admin_app.serve_connection,
                             None, "admin")
    app.listener.start()
    if app.admin:
        app.admin.start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    print(f"listening on {url}", flush=True)
    if app.admin:
        print(f"admin on http://{host}:{app.admin.port}", flush=True)
    if paths and paths.get("ca"):
        print(f"ca {paths['ca']}", flush=True)
    while not stop.wait(0.5):
        pass
    app.listener.stop()
    if app.admin:
        app.admin.stop()
    app.signal_watchers("clean")
    if opts.state_file:
        loader.write_json(opts.state_file, app.store.snapshot())
    time.sleep(0.1)
    for d in tmpdirs:
        shutil.rmtree(d, ignore_errors=True)
    return 0


def _admin_app(app):
    """A view of the same App without authentication (for test drivers)."""
    return _AdminView(app)


class _AdminView:
    def __init__(self, app):
        self._app = app
        self.token = None
        self.client_ca = None

    def __getattr__(self, name):
        return getattr(self._app, name)

    def serve_connection(self, sock, addr):
        Handler(sock, addr, self)
