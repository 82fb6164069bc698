"""The proxies under test, each configured as a competent operator would for a fair fight:
one worker/thread, upstream keep-alive, access logs off, the same host-based route to the
same upstreams, and the forwarding headers an ingress controller sets.

nginx-lean and haproxy-lean are the same proxies stripped to a plain keep-alive proxy: no
header is added or set (no X-Request-ID, X-Forwarded-*, X-Real-IP), the same host route and
upstream pool. They bound what the per-request work could cost at the least; Portico keeps its
default headers against them.

A builder takes (work, port, upstreams, opts) and returns a spec. opts:
  big_bodies   allow unlimited request bodies, stream them (scenario 4)
  extra_hosts  N more hosts h0..h<N-1>.bench.local routed like bench.local (scenario 6)
  churn        the upstream set is rewritten at run time (scenario 7; see churn.py)
  tls          {"port", "cert", "key", "pem"}: also serve bench.local over HTTPS (scenario 8)
  h2           with tls: offer HTTP/2 by ALPN on the HTTPS listener (scenario 9)
  grpc         the plain port speaks HTTP/2 with prior knowledge (h2c) and the route goes to
               the upstreams (the gRPC upstream, bench/lib/h2.py) over h2c (scenario 10)
"""
import base64
import os
import shutil
import textwrap

HOST = "bench.local"


class spec:
    def __init__(self, name, argv, env=None, note="", conf_dir=None, extra=None):
        self.name, self.argv, self.env, self.note = name, argv, env, note
        self.conf_dir = conf_dir
        self.extra = extra or {}


def extra_host(i):
    return f"h{i}.{HOST}"


# --- nginx -----------------------------------------------------------------------------------

# What every measured nginx location sets besides its proxy_pass (bench/policy_cost.py too).
NGINX_HEADERS = """\
proxy_http_version 1.1;
proxy_set_header Connection "";
proxy_set_header Host $host;
proxy_set_header X-Request-ID $request_id;
proxy_set_header X-Real-IP $remote_addr;
proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
proxy_set_header X-Forwarded-Host $host;
proxy_set_header X-Forwarded-Port $server_port;
proxy_set_header X-Forwarded-Proto $scheme;
add_header X-Request-ID $request_id;
"""
NGINX_LOCATION = "proxy_pass http://backend;\n" + NGINX_HEADERS
# gRPC: the same forwarding headers, sent over HTTP/2 to the upstream by grpc_pass.
NGINX_GRPC_LOCATION = "grpc_pass grpc://backend;\n" + "".join(
    line.replace("proxy_set_header", "grpc_set_header") + "\n"
    for line in NGINX_HEADERS.splitlines()
    if line.startswith(("proxy_set_header", "add_header")) and "Connection" not in line)
# The lean location: upstream keep-alive needs HTTP/1.1 and an empty Connection header.
NGINX_LEAN_LOCATION = 'proxy_pass http://backend;\nproxy_http_version 1.1;\nproxy_set_header Connection "";\n'


def nginx_temp_paths(d):
    """nginx's temporary directories under the run's own directory, on one line."""
    return " ".join(f"{k}_temp_path {d}/{v};" for k, v in
                    (("client_body", "body"), ("proxy", "proxy"), ("fastcgi", "fastcgi"),
                     ("uwsgi", "uwsgi"), ("scgi", "scgi")))


def nginx_write_upstreams(d, upstreams):
    """The upstream block lives in its own file so that churn can rewrite it and reload."""
    servers = "".join(f"  server {u};\n" for u in upstreams)
    tmp = os.path.join(d, "upstreams.conf.tmp")
    with open(tmp, "w") as f:
        f.write(f"upstream backend {{\n{servers}  keepalive 320;\n}}\n")
    os.replace(tmp, os.path.join(d, "upstreams.conf"))


