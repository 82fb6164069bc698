"""Listening sockets, TLS, one thread per connection; the listener can be closed for a while
(connections refused) and reopened on the same port."""

import socket
import ssl
import threading
import time


class Listener:
    """Accepts connections on host:port and hands each to `serve(sock, addr)` in a thread."""

    def __init__(self, host, port, serve, tls_context=None, name="api"):
        self.host = host
        self.port = port
        self.serve = serve
        self.tls_context = tls_context
        self.name = name
        self.sock = None
        self.lock = threading.Lock()
        self.stopped = threading.Event()
        self.reopen_at = 0.0
        self.connections = set()
        self._open()

    def _open(self):
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))
        sock.listen(128)
        sock.settimeout(0.2)
        self.port = sock.getsockname()[1]
        self.sock = sock

    def start(self):
        threading.Thread(target=self._loop, name=f"{self.name}-accept", daemon=True).start()

    def refuse_for(self, seconds):
        """Closes the listening socket; it is reopened on the same port after `seconds`."""
        with self.lock:
            self.reopen_at = time.monotonic() + float(seconds)
            if self.sock is not None:
                self.sock.close()
                self.sock = None

    def refusing(self):
        with self.lock:
            return self.sock is None

    def stop(self):
        self.stopped.set()
        with self.lock:
            if self.sock is not None:
                self.sock.close()
                self.sock = None

    def _loop(self):
        while not self.stopped.is_set():
            with self.lock:
                sock = self.sock
                if sock is None and time.monotonic() >= self.reopen_at:
                    try:
                        self._open()
                        sock = self.sock
                    except OSError:
                        sock = None
            if sock is None:
                time.sleep(0.05)
                continue
            try:
                conn, addr = sock.accept()
            except (socket.timeout, OSError):
                continue
            conn.settimeout(None)
            threading.Thread(target=self._connection, args=(conn, addr),
                             name=f"{self.name}-conn", daemon=True).start()

    def _connection(self, conn, addr):
        try:
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if self.tls_context is not None:
                conn.settimeout(10)
                conn = self.tls_context.wrap_socket(conn, server_side=True)
                conn.settimeout(None)
            with self.lock:
                self.connections.add(conn)
            self.serve(conn, addr)
        except (ssl.SSLError, OSError, ConnectionError):
            pass
        finally:
            with self.lock:
                self.connections.discard(conn)
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            conn.close()


def tls_context(cert, key, client_ca=None):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(cert, key)
    ctx.set_alpn_protocols(["http/1.1"])
    if client_ca:
        ctx.load_verify_locations(client_ca)
        ctx.verify_mode = ssl.CERT_OPTIONAL
    return ctx
