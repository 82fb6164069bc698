"""Load generators: wrk runs parsed into numbers, and idle keep-alive connection holders."""
import os
import re
import resource
import selectors
import socket
import subprocess
import time

_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}


def _ms(text):
    m = re.match(r"([\d.]+)(us|ms|s|m)$", text)
    return float(m.group(1)) * _UNITS[m.group(2)] if m else None


def parse_wrk(out):
    r = {"rps": 0.0, "requests": 0, "errors": 0, "non2xx": 0, "p50": None, "p75": None,
         "p90": None, "p99": None}
    m = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if m:
        r["rps"] = float(m.group(1))
    m = re.search(r"(\d+) requests in", out)
    if m:
        r["requests"] = int(m.group(1))
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if m:
        r["non2xx"] = int(m.group(1))
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if m:
        r["errors"] = sum(int(x) for x in m.groups())
    for pct in ("50", "75", "90", "99"):
        m = re.search(rf"^\s+{pct}%\s+(\S+)", out, re.M)
        if m:
            r["p" + pct] = _ms(m.group(1))
    return r


def run_wrk(url, host, conns, seconds, cpus, headers=(), threads=1, script=None):
    """Runs wrk pinned to `cpus`; returns its parsed numbers and its own CPU seconds.
    `host` None leaves the Host header to the script."""
    argv = ["taskset", "-c", cpus, "wrk", f"-t{threads}", f"-c{conns}", f"-d{seconds}s",
            "--latency", "--timeout", "5s"]
    if host:
        argv += ["-H", f"Host: {host}"]
    for h in headers:
        argv += ["-H", h]
    if script:
        argv += ["-s", script]
    argv.append(url)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 60).stdout
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    res = parse_wrk(out)
    res["loadgen_cpu"] = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    res["raw"] = out
    return res


def percentile(sorted_vals, pct):
    """Nearest-rank percentile of an ascending list."""
    if not sorted_vals:
        return None
    k = max(0, min(len(sorted_vals) - 1, int(round(pct / 100.0 * len(sorted_vals) + 0.5)) - 1))
    return sorted_vals[k]


def run_h2load_rate(url, host, conns, rate, seconds, cpus, log_path, warmup=1):
    """h2load (HTTP/1.1) at a fixed offered rate: `rate` requests per second in total, spread
    over `conns` keep-alive connections (--rps per connection), for `seconds` after a warm-up.
    Latencies come from its per-request log: p50/p99/p99.9 in ms, and the achieved rate."""
    per_conn = max(1, round(rate / conns))
    argv = ["taskset", "-c", cpus, "h2load", "--h1", "-t1", f"-c{conns}", f"--rps={per_conn}",
            f"-D{seconds}", f"--warm-up-time={warmup}", f"--log-file={log_path}",
            "-H", f":authority: {host}", url]
    # h2load appends to an existing log file: start from an empty one, or earlier rounds'
    # requests would be counted again.
    if os.path.exists(log_path):
        os.remove(log_path)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + warmup + 60).stdout
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    lat, ok, bad = [], 0, 0
    with open(log_path) as f:
        for line in f:
            cols = line.split("\t")
            if len(cols) < 3:
                continue
            if cols[1].startswith("2"):
                ok += 1
            else:
                bad += 1
            lat.append(int(cols[2]) / 1000.0)
    lat.sort()
    m = re.search(r"requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, "
                  r"(\d+) failed, (\d+) errored, (\d+) timeout", out)
    failed = int(m.group(5)) + int(m.group(6)) + int(m.group(7)) if m else 0
    return {"offered": per_conn * conns, "achieved": len(lat) / seconds, "requests": len(lat),
            "p50": percentile(lat, 50), "p99": percentile(lat, 99),
            "p999": percentile(lat, 99.9), "max": lat[-1] if lat else None,
            "errors": failed, "non2xx": bad,
            "loadgen_cpu": (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime),
            "raw": out}


def run_h2load_count(url, host, conns, count, cpus, timeout=600, data_file=None):
    """h2load (HTTP/1.1, keep-alive) for exactly `count` requests (POSTs of `data_file` when
    given); returns (succeeded, output)."""
    argv = ["taskset", "-c", cpus, "h2load", "--h1", "-t1", f"-c{conns}", f"-n{count}",
            "-H", f":authority: {host}", url]
    if data_file:
        argv[-1:-1] = ["-d", data_file]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=timeout).stdout
    m = re.search(r"(\d+) succeeded", out)
    return (int(m.group(1)) if m else 0), out