def nginx(work, port, upstreams, opts, lean=False):
    d = os.path.join(work, "nginx-lean" if lean else "nginx")
    os.makedirs(d, exist_ok=True)
    nginx_write_upstreams(d, upstreams)
    grpc = opts.get("grpc")
    with open(os.path.join(d, "location.conf"), "w") as f:
        f.write(NGINX_LEAN_LOCATION if lean else NGINX_GRPC_LOCATION if grpc else NGINX_LOCATION)
    plain = " http2" if grpc else ""  # h2c with prior knowledge only (nginx 1.22)
    body = ("client_max_body_size 0;\n  proxy_request_buffering off;"
            if opts.get("big_bodies") else "")
    tls = opts.get("tls")
    tls_listen = ""
    if tls:
        h2 = " http2" if opts.get("h2") else ""
        tls_listen = (f"listen 127.0.0.1:{tls['port']} ssl{h2} reuseport backlog=4096;\n"
                      f"    ssl_certificate {tls['cert']};\n"
                      f"    ssl_certificate_key {tls['key']};\n"
                      "    ssl_protocols TLSv1.2 TLSv1.3;")
    hosts = "".join(
        f"  server {{ listen 127.0.0.1:{port}; server_name {extra_host(i)}; "
        f"location / {{ include {d}/location.conf; }} }}\n"
        for i in range(opts.get("extra_hosts", 0)))
    conf = textwrap.dedent(f"""\
        worker_processes 1;
        {"master_process off;" if opts.get("single_process") else ""}
        daemon off;
        pid {d}/nginx.pid;
        error_log {d}/error.log warn;
        worker_rlimit_nofile 65536;
        worker_shutdown_timeout 10s;
        events {{ worker_connections 30000; use epoll; }}
        http {{
          access_log off;
          keepalive_requests 1000000;
          keepalive_timeout 75s;
          {nginx_temp_paths(d)}
          proxy_buffering off;
          server_names_hash_max_size 32768;
          server_names_hash_bucket_size 64;
          {body}
          include {d}/upstreams.conf;
          server {{
            listen 127.0.0.1:{port}{plain} default_server reuseport backlog=4096;
            return 404;
          }}
          server {{
            listen 127.0.0.1:{port}{plain};
            {tls_listen}
            server_name {HOST};
            location / {{ include {d}/location.conf; }}
          }}
        """) + hosts + "}\n"
    path = os.path.join(d, "nginx.conf")
    with open(path, "w") as f:
        f.write(conf)
    note = "worker_processes 1, upstream keepalive 320, access_log off"
    if lean:
        note += ", no added headers"
    if opts.get("big_bodies"):
        note += ", client_max_body_size 0, proxy_request_buffering off"
    if opts.get("extra_hosts"):
        note += ", one server block per host"
    if opts.get("h2"):
        note += ", listen ... ssl http2 (HTTP/1.1 keep-alive upstreams)"
    if grpc:
        note += ", listen ... http2 (h2c), grpc_pass grpc://backend (the same headers by " \
                "grpc_set_header)"
    return spec("nginx-lean" if lean else "nginx", ["nginx", "-p", d, "-c", path], note=note,
                conf_dir=d)


def nginx_lean(work, port, upstreams, opts):
    return nginx(work, port, upstreams, opts, lean=True)


# --- HAProxy ---------------------------------------------------------------------------------

