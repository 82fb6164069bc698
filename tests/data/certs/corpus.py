#!/usr/bin/python3
"""Makes the certificate corpus of manifest.yaml: one kubernetes.io/tls Secret per entry, with
fresh keys and certificates (valid from an hour ago for 30 days unless the entry says
otherwise) in the entry's shape.

As a module: generate() -> [Entry]; secret_yaml(entry) and ingress_yaml(entries, ...) write
the manifests. As a program: corpus.py --out DIR writes DIR/secrets.yaml and
DIR/ingress.yaml (Ingress "corpus" of class portico: every entry's host in spec.tls with its
Secret, routed to Service "app" port 80).

Keys are made once per process per (type, use); RSA 4096 takes about two seconds.
Needs python3-cryptography (Debian 12: version 38) and python3-yaml; the openssl-text shape
runs `openssl x509 -text`."""

import argparse
import base64
import datetime
import json
import pathlib
import subprocess
import sys
import warnings

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import NameOID

HERE = pathlib.Path(__file__).resolve().parent
MANIFEST = HERE / "manifest.yaml"
NAMESPACE = "default"
DOMAIN = "corpus.test"
PASSPHRASE = b"corpus-passphrase"

# The "EC PARAMETERS" block `openssl ecparam -genkey` writes before the key: the curve's OID.
EC_PARAMETERS = {"p256": "BggqhkjOPQMBBw==", "p384": "BgUrgQQAIg==", "p521": "BgUrgQQAIw=="}

_keys = {}


def key(kind, use):
    """A private key of type `kind`, one per (kind, use) for the process."""
    if (kind, use) not in _keys:
        if kind.startswith("rsa"):
            k = rsa.generate_private_key(public_exponent=65537, key_size=int(kind[3:]))
        elif kind == "ed25519":
            k = ed25519.Ed25519PrivateKey.generate()
        else:
            curve = {"p256": ec.SECP256R1, "p384": ec.SECP384R1, "p521": ec.SECP521R1}[kind]
            k = ec.generate_private_key(curve())
        _keys[(kind, use)] = k
    return _keys[(kind, use)]


def _now():
    return datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)


def _name(cn):
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _certificate(subject, pub, issuer, signer, not_before, not_after, ca, sans=(),
                 digest="sha256"):
    b = (x509.CertificateBuilder().subject_name(_name(subject)).issuer_name(_name(issuer))
         .public_key(pub).serial_number(x509.random_serial_number())
         .not_valid_before(not_before).not_valid_after(not_after)
         .add_extension(x509.BasicConstraints(ca=ca, path_length=None), True))
    if sans:
        b = b.add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in sans]), False)
    if isinstance(signer, ed25519.Ed25519PrivateKey):
        return b.sign(signer, None)
    if digest == "sha1":  # deprecated by python3-cryptography, and the point of the entry
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return b.sign(signer, hashes.SHA1())
    return b.sign(signer, hashes.SHA256())


def _pem(cert):
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def _der(cert):
    return cert.public_bytes(serialization.Encoding.DER)


def _key_pem(k, fmt):
    if fmt in ("pkcs8", "encrypted-pkcs8"):
        form = serialization.PrivateFormat.PKCS8
    elif isinstance(k, ed25519.Ed25519PrivateKey):
        raise ValueError("Ed25519 keys exist only as PKCS#8")
    else:
        form = serialization.PrivateFormat.TraditionalOpenSSL
    enc = (serialization.BestAvailableEncryption(PASSPHRASE) if fmt.startswith("encrypted")
           else serialization.NoEncryption())
    return k.private_bytes(serialization.Encoding.PEM, form, enc).decode()


class Entry:
    """One generated Secret: tls.crt and tls.key as bytes (as stored in the Secret's data),
    and what serving it must send."""

    def __init__(self, spec):
        self.spec = spec
        self.name = spec["name"]
        self.source = spec["source"]
        self.host = f"{self.name}.{DOMAIN}"
        self.expect = spec["expect"]
        self.error = spec.get("error")
        self.key_type = spec["key"]
        self.tls_crt = b""
        self.tls_key = b""
        self.chain_der = []     # the certificates tls.crt holds, in order: what is served
        self.trust_pem = ""     # what a verifying client trusts (the root, or the leaf itself)
        self.verifiable = False  # a client trusting trust_pem can verify the served chain

    def secret_name(self):
        return f"{NAMESPACE}/{self.name}"


