#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz harnesses (tests/fuzz/corpus/<target>/).

Every seed is a real input, named after where it comes from: RFC 9110/9112/6455/7540/8297
examples and framing rules, request smuggling vectors, the heads curl and browsers send,
responses as servers write them, Ingress manifests as the Kubernetes documentation and our
deploy/examples write them, API objects as kubectl prints them, PEM files as openssl and
cert-manager produce them. route_table has no natural inputs: its seeds are choice strings.

Run it from anywhere; it rewrites the corpus folders it owns (keys and certificates are new
each time: openssl generates them).
"""
import base64
import json
import os
import random
import shutil
import subprocess
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
CORPUS = os.path.join(HERE, "corpus")


def crlf(*lines):
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


REQUEST_HEADS = {
    # RFC 9112 3.2: the four target forms.
    "rfc9112-3.2.1-origin-form": crlf("GET /where?q=now HTTP/1.1", "Host: www.example.org"),
    "rfc9112-3.2.2-absolute-form": crlf("GET http://www.example.org/pub/WWW/TheProject.html HTTP/1.1",
                                        "Host: www.example.org"),
    "rfc9112-3.2.3-authority-form": crlf("CONNECT www.example.com:80 HTTP/1.1", "Host: www.example.com"),
    "rfc9112-3.2.4-asterisk-form": crlf("OPTIONS * HTTP/1.1", "Host: www.example.org:8001"),
    "rfc9112-3.2-absolute-form-with-port-and-query": crlf("GET HTTP://A.TEST:8080?x=1 HTTP/1.1", "Host: other"),
    "rfc9112-3.2-absolute-form-userinfo": crlf("GET http://user:pw@a.test/ HTTP/1.1", "Host: a.test"),
    "rfc9112-3.2-ipv6-authority": crlf("GET http://[::1]:8080/x HTTP/1.1", "Host: [::1]:8080"),
    # RFC 9112 2.1 / 9110: what clients send.
    "curl-get": crlf("GET / HTTP/1.1", "Host: demo.local", "User-Agent: curl/7.88.1", "Accept: */*"),
    "browser-get": crlf(
        "GET /app/index.html?lang=en HTTP/1.1", "Host: app.example.com",
        "User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
        "Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
        "Accept-Language: en-US,en;q=0.5", "Accept-Encoding: gzip, deflate, br",
        "Cookie: session=abc123; theme=dark", "Connection: keep-alive",
        "Upgrade-Insecure-Requests: 1", "Sec-Fetch-Dest: document", "Priority: u=0, i"),
    "http10-no-host": crlf("GET / HTTP/1.0"),
    "http10-keep-alive": crlf("GET /x HTTP/1.0", "Host: a.test", "Connection: keep-alive"),
    "post-content-length": crlf("POST /api/items HTTP/1.1", "Host: api.test",
                                "Content-Type: application/json", "Content-Length: 17"),
    "post-chunked": crlf("POST /upload HTTP/1.1", "Host: a.test", "Transfer-Encoding: chunked"),
    "rfc9110-10.1.1-expect-continue": crlf("PUT /big HTTP/1.1", "Host: a.test", "Content-Length: 1048576",
                                           "Expect: 100-continue"),
    "rfc6455-1.2-websocket": crlf("GET /chat HTTP/1.1", "Host: server.example.com", "Upgrade: websocket",
                                  "Connection: Upgrade", "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
                                  "Origin: http://example.com", "Sec-WebSocket-Protocol: chat, superchat",
                                  "Sec-WebSocket-Version: 13"),
    "rfc7540-3.2-h2c-upgrade": crlf("GET / HTTP/1.1", "Host: server.example.com",
                                    "Connection: Upgrade, HTTP2-Settings", "Upgrade: h2c",
                                    "HTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA"),
    "rfc9110-7.6.1-connection-names-headers": crlf("GET / HTTP/1.1", "Host: a.test",
                                                   "Connection: close, X-Secret, keep-alive", "X-Secret: 1",
                                                   "Keep-Alive: timeout=5", "TE: trailers"),
    "forwarded-headers-spoof": crlf("GET / HTTP/1.1", "Host: a.test", "X-Forwarded-For: 6.6.6.6",
                                    "X-Real-IP: 6.6.6.6", "X-Forwarded-Proto: https",
                                    "X-Forwarded-Host: evil.test", "X-Request-ID: abc"),
    "underscore-headers": crlf("GET / HTTP/1.1", "Host: a.test", "X_Real_IP: 6.6.6.6",
                               "Transfer_Encoding: chunked"),
    # Smuggling vectors (RFC 9112 6.1, 6.3, 11.2; the PortSwigger research catalogue).
    "smuggling-cl-te": crlf("POST / HTTP/1.1", "Host: a.test", "Content-Length: 13",
                            "Transfer-Encoding: chunked"),
    "smuggling-te-cl": crlf("POST / HTTP/1.1", "Host: a.test", "Transfer-Encoding: chunked",
                            "Content-Length: 3"),
    "smuggling-cl-cl": crlf("POST / HTTP/1.1", "Host: a.test", "Content-Length: 5", "Content-Length: 6"),
    "smuggling-cl-list": crlf("POST / HTTP/1.1", "Host: a.test", "Content-Length: 5, 5"),
    "smuggling-cl-plus": crlf("POST / HTTP/1.1", "Host: a.test", "Content-Length: +5"),
    "smuggling-te-space-before-colon": crlf("POST / HTTP/1.1", "Host: a.test", "Transfer-Encoding : chunked"),
    "smuggling-te-xchunked": crlf("POST / HTTP/1.1", "Host: a.test", "Transfer-Encoding: xchunked"),
    "smuggling-te-tab": crlf("POST / HTTP/1.1", "Host: a.test", "Transfer-Encoding:\tchunked"),
    "smuggling-te-gzip-chunked": crlf("POST / HTTP/1.1", "Host: a.test", "Transfer-Encoding: gzip, chunked"),
    "smuggling-te-twice": crlf("POST / HTTP/1.1", "Host: a.test", "Transfer-Encoding: chunked",
                               "Transfer-Encoding: identity"),
    "smuggling-te-obs-fold": crlf("POST / HTTP/1.1", "Host: a.test", "Transfer-Encoding:", " chunked"),
    "smuggling-http10-te": crlf("POST / HTTP/1.0", "Host: a.test", "Transfer-Encoding: chunked"),
    "smuggling-bare-lf": b"GET / HTTP/1.1\nHost: a.test\n\n",
    "smuggling-bare-cr": b"GET / HTTP/1.1\r\nHost: a.test\rX: y\r\n\r\n",
    "smuggling-nul-in-value": b"GET / HTTP/1.1\r\nHost: a.test\r\nX: a\x00b\r\n\r\n",
    "smuggling-two-hosts": crlf("GET / HTTP/1.1", "Host: a.test", "Host: b.test"),
    "host-invalid-space": crlf("GET / HTTP/1.1", "Host: good local"),
    "host-userinfo": crlf("GET / HTTP/1.1", "Host: demo.local:@evil.com"),
    "host-empty": crlf("GET / HTTP/1.1", "Host:"),
    "host-trailing-dot-port": crlf("GET / HTTP/1.1", "Host: DEMO.LOCAL.:8080"),
    "request-line-double-space": crlf("GET  / HTTP/1.1", "Host: a.test"),
    "request-line-lowercase-version": crlf("GET / http/1.1", "Host: a.test"),
    "request-line-http2-version": crlf("GET / HTTP/2.0", "Host: a.test"),
    # Targets that reach normalize_path() (nginx location matching semantics).
    "target-fragment": crlf("GET /api#/../x HTTP/1.1", "Host: a.test"),
    "target-dot-segments": crlf("GET /a/./b/../c//d/ HTTP/1.1", "Host: a.test"),
    "target-traversal-above-root": crlf("GET /a/../../etc/passwd HTTP/1.1", "Host: a.test"),
    "target-encoded-dots": crlf("GET /%2e%2E/%2fadmin%2F..%2f HTTP/1.1", "Host: a.test"),
    "target-encoded-percent": crlf("GET /%2525%32%65 HTTP/1.1", "Host: a.test"),
    "target-encoded-nul": crlf("GET /a%00b HTTP/1.1", "Host: a.test"),
    "target-bad-escape": crlf("GET /a%zz HTTP/1.1", "Host: a.test"),
}

CHUNKED_HEAD = "POST /upload HTTP/1.1\r\nHost: a.test\r\nTransfer-Encoding: chunked\r\n\r\n"
NEXT = "GET /next HTTP/1.1\r\nHost: a.test\r\n\r\n"

BODIES = {
    "rfc9112-7.1-chunked": CHUNKED_HEAD + "4\r\nWiki\r\n6\r\npedia \r\nE\r\nin \r\n\r\nchunks.\r\n0\r\n\r\n",
    "rfc9112-7.1.1-chunk-extensions": CHUNKED_HEAD + "5;name=value\r\nhello\r\n6 ; a = \"b \\\" c\"\r\n world\r\n0;last\r\n\r\n",
    "rfc9112-7.1.2-trailers": CHUNKED_HEAD + "3\r\nabc\r\n0\r\nExpires: Wed, 21 Oct 2015 07:28:00 GMT\r\nX-Sum: 1\r\n\r\n",
    "rfc9112-7.1-last-chunk-zeros": CHUNKED_HEAD + "00003\r\nabc\r\n000\r\n\r\n",
    "rfc9112-7.1-uppercase-hex": CHUNKED_HEAD + "A\r\n0123456789\r\n0\r\n\r\n",
    "rfc9112-7.1-pipelined-after-last-chunk": CHUNKED_HEAD + "2\r\nok\r\n0\r\n\r\n" + NEXT,
    "rfc9112-6.3-content-length": "POST / HTTP/1.1\r\nHost: a.test\r\nContent-Length: 11\r\n\r\nhello world",
    "rfc9112-6.3-content-length-pipelined": "POST / HTTP/1.1\r\nHost: a.test\r\nContent-Length: 2\r\n\r\nok" + NEXT,
    "rfc9112-6.3-content-length-zero": "POST / HTTP/1.1\r\nHost: a.test\r\nContent-Length: 0\r\n\r\n" + NEXT,
    "smuggling-chunk-size-leading-space": CHUNKED_HEAD + " 5\r\nhello\r\n0\r\n\r\n",
    "smuggling-chunk-size-trailing-space": CHUNKED_HEAD + "5 \r\nhello\r\n0\r\n\r\n",
    "smuggling-chunk-size-0x": CHUNKED_HEAD + "0x5\r\nhello\r\n0\r\n\r\n",
    "smuggling-chunk-size-negative": CHUNKED_HEAD + "-5\r\nhello\r\n0\r\n\r\n",
    "smuggling-chunk-size-overflow": CHUNKED_HEAD + "ffffffffffffffffff5\r\nhello\r\n0\r\n\r\n",
    "smuggling-chunk-bare-lf": CHUNKED_HEAD + "5\nhello\n0\n\n",
    "smuggling-chunk-missing-crlf": CHUNKED_HEAD + "5\r\nhelloX\r\n0\r\n\r\n",
    "smuggling-chunk-ext-bare-lf": CHUNKED_HEAD + "5;a\nb\r\nhello\r\n0\r\n\r\n",
    "smuggling-trailer-obs-fold": CHUNKED_HEAD + "0\r\nX: a\r\n b\r\n\r\n",
    "response-chunked": "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n7\r\nMozilla\r\n0\r\n\r\n",
    "response-content-length": "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 13\r\n\r\nHello, World!",
    "response-http10-until-close": "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nread until the connection closes",
    "response-204": "HTTP/1.1 204 No Content\r\n\r\n",
    "response-te-gzip-chunked": "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n3\r\n\x1f\x8b\x08\r\n0\r\n\r\n",
    "response-te-gzip-until-close": "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n\x1f\x8b\x08",
}

RESPONSES = {
    "rfc9110-15.3.1-200": crlf("HTTP/1.1 200 OK", "Date: Mon, 27 Jul 2009 12:28:53 GMT", "Server: Apache",
                               "Last-Modified: Wed, 22 Jul 2009 19:15:56 GMT", 'ETag: "34aa387-d-1568eb00"',
                               "Accept-Ranges: bytes", "Content-Length: 51", "Vary: Accept-Encoding",
                               "Content-Type: text/plain"),
    "rfc9110-15.2.1-100-continue": crlf("HTTP/1.1 100 Continue"),
    "rfc8297-103-early-hints": crlf("HTTP/1.1 103 Early Hints", "Link: </style.css>; rel=preload; as=style"),
    "rfc6455-1.3-101": crlf("HTTP/1.1 101 Switching Protocols", "Upgrade: websocket", "Connection: Upgrade",
                            "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=", "Sec-WebSocket-Protocol: chat"),
    "rfc9110-15.3.5-204": crlf("HTTP/1.1 204 No Content", "Content-Length: 0"),
    "rfc9110-15.4.5-304": crlf("HTTP/1.1 304 Not Modified", 'ETag: "abc"', "Content-Length: 1234"),
    "rfc9110-15.4.2-301": crlf("HTTP/1.1 301 Moved Permanently", "Location: https://a.test/", "Content-Length: 0"),
    "chunked-with-cookies": crlf("HTTP/1.1 200 OK", "Transfer-Encoding: chunked", "Set-Cookie: a=1; Path=/",
                                 "Set-Cookie: b=2; HttpOnly", "Strict-Transport-Security: max-age=60"),
    "http10-keep-alive": crlf("HTTP/1.0 200 OK", "Connection: keep-alive", "Content-Length: 2"),
    "connection-close-named": crlf("HTTP/1.1 200 OK", "Connection: close, X-Internal", "X-Internal: 1",
                                   "Content-Length: 0"),
    "nginx-404": crlf("HTTP/1.1 404 Not Found", "Server: nginx", "Date: Thu, 01 Jan 2026 00:00:00 GMT",
                      "Content-Type: text/html", "Content-Length: 146", "Connection: keep-alive"),
    "no-framing-until-close": crlf("HTTP/1.1 200 OK", "Content-Type: text/plain"),
    "te-gzip-chunked": crlf("HTTP/1.1 200 OK", "Transfer-Encoding: gzip, chunked"),
    "te-and-cl": crlf("HTTP/1.1 200 OK", "Transfer-Encoding: chunked", "Content-Length: 5"),
    "cl-list-equal": crlf("HTTP/1.1 200 OK", "Content-Length: 5, 5"),
    "cl-differing": crlf("HTTP/1.1 200 OK", "Content-Length: 5", "Content-Length: 6"),
    "status-024": crlf("HTTP/1.1 024 Odd", "Content-Length: 0"),
    "status-999": crlf("HTTP/1.1 999 Unknown", "Content-Length: 0"),
    "empty-reason": crlf("HTTP/1.1 200 ", "Content-Length: 0"),
    "x-request-id-from-upstream": crlf("HTTP/1.1 200 OK", "X-Request-ID: upstream", "Content-Length: 0"),
}


def ingress(name, rules, ns="default", extra_spec=None, annotations=None):
    meta = {"name": name, "namespace": ns}
    if annotations:
        meta["annotations"] = annotations
    spec = {"ingressClassName": "portico", "rules": rules}
    spec.update(extra_spec or {})
    return {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": meta, "spec": spec}


def path(p, svc, port=80, kind="Prefix"):
    return {"path": p, "pathType": kind, "backend": {"service": {"name": svc, "port": {"number": port}}}}


YAML = {
    # The Kubernetes "Ingress" concept page's examples, as published (networking.k8s.io/v1).
    "k8s-docs-minimal-ingress.yaml": """apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: minimal-ingress
  annotations:
    nginx.ingress.kubernetes.io/rewrite-target: /
