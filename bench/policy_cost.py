#!/usr/bin/env python3
"""What each access policy costs Portico per request: instructions per proxied request under
valgrind --tool=callgrind (repeatable on a shared machine, unlike timings), one Portico with
--workers 1 serving one host per policy over the same upstream, keep-alive requests from
h2load. Each host's count is measured on its own (callgrind_control -z, then -d) and reported
beside the plain route's, so the difference is the policy's cost:

  plain      no annotation
  allow      whitelist-source-range 127.0.0.0/8 (allowed)
  limit      limit-rps far above the load (never refused) and limit-connections
  basic      auth-type basic, a bcrypt user, the same right credentials every request
             (verified once with bcrypt, then from the per-worker cache of verified ones)
  extauth    auth-url to a second upstream with auth-keepalive (one subrequest per request)
  extcache   the same with auth-cache-key (the service is asked once)
  cors       enable-cors with an origin list, the Origin sent
  rewrite    rewrite-target with a capture, cookie affinity and a 50 % weighted canary

  rwonly     rewrite-target with the same capture, nothing else

With --cpu the same Portico runs without valgrind and each host's cost is the process's CPU
time (user + system, /proc) per request over --requests requests, in microseconds: a timing,
so give rounds (--rounds) and read the spread. The proxy is pinned to CPU 0, h2load and the
upstreams to CPU 1.

With --nginx, nginx (one worker, upstream keep-alive, the forwarding headers of
bench/lib/proxies.py) serves the same three routes in the same run (under callgrind with
master_process off, or with --cpu its worker's CPU time, rounds interleaved with Portico's),
and the table gives Portico's ratio to it:
  plain      proxy_pass
  rwonly     location ~* ^/r/(.*) + rewrite ^/r/(.*) /$1 break
  rewrite    the same rewrite + split_clients 50 % between the two upstreams (the canary).
             nginx has no cookie affinity without ingress-nginx's Lua balancer or nginx Plus,
             so its row does less work than Portico's (which also issues the affinity cookie).

Usage: bench/policy_cost.py [--build-dir build/release] [--requests 5000]
                            [--cpu [--rounds 3]] [--nginx]
Needs valgrind, h2load, nginx (deploy/install-deps.sh --bench) and htpasswd."""
import argparse
import base64
import glob
import hashlib
import os
import re
import subprocess
import sys
import tempfile
import textwrap
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "lib"))
import procs  # noqa: E402
import proxies  # noqa: E402

A = "nginx.ingress.kubernetes.io/"


def manifests(up_a, up_b, bcrypt_line, ha1):
    def svc(name, addr):
        ip, port = addr.split(":")
        return (f"apiVersion: v1\nkind: Service\nmetadata: {{name: {name}, namespace: default}}\n"
                f"spec: {{ports: [{{name: http, port: 80, targetPort: {port}}}]}}\n---\n"
                f"apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata:\n  name: {name}-1\n"
                f"  namespace: default\n  labels: {{kubernetes.io/service-name: {name}}}\n"
                f"addressType: IPv4\nports: [{{name: http, port: {port}}}]\n"
                f"endpoints: [{{addresses: ['{ip}'], conditions: {{ready: true}}}}]\n")

    def ing(name, host, ann, service="a", path="/"):
        lines = "".join(f"    {k}: {v!r}\n" for k, v in ann.items())
        return (f"apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata:\n  name: {name}\n"
                f"  namespace: default\n  annotations:\n{lines or '    {}'}\n"
                f"spec:\n  ingressClassName: portico\n  rules:\n  - host: {host}\n    http:\n"
                f"      paths:\n      - path: {path}\n        pathType: ImplementationSpecific\n"
                f"        backend: {{service: {{name: {service}, port: {{number: 80}}}}}}\n")
    docs = [
        "apiVersion: networking.k8s.io/v1\nkind: IngressClass\nmetadata: {name: portico}\n"
        "spec: {controller: portico.dev/ingress-controller}\n",
        svc("a", up_a), svc("b", up_b),
        "apiVersion: v1\nkind: Secret\nmetadata: {name: users, namespace: default}\ntype: Opaque\n"
        f"stringData: {{auth: '{bcrypt_line}'}}\n",
        "apiVersion: v1\nkind: Secret\nmetadata: {name: digest, namespace: default}\ntype: Opaque\n"
        f"stringData: {{auth: 'alice:Bench:{ha1}'}}\n",
        ing("plain", "plain.test", {}),
        ing("allow", "allow.test", {A + "whitelist-source-range": "127.0.0.0/8"}),
        ing("limit", "limit.test", {A + "limit-rps": "1000000", A + "limit-connections": "1000"}),
        ing("basic", "basic.test", {A + "auth-type": "basic", A + "auth-secret": "users"}),
        ing("digest", "digest.test", {A + "auth-type": "digest", A + "auth-secret": "digest",
                                      A + "auth-realm": "Bench"}),
        ing("extauth", "extauth.test", {A + "auth-url": f"http://{up_b}/small",
                                        A + "auth-keepalive": "16"}),
        ing("extcache", "extcache.test", {A + "auth-url": f"http://{up_b}/small",
                                          A + "auth-keepalive": "16",
                                          A + "auth-cache-key": "$http_authorization",
                                          A + "auth-cache-duration": "200 1h"}),
        ing("cors", "cors.test", {A + "enable-cors": "true",
                                  A + "cors-allow-origin": "https://app.example.com, https://*.example.org"}),
        ing("rewrite", "rewrite.test", {A + "rewrite-target": "/$1", A + "affinity": "cookie"},
            path="/r/(.*)"),
        ing("rewrite-canary", "rewrite.test", {A + "canary": "true", A + "canary-weight": "50"},
            service="b", path="/r/(.*)"),
        ing("rwonly", "rwonly.test", {A + "rewrite-target": "/$1"}, path="/r/(.*)"),
    ]
    return "---\n".join(docs)


