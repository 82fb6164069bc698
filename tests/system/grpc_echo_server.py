#!/usr/bin/python3
"""A gRPC upstream for grpc_upstream_test.py: python3-grpcio with generic handlers on raw bytes
(no generated code). Run as its own process so that a test can kill it:

    grpc_echo_server.py PORT [CERT KEY]    (PORT 0: any; prints "port N" once serving)

Service test.Echo:
  Unary         echoes the request. "status:" aborts with NOT_FOUND and the rest as message;
                "sleep:S" sleeps S seconds before sending anything; "deadline" answers the time the call has left
                (grpc-timeout as received) or "none". Initial metadata x-echo repeats the
                request's x-meta; trailing metadata x-trail is "t-" + x-meta, and x-peer names
                the connection the call came on.
  ServerStream  "N:SIZE:GAP" answers N messages of SIZE bytes, GAP seconds apart.
  ClientStream  answers "count:total-bytes" once the request stream ends.
  Bidi          echoes each message as it arrives.
With a CERT and KEY it serves TLS (ALPN h2)."""

import sys
import time
from concurrent import futures

import grpc


def _meta(context):
    return dict(context.invocation_metadata())


def unary(request, context):
    if request.startswith(b"sleep:"):  # before anything is sent
        time.sleep(float(request[6:].decode()))
    meta = _meta(context)
    context.send_initial_metadata((("x-echo", meta.get("x-meta", "")),))
    context.set_trailing_metadata((("x-trail", "t-" + meta.get("x-meta", "")),
                                   ("x-peer", context.peer())))
    if request.startswith(b"status:"):
        context.abort(grpc.StatusCode.NOT_FOUND, request[7:].decode())
    if request == b"deadline":
        left = context.time_remaining()
        return b"none" if left is None else f"{left:.3f}".encode()
    return request


def server_stream(request, context):
    n, size, gap = request.decode().split(":")
    for i in range(int(n)):
        if i and float(gap):
            time.sleep(float(gap))
        yield bytes([65 + i % 26]) * int(size)


def client_stream(request_iterator, context):
    count = total = 0
    for m in request_iterator:
        count += 1
        total += len(m)
    return f"{count}:{total}".encode()


def bidi(request_iterator, context):
    for m in request_iterator:
        yield m


def main():
    port = int(sys.argv[1])
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=64),
                         options=[("grpc.max_concurrent_streams", 8),
                                  ("grpc.max_receive_message_length", 8 << 20),
                                  ("grpc.max_send_message_length", 8 << 20),
                                  ("grpc.so_reuseport", 0)])
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler("test.Echo", {
        "Unary": grpc.unary_unary_rpc_method_handler(unary),
        "ServerStream": grpc.unary_stream_rpc_method_handler(server_stream),
        "ClientStream": grpc.stream_unary_rpc_method_handler(client_stream),
        "Bidi": grpc.stream_stream_rpc_method_handler(bidi),
    }),))
    if len(sys.argv) > 3:
        with open(sys.argv[2], "rb") as c, open(sys.argv[3], "rb") as k:
            creds = grpc.ssl_server_credentials(((k.read(), c.read()),))
        port = server.add_secure_port(f"127.0.0.1:{port}", creds)
    else:
        port = server.add_insecure_port(f"127.0.0.1:{port}")
    server.start()
    print(f"port {port}", flush=True)
    server.wait_for_termination()


if __name__ == "__main__":
    main()