spec:
  ingressClassName: nginx-example
  rules:
  - http:
      paths:
      - path: /testpath
        pathType: Prefix
        backend:
          service:
            name: test
            port:
              number: 80
""",
    "k8s-docs-simple-fanout.yaml": """apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: simple-fanout-example
spec:
  rules:
  - host: foo.bar.com
    http:
      paths:
      - path: /foo
        pathType: Prefix
        backend:
          service:
            name: service1
            port:
              number: 4200
      - path: /bar
        pathType: Prefix
        backend:
          service:
            name: service2
            port:
              number: 8080
""",
    "k8s-docs-wildcard-host.yaml": """apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: ingress-wildcard-host
spec:
  rules:
  - host: "foo.bar.com"
    http:
      paths:
      - pathType: Prefix
        path: "/bar"
        backend:
          service:
            name: service1
            port:
              number: 80
  - host: "*.foo.com"
    http:
      paths:
      - pathType: Prefix
        path: "/foo"
        backend:
          service:
            name: service2
            port:
              number: 80
""",
    "k8s-docs-default-backend-resource.yaml": """apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: ingress-resource-backend
spec:
  defaultBackend:
    resource:
      apiGroup: k8s.example.com
      kind: StorageBucket
      name: static-assets
  rules:
    - http:
        paths:
          - path: /icons
            pathType: ImplementationSpecific
            backend:
              resource:
                apiGroup: k8s.example.com
                kind: StorageBucket
                name: icon-assets