NGINX_HEADERS = textwrap.indent(proxies.NGINX_HEADERS, " " * 6)


def nginx_conf(d, port, up_a, up_b, single_process=False):
    """plain.test, rwonly.test and rewrite.test as nginx writes them by hand."""
    return textwrap.dedent(f"""\
        worker_processes 1;
        {"master_process off;" if single_process else ""}
        daemon off;
        pid {d}/nginx.pid;
        error_log {d}/error.log warn;
        events {{ worker_connections 4096; use epoll; }}
        http {{
          access_log off;
          keepalive_requests 1000000;
          {proxies.nginx_temp_paths(d)}
          proxy_buffering off;
          upstream a {{ server {up_a}; keepalive 64; }}
          upstream b {{ server {up_b}; keepalive 64; }}
          split_clients "$request_id" $canary {{ 50% b; * a; }}
          server {{ listen 127.0.0.1:{port} default_server; return 404; }}
          server {{
            listen 127.0.0.1:{port}; server_name plain.test;
            location / {{ proxy_pass http://a;
        {NGINX_HEADERS}    }}
          }}
          server {{
            listen 127.0.0.1:{port}; server_name rwonly.test;
            location ~* ^/r/(.*) {{ rewrite ^/r/(.*) /$1 break; proxy_pass http://a;
        {NGINX_HEADERS}    }}
          }}
          server {{
            listen 127.0.0.1:{port}; server_name rewrite.test;
            location ~* ^/r/(.*) {{ rewrite ^/r/(.*) /$1 break; proxy_pass http://$canary;
        {NGINX_HEADERS}    }}
          }}
        }}
        """)


def h2load(port, host, path, count, headers=()):
    argv = ["taskset", "-c", "1", "h2load", "--h1", "-t1", "-c4", f"-n{count}", "-H", f":authority: {host}"]
    for hd in headers:
        argv += ["-H", hd]
    argv.append(f"http://127.0.0.1:{port}{path}")
    out = subprocess.run(argv, capture_output=True, text=True, timeout=900).stdout
    m = re.search(r"status codes: (\d+) 2xx", out)
    return int(m.group(1)) if m else 0


