"""nginx as a reference peer for differential tests: one worker, no daemon, everything under a
temporary directory; the caller writes what goes inside `http { }` with `{port}` for the port
it listens on. Returns (process, port), or (None, None) when nginx is not installed
(deploy/install-deps.sh installs nginx-light)."""

import os
import shutil
import socket

import harness as h

SKELETON = """
daemon off;
master_process off;
worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{ worker_connections 256; }}
http {{
  access_log off;
  client_body_temp_path {d}/body;
  proxy_temp_path {d}/proxy;
  fastcgi_temp_path {d}/fcgi; uwsgi_temp_path {d}/uwsgi; scgi_temp_path {d}/scgi;
{http}
}}
"""


def binary():
    return shutil.which("nginx") or ("/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else None)


def listening(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


def start(http_body):
    """`http_body`: the directives inside http { }, with {port} where nginx listens."""
    nginx = binary()
    if nginx is None:
        return None, None
    d = h.temp_dir("portico-nginx-")
    port = h.free_port()
    (d / "nginx.conf").write_text(SKELETON.format(d=d, http=http_body.replace("{port}", str(port))))
    proc = h.Process([nginx, "-p", str(d), "-c", str(d / "nginx.conf")], keep_stdout=False)
    h.wait_until(lambda: listening(port), timeout=30)
    return proc, port
