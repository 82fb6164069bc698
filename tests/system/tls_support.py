"""Helpers for the TLS system tests: a test CA and certificates (python3-cryptography),
kubernetes.io/tls Secrets and Ingresses with spec.tls, Portico with an HTTPS port, HTTPS
clients (Python ssl, curl, openssl s_client), and a small HTTPS upstream."""

import calendar
import base64
import datetime
import http.server
import json
import os
import re
import socket
import ssl
import subprocess
import sys
import threading

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import NameOID

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402

FAKE_CN = "Kubernetes Ingress Controller Fake Certificate"

# ---------------------------------------------------------------------------- certificates


def _now():
    return datetime.datetime.now(datetime.timezone.utc)


# Key types by name; RSA generation is slow (RSA 4096: about 2 s), so each key is made once per
# test process and shared by the certificates that ask for the same (type, slot).
KEY_TYPES = ("rsa2048", "rsa3072", "rsa4096", "p256", "p384", "p521", "ed25519")
_keys = {}


def private_key(kind="p256", slot=0):
    """A private key of type `kind` (KEY_TYPES), cached per (kind, slot) for the process."""
    if (kind, slot) not in _keys:
        if kind.startswith("rsa"):
            key = rsa.generate_private_key(public_exponent=65537, key_size=int(kind[3:]))
        elif kind == "ed25519":
            key = ed25519.Ed25519PrivateKey.generate()
        else:
            curve = {"p256": ec.SECP256R1, "p384": ec.SECP384R1, "p521": ec.SECP521R1}[kind]
            key = ec.generate_private_key(curve())
        _keys[(kind, slot)] = key
    return _keys[(kind, slot)]


def _signing_hash(key):
    return None if isinstance(key, ed25519.Ed25519PrivateKey) else hashes.SHA256()


class CA:
    """A throw-away certificate authority that issues server certificates. With `parent`, an
    intermediate CA signed by it: its leaves carry it in their chain."""

    def __init__(self, name="Portico Test CA", key="p256", parent=None):
        # A fresh P-256 key by default: two CAs of one name must not trust each other's leaves.
        self.key = (ec.generate_private_key(ec.SECP256R1()) if key == "p256"
                    else private_key(key, slot=f"ca:{name}"))
        self.parent = parent
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        issuer = parent.cert.subject if parent else subject
        signer = parent.key if parent else self.key
        self.cert = (x509.CertificateBuilder()
                     .subject_name(subject).issuer_name(issuer)
                     .public_key(self.key.public_key())
                     .serial_number(x509.random_serial_number())
                     .not_valid_before(_now() - datetime.timedelta(hours=1))
                     .not_valid_after(_now() + datetime.timedelta(days=30))
                     .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
                     .sign(signer, _signing_hash(signer)))
        self.pem = self.cert.public_bytes(serialization.Encoding.PEM).decode()
        # The intermediates a leaf of this CA is sent with (the root is never sent).
        self.chain = [self.cert] + parent.chain if parent else []
        self.root = parent.root if parent else self  # what clients trust
        self.path = h.temp_dir("portico-ca-") / "ca.pem"
        self.path.write_text(self.root.pem)

    def issue(self, *names, days=30, cn=None, key="p256", slot=0):
        """A leaf for DNS `names` (IP literals become IP SANs) with a key of type `key`
        (KEY_TYPES; shared with other leaves of the same key and slot). Returns Cert."""
        leaf_key = ec.generate_private_key(ec.SECP256R1()) if key == "p256" and slot == 0 \
            else private_key(key, slot)
        sans = []
        for n in names:
            try:
                import ipaddress
                sans.append(x509.IPAddress(ipaddress.ip_address(n)))
            except ValueError:
                sans.append(x509.DNSName(n))
        cert = (x509.CertificateBuilder()
                .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME,
                                                            cn or names[0])]))
                .issuer_name(self.cert.subject)
                .public_key(leaf_key.public_key())
                .serial_number(x509.random_serial_number())
                .not_valid_before(_now() - datetime.timedelta(hours=1))
                .not_valid_after(_now() + datetime.timedelta(days=days))
                .add_extension(x509.SubjectAlternativeName(sans), False)
                .sign(self.key, _signing_hash(self.key)))
        return Cert(cert, leaf_key, self)


