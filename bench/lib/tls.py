"""One self-signed ECDSA P-256 certificate for every proxy (scenario 8)."""
import os
import subprocess

import proxies


def make_cert(work):
    """Writes cert.pem, key.pem and both concatenated (HAProxy's crt) into work/tls."""
    d = os.path.join(work, "tls")
    os.makedirs(d, exist_ok=True)
    cert, key, pem = (os.path.join(d, n) for n in ("cert.pem", "key.pem", "both.pem"))
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec",
                    "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "30",
                    "-keyout", key, "-out", cert, "-subj", f"/CN={proxies.HOST}",
                    "-addext", f"subjectAltName=DNS:{proxies.HOST},IP:127.0.0.1"],
                   check=True, capture_output=True)
    with open(pem, "w") as out:
        for p in (cert, key):
            with open(p) as f:
                out.write(f.read())
    return {"cert": cert, "key": key, "pem": pem}


def portico_has_https_port(portico_bin):
    try:
        r = subprocess.run([portico_bin, "serve", "--help"], capture_output=True, text=True,
                           timeout=10)
    except (OSError, subprocess.SubprocessError):
        return False
    return "--https-port" in (r.stdout + r.stderr)