def _make(spec):
    e = Entry(spec)
    now = _now()
    validity = spec.get("validity", "valid")
    issuer = spec.get("issuer", "root")
    ca_kind = spec.get("ca_key", "p256")
    leaf_key = key(spec["key"], "leaf")
    start, end = now - datetime.timedelta(hours=1), now + datetime.timedelta(days=30)
    if validity == "expired":
        start, end = now - datetime.timedelta(days=91), now - datetime.timedelta(days=1)
    elif validity == "not-yet-valid":
        start = now + datetime.timedelta(days=1)
    root_key, mid_key = key(ca_kind, "root"), key(ca_kind, "intermediate")
    root = _certificate("Corpus Root CA", root_key.public_key(), "Corpus Root CA", root_key,
                        now - datetime.timedelta(hours=1), now + datetime.timedelta(days=60), True)
    mid = _certificate("Corpus Intermediate CA", mid_key.public_key(), "Corpus Root CA",
                       root_key, now - datetime.timedelta(hours=1),
                       now + datetime.timedelta(days=60), True)
    if issuer == "self":
        leaf = _certificate(e.host, leaf_key.public_key(), e.host, leaf_key, start, end, False,
                            [e.host], spec.get("signature", "sha256"))
    else:
        signer, signer_name = (mid_key, "Corpus Intermediate CA") if issuer == "intermediate" \
            else (root_key, "Corpus Root CA")
        leaf = _certificate(e.host, leaf_key.public_key(), signer_name, signer, start, end,
                            False, [e.host], spec.get("signature", "sha256"))
    certs = {"leaf": leaf, "intermediate": mid, "root": root}
    default_crt = ["leaf", "intermediate"] if issuer == "intermediate" else ["leaf"]
    fmt = spec.get("key_format", "pkcs8")
    crt_parts = spec.get("tls_crt", default_crt)
    key_parts = spec.get("tls_key", ["key"])
    blocks = {"leaf": _pem(leaf), "intermediate": _pem(mid), "root": _pem(root),
              "key": _key_pem(leaf_key, fmt)}
    if "other-key" in key_parts:
        blocks["other-key"] = _key_pem(key(spec["key"], "other"), fmt)
    if fmt == "ec-params":
        blocks["key"] = (f"-----BEGIN EC PARAMETERS-----\n{EC_PARAMETERS[spec['key']]}\n"
                         "-----END EC PARAMETERS-----\n" + _key_pem(leaf_key, "pkcs1"))
    crt = [_text_of(blocks[p], spec.get("text")) if p in certs else blocks[p]
           for p in crt_parts]
    e.tls_crt = _shape("".join(crt), spec.get("text"))
    e.tls_key = _shape("".join(blocks[p] for p in key_parts), spec.get("text"))
    e.chain_der = [_der(certs[p]) for p in crt_parts if p in certs]
    e.trust_pem = _pem(leaf) if issuer == "self" else _pem(root)
    sent = set(p for p in crt_parts if p in certs)
    e.verifiable = (validity == "valid" and crt_parts[:1] == ["leaf"] and
                    (issuer != "intermediate" or "intermediate" in sent))
    return e


def _text_of(pem, text):
    """`openssl x509 -text` output (the dump, then the PEM) for the openssl-text shape."""
    if text != "openssl-text":
        return pem
    r = subprocess.run(["openssl", "x509", "-text"], input=pem.encode(), capture_output=True,
                       check=True)
    return r.stdout.decode()


def _shape(text, how):
    """The bytes stored in the Secret for PEM `text` written the `how` way."""
    if how == "crlf":
        return text.replace("\n", "\r\n").encode()
    if how == "no-final-newline":
        return text.rstrip("\n").encode()
    if how == "joined":
        return text.replace("-----\n-----BEGIN", "----------BEGIN", 1).encode()
    if how == "base64-twice":
        return base64.b64encode(text.encode())
    return text.encode()


def load_manifest(path=MANIFEST):
    with open(path) as f:
        return yaml.safe_load(f)["entries"]


def generate(path=MANIFEST):
    """Every entry of the manifest, made now."""
    return [_make(spec) for spec in load_manifest(path)]


def secret_yaml(entry, namespace=NAMESPACE):
    crt = base64.b64encode(entry.tls_crt).decode()
    k = base64.b64encode(entry.tls_key).decode()
    return (f"apiVersion: v1\nkind: Secret\nmetadata:\n  name: {json.dumps(entry.name)}\n"
            f"  namespace: {json.dumps(namespace)}\ntype: kubernetes.io/tls\ndata:\n"
            f"  tls.crt: {crt}\n  tls.key: {k}\n")


def ingress_yaml(entries, namespace=NAMESPACE, class_name="portico", service="app", port=80):
    """One Ingress listing every entry's host in spec.tls with its Secret, each routed to
    `service`:`port`."""
    lines = ["apiVersion: networking.k8s.io/v1", "kind: Ingress", "metadata:",
             "  name: corpus", f"  namespace: {json.dumps(namespace)}", "spec:",
             f"  ingressClassName: {json.dumps(class_name)}", "  tls:"]
    for e in entries:
        lines += [f"  - hosts: [{json.dumps(e.host)}]", f"    secretName: {json.dumps(e.name)}"]
    lines.append("  rules:")
    for e in entries:
        lines += [f"  - host: {json.dumps(e.host)}", "    http:", "      paths:",
                  "      - path: /", "        pathType: Prefix", "        backend:",
                  "          service:", f"            name: {json.dumps(service)}",
                  f"            port: {{number: {port}}}"]
    return "\n".join(lines) + "\n"


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True, help="directory for secrets.yaml and ingress.yaml")
    ap.add_argument("--manifest", default=str(MANIFEST))
    a = ap.parse_args(argv)
    out = pathlib.Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    entries = generate(a.manifest)
    (out / "secrets.yaml").write_text("---\n".join(secret_yaml(e) for e in entries))
    (out / "ingress.yaml").write_text(ingress_yaml(entries))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
