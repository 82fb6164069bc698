"""HTTP/1.1 request handling: body reading, authentication, faults, JSON responses."""

import gzip
import json
import sys
import time
import traceback
import uuid
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qs, urlsplit

from . import api, control, errors

GZIP_THRESHOLD = 128 * 1024   # kube-apiserver compresses responses larger than this
CHUNKING_THRESHOLD = 2048     # net/http's bufferBeforeChunkingSize
PUBLIC_PATHS = {"/version", "/version/", "/healthz", "/livez", "/readyz"}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "kube-apiserver-test"
    sys_version = ""
    timeout = 600  # idle keep-alive connections are closed after this

    # `self.server` is the App (see app.py); `self.connection` the (TLS) socket.

    def send_response(self, code, message=None):
        # Like Go's net/http: a Date header, no Server header.
        self.log_request(code)
        self.send_response_only(code, message)
        self.send_header("Date", self.date_time_string())

    def log_message(self, fmt, *args):
        if self.server.verbose:
            sys.stderr.write("%s - %s\n" % (self.address_string(), fmt % args))

    def do_GET(self):
        self._dispatch("GET")

    def do_POST(self):
        self._dispatch("POST")

    def do_PUT(self):
        self._dispatch("PUT")

    def do_PATCH(self):
        self._dispatch("PATCH")

    def do_DELETE(self):
        self._dispatch("DELETE")

    def do_HEAD(self):
        self._dispatch("HEAD")

    # ---- request ---------------------------------------------------------------------------
    def _read_body(self):
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            data = bytearray()
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return bytes(data)
                data += self.rfile.read(size)
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _dispatch(self, method):
        app = self.server
        self.status_sent = None
        self.watching = False
        url = urlsplit(self.path)
        params = {k: v[-1] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
        self.started = time.time()
        self.logged = url.path.startswith("/_test/")
        try:
            body = self._read_body()
            if url.path.startswith("/_test/"):
                control.handle(self, method, url.path, params, body)
                return
            app.count_request()
            stall, rule = app.faults.match(method, self.path)
            if stall:
                time.sleep(stall / 1000.0)
            if rule is not None:
                raise _injected(rule)
            self.user = self._authenticate(url.path)
            api.route(self, method, url.path, params, body)
        except errors.ApiError as e:
            self.send_json(e.code, e.status(), e.headers)
        except (BrokenPipeError, ConnectionError, TimeoutError, OSError):
            self.close_connection = True
        except Exception as e:  # noqa: BLE001 - answered as InternalError, as the real server
            traceback.print_exc(file=sys.stderr)
            err = errors.ApiError(500, f"Internal error occurred: {e}", "InternalError")
            self.send_json(500, err.status())
        finally:
            if not self.logged:
                self._log(None)

    def _authenticate(self, path):
        app = self.server
        if not app.token and not app.client_ca:
            return "system:admin"
        auth = self.headers.get("Authorization") or ""
        if app.token and auth == f"Bearer {app.token}":
            return "portico-test-admin"
        if not auth and not self._peer_cn():
            # Anonymous, as with kube-apiserver's default --anonymous-auth=true: only the
            # public info paths (system:public-info-viewer) are allowed.
            if path in PUBLIC_PATHS:
                return "system:anonymous"
            raise errors.ApiError(403, 'forbidden: User "system:anonymous" cannot '
                                  f'{self.command.lower()} path "{path}"', "Forbidden", {})
        cn = self._peer_cn()
        if cn:
            return cn
        raise errors.unauthorized()

    def _peer_cn(self):
        app = self.server
        if not app.client_ca or not hasattr(self.connection, "getpeercert"):
            return None
        cert = self.connection.getpeercert()
        if not cert:
            return None
        for rdn in cert.get("subject", ()):
            for k, v in rdn:
                if k == "commonName":
                    return v
        return "client-cert"

    def _log(self, code):
        """Logs the request before its response goes out, so a client that has the
        response can rely on finding it in /_test/requests."""
        self.logged = True
        self.server.log_request_entry(self.command, self.path, code, self.watching,
                                      self.headers.get("User-Agent", ""), self.started)

    # ---- responses -------------------------------------------------------------------------
    def common_headers(self, content_type="application/json"):
        self.send_header("Audit-Id", str(uuid.uuid4()))
        self.send_header("Cache-Control", "no-cache, private")
        self.send_header("Content-Type", content_type)
        self.send_header("X-Kubernetes-Pf-Flowschema-Uid", self.server.flowschema_uid)
        self.send_header("X-Kubernetes-Pf-Prioritylevel-Uid", self.server.prioritylevel_uid)

    def send_json(self, code, doc, headers=None, content_type="application/json"):
        data = (json.dumps(doc, separators=(",", ":")) + "\n").encode()
        self.send_bytes(code, data, content_type, headers)

    def send_bytes(self, code, data, content_type, headers=None):
        gz = (len(data) > GZIP_THRESHOLD and self.server.gzip
              and "gzip" in (self.headers.get("Accept-Encoding") or ""))
        if gz:
            data = gzip.compress(data, 1)
        # Go's net/http (and so kube-apiserver) sets Content-Length only on bodies it could
        # buffer whole (2048 bytes); bigger ones go out with chunked transfer encoding.
        chunked = len(data) > CHUNKING_THRESHOLD and self.server.chunked_responses
        if not self.logged:
            self._log(code)
        self.send_response(code)
        self.common_headers(content_type)
        for k, v in (headers or {}).items():
            self.send_header(k, str(v))
        if gz:
            self.send_header("Content-Encoding", "gzip")
            self.send_header("Vary", "Accept-Encoding")
        if chunked:
            self.send_header("Transfer-Encoding", "chunked")
        else:
            self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            if chunked:
                step = 64 * 1024
                for i in range(0, len(data), step):
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(data[i:i + step]), data[i:i + step]))
                self.wfile.write(b"0\r\n\r\n")
            else:
                self.wfile.write(data)
        self.wfile.flush()
        self.status_sent = code

    def start_chunked(self, code=200):
        if not self.logged:
            self._log(code)
        self.send_response(code)
        self.common_headers()
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self.wfile.flush()
        self.status_sent = code

    def write_chunk(self, data):
        step = self.server.watch_chunk_bytes or len(data)
        for i in range(0, len(data), step):
            piece = data[i:i + step]
            self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
        self.wfile.flush()

    def end_chunked(self):
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()


def _injected(rule):
    headers = {}
    details = None
    if rule.retry_after is not None:
        headers["Retry-After"] = str(rule.retry_after)
        details = {"retryAfterSeconds": int(rule.retry_after)}
    messages = {429: "Too many requests, please try again later.",
                500: "Internal error occurred: injected fault",
                503: "The server is currently unable to handle the request",
                504: "The server was unable to return a response in the time allotted"}
    msg = messages.get(rule.code, f"injected fault {rule.code}")
    return errors.ApiError(rule.code, msg, errors.REASONS.get(rule.code, ""), details, headers)
