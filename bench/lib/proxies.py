"""The proxies under test, each configured as a competent operator would for a fair fight:
one worker/thread, upstream keep-alive, access logs off, the same host-based route to the
same two upstreams, and the forwarding headers an ingress controller sets."""
import os
import shutil
import textwrap

HOST = "bench.local"


class spec:
    def __init__(self, name, argv, env=None, note=""):
        self.name, self.argv, self.env, self.note = name, argv, env, note


def nginx(work, port, upstreams, opts):
    d = os.path.join(work, "nginx")
    os.makedirs(d, exist_ok=True)
    servers = "\n".join(f"    server {u};" for u in upstreams)
    body = "client_max_body_size 0;" if opts.get("big_bodies") else ""
    conf = textwrap.dedent(f"""\
        worker_processes 1;
        daemon off;
        pid {d}/nginx.pid;
        error_log {d}/error.log warn;
        worker_rlimit_nofile 65536;
        events {{ worker_connections 30000; use epoll; }}
        http {{
          access_log off;
          keepalive_requests 1000000;
          keepalive_timeout 75s;
          client_body_temp_path {d}/body;
          proxy_temp_path {d}/proxy;
          fastcgi_temp_path {d}/fastcgi;
          uwsgi_temp_path {d}/uwsgi;
          scgi_temp_path {d}/scgi;
          proxy_buffering off;
          {body}
          upstream backend {{
        {servers}
            keepalive 320;
          }}
          server {{
            listen 127.0.0.1:{port} default_server reuseport backlog=4096;
            return 404;
          }}
          server {{
            listen 127.0.0.1:{port};
            server_name {HOST};
            location / {{
              proxy_pass http://backend;
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
            }}
          }}
        }}
        """)
    path = os.path.join(d, "nginx.conf")
    with open(path, "w") as f:
        f.write(conf)
    return spec("nginx", ["nginx", "-p", d, "-c", path],
                note="worker_processes 1, upstream keepalive 320, access_log off")


def haproxy(work, port, upstreams, opts):
    d = os.path.join(work, "haproxy")
    os.makedirs(d, exist_ok=True)
    servers = "\n".join(f"  server s{i} {u}" for i, u in enumerate(upstreams))
    conf = textwrap.dedent(f"""\
        global
          nbthread 1
          maxconn 9800
          log stderr format raw local0 emerg
        defaults
          mode http
          timeout connect 5s
          timeout client 60s
          timeout server 60s
          timeout http-keep-alive 75s
          option http-keep-alive
          maxconn 9800
        frontend fe
          bind 127.0.0.1:{port}
          unique-id-format %[rand,hex]%[rand,hex]
          unique-id-header X-Request-ID
          http-after-response set-header X-Request-ID %[unique-id]
          option forwardfor
          http-request set-header X-Real-IP %[src]
          http-request set-header X-Forwarded-Host %[req.hdr(host)]
          http-request set-header X-Forwarded-Port %[dst_port]
          http-request set-header X-Forwarded-Proto http
          use_backend be if {{ req.hdr(host),field(1,:) -i {HOST} }}
          default_backend notfound
        backend notfound
          http-request return status 404
        backend be
          balance roundrobin
          http-reuse always
        """) + servers + "\n"
    path = os.path.join(d, "haproxy.cfg")
    with open(path, "w") as f:
        f.write(conf)
    return spec("haproxy", ["haproxy", "-db", "-f", path],
                note="nbthread 1, http-reuse always, no logging")


def caddy(work, port, upstreams, opts):
    d = os.path.join(work, "caddy")
    os.makedirs(d, exist_ok=True)
    ups = " ".join(upstreams)
    conf = textwrap.dedent(f"""\
        {{
          admin off
          auto_https off
        }}
        http://{HOST}:{port} {{
          bind 127.0.0.1
          reverse_proxy {ups} {{
            lb_policy round_robin
            header_up X-Request-ID {{http.request.uuid}}
            header_up X-Real-IP {{remote_host}}
          }}
        }}
        http://:{port} {{
          bind 127.0.0.1
          respond 404
        }}
        """)
    path = os.path.join(d, "Caddyfile")
    with open(path, "w") as f:
        f.write(conf)
    env = dict(os.environ, GOMAXPROCS="1", XDG_DATA_HOME=d, XDG_CONFIG_HOME=d, HOME=d)
    return spec("caddy", ["caddy", "run", "--config", path, "--adapter", "caddyfile"], env=env,
                note="GOMAXPROCS=1, default upstream keep-alive, no access log")


def portico_config(d, upstreams, extra_hosts=0):
    """An Ingress for HOST to a Service whose two EndpointSlices hold the two upstreams."""
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
    hosts = [HOST] + [f"h{i}.{HOST}" for i in range(extra_hosts)]
    rules = "".join(textwrap.indent(textwrap.dedent(f"""\
        - host: {h}
          http:
            paths:
              - path: /
                pathType: Prefix
                backend: {{service: {{name: bench, port: {{number: 80}}}}}}
        """), "    ") for h in hosts)
    docs.append(textwrap.dedent("""\
        apiVersion: networking.k8s.io/v1
        kind: Ingress
        metadata: {name: bench, namespace: bench, creationTimestamp: "2026-01-01T00:00:00Z"}
        spec:
          ingressClassName: portico
          rules:
        """) + rules)
    with open(os.path.join(d, "bench.yaml"), "w") as f:
        f.write("---\n".join(docs))


def portico(work, port, upstreams, opts):
    d = os.path.join(work, "portico-config")
    portico_config(d, upstreams, opts.get("extra_hosts", 0))
    argv = [opts["portico_bin"], "serve", "--config-dir", d, "--http-port", str(port),
            "--admin-port", str(opts["admin_port"]), "--workers", "1", "--access-log=false"]
    if opts.get("big_bodies"):
        argv += ["--max-body-size", "0"]
    return spec("portico", argv, note="--workers 1, --access-log=false")


BUILDERS = {"portico": portico, "nginx": nginx, "haproxy": haproxy, "caddy": caddy}


def available(name):
    return name == "portico" or shutil.which(name) is not None