""",
    "k8s-docs-tls.yaml": """apiVersion: v1
kind: Secret
metadata:
  name: testsecret-tls
  namespace: default
data:
  tls.crt: YmFzZTY0IGVuY29kZWQgY2VydA==
  tls.key: YmFzZTY0IGVuY29kZWQga2V5
type: kubernetes.io/tls
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: tls-example-ingress
spec:
  tls:
  - hosts:
      - https-example.foo.com
    secretName: testsecret-tls
  rules:
  - host: https-example.foo.com
    http:
      paths:
      - path: /
        pathType: Prefix
        backend:
          service:
            name: service1
            port:
              number: 80
""",
    "k8s-docs-ingressclass-default.yaml": """apiVersion: networking.k8s.io/v1
kind: IngressClass
metadata:
  labels:
    app.kubernetes.io/component: controller
  name: nginx-example
  annotations:
    ingressclass.kubernetes.io/is-default-class: "true"
spec:
  controller: k8s.io/ingress-nginx
""",
    "k8s-docs-service-endpointslice.yaml": """apiVersion: v1
kind: Service
metadata:
  name: my-service
spec:
  selector:
    app.kubernetes.io/name: MyApp
  ports:
    - name: http
      protocol: TCP
      port: 80
      targetPort: http-web-svc
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: my-service-abc
  labels:
    kubernetes.io/service-name: my-service