def run_h2load_handshakes(url, host, conns, seconds, cpus):
    """Full TLS handshakes: h2load (HTTP/1.1) runs batches of `conns` new connections with one
    request each (-c N -n N) for `seconds`. Unlike wrk, which keeps its SSL object and resumes
    the session on its next connection, h2load takes a fresh SSL object per connection and
    never resumes. Returns handshakes per second (as "rps") and the counts."""
    argv = ["taskset", "-c", cpus, "h2load", "--h1", "-t1", f"-c{conns}", f"-n{conns}",
            "-H", f":authority: {host}", url]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.monotonic()
    ok = failed = non2xx = 0
    while time.monotonic() - t0 < seconds:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=60).stdout
        m = re.search(r"(\d+) succeeded, (\d+) failed, (\d+) errored, (\d+) timeout", out)
        if not m:
            failed += conns
            continue
        ok += int(m.group(1))
        failed += int(m.group(2)) + int(m.group(3)) + int(m.group(4))
        m = re.search(r"status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx", out)
        if m:
            non2xx += sum(int(m.group(i)) for i in (2, 3, 4))
    elapsed = time.monotonic() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return {"rps": ok / elapsed, "requests": ok, "errors": failed, "non2xx": non2xx,
            "p50": None, "p99": None,
            "loadgen_cpu": (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)}


def raise_nofile(n=200000):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = max(soft, min(n, hard if hard != resource.RLIM_INFINITY else n))
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (n, max(n, hard)))
    except (ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))


class idle_connections:
    """Opens `count` keep-alive connections, makes one request on each, and holds them open."""

    def __init__(self, port, host, count, path="/small", deadline_s=120):
        self.socks = []
        req = f"GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode()
        sel = selectors.DefaultSelector()
        end = time.monotonic() + deadline_s
        answered = 0
        for i in range(count):
            s = socket.create_connection(("127.0.0.1", port))
            s.sendall(req)
            s.setblocking(False)
            sel.register(s, selectors.EVENT_READ, b"")
            self.socks.append(s)
            if i % 500 == 499:
                answered += self._drain(sel, end, wait_all=False)
        self.answered = answered + self._drain(sel, end, wait_all=True)
        sel.close()

    @staticmethod
    def _drain(sel, end, wait_all):
        done = 0
        while time.monotonic() < end and sel.get_map():
            events = sel.select(timeout=0.5 if wait_all else 0)
            if not events and not wait_all:
                break
            for key, _ in events:
                try:
                    data = key.fileobj.recv(65536)
                except BlockingIOError:
                    continue
                got = key.data + data
                if b"\r\n\r\n" in got or not data:
                    sel.unregister(key.fileobj)
                    done += 1
                else:
                    sel.modify(key.fileobj, selectors.EVENT_READ, got)
        return done

    def held(self):
        """How many of the connections are still open (the proxy has not closed them)."""
        import select
        gone = select.POLLRDHUP | select.POLLHUP | select.POLLERR
        n = 0
        for s in self.socks:
            p = select.poll()
            p.register(s.fileno(), select.POLLRDHUP)
            n += not any(ev & gone for _, ev in p.poll(0))
        return n

    def close(self):
        for s in self.socks:
            s.close()
        self.socks = []


class idle_tls_connections(idle_connections):
    """Opens `count` TLS connections (full handshakes, ALPN http/1.1, no resumption), makes one
    request on each and reads its answer, and holds them open."""

    # Opening stops after deadline_s (below the proxies' 75 s keep-alive timeout: the first
    # connections must still be open when RSS is read); `held` says how many were opened.
    def __init__(self, port, host, count, path="/small", deadline_s=60):  # noqa: W0231
        import ssl
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        ctx.set_alpn_protocols(["http/1.1"])
        req = f"GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode()
        self.socks = []
        self.answered = 0
        end = time.monotonic() + deadline_s
        for _ in range(count):
            if time.monotonic() > end:
                break
            s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=10),
                                server_hostname=host)
            self.socks.append(s)
            s.sendall(req)
            got = b""
            while b"\r\n\r\n" not in got:
                data = s.recv(65536)
                if not data:
                    break
                got += data
            if got.startswith(b"HTTP/1.1 200"):
                self.answered += 1
