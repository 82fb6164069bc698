"""An h2c gRPC upstream that answers every call as soon as the call's HEADERS arrive, before
reading any of its DATA, and then ends the stream with RST_STREAM(NO_ERROR): RFC 9113 8.1
lets a server do that, and the client must not discard the answer. Threads; loopback;
python3-h2 does the framing."""

import socket
import threading

import h2.config
import h2.connection
import h2.errors
import h2.events
import h2.exceptions

from loopback_server import LoopbackServer

ANSWER = b"early"


class EarlyAnswerServer(LoopbackServer):
    def __init__(self):
        super().__init__(64)
        self.lock = threading.Lock()
        self.answered = 0  # calls answered early
        self.start()


    def _serve(self, c):
        conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=False))
        conn.initiate_connection()
        c.settimeout(60)
        try:
            c.sendall(conn.data_to_send())
            while not self.stopped:
                data = c.recv(65536)
                if not data:
                    return
                for ev in conn.receive_data(data):
                    if isinstance(ev, h2.events.RequestReceived):
                        self._answer(conn, ev.stream_id)
                    elif isinstance(ev, h2.events.DataReceived):
                        # Data of a stream already answered: the connection window is given
                        # back so that other calls keep flowing.
                        conn.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
                c.sendall(conn.data_to_send())
        except (OSError, h2.exceptions.ProtocolError):
            return
        finally:
            c.close()

    def _answer(self, conn, sid):
        message = b"\x00" + len(ANSWER).to_bytes(4, "big") + ANSWER
        conn.send_headers(sid, [(":status", "200"), ("content-type", "application/grpc")])
        conn.send_data(sid, message)
        conn.send_headers(sid, [("grpc-status", "0")], end_stream=True)
        try:
            conn.reset_stream(sid, error_code=h2.errors.ErrorCodes.NO_ERROR)
        except h2.exceptions.StreamClosedError:
            pass  # the whole request had arrived already (read in the same batch)
        with self.lock:
            self.answered += 1