def haproxy(work, port, upstreams, opts, lean=False):
    d = os.path.join(work, "haproxy-lean" if lean else "haproxy")
    os.makedirs(d, exist_ok=True)
    grpc = opts.get("grpc")
    proto = " proto h2" if grpc else ""
    servers = "\n".join(f"  server s{i} {u}{proto}" for i, u in enumerate(upstreams))
    sock = os.path.join(d, "admin.sock")
    tls = opts.get("tls")
    alpn = " alpn h2,http/1.1" if opts.get("h2") else ""
    tls_bind = f"  bind 127.0.0.1:{tls['port']} ssl crt {tls['pem']}{alpn}\n" if tls else ""
    n_extra = opts.get("extra_hosts", 0)
    if n_extra:
        hosts_map = os.path.join(d, "hosts.map")
        with open(hosts_map, "w") as f:
            f.write(f"{HOST} be\n")
            f.writelines(f"{extra_host(i)} be\n" for i in range(n_extra))
        routing = (f"  use_backend %[req.hdr(host),field(1,:),lower,map({hosts_map},notfound)]\n")
    else:
        routing = (f"  use_backend be if {{ req.hdr(host),field(1,:) -i {HOST} }}\n"
                   "  default_backend notfound\n")
    conf = textwrap.dedent(f"""\
        global
          nbthread 1
          maxconn 9800
          log stderr format raw local0 emerg
          stats socket {sock} mode 600 level admin
        defaults
          mode http
          timeout connect 5s
          timeout client 60s
          timeout server 60s
          timeout http-keep-alive 75s
          option http-keep-alive
          maxconn 9800
        frontend fe
          bind 127.0.0.1:{port}{proto}
        """) + tls_bind + ("" if lean else textwrap.dedent("""\
          unique-id-format %[rand,hex]%[rand,hex]
          unique-id-header X-Request-ID
          http-after-response set-header X-Request-ID %[unique-id]
          option forwardfor
          http-request set-header X-Real-IP %[src]
          http-request set-header X-Forwarded-Host %[req.hdr(host)]
          http-request set-header X-Forwarded-Port %[dst_port]
          http-request set-header X-Forwarded-Proto %[ssl_fc,iif(https,http)]
        """)) + routing + textwrap.dedent("""\
        backend notfound
          http-request return status 404
        backend be
          balance roundrobin
          http-reuse always
        """) + servers + "\n"
    path = os.path.join(d, "haproxy.cfg")
    with open(path, "w") as f:
        f.write(conf)
    note = "nbthread 1, http-reuse always, no logging"
    if lean:
        note += ", no added headers"
    if n_extra:
        note += ", hosts in a map file (use_backend %[req.hdr(host),lower,map(...)])"
    if opts.get("h2"):
        note += ", bind ... ssl crt ... alpn h2,http/1.1 (HTTP/1.1 keep-alive upstreams)"
    if grpc:
        note += ", bind ... proto h2 (h2c), server ... proto h2"
    return spec("haproxy-lean" if lean else "haproxy", ["haproxy", "-db", "-f", path], note=note,
                conf_dir=d,
                extra={"socket": sock, "servers": [f"s{i}" for i in range(len(upstreams))]})


def haproxy_lean(work, port, upstreams, opts):
    return haproxy(work, port, upstreams, opts, lean=True)


# --- Caddy -----------------------------------------------------------------------------------

def caddyfile(port, upstreams, opts):
    ups = " ".join(upstreams)
    admin = f"admin 127.0.0.1:{opts['caddy_admin']}" if opts.get("caddy_admin") else "admin off"
    proxy = textwrap.indent(textwrap.dedent(f"""\
        reverse_proxy {ups} {{
          lb_policy round_robin
          header_up X-Request-ID {{http.request.uuid}}
          header_up X-Real-IP {{remote_host}}
        }}
        """), "  ")
    addrs = [f"http://{HOST}:{port}"] + [f"http://{extra_host(i)}:{port}"
                                          for i in range(opts.get("extra_hosts", 0))]
    conf = f"{{\n  {admin}\n  auto_https off\n}}\n" + ", ".join(addrs) + \
        " {\n  bind 127.0.0.1\n" + proxy + "}\n"
    tls = opts.get("tls")
    if tls:
        # wrk sends the URL's host (127.0.0.1) as SNI: the site answers to both names.
        conf += (f"https://{HOST}:{tls['port']}, https://127.0.0.1:{tls['port']} {{\n"
                 "  bind 127.0.0.1\n"
                 f"  tls {tls['cert']} {tls['key']}\n" + proxy + "}\n")
    conf += f"http://:{port} {{\n  bind 127.0.0.1\n  respond 404\n}}\n"
    return conf