addressType: IPv4
ports:
  - name: http
    protocol: TCP
    port: 9376
endpoints:
  - addresses:
      - "10.1.2.3"
    conditions:
      ready: true
    hostname: pod-1
    nodeName: node-1
    zone: us-west2-a
  - addresses: ["10.1.2.4"]
    conditions: {ready: false, serving: true, terminating: true}
""",
    "k8s-docs-endpoints.yaml": """apiVersion: v1
kind: Endpoints
metadata:
  name: my-service
subsets:
  - addresses:
      - ip: 192.0.2.42
    notReadyAddresses:
      - ip: 192.0.2.43
        nodeName: n2
    ports:
      - port: 9376
""",
    "ingress-nginx-configmap.yaml": """apiVersion: v1
kind: ConfigMap
metadata:
  name: ingress-nginx-controller
  namespace: ingress-nginx
data:
  use-forwarded-headers: "true"
  proxy-body-size: "8m"
  enable-underscores-in-headers: "false"
  hsts: "true"
""",
    "ingress-nginx-annotations.yaml": """apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: web
  namespace: shop
  creationTimestamp: "2024-03-01T10:00:00Z"
  annotations:
    kubernetes.io/ingress.class: portico
    nginx.ingress.kubernetes.io/ssl-redirect: "false"
    nginx.ingress.kubernetes.io/force-ssl-redirect: "true"
    nginx.ingress.kubernetes.io/backend-protocol: "HTTPS"
    nginx.ingress.kubernetes.io/proxy-ssl-verify: "on"
    nginx.ingress.kubernetes.io/proxy-ssl-secret: "shop/ca"
