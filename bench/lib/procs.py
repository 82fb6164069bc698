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
                total += int(fields[11]) + int(fields[12])  # utime + stime
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