def caddy(work, port, upstreams, opts):
    d = os.path.join(work, "caddy")
    os.makedirs(d, exist_ok=True)
    path = os.path.join(d, "Caddyfile")
    with open(path, "w") as f:
        f.write(caddyfile(port, upstreams, opts))
    env = dict(os.environ, GOMAXPROCS="1", XDG_DATA_HOME=d, XDG_CONFIG_HOME=d, HOME=d)
    note = "GOMAXPROCS=1, default upstream keep-alive, no access log"
    if opts.get("extra_hosts"):
        note += ", all hosts as addresses of one site block (one handler, one upstream pool)"
    return spec("caddy", ["caddy", "run", "--config", path, "--adapter", "caddyfile"], env=env,
                note=note, conf_dir=d, extra={"port": port, "opts": dict(opts)})


# --- Portico ---------------------------------------------------------------------------------

def portico_write_endpoints(d, upstreams, tmp_dir):
    """One EndpointSlice per upstream, in endpoints.yaml, replaced atomically (rename)."""
    docs = []
    for i, u in enumerate(upstreams):
        ip, p = u.rsplit(":", 1)
        docs.append(textwrap.dedent(f"""\
            apiVersion: discovery.k8s.io/v1
            kind: EndpointSlice
            metadata:
              name: bench-{i}
              namespace: bench
              labels: {{kubernetes.io/service-name: bench}}
            addressType: IPv4
            ports: [{{name: http, port: {p}, protocol: TCP}}]
            endpoints:
              - addresses: ["{ip}"]
                conditions: {{ready: true}}
            """))
    tmp = os.path.join(tmp_dir, "endpoints.yaml.tmp")
    with open(tmp, "w") as f:
        f.write("---\n".join(docs))
    os.replace(tmp, os.path.join(d, "endpoints.yaml"))


def tls_secret_yaml(cert, key):
    def b64(path):
        with open(path, "rb") as f:
            return base64.b64encode(f.read()).decode()
    return textwrap.dedent(f"""\
        apiVersion: v1
        kind: Secret
        metadata: {{name: bench-tls, namespace: bench}}
        type: kubernetes.io/tls
        data:
          tls.crt: {b64(cert)}
          tls.key: {b64(key)}
        """)


# Scenarios 9 and 10: as many requests per connection as nginx's keepalive_requests, so that
# neither proxy ends an HTTP/2 connection with GOAWAY during a run (Portico's default is 1,000).
PORTICO_CONFIGMAP = textwrap.dedent("""\
    apiVersion: v1
    kind: ConfigMap
    metadata: {name: portico, namespace: bench}
    data: {keep-alive-requests: "1000000"}
    """)