class Cert:
    def __init__(self, cert, key, ca):
        self.cert = cert
        self.ca = ca
        chain = ca.chain if ca is not None else []
        self.leaf_pem = cert.public_bytes(serialization.Encoding.PEM).decode()
        # tls.crt: the leaf, then the intermediates.
        self.cert_pem = self.leaf_pem + "".join(
            c.public_bytes(serialization.Encoding.PEM).decode() for c in chain)
        self.key_pem = key.private_bytes(serialization.Encoding.PEM,
                                         serialization.PrivateFormat.PKCS8,
                                         serialization.NoEncryption()).decode()
        self.der = cert.public_bytes(serialization.Encoding.DER)
        self.chain_der = [self.der] + [c.public_bytes(serialization.Encoding.DER) for c in chain]
        # python3-cryptography 38 (Debian 12) has only the naive UTC attribute.
        after = getattr(cert, "not_valid_after_utc", None)
        self.not_after = (int(after.timestamp()) if after is not None
                          else calendar.timegm(cert.not_valid_after.utctimetuple()))

    def files(self):
        """(cert_path, key_path) in a temp dir, for servers that read files."""
        d = h.temp_dir("portico-cert-")
        (d / "cert.pem").write_text(self.cert_pem)
        (d / "key.pem").write_text(self.key_pem)
        return str(d / "cert.pem"), str(d / "key.pem")


def subject_cn(der):
    cert = x509.load_der_x509_certificate(der)
    attrs = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return attrs[0].value if attrs else ""


# ---------------------------------------------------------------------------- manifests


def _b64(text):
    return base64.b64encode(text.encode() if isinstance(text, str) else text).decode()


def tls_secret(name, cert=None, namespace="default", cert_pem=None, key_pem=None, ca_pem=None):
    """A kubernetes.io/tls Secret (tls.crt, tls.key; ca.crt when ca_pem is given)."""
    crt = cert_pem if cert_pem is not None else (cert.cert_pem if cert else "")
    key = key_pem if key_pem is not None else (cert.key_pem if cert else "")
    data = f"  tls.crt: {_b64(crt)}\n  tls.key: {_b64(key)}\n"
    if ca_pem is not None:
        data += f"  ca.crt: {_b64(ca_pem)}\n"
    return (f"apiVersion: v1\nkind: Secret\nmetadata:\n  name: {json.dumps(name)}\n"
            f"  namespace: {json.dumps(namespace)}\ntype: kubernetes.io/tls\ndata:\n{data}")


def ca_secret(name, ca_pem, namespace="default"):
    """An Opaque Secret with only ca.crt (proxy-ssl-secret)."""
    return (f"apiVersion: v1\nkind: Secret\nmetadata:\n  name: {json.dumps(name)}\n"
            f"  namespace: {json.dumps(namespace)}\ntype: Opaque\ndata:\n"
            f"  ca.crt: {_b64(ca_pem)}\n")


def tls_ingress(name, rules, tls=(), annotations=None, namespace="default",
                creation_timestamp=None):
    """harness.ingress plus spec.tls: tls = [([hosts], secret_name)]."""
    text = h.ingress(name, rules, namespace=namespace, annotations=annotations,
                     creation_timestamp=creation_timestamp)
    if not tls:
        return text
    block = "  tls:\n"
    for hosts, secret in tls:
        block += "  - hosts:\n" + "".join(f"    - {json.dumps(x)}\n" for x in hosts)
        if secret:
            block += f"    secretName: {json.dumps(secret)}\n"
    return text.replace("spec:\n", "spec:\n" + block, 1)


# ---------------------------------------------------------------------------- Portico


def start_portico(config_dir, *flags, **kw):
    """Portico with an HTTPS listener on a free loopback port; sets .https_port."""
    port = h.free_port()
    p = h.Portico.start(config_dir, "--https-port", str(port), *flags, **kw)
    m = p.wait_line(r"listening http=\d+ admin=\d+ https=(\d+)")
    p.https_port = int(m.group(1))
    plain_stop = p.stop

    def stop(*a, **kw):
        """Stops it and checks that it exited cleanly, without sanitizer reports."""
        rc = plain_stop(*a, **kw)
        text = p.stderr_text()
        for marker in ("AddressSanitizer", "LeakSanitizer", "runtime error:"):
            if marker in text:
                raise AssertionError(f"{marker} in portico's stderr:\n" + text[-6000:])
        if rc not in (0, None) and not kw.get("sig"):
            raise AssertionError(f"portico exited with {rc}:\n" + text[-3000:])
        return rc

    p.stop = stop
    return p


# ---------------------------------------------------------------------------- clients


def client_context(ca=None, verify=True, min_version=None, max_version=None):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if verify and ca is not None:
        ctx.load_verify_locations(cadata=ca.root.pem)
    else:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    if min_version:
        ctx.minimum_version = min_version
    if max_version:
        ctx.maximum_version = max_version
    return ctx


