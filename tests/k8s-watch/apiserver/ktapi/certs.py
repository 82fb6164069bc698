"""Self-signed CA, server and client certificates made with the `openssl` command line, and
the kubeconfig file that points clients at the server."""

import base64
import json
import os
import subprocess


def _run(args, cwd):
    proc = subprocess.run(["openssl"] + args, cwd=cwd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"openssl {' '.join(args)} failed: {proc.stderr.strip()}")


def make_pki(directory, client=False, hosts=("localhost",), ips=("127.0.0.1", "::1")):
    """Writes ca.crt/ca.key, server.crt/server.key (and client.crt/client.key). Returns paths."""
    os.makedirs(directory, exist_ok=True)
    paths = {"ca": os.path.join(directory, "ca.crt"),
             "ca_key": os.path.join(directory, "ca.key"),
             "cert": os.path.join(directory, "server.crt"),
             "key": os.path.join(directory, "server.key")}
    if client:
        paths["client_cert"] = os.path.join(directory, "client.crt")
        paths["client_key"] = os.path.join(directory, "client.key")
    if all(os.path.exists(p) for p in paths.values()):
        return paths        # a restarted server keeps its CA, so clients keep trusting it
    _run(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-sha256", "-days", "3650",
          "-subj", "/CN=portico-test-ca", "-keyout", "ca.key", "-out", "ca.crt",
          "-addext", "basicConstraints=critical,CA:TRUE",
          "-addext", "keyUsage=critical,keyCertSign,cRLSign"], directory)
    san = ",".join([f"DNS:{h}" for h in hosts] + [f"IP:{i}" for i in ips])
    _leaf(directory, "server", "/CN=kube-apiserver", f"subjectAltName={san}\n"
          "extendedKeyUsage=serverAuth\nkeyUsage=critical,digitalSignature,keyEncipherment\n")
    if client:
        _leaf(directory, "client", "/O=system:masters/CN=portico-test-admin",
              "extendedKeyUsage=clientAuth\nkeyUsage=critical,digitalSignature,keyEncipherment\n")
    return paths


def _leaf(directory, name, subject, extensions):
    ext = os.path.join(directory, f"{name}.ext")
    with open(ext, "w") as f:
        f.write(extensions)
    _run(["req", "-newkey", "rsa:2048", "-nodes", "-sha256", "-subj", subject,
          "-keyout", f"{name}.key", "-out", f"{name}.csr"], directory)
    _run(["x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
          "-CAcreateserial", "-days", "3650", "-sha256", "-extfile", ext,
          "-out", f"{name}.crt"], directory)


def _b64file(path):
    with open(path, "rb") as f:
        return base64.b64encode(f.read()).decode()


def write_kubeconfig(path, server_url, ca_path=None, token=None, client_cert=None,
                     client_key=None, namespace="default"):
    """Writes a kubeconfig (JSON is valid YAML, kubectl and client libraries read it)."""
    cluster = {"server": server_url}
    if ca_path:
        cluster["certificate-authority-data"] = _b64file(ca_path)
    user = {}
    if token:
        user["token"] = token
    if client_cert and client_key:
        user["client-certificate-data"] = _b64file(client_cert)
        user["client-key-data"] = _b64file(client_key)
    doc = {
        "apiVersion": "v1", "kind": "Config", "preferences": {},
        "clusters": [{"name": "portico-test", "cluster": cluster}],
        "users": [{"name": "portico-test-admin", "user": user}],
        "contexts": [{"name": "portico-test", "context": {
            "cluster": "portico-test", "user": "portico-test-admin", "namespace": namespace}}],
        "current-context": "portico-test",
    }
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(doc, f, indent=2)
    os.replace(tmp, path)