def portico_config(d, upstreams, extra_hosts=0, tls=None, tmp_dir=None, grpc=False):
    """An Ingress for HOST (and extra hosts) to a Service whose EndpointSlices hold the
    upstreams; with tls, a kubernetes.io/tls Secret named in the Ingress's spec.tls; with grpc,
    the Ingress's backend-protocol is GRPC (h2c to the upstreams)."""
    os.makedirs(d, exist_ok=True)
    docs = [textwrap.dedent("""\
        apiVersion: networking.k8s.io/v1
        kind: IngressClass
        metadata:
          name: portico
          annotations: {ingressclass.kubernetes.io/is-default-class: "true"}
        spec: {controller: portico.dev/ingress-controller}
        """), textwrap.dedent("""\
        apiVersion: v1
        kind: Service
        metadata: {name: bench, namespace: bench}
        spec:
          ports: [{name: http, port: 80}]
        """)]
    portico_write_endpoints(d, upstreams, tmp_dir or os.path.dirname(d))
    hosts = [HOST] + [extra_host(i) for i in range(extra_hosts)]
    rules = "".join(textwrap.indent(textwrap.dedent(f"""\
        - host: {h}
          http:
            paths:
              - path: /
                pathType: Prefix
                backend: {{service: {{name: bench, port: {{number: 80}}}}}}
        """), "    ") for h in hosts)
    ingress = textwrap.dedent("""\
        apiVersion: networking.k8s.io/v1
        kind: Ingress
        metadata:
          name: bench
          namespace: bench
          creationTimestamp: "2026-01-01T00:00:00Z"
        """)
    annotations = []
    if grpc:
        annotations.append('nginx.ingress.kubernetes.io/backend-protocol: "GRPC"')
    if tls:
        # ssl-redirect "false": plain HTTP keeps serving on the same Ingress (as the other
        # proxies do), HTTPS is measured separately.
        annotations.append('nginx.ingress.kubernetes.io/ssl-redirect: "false"')
    if annotations:
        ingress += "  annotations: {" + ", ".join(annotations) + "}\n"
    if tls:
        ingress += (f"spec:\n  ingressClassName: portico\n  tls:\n"
                    f"    - hosts: [{HOST}]\n      secretName: bench-tls\n  rules:\n")
        docs.append(tls_secret_yaml(tls["cert"], tls["key"]))
    else:
        ingress += "spec:\n  ingressClassName: portico\n  rules:\n"
    docs.append(ingress + rules)
    with open(os.path.join(d, "bench.yaml"), "w") as f:
        f.write("---\n".join(docs))


def portico(work, port, upstreams, opts):
    d = os.path.join(work, "portico-config")
    shutil.rmtree(d, ignore_errors=True)
    tls = opts.get("tls")
    portico_config(d, upstreams, opts.get("extra_hosts", 0), tls, tmp_dir=work,
                   grpc=opts.get("grpc", False))
    argv = [opts["portico_bin"], "serve", "--config-dir", d, "--http-port", str(port),
            "--admin-port", str(opts["admin_port"]), "--workers", "1", "--access-log=false"]
    note = "--workers 1, --access-log=false"
    if opts.get("big_bodies"):
        # as nginx's client_max_body_size 0 and proxy_request_buffering off in this scenario
        argv += ["--max-body-size", "0", "--proxy-request-buffering=false"]
        note += ", --max-body-size 0, --proxy-request-buffering=false"
    if opts.get("churn"):
        argv += ["--config-debounce", "10ms", "--config-max-delay", "50ms"]
        note += ", --config-debounce 10ms --config-max-delay 50ms"
    if opts.get("h2") or opts.get("grpc"):
        with open(os.path.join(d, "configmap.yaml"), "w") as f:
            f.write(PORTICO_CONFIGMAP)
        argv += ["--configmap", "bench/portico"]
        note += ", ConfigMap keep-alive-requests 1000000 (nginx's keepalive_requests)"
    if opts.get("h2"):
        note += ", HTTP/2 by ALPN on --https-port (the default --http2), HTTP/1.1 upstreams"
    if opts.get("grpc"):
        note += ", h2c on the plain port (the default --h2c), Ingress backend-protocol GRPC"
    if tls:
        argv += ["--https-port", str(tls["port"])]
    else:
        argv += ["--https-port", "0"] if opts.get("has_https_port") else []
    return spec("portico", argv, note=note, conf_dir=d, extra={"tmp_dir": work})


BUILDERS = {"portico": portico, "nginx": nginx, "haproxy": haproxy, "caddy": caddy,
            "nginx-lean": nginx_lean, "haproxy-lean": haproxy_lean,
            "portico-alt": portico}  # another build of Portico (bench.py --alt-build-dir)
# Lean variants take part in the per-request scenarios only (bench.py's base group).
LEAN = ("nginx-lean", "haproxy-lean")


def program(name):
    """The executable a proxy name runs ("nginx-lean" -> "nginx")."""
    return name.split("-")[0]


def available(name):
    return name in ("portico", "portico-alt") or (name in BUILDERS and shutil.which(program(name)) is not None)