def peer_certificate(port, server_name=None, timeout=10):
    """DER of the certificate served for `server_name` (None: no SNI at all)."""
    ctx = client_context(verify=False)
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as raw:
        with ctx.wrap_socket(raw, server_hostname=server_name) as s:
            return s.getpeercert(binary_form=True)


def https_request(port, host, path="/", ca=None, headers=None, ctx=None, timeout=10):
    """One HTTPS GET on a fresh connection with SNI = host; returns harness.Response."""
    ctx = ctx or client_context(ca, verify=ca is not None)
    raw = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    s = ctx.wrap_socket(raw, server_hostname=host)
    c = h.Conn.__new__(h.Conn)
    c.sock, c.buf = s, b""
    try:
        return c.request("GET", path, host=host, headers=headers or {})
    finally:
        s.close()


class TLSConn(h.Conn):
    """A keep-alive HTTPS connection (harness.Conn over TLS)."""

    def __init__(self, port, host, ca=None, timeout=10.0):
        ctx = client_context(ca, verify=ca is not None)
        raw = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.sock = ctx.wrap_socket(raw, server_hostname=host)
        self.buf = b""
        self.host = host

    def peer_der(self):
        return self.sock.getpeercert(binary_form=True)


def curl(port, host, path="/", ca=None, scheme="https", extra=(), timeout=20):
    """curl --resolve host:port:127.0.0.1; returns (status, headers dict lower-case, body)."""
    argv = ["curl", "-sS", "--max-time", "10", "-D", "-", "-o", "-",
            "--resolve", f"{host}:{port}:127.0.0.1", f"{scheme}://{host}:{port}{path}"]
    if ca is not None:
        argv += ["--cacert", str(ca.path)]
    argv += list(extra)
    r = subprocess.run(argv, capture_output=True, timeout=timeout)
    if r.returncode != 0:
        raise RuntimeError(f"curl failed ({r.returncode}): {r.stderr.decode(errors='replace')}")
    text = r.stdout.decode("latin-1")
    head, _, body = text.partition("\r\n\r\n")
    lines = head.split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers.setdefault(k.strip().lower(), v.strip())
    return status, headers, body


def s_client(port, *args, server_name=None, stdin=b"", timeout=20):
    """openssl s_client; returns (exit code, combined output text)."""
    argv = ["openssl", "s_client", "-connect", f"127.0.0.1:{port}"]
    argv += ["-servername", server_name] if server_name else ["-noservername"]
    argv += list(args)
    r = subprocess.run(argv, input=stdin, capture_output=True, timeout=timeout)
    return r.returncode, (r.stdout + r.stderr).decode(errors="replace")


def served_chain(port, server_name, *args):
    """The certificates s_client -showcerts received for `server_name`, leaf first, as DER
    (empty when the handshake failed), and s_client's output."""
    _, out = s_client(port, "-showcerts", *args, server_name=server_name)
    if not handshake_ok(out):
        return [], out
    pems = re.findall(r"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----", out, re.S)
    return [x509.load_pem_x509_certificate(p.encode()).public_bytes(serialization.Encoding.DER)
            for p in pems], out


def handshake_ok(output):
    """True when s_client negotiated a protocol and cipher."""
    m = re.search(r"Cipher is (\S+)", output)
    return bool(m) and m.group(1) != "(NONE)"


# ---------------------------------------------------------------------------- upstream


class HTTPSUpstream:
    """A threaded HTTPS/1.1 server on a loopback port: answers every GET with JSON
    {"name", "sni", "path", "headers"}; counts TLS connections."""

    def __init__(self, cert, name="tls-up"):
        self.name = name
        self.server_names = []
        self.connections = 0
        self._lock = threading.Lock()
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        cert_file, key_file = cert.files()
        ctx.load_cert_chain(cert_file, key_file)
        outer = self

        def on_sni(sock, server_name, _ctx):
            with outer._lock:
                outer.server_names.append(server_name)
                outer.connections += 1

        ctx.sni_callback = on_sni

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self):  # noqa: N802 - http.server's naming
                body = json.dumps({"name": outer.name, "path": self.path,
                                   "headers": [[k, v] for k, v in self.headers.items()]}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.send_header("X-Upstream-Name", outer.name)
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *a):  # quiet
                pass

        class Server(http.server.ThreadingHTTPServer):
            daemon_threads = True

            def get_request(self):
                sock, addr = super().get_request()
                return ctx.wrap_socket(sock, server_side=True, do_handshake_on_connect=False), addr

            def handle_error(self, request, client_address):
                pass  # refused handshakes are part of the tests

        self.server = Server(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()
