"""HTTP/2 and gRPC (scenarios 9 and 10): the gRPC messages, the gRPC upstream, h2load runs over
HTTP/2 parsed into numbers, and the check that a proxy passes a valid gRPC answer.

The gRPC upstream is an nginx serving h2c (prior knowledge) that answers every call with one
length-prefixed message, `content-type: application/grpc` and the trailer `grpc-status: 0`:
a unary gRPC server that costs little per call, so that the proxies are measured, not it.
"""
import os
import re
import resource
import struct
import subprocess
import textwrap
import time

import load
import procs


def grpc_frame(msg):
    """One gRPC length-prefixed message: not compressed, 4-byte big-endian length."""
    return b"\x00" + struct.pack(">I", len(msg)) + msg


# protobuf field 1 (a string) holding "world" / "hello": what a unary echo call carries.
REQUEST = grpc_frame(b"\x0a\x05world")
ANSWER = grpc_frame(b"\x0a\x05hello")
GRPC_PATH = "/bench.Echo/Unary"
GRPC_HEADERS = ("content-type: application/grpc", "te: trailers")


def write_request(work):
    path = os.path.join(work, "grpc-request.bin")
    with open(path, "wb") as f:
        f.write(REQUEST)
    return path


def upstream_conf(d, port):
    """nginx.conf (bytes) of the gRPC upstream.

    Like a gRPC server, it reads the whole request before it answers: an HTTP/2 server that
    answers while the request's DATA is still arriving resets the stream afterwards, which a
    proxy's upstream connection may take as an error (nginx's grpc_pass: "upstream sent frame
    for unknown stream", then a 502). `mirror` with `mirror_request_body on` reads the body
    before the content phase (its subrequest is an internal `return 204`); the content
    handler, `stub_status`, refuses a POST with 405 without touching a file, and
    `error_page 405 =200` turns that into the answer: the message inside the quoted text of
    `return 200` (nginx keeps a quoted string's bytes, NULs included; `"`, `\\`, `$` and `{`
    would be read as syntax, so the message must not contain them) and the trailer."""
    assert not any(c in ANSWER for c in b'"\\${'), "the gRPC answer would break nginx's syntax"
    head = textwrap.dedent(f"""\
        worker_processes 1;
        daemon off;
        pid {d}/nginx.pid;
        error_log {d}/error.log warn;
        events {{ worker_connections 4096; use epoll; }}
        http {{
          access_log off;
          log_not_found off;
          keepalive_requests 1000000;
          client_body_temp_path {d}/body;
          server {{
            listen 127.0.0.1:{port} http2;
            location / {{
              mirror /read-body;
              mirror_request_body on;
              stub_status;
              error_page 405 =200 /answer;
            }}
            location = /read-body {{ internal; return 204; }}
            location = /answer {{
              internal;
              default_type application/grpc;
              add_trailer grpc-status 0 always;
              return 200 \"""").encode()
    return head + ANSWER + b'";\n    }\n  }\n}\n'


def start_upstream(work, cpus):
    """The gRPC upstream, pinned to `cpus`; returns (proc, "127.0.0.1:port") once a call to it
    gets a valid gRPC answer."""
    d = os.path.join(work, "grpc-upstream")
    os.makedirs(d, exist_ok=True)
    port = procs.free_port()
    path = os.path.join(d, "nginx.conf")
    with open(path, "wb") as f:
        f.write(upstream_conf(d, port))
    p = procs.proc("grpc-upstream", ["nginx", "-p", d, "-c", path], cpus=cpus,
                   log=os.path.join(work, "grpc-upstream.log"))
    try:
        procs.wait_port(port)
        wait_grpc(port, f"127.0.0.1:{port}", write_request(work), timeout=10)
    except RuntimeError:
        p.stop()
        raise
    return p, f"127.0.0.1:{port}"


