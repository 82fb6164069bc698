"""Load generators: wrk runs parsed into numbers, and idle keep-alive connection holders."""
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
    """Runs wrk pinned to `cpus`; returns its parsed numbers and its own CPU seconds."""
    argv = ["taskset", "-c", cpus, "wrk", f"-t{threads}", f"-c{conns}", f"-d{seconds}s",
            "--latency", "--timeout", "5s", "-H", f"Host: {host}"]
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

    def close(self):
        for s in self.socks:
            s.close()
        self.socks = []
