"""Process helpers for the benchmark: start pinned, measure CPU and RSS, stop by PID."""
import os
import signal
import socket
import subprocess
import time

CLK_TCK = os.sysconf("SC_CLK_TCK")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, timeout=10.0, host="127.0.0.1"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {host}:{port} after {timeout}s")


def wait_ready(port, host_header, path="/small", timeout=60.0):
    """Waits until a GET with `host_header` answers 200: a proxy may listen before its
    configuration is loaded (and answer 404 meanwhile). Returns the seconds waited."""
    import http.client
    t0 = time.monotonic()
    deadline = t0 + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            c.request("GET", path, headers={"Host": host_header})
            last = c.getresponse().status
            c.close()
            if last == 200:
                return time.monotonic() - t0
        except OSError as e:
            last = str(e)
        time.sleep(0.1)
    raise RuntimeError(f"127.0.0.1:{port} not answering 200 for {host_header} after "
                       f"{timeout}s (last: {last})")


class proc:
    """A process started pinned to a CPU set, with its whole tree measurable."""

    def __init__(self, name, argv, cpus=None, env=None, cwd=None, log=None):
        self.name = name
        full = (["taskset", "-c", cpus] if cpus else []) + list(argv)
        out = open(log, "ab") if log else subprocess.DEVNULL
        self.popen = subprocess.Popen(full, env=env, cwd=cwd, stdout=out,
                                      stderr=subprocess.STDOUT if log else subprocess.DEVNULL,
                                      start_new_session=True)
        self.pid = self.popen.pid

    def tree(self):
        """The PIDs of this process and all its descendants (nginx workers, ...)."""
        pids, frontier = [], [self.pid]
        children = {}
        for d in os.listdir("/proc"):
            if not d.isdigit():
                continue
            try:
                with open(f"/proc/{d}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                children.setdefault(int(fields[1]), []).append(int(d))
            except OSError:
                continue
        while frontier:
            p = frontier.pop()
            pids.append(p)
            frontier.extend(children.get(p, []))
        return pids

    def cpu_seconds(self):
        total = 0
        for p in self.tree():
            try:
                with open(f"/proc/{p}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                # utime + stime, plus cutime + cstime: children already reaped (old nginx
                # workers after a reload) still count.
                total += sum(int(x) for x in fields[11:15])
            except OSError:
                pass
        return total / CLK_TCK

    def rss_kib(self):
        total = 0
        for p in self.tree():
            try:
                with open(f"/proc/{p}/status") as f:
                    for line in f:
                        if line.startswith("VmRSS:"):
                            total += int(line.split()[1])
            except OSError:
                pass
        return total

    def _status_sum(self, key):
        total = 0
        for p in self.tree():
            try:
                with open(f"/proc/{p}/status") as f:
                    for line in f:
                        if line.startswith(key):
                            total += int(line.split()[1])
            except OSError:
                pass
        return total

    def reset_peak_rss(self):
        """Resets VmHWM (peak RSS) of every process of the tree to its current RSS."""
        for p in self.tree():
            try:
                with open(f"/proc/{p}/clear_refs", "w") as f:
                    f.write("5")
            except OSError:
                pass

    def peak_rss_kib(self):
        """Sum of VmHWM over the tree: the peak RSS since start or reset_peak_rss()."""
        return self._status_sum("VmHWM:")

    def alive(self):
        return self.popen.poll() is None

    def stop(self, timeout=10):
        if self.popen.poll() is not None:
            return
        try:
            os.kill(self.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        try:
            self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            for p in reversed(self.tree()):
                try:
                    os.kill(p, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            self.popen.wait(5)


def upstreams(build_dir, names=("a", "b"), cpus=None, work=None, args=()):
    """Starts one portico-upstream per name (`--name` is the name), each on a free port and
    pinned to `cpus`, logging to <work>/upstream-<name>.log when `work` is given. Returns
    [(proc, "127.0.0.1:port")] once every one accepts connections."""
    binary = os.path.join(build_dir, "bench", "upstream", "portico-upstream")
    out = []
    try:
        for name in names:
            port = free_port()
            log = os.path.join(work, f"upstream-{name}.log") if work else None
            p = proc(f"upstream-{name}", [binary, "--port", str(port), "--name", name, *args],
                     cpus=cpus, log=log)
            out.append((p, f"127.0.0.1:{port}"))
            wait_port(port)
    except Exception:
        for p, _ in out:
            p.stop()
        raise
    return out
