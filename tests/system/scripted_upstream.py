"""A raw HTTP/1.1 upstream for framing tests: it answers each request with canned bytes
chosen by the request path (responses Portico must refuse or repair), records every raw
request it received, and counts connections. Standard library only; threads; loopback."""

import socket
import threading
import time

from loopback_server import LoopbackServer


class ScriptedUpstream(LoopbackServer):
    def __init__(self, responses, idle_close=None):
        """`responses`: {path: bytes or callable(raw_request) -> bytes}; a response ending
        the connection is written and the socket closed when the value is (bytes, "close").
        (bytes, "linger"): the response and a FIN go in one segment (shutdown(SHUT_WR) with
        TCP_CORK), then this side keeps reading, and discarding into `discarded`, for 30 s
        or until the peer closes or stop(), as a server's lingering close reads.
        `idle_close`: seconds a connection may wait for its next request before this side
        closes it (as servers close idle keep-alive connections); None: 30."""
        self.responses = responses
        self.idle_close = idle_close
        self.requests = []        # raw requests, in arrival order
        self.connections = 0      # accepted so far
        self.open_connections = 0
        self.discarded = []       # bytes read after a lingering half-close
        self.lock = threading.Lock()
        super().__init__(256)
        self.start()


    def _accepted(self, c):
        with self.lock:
            self.connections += 1
            self.open_connections += 1

    def _serve(self, c):
        c.settimeout(self.idle_close or 30)
        buf = b""
        try:
            while True:
                raw, buf = read_request(c, buf)
                if raw is None:
                    return
                with self.lock:
                    self.requests.append(raw)
                path = raw.split(b" ", 2)[1].decode("latin-1")
                answer = self.responses.get(path.split("?")[0], default_response)
                if callable(answer):
                    answer = answer(raw)
                close = None
                if isinstance(answer, tuple):
                    answer, close = answer
                if close == "linger":
                    c.setsockopt(socket.IPPROTO_TCP, socket.TCP_CORK, 1)
                    c.sendall(answer)
                    c.shutdown(socket.SHUT_WR)  # pushes the corked answer with the FIN
                    self._linger(c, buf)
                    return
                c.sendall(answer)
                if close:
                    return
        except (OSError, ValueError):
            return
        finally:
            c.close()  # closed before it stops counting: a waiter sees the close done
            with self.lock:
                self.open_connections -= 1


    def _linger(self, c, buf):
        if buf:
            with self.lock:
                self.discarded.append(buf)
        c.settimeout(0.2)
        deadline = time.monotonic() + 30
        while not self.stopped and time.monotonic() < deadline:
            try:
                data = c.recv(65536)
            except socket.timeout:
                continue
            if not data:
                return
            with self.lock:
                self.discarded.append(data)


def default_response(raw):
    return b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(raw), raw)


def _fill(c, buf):
    data = c.recv(65536)
    if not data:
        raise ValueError("closed")
    return buf + data


def read_request(c, buf):
    """One raw request (head + body as received) from socket `c`; (None, b"") on EOF."""
    try:
        while b"\r\n\r\n" not in buf:
            buf = _fill(c, buf)
    except ValueError:
        return None, b""
    end = buf.index(b"\r\n\r\n") + 4
    head = buf[:end].decode("latin-1").lower()
    if "transfer-encoding: chunked" in head:
        pos = end
        while True:  # chunks, then the trailer section
            while b"\r\n" not in buf[pos:]:
                buf = _fill(c, buf)
            line_end = buf.index(b"\r\n", pos)
            size = int(buf[pos:line_end].split(b";")[0], 16)
            pos = line_end + 2
            if size == 0:
                while b"\r\n\r\n" not in buf[pos - 2:]:
                    buf = _fill(c, buf)
                pos = buf.index(b"\r\n\r\n", pos - 2) + 4
                break
            while len(buf) < pos + size + 2:
                buf = _fill(c, buf)
            pos += size + 2
        return buf[:pos], buf[pos:]
    length = 0
    for line in head.split("\r\n"):
        if line.startswith("content-length:"):
            length = int(line.split(":", 1)[1])
    while len(buf) < end + length:
        buf = _fill(c, buf)
    return buf[:end + length], buf[end + length:]