def total_ir(dump):
    with open(dump) as f:
        for line in f:
            if line.startswith("summary:") or line.startswith("totals:"):
                return int(line.split()[1])
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build-dir", default="build/release")
    ap.add_argument("--requests", type=int, default=5000)
    ap.add_argument("--cpu", action="store_true", help="CPU microseconds per request, no valgrind")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--nginx", action="store_true", help="with --cpu: nginx serving the same routes")
    args = ap.parse_args()
    work = tempfile.mkdtemp(prefix="portico-policy-cost-")
    ups = []
    for p, addr in procs.upstreams(args.build_dir, cpus="1", work=work):
        p.addr = addr
        ups.append(p)
    bcrypt = subprocess.run(["htpasswd", "-nbB", "alice", "s3cret"], capture_output=True, text=True,
                            check=True).stdout.strip()
    ha1 = hashlib.md5(b"alice:Bench:s3cret").hexdigest()
    cfg = os.path.join(work, "config")
    os.makedirs(cfg)
    with open(os.path.join(cfg, "all.yaml"), "w") as f:
        f.write(manifests(ups[0].addr, ups[1].addr, bcrypt, ha1))
    port, admin = procs.free_port(), procs.free_port()
    out = os.path.join(work, "callgrind.out")
    grind = [] if args.cpu else ["valgrind", "--tool=callgrind", "--instr-atstart=no",
                                 f"--callgrind-out-file={out}"]
    p = procs.proc("portico", [*grind,
                               os.path.join(args.build_dir, "proxy", "portico"), "serve",
                               "--config-dir", cfg, "--listen-address", "127.0.0.1", "--http-port", str(port),
                               "--admin-address", "127.0.0.1", "--admin-port", str(admin), "--workers", "1",
                               # No HTTPS listener: the default 8443 may be another test's.
                               "--https-port", "0", "--access-log=false"], cpus="0",
                   log=os.path.join(work, "portico.log"))
    ng = ng_port = None
    if args.nginx:
        ng_port = procs.free_port()
        d = os.path.join(work, "nginx")
        os.makedirs(d)
        with open(os.path.join(d, "nginx.conf"), "w") as f:
            f.write(nginx_conf(d, ng_port, ups[0].addr, ups[1].addr, single_process=not args.cpu))
        ng_out = os.path.join(work, "callgrind-nginx.out")
        ng_grind = [] if args.cpu else ["valgrind", "--tool=callgrind", "--instr-atstart=no",
                                        f"--callgrind-out-file={ng_out}"]
        ng = procs.proc("nginx", [*ng_grind, "nginx", "-p", d, "-c", os.path.join(d, "nginx.conf")], cpus="0",
                        log=os.path.join(work, "nginx.log"))
    basic = "Authorization: Basic " + base64.b64encode(b"alice:s3cret").decode()
    # (digest is not measured: h2load repeats one Authorization, and a digest answer is good
    # for one nonce count only.)
    cases = [("plain", "plain.test", "/small", []), ("allow", "allow.test", "/small", []),
             ("limit", "limit.test", "/small", []), ("basic", "basic.test", "/small", [basic]),
             ("extauth", "extauth.test", "/small", []),
             ("extcache", "extcache.test", "/small", [basic]),
             ("cors", "cors.test", "/small", ["Origin: https://app.example.com"]),
             ("rewrite", "rewrite.test", "/r/small", []),
             ("rwonly", "rwonly.test", "/r/small", [])]
    if args.nginx:
        cases = [c for c in cases if c[0] in ("plain", "rwonly", "rewrite")]
    results = {}
    try:
        procs.wait_port(port, timeout=180)
        procs.wait_ready(port, "plain.test", timeout=180)
        for name, host, path, hdrs in cases:
            h2load(port, host, path, 200, hdrs)  # warm-up (bcrypt verified, pools filled)
        if args.cpu:
            if ng:
                procs.wait_port(ng_port, timeout=30)
                for name, host, path, hdrs in cases:
                    if h2load(ng_port, host, path, 200, hdrs) != 200:
                        raise SystemExit(f"nginx does not answer 200 for {host}{path}")
            runs = [("portico", p, port)] + ([("nginx", ng, ng_port)] if ng else [])
            per = {(who, c[0]): [] for who, _, _ in runs for c in cases}
            for r in range(args.rounds):  # rounds interleaved: every route of every proxy, then again
                for name, host, path, hdrs in cases:
                    for who, proc, pt in runs:
                        before = proc.cpu_seconds()
                        ok = h2load(pt, host, path, args.requests, hdrs)
                        if ok != args.requests:
                            raise SystemExit(f"{who} {name}: {ok} of {args.requests} requests got 2xx")
                        per[(who, name)].append((proc.cpu_seconds() - before) / ok * 1e6)
            for key, v in per.items():
                v.sort()
                results[key] = (v[len(v) // 2], v[0], v[-1])
                print(f"{key[0]:8s} {key[1]:9s} {v[len(v) // 2]:6.1f} us/request (min {v[0]:.1f}, "
                      f"max {v[-1]:.1f}, {args.rounds} x {args.requests} requests)", flush=True)
            if ng:
                print(f"\n{args.rounds} rounds x {args.requests} keep-alive requests (h2load --h1 -c4) per "
                      "route and proxy; median (min-max) CPU us/request of the proxy process\n")
                print("| route | Portico | nginx | Portico / nginx | Portico vs its plain route |\n"
                      "|---|---|---|---|---|")
                pb = results[("portico", "plain")][0]

                def ratio(a, b):
                    # CPU time comes in clock ticks: a short run can measure 0 (no ratio then).
                    return f"{a / b:.2f}" if b > 0 else "–"

                for name, *_ in cases:
                    pm, plo, phi = results[("portico", name)]
                    nm, nlo, nhi = results[("nginx", name)]
                    print(f"| {name} | {pm:.1f} ({plo:.1f}-{phi:.1f}) | {nm:.1f} ({nlo:.1f}-{nhi:.1f}) | "
                          f"{ratio(pm, nm)}x ({ratio(plo, nhi)}-{ratio(phi, nlo)}) | {ratio(pm, pb)}x |")
                return
            results = {name: v for (_, name), v in results.items()}
            base = results["plain"][0]
            print("\n| route | CPU us/request (median) | min-max | vs plain |\n|---|---|---|---|")
            for name, (med, lo, hi) in results.items():
                print(f"| {name} | {med:.1f} | {lo:.1f}-{hi:.1f} | "
                      f"{f'{med / base:.2f}x' if base > 0 else '–'} |")
            return
        grinds = [("portico", p, port, out)]
        if ng:
            procs.wait_port(ng_port, timeout=180)
            grinds.append(("nginx", ng, ng_port, ng_out))
        for who, proc, pt, o in grinds:
            for name, host, path, hdrs in cases:
                h2load(pt, host, path, 200, hdrs)
            subprocess.run(["callgrind_control", "-i", "on", str(proc.pid)], capture_output=True, timeout=120)
            for name, host, path, hdrs in cases:
                subprocess.run(["callgrind_control", "-z", str(proc.pid)], capture_output=True, timeout=120)
                ok = h2load(pt, host, path, args.requests, hdrs)
                subprocess.run(["callgrind_control", "-d", name, str(proc.pid)], capture_output=True,
                               timeout=120)
                time.sleep(0.5)
                dumps = sorted(glob.glob(o + "*"), key=os.path.getmtime)
                ir = total_ir(dumps[-1]) if dumps else 0
                key = name if who == "portico" else (who, name)
                results[key] = (ir / ok if ok else None, ok)
                print(f"{who:8s} {name:9s} {results[key][0] or 0:10.0f} instructions/request "
                      f"({ok} requests)", flush=True)
    finally:
        if ng:
            ng.stop(timeout=30)
        p.stop(timeout=60)
        for u in ups:
            u.stop()
    base = results.get("plain", (None, 0))[0]
    if args.nginx:
        nb = results.get(("nginx", "plain"), (None, 0))[0]
        print("\n| route | Portico instructions/request | vs plain | nginx instructions/request | "
              "vs plain | Portico / nginx |\n|---|---|---|---|---|---|")
        for name, *_ in cases:
            pi, ni = results.get(name, (None, 0))[0], results.get(("nginx", name), (None, 0))[0]
            if not (pi and ni and base and nb):
                print(f"| {name} | failed | | | | |")
                continue
            print(f"| {name} | {pi:,.0f} | {pi / base:.2f}x | {ni:,.0f} | {ni / nb:.2f}x | {pi / ni:.2f}x |")
        return
    print("\n| route | instructions/request | vs plain |\n|---|---|---|")
    for name, (ir, ok) in results.items():
        if ir is None:
            print(f"| {name} | failed | |")
        else:
            print(f"| {name} | {ir:,.0f} | {ir / base:.2f}x |" if base else f"| {name} | {ir:,.0f} | |")


if __name__ == "__main__":
    main()
