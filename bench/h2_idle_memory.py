#!/usr/bin/python3
"""Memory per idle client connection: HTTP/2 with prior knowledge (h2c) against HTTP/1.1.

Starts Portico (--workers 1, an Ingress to a port nothing listens on: no request is sent),
opens --conns connections of one kind, each past its first exchange (h2c: the client
preface and SETTINGS, answered by the server's SETTINGS; HTTP/1.1: nothing sent, the
connection accepted), and reads the process's VmRSS before and after. Then the same for the
other kind on a fresh process. Prints KiB per connection (RSS growth / connections).

    python3 bench/h2_idle_memory.py [--build-dir build/release] [--conns 2000]
"""

import argparse
import os
import resource
import socket
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import procs  # noqa: E402
import proxies  # noqa: E402

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def open_h2c(port):
    s = socket.create_connection(("127.0.0.1", port), timeout=30)
    s.sendall(PREFACE)
    got = b""
    while len(got) < 9 or got[3] != 0x4:  # the server's SETTINGS frame
        chunk = s.recv(4096)
        if not chunk:
            raise RuntimeError("connection closed before the server's SETTINGS")
        got += chunk
    return s


def open_h1(port):
    return socket.create_connection(("127.0.0.1", port), timeout=30)


def measure(build_dir, work, kind, conns):
    port, admin = procs.free_port(), procs.free_port()
    spec = proxies.portico(work, port, [f"127.0.0.1:{procs.free_port()}"],
                           {"portico_bin": os.path.join(build_dir, "proxy", "portico"),
                            "admin_port": admin})
    # Connections stay open past the header timeout and keep-alive of the run.
    argv = spec.argv + ["--configmap", "bench/idle"]
    with open(os.path.join(spec.conf_dir, "idle.yaml"), "w") as f:
        f.write("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: idle, namespace: bench}\n"
                "data: {client-header-timeout: \"600\", keep-alive: \"600\"}\n")
    p = procs.proc("portico", argv)
    try:
        procs.wait_port(port)
        time.sleep(1)
        open_one = open_h2c if kind == "h2c" else open_h1
        warm = [open_one(port) for _ in range(50)]  # first-use allocations out of the figure
        time.sleep(0.5)
        before = rss_kib(p.pid)
        held = [open_one(port) for _ in range(conns)]
        time.sleep(1)
        after = rss_kib(p.pid)
        for s in held + warm:
            s.close()
        return before, after
    finally:
        p.stop()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build-dir", default="build/release")
    ap.add_argument("--conns", type=int, default=2000)
    a = ap.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, 2 * a.conns + 256)), hard))
    with tempfile.TemporaryDirectory(prefix="portico-idle-") as work:
        for kind in ("h2c", "http/1.1"):
            before, after = measure(a.build_dir, work, kind, a.conns)
            print(f"{kind}: {a.conns} idle connections, VmRSS {before} -> {after} KiB, "
                  f"{(after - before) / a.conns:.1f} KiB per connection")


if __name__ == "__main__":
    main()