spec:
  tls:
  - hosts: [shop.example.com, "*.shop.example.com"]
    secretName: shop-tls
  defaultBackend:
    service: {name: web, port: {name: https}}
  rules:
  - host: shop.example.com
    http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: web, port: {name: https}}}}
      - {path: /api/, pathType: Prefix, backend: {service: {name: api, port: {number: 8443}}}}
      - {path: /healthz, pathType: Exact, backend: {service: {name: api, port: {number: 8443}}}}
status:
  loadBalancer:
    ingress:
    - ip: 203.0.113.10
""",
    "list-of-objects.yaml": """apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: Service
  metadata: {name: a, namespace: default}
  spec: {ports: [{port: 80, targetPort: 8080}]}
- apiVersion: v1
  kind: Secret
  metadata: {name: s, namespace: default}
  type: Opaque
  stringData: {key: value}
""",
    "broken-second-document.yaml": """apiVersion: v1
kind: Service
metadata: {name: ok}
spec: {ports: [{port: 80}]}
---
apiVersion: v1
kind: Service
metadata: {name: broken
spec: [
---
kind: Ingress
apiVersion: networking.k8s.io/v1
metadata: {name: wrong-types}
spec:
  rules:
  - host: 5
    http: {paths: [{path: /, pathType: Regex, backend: {service: {name: x, port: {number: "80"}}}}]}
""",
    "anchors-and-aliases.yaml": """apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: &meta {name: anchored, namespace: default, labels: &labels {app: x}}
spec:
  rules:
  - host: a.test
    http:
      paths:
      - &p {path: /, pathType: Prefix, backend: {service: {name: x, port: {number: 80}}}}
      - *p
""",
}


def json_text(obj):
    return json.dumps(obj, indent=2)


JSON = {
    "kubectl-get-ingress.json": json_text({
        "apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
        "metadata": {"name": "web", "namespace": "default", "uid": "0b8f6c2e-1d2e-4f3a-9e1b-7c2d3e4f5a6b",
                     "resourceVersion": "12345", "creationTimestamp": "2024-01-01T00:00:00Z",
                     "generation": 1, "annotations": {"nginx.ingress.kubernetes.io/ssl-redirect": "false"}},
        "spec": {"ingressClassName": "portico",
                 "tls": [{"hosts": ["a.test"], "secretName": "a-tls"}],
                 "rules": [{"host": "a.test", "http": {"paths": [path("/", "web"), path("/api", "api", 8080, "Exact")]}}]},
        "status": {"loadBalancer": {"ingress": [{"ip": "10.0.0.1"}, {"hostname": "lb.example.com"}]}}}),
    "kubectl-get-ingresslist.json": json_text({
        "apiVersion": "networking.k8s.io/v1", "kind": "IngressList", "metadata": {"resourceVersion": "99"},
        "items": [ingress("a", [{"host": "a.test", "http": {"paths": [path("/", "a")]}}]),
                  ingress("b", [{"http": {"paths": [path("/b/", "b", 8080, "ImplementationSpecific")]}}])]}),
    "api-endpointslice.json": json_text({
        "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
        "metadata": {"name": "web-x7k2p", "namespace": "default",
                     "labels": {"kubernetes.io/service-name": "web"}},
        "addressType": "IPv6",
        "endpoints": [{"addresses": ["fd00::1"], "conditions": {"ready": True},
                       "targetRef": {"kind": "Pod", "namespace": "default", "name": "web-1"}}],
        "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}]}),
    "api-secret-tls.json": json_text({
        "apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls",
        "metadata": {"name": "a-tls", "namespace": "default"},
        "data": {"tls.crt": base64.b64encode(b"not a certificate").decode(),
                 "tls.key": base64.b64encode(b"not a key").decode()}}),
    "api-service-list-items-without-kind.json": json_text({
        "kind": "ServiceList", "apiVersion": "v1",
        "items": [{"metadata": {"name": "web", "namespace": "default"},
                   "spec": {"type": "ClusterIP", "clusterIP": "10.96.0.10",
                            "ports": [{"name": "http", "port": 80, "targetPort": "http"}]}}]}),
    "api-status-410.json": json_text({
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": "too old resource version: 1 (2)", "reason": "Expired", "code": 410}),
    "wrong-types.json": json_text({
        "apiVersion": "v1", "kind": "Service", "metadata": {"name": 7, "labels": ["x"]},
        "spec": {"ports": [{"port": 70000.5, "targetPort": True}]}}),
    "configmap.json": json_text({
        "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cfg", "namespace": "portico"},
        "data": {"hsts": "false", "proxy-body-size": "1m"}}),
}


def openssl(*args, stdin=None):
    return subprocess.run(["openssl", *args], check=True, capture_output=True, input=stdin).stdout


def expired_pem():
    # openssl 3.0's req cannot back-date; python3-cryptography (a test dependency) can.
    import datetime
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "old.test")])
    start = datetime.datetime(2020, 1, 1, tzinfo=datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(start)
            .not_valid_after(start + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("old.test")]), critical=False)
            .sign(key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.PEM) + key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())


def pem_seeds():
    out = {}
    with tempfile.TemporaryDirectory() as d:
        def p(n):
            return os.path.join(d, n)

        def selfsigned(name, keyargs, subj, san, days="365", extra=()):
            openssl("req", "-x509", "-newkey", *keyargs, "-nodes", "-keyout", p(name + ".key"), "-out",
                    p(name + ".crt"), "-days", days, "-subj", subj, *(["-addext", "subjectAltName=" + san] if san else []),
                    *extra)
            return open(p(name + ".crt"), "rb").read(), open(p(name + ".key"), "rb").read()

        crt, key = selfsigned("rsa", ["rsa:2048"], "/CN=a.test", "DNS:a.test,DNS:www.a.test")
        out["openssl-rsa2048-pkcs8.pem"] = crt + key
        pkcs1 = openssl("rsa", "-in", p("rsa.key"), "-traditional")
        out["openssl-rsa2048-pkcs1-rsa-private-key.pem"] = crt + pkcs1
        out["crlf-line-endings.pem"] = (crt + key).replace(b"\n", b"\r\n")
        crt, key = selfsigned("p256", ["ec", "-pkeyopt", "ec_paramgen_curve:P-256"], "/CN=*.apps.test",
                              "DNS:*.apps.test,DNS:apps.test")
        out["cert-manager-ecdsa-p256-wildcard.pem"] = crt + key
        sec1 = openssl("ec", "-in", p("p256.key"))
        out["openssl-ec-sec1-ec-private-key.pem"] = crt + sec1
        crt, key = selfsigned("p384", ["ec", "-pkeyopt", "ec_paramgen_curve:P-384"], "/CN=p384.test", "DNS:p384.test")
        out["openssl-ecdsa-p384.pem"] = crt + key
        crt, key = selfsigned("ed", ["ed25519"], "/CN=ed.test", None)
        out["openssl-ed25519-cn-only.pem"] = crt + key
        # A chain: leaf signed by an intermediate signed by a root; the leaf first, as cert-manager writes tls.crt.
        openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout",
                p("root.key"), "-out", p("root.crt"), "-days", "3650", "-subj", "/CN=Test Root",
                "-addext", "basicConstraints=critical,CA:TRUE")
        openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout",
                p("int.key"), "-out", p("int.csr"), "-subj", "/CN=Test Intermediate")
        with open(p("ca.ext"), "w") as f:
            f.write("basicConstraints=critical,CA:TRUE\n")
        openssl("x509", "-req", "-in", p("int.csr"), "-CA", p("root.crt"), "-CAkey", p("root.key"),
                "-CAcreateserial", "-out", p("int.crt"), "-days", "1825", "-extfile", p("ca.ext"))
        openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout",
                p("leaf.key"), "-out", p("leaf.csr"), "-subj", "/CN=chain.test")
        with open(p("leaf.ext"), "w") as f:
            f.write("subjectAltName=DNS:chain.test\n")
        openssl("x509", "-req", "-in", p("leaf.csr"), "-CA", p("int.crt"), "-CAkey", p("int.key"),
                "-CAcreateserial", "-out", p("leaf.crt"), "-days", "90", "-extfile", p("leaf.ext"))
        leaf, inter, root = (open(p(n), "rb").read() for n in ("leaf.crt", "int.crt", "root.crt"))
        leaf_key = open(p("leaf.key"), "rb").read()
        out["cert-manager-chain-leaf-intermediate.pem"] = leaf + inter + leaf_key
        out["chain-wrong-order.pem"] = inter + leaf + leaf_key
        out["ca-bundle-only.pem"] = inter + root
        out["mismatched-key.pem"] = leaf + open(p("p384.key"), "rb").read()
        enc = openssl("pkey", "-in", p("leaf.key"), "-aes256", "-passout", "pass:secret")
        out["encrypted-key.pem"] = leaf + enc
        out["expired.pem"] = expired_pem()
    return out


def route_seeds():
    # byte_reader choices: ingresses, then per Ingress: namespace, stamp, paths (host, kind,
    # segments, segment..., slashes), default?; then requests (host, segments, ..., slash).
    return {
        "one-ingress-prefix-root": bytes([0, 0, 0, 0, 0, 1, 0, 0, 0, 3, 0, 1, 0]),
        "two-ingresses-same-path": bytes([1, 0, 1, 0, 2, 1, 1, 0, 1, 0, 0, 1, 2, 1, 1, 0, 0, 0, 4, 0, 1, 1, 0, 1]),
        "trailing-slash-twins": bytes([0, 0, 0, 1, 2, 1, 1, 0, 0, 2, 1, 1, 0, 1, 1, 2, 1, 1, 0, 0, 2, 1, 1, 0, 1]),
        "wildcard-and-exact": bytes([1, 1, 2, 1, 5, 1, 0, 0, 4, 1, 1, 0, 0, 1, 1, 0, 7, 1, 0, 0, 0, 3, 4, 1, 0, 1]),
    }


def annotation_seeds():
    # byte_reader choices: per Ingress a count, then (prefix, key, value) triples; then the
    # ConfigMap flag, count and (key, value) pairs. Indices into the registries, so these are
    # starting points for the fuzzer rather than fixed cases.
    rng = random.Random(16)
    out = {"no-annotations": bytes([0, 0, 0])}
    for n in range(8):
        out["choices-%d" % n] = bytes(rng.randrange(256) for _ in range(96))
    return out


PROXY_HEADERS = {
    # HAProxy's proxy-protocol.txt, section 2.1 (v1) and 2.2 (v2), as load balancers send them.
    "v1-tcp4": "PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\nGET / HTTP/1.1\r\n",
    "v1-tcp6": "PROXY TCP6 2001:db8::1 2001:db8::2 56324 443\r\n",
    "v1-unknown": "PROXY UNKNOWN\r\n",
    "v1-unknown-with-addresses": "PROXY UNKNOWN ffff:f...f:ffff ffff:f...f:ffff 65535 65535\r\n",
    "v2-proxy-tcp4": b"\r\n\r\n\x00\r\nQUIT\n\x21\x11\x00\x0c\x0a\x00\x00\x01\x0a\x00\x00\x02\x04\xd2\x01\xbb",
    "v2-proxy-tcp6": b"\r\n\r\n\x00\r\nQUIT\n\x21\x21\x00\x24" + bytes(15) + b"\x05" + bytes(20),
    "v2-local": b"\r\n\r\n\x00\r\nQUIT\n\x20\x00\x00\x00",
    "v2-tlv-authority": b"\r\n\r\n\x00\r\nQUIT\n\x21\x11\x00\x15\x0a\x00\x00\x01\x0a\x00\x00\x02\x04\xd2\x01\xbb\x02\x00\x06a.test",
    "no-header-http": "GET / HTTP/1.1\r\nHost: a\r\n\r\n",
    "no-header-tls": b"\x16\x03\x01\x00\xc8\x01",
}


def write(target, files):
    d = os.path.join(CORPUS, target)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    for name, data in files.items():
        with open(os.path.join(d, name), "wb") as f:
            f.write(data if isinstance(data, bytes) else data.encode("latin-1"))


def main():
    write("http_request_head", REQUEST_HEADS)
    write("http_body", BODIES)
    write("http_response_head", RESPONSES)
    yaml = dict(YAML)
    for sub in ("local", "seed-cluster"):
        ex = os.path.join(ROOT, "deploy", "examples", sub)
        for n in sorted(os.listdir(ex)):
            if n.endswith(".yaml") and n != "kustomization.yaml":
                yaml["deploy-examples-%s-%s" % (sub, n)] = open(os.path.join(ex, n)).read()
    write("yaml_decode", yaml)
    write("json_decode", JSON)
    write("tls_secret", pem_seeds())
    write("route_table", route_seeds())
    write("annotations", annotation_seeds())
    write("http_proxy_header", PROXY_HEADERS)


if __name__ == "__main__":
    main()
