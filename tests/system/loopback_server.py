"""A TCP server on a loopback port for test upstreams: it accepts in a thread of its own and
serves each connection in another, by calling the subclass's `_serve(conn)`; `_accepted(conn)`
runs first in the accept thread (counting, say). `stop()` closes the listening socket; the
connection threads end with their connections. Standard library only."""

import socket
import threading


class LoopbackServer:
    def __init__(self, backlog=64):
        self.stopped = False
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(backlog)
        self.port = self.sock.getsockname()[1]

    def start(self):
        """Starts accepting; call at the end of the subclass's __init__."""
        threading.Thread(target=self._accept_loop, daemon=True).start()
        return self

    def stop(self):
        self.stopped = True
        try:
            self.sock.close()
        except OSError:
            pass

    def _accepted(self, conn):
        pass

    def _serve(self, conn):
        raise NotImplementedError

    def _accept_loop(self):
        while not self.stopped:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            self._accepted(c)
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()
