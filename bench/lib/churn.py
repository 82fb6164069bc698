"""Scenario 7: the upstream set changes every `interval` seconds while wrk keeps a keep-alive
load. Three upstreams a, b, c; the set rotates {a,b} -> {b,c} -> {c,a} -> ..., so every change
removes one endpoint and adds another. Each proxy takes the change the way its operators do:

- Portico: the EndpointSlice file in --config-dir is replaced (rename); the file source sees
  it through inotify and publishes a new Snapshot to the worker (no reload).
- nginx: the upstream block is rewritten and the master gets SIGHUP (`nginx -s reload`), as
  ingress-nginx must for any change it cannot apply through its Lua balancer (here: always,
  nginx without Lua has no other way).
- HAProxy: `set server be/sN addr IP port P` on the runtime API (stats socket), no reload,
  as the HAProxy ingress controllers do for endpoint changes.
- Caddy: POST /load of the new Caddyfile to the admin API (Caddy replaces its whole config
  gracefully on any change).
"""
import json
import os
import signal
import socket
import threading
import time
import urllib.request

import proxies


def rotation(ups, step):
    """The upstream pair at change number `step` (three upstreams)."""
    return [ups[step % 3], ups[(step + 1) % 3]]


def apply_portico(sp, proc, pair):
    proxies.portico_write_endpoints(sp.conf_dir, pair, sp.extra["tmp_dir"])


def apply_nginx(sp, proc, pair):
    proxies.nginx_write_upstreams(sp.conf_dir, pair)
    os.kill(proc.pid, signal.SIGHUP)


def haproxy_command(path, cmd):
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(2)
        s.connect(path)
        s.sendall(cmd.encode() + b"\n")
        out = b""
        while True:
            chunk = s.recv(4096)
            if not chunk:
                break
            out += chunk
    return out.decode(errors="replace").strip()


def apply_haproxy(sp, proc, pair):
    cmds = []
    for name, u in zip(sp.extra["servers"], pair):
        ip, port = u.rsplit(":", 1)
        cmds.append(f"set server be/{name} addr {ip} port {port}")
    out = haproxy_command(sp.extra["socket"], ";".join(cmds))
    if "not" in out.lower() and "changed" not in out.lower():
        raise RuntimeError(f"haproxy runtime API: {out}")


def apply_caddy(sp, proc, pair):
    opts = sp.extra["opts"]
    body = proxies.caddyfile(sp.extra["port"], pair, opts).encode()
    req = urllib.request.Request(f"http://127.0.0.1:{opts['caddy_admin']}/load", data=body,
                                 method="POST", headers={"Content-Type": "text/caddyfile"})
    with urllib.request.urlopen(req, timeout=5) as r:
        r.read()


APPLY = {"portico": apply_portico, "nginx": apply_nginx, "haproxy": apply_haproxy,
         "caddy": apply_caddy}

HOW = {"portico": "EndpointSlice file replaced, inotify, new Snapshot (no reload)",
       "nginx": "upstream block rewritten + SIGHUP reload (new workers, old ones drain)",
       "haproxy": "runtime API `set server ... addr ... port` (no reload)",
       "caddy": "admin API POST /load of the whole Caddyfile (graceful config replace)"}


class churner:
    """Applies a change every `interval` seconds on a thread until stopped or `limit` s."""

    def __init__(self, name, sp, proc, ups, interval=0.1, limit=60.0):
        self.apply = APPLY[name]
        self.sp, self.proc, self.ups = sp, proc, ups
        self.interval, self.limit = interval, limit
        self.changes, self.failures, self.apply_s = 0, 0, []
        self.last_error = ""
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self):
        self._thread.start()

    def _run(self):
        start = time.monotonic()
        step = 1
        while not self._stop.is_set() and time.monotonic() - start < self.limit:
            t0 = time.monotonic()
            try:
                self.apply(self.sp, self.proc, rotation(self.ups, step))
                self.changes += 1
            except Exception as e:  # noqa: BLE001 - reported, the load goes on
                self.failures += 1
                self.last_error = str(e)
            self.apply_s.append(time.monotonic() - t0)
            step += 1
            self._stop.wait(max(0.0, start + step * self.interval - time.monotonic()))

    def stop(self):
        self._stop.set()
        self._thread.join(10)


def upstream_requests(addr):
    """The request counter of a portico-upstream (its /stats)."""
    with urllib.request.urlopen(f"http://{addr}/stats", timeout=5) as r:
        return json.loads(r.read())["requests"]