def grpc_call(port, authority, request_file):
    """One unary call with nghttp (h2c, prior knowledge). Returns None when the answer is a
    valid gRPC answer (HTTP status 200, content-type application/grpc, the expected message
    in DATA, then trailers with grpc-status 0), else what came back instead."""
    target = f"http://127.0.0.1:{port}{GRPC_PATH}"
    argv = ["nghttp", "-v", "-t", "5", "-d", request_file, "-H", f":authority: {authority}"]
    for h in GRPC_HEADERS:
        argv += ["-H", h]
    try:
        verbose = subprocess.run(argv + ["-n", target], capture_output=True, timeout=10).stdout
        body = subprocess.run([a for a in argv if a != "-v"] + [target], capture_output=True,
                              timeout=10).stdout
    except subprocess.TimeoutExpired:
        return "no answer within 10 s"
    text = verbose.decode(errors="replace")
    fields = re.findall(r"recv \(stream_id=\d+\) (:?[\w-]+): (.*)", text)
    trailer_status = None
    seen_data = False
    for line in text.splitlines():
        if re.search(r"recv DATA frame", line):
            seen_data = True
        m = re.search(r"recv \(stream_id=\d+\) grpc-status: (\d+)", line)
        if m and seen_data:
            trailer_status = m.group(1)
    got = dict(fields)
    if got.get(":status") != "200":
        return f"HTTP status {got.get(':status')} ({'; '.join(f'{k}: {v}' for k, v in fields)})"
    if not got.get("content-type", "").startswith("application/grpc"):
        return f"content-type {got.get('content-type')}"
    if body != ANSWER:
        return f"body {body[:40]!r} (grpc-status {got.get('grpc-status')}, " \
               f"grpc-message {got.get('grpc-message')})"
    if trailer_status != "0":
        return f"no trailer grpc-status 0 after the message (grpc-status {got.get('grpc-status')})"
    return None


def wait_grpc(port, authority, request_file, timeout=15.0):
    """Waits until a unary call through 127.0.0.1:port gets a valid gRPC answer."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = grpc_call(port, authority, request_file)
        if last is None:
            return
        time.sleep(0.2)
    raise RuntimeError(f"127.0.0.1:{port} gives no valid gRPC answer after {timeout}s "
                       f"(last: {last})")


def parse_h2load(out):
    r = {"rps": 0.0, "requests": 0, "errors": 0, "non2xx": 0, "protocol": None,
         "data_bytes": 0, "elapsed": None}
    m = re.search(r"Application protocol: (\S+)", out)
    if m:
        r["protocol"] = m.group(1)
    # h2load prints the time in ms when the run took less than a second ("finished in
    # 972.31ms, ..."), in s otherwise.
    m = re.search(r"finished in ([\d.]+)(ms|s), ([\d.]+) req/s", out)
    if m:
        scale = 0.001 if m.group(2) == "ms" else 1.0
        r["elapsed"], r["rps"] = float(m.group(1)) * scale, float(m.group(3))
    m = re.search(r"requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, "
                  r"(\d+) failed, (\d+) errored, (\d+) timeout", out)
    if m:
        r["requests"] = int(m.group(4))
        r["errors"] = int(m.group(5)) + int(m.group(6)) + int(m.group(7))
    m = re.search(r"status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx", out)
    if m:
        r["non2xx"] = sum(int(m.group(i)) for i in (2, 3, 4))
    m = re.search(r"\((\d+)\) data", out)
    if m:
        r["data_bytes"] = int(m.group(1))
    return r


def run_h2load(url, host, conns, streams, seconds, cpus, log_path=None, data_file=None,
               headers=()):
    """h2load over HTTP/2 (h2 by ALPN for https://, h2c with prior knowledge for http://):
    `conns` connections with at most `streams` concurrent streams each, for `seconds`.
    With `data_file`, POSTs of its bytes. With `log_path`, p50/p99 from h2load's
    per-request log (it appends: the file is removed first)."""
    argv = ["taskset", "-c", cpus, "h2load", "-t1", f"-c{conns}", f"-m{streams}",
            f"-D{seconds}", "-H", f":authority: {host}"]
    for h in headers:
        argv += ["-H", h]
    if data_file:
        argv += ["-d", data_file]
    if log_path:
        if os.path.exists(log_path):
            os.remove(log_path)
        argv.append(f"--log-file={log_path}")
    argv.append(url)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 60).stdout
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    r = parse_h2load(out)
    r["loadgen_cpu"] = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    r["p50"] = r["p99"] = None
    if log_path and os.path.exists(log_path):
        lat = []
        with open(log_path) as f:
            for line in f:
                cols = line.split("\t")
                if len(cols) >= 3 and cols[1].startswith("2"):
                    lat.append(int(cols[2]) / 1000.0)
        lat.sort()
        r["p50"], r["p99"] = load.percentile(lat, 50), load.percentile(lat, 99)
    r["raw"] = out
    return r


def count_grpc_answers(r):
    """Calls answered 2xx without the message (a proxy's own Trailers-Only error answer is a
    200 too) count as errors: each valid answer carries len(ANSWER) bytes of DATA."""
    with_message = r["data_bytes"] // len(ANSWER)
    r["missing_message"] = max(0, r["requests"] - with_message)
    r["errors"] += r["missing_message"]
    return r
