#!/usr/bin/python3
"""`portico dns-sync` against a real BIND 9 (`named`, Debian bind9) on loopback with a test
zone and a TSIG key, and the test API server: records appear for new Ingress hosts, change
with the status addresses, disappear with the Ingress; a foreign record of the same name is
left alone (and logged once); a wrong TSIG secret is a clear error. Route 53 batches written
with --route53-out have the AWS shape."""

import base64
import glob
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import unittest

import harness
from k8s_common import ApiPortico, ApiServer, service

NET = "networking.k8s.io/v1"
ZONE = "example.test"
KEY_NAME = "portico-test-key"
SECRET = base64.b64encode(b"portico dns-sync test secret 32b").decode()
WRONG_SECRET = base64.b64encode(b"this is not the secret of BIND!!").decode()
NAMED = shutil.which("named", path="/usr/sbin:/usr/bin:" + os.environ.get("PATH", ""))
DIG = shutil.which("dig")
NSUPDATE = shutil.which("nsupdate")


def free_udp_tcp_port():
    """A loopback port free for both UDP and TCP (named listens on both)."""
    for _ in range(50):
        t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        t.bind(("127.0.0.1", 0))
        port = t.getsockname()[1]
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            u.bind(("127.0.0.1", port))
            return port
        except OSError:
            continue
        finally:
            u.close()
            t.close()
    raise RuntimeError("no free UDP+TCP port")


class Bind:
    """named -g on 127.0.0.1:PORT, zone example.test updatable and transferable with the key."""

    def __init__(self, workdir):
        self.dir = os.path.join(workdir, "named")
        os.makedirs(self.dir)
        self.port = free_udp_tcp_port()
        conf = os.path.join(self.dir, "named.conf")
        with open(conf, "w") as f:
            f.write(f"""
options {{
  directory "{self.dir}";
  pid-file "{self.dir}/named.pid";
  session-keyfile "{self.dir}/session.key";
  managed-keys-directory "{self.dir}";
  listen-on port {self.port} {{ 127.0.0.1; }};
  listen-on-v6 {{ none; }};
  recursion no;
  notify no;
  dnssec-validation no;
}};
controls {{ }};
key "{KEY_NAME}" {{ algorithm hmac-sha256; secret "{SECRET}"; }};
zone "{ZONE}" {{
  type primary;
  file "{self.dir}/{ZONE}.db";
  allow-update {{ key "{KEY_NAME}"; }};
  allow-transfer {{ key "{KEY_NAME}"; }};
}};
""")
        with open(os.path.join(self.dir, f"{ZONE}.db"), "w") as f:
            f.write(f"$TTL 300\n@ IN SOA ns.{ZONE}. admin.{ZONE}. 1 60 60 600 60\n"
                    f"@ IN NS ns.{ZONE}.\nns IN A 127.0.0.1\n")
        self.proc = harness.Process([NAMED, "-g", "-n", "1", "-c", conf])
        self.proc.wait_line(r"running$", timeout=30)

    def stop(self):
        self.proc.stop()

    def dig(self, name, rtype="A"):
        p = subprocess.run([DIG, "@127.0.0.1", "-p", str(self.port), "+short", "+norecurse",
                            "+time=2", "+tries=1", name, rtype],
                           capture_output=True, text=True, timeout=20)
        if p.returncode != 0:
            raise AssertionError(f"dig {name} {rtype}: {p.stdout} {p.stderr}")
        return sorted(line for line in p.stdout.splitlines() if line)

    def nsupdate(self, *commands):
        script = f"server 127.0.0.1 {self.port}\nzone {ZONE}\n" + "\n".join(commands) + "\nsend\n"
        p = subprocess.run([NSUPDATE, "-y", f"hmac-sha256:{KEY_NAME}:{SECRET}"], input=script,
                           capture_output=True, text=True, timeout=20)
        if p.returncode != 0:
            raise AssertionError(f"nsupdate: {p.stdout} {p.stderr}")


def ingress(name, hosts, class_name="portico"):
    return {"apiVersion": NET, "kind": "Ingress", "metadata": {"name": name, "namespace": "default"},
            "spec": {"ingressClassName": class_name,
                     "rules": [{"host": h, "http": {"paths": [{"path": "/", "pathType": "Prefix",
                                "backend": {"service": {"name": "app", "port": {"number": 80}}}}]}}
                               for h in hosts]}}


class DnsSyncBindTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        missing = [n for n, p in (("named (bind9)", NAMED), ("dig (bind9-dnsutils)", DIG),
                                  ("nsupdate (bind9-dnsutils)", NSUPDATE)) if p is None]
        if missing:
            raise RuntimeError("missing: " + ", ".join(missing) + " (deploy/install-deps.sh)")

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="dns-sync-")
        self.bind = Bind(self.tmp)
        self.api = ApiServer(self.tmp).start()
        self.api.create(NET, "ingressclasses", {
            "apiVersion": NET, "kind": "IngressClass", "metadata": {"name": "portico"},
            "spec": {"controller": "portico.dev/ingress-controller"}})
        self.syncs = []

    def tearDown(self):
        for s in self.syncs:
            s.stop()
        self.api.stop()
        self.bind.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)

    # ---- helpers ------------------------------------------------------------------------------
    def dns_sync(self, *extra, secret=SECRET, owner="test-cluster"):
        argv = [harness.portico_bin(), "dns-sync", "--kubeconfig", self.api.kubeconfig,
                "--zone", ZONE, "--rfc2136-server", f"127.0.0.1:{self.bind.port}",
                "--tsig-key-name", KEY_NAME, "--tsig-secret", secret, "--tsig-algorithm", "hmac-sha256",
                "--owner-id", owner, "--debounce", "100ms", "--interval", "1s", "--rfc2136-timeout", "3",
                *extra]
        p = harness.Process(argv)
        self.syncs.append(p)
        return p

    def add_ingress(self, name, hosts, addresses, class_name="portico"):
        self.api.create(NET, "ingresses", ingress(name, hosts, class_name), namespace="default")
        self.set_status(name, addresses)

    def set_status(self, name, addresses):
        entries = [{"hostname": a} if a[0].isalpha() else {"ip": a} for a in addresses]
        self.api.patch(NET, "ingresses", name, {"status": {"loadBalancer": {"ingress": entries}}},
                       namespace="default", sub="status")

    def wait_records(self, name, rtype, expected, proc, timeout=30):
        expected = sorted(expected)
        seen = []

        def check():
            if proc is not None and not proc.alive():
                raise AssertionError("dns-sync exited:\n" + proc.stderr_text()[-4000:])
            seen[:] = self.bind.dig(name, rtype)
            return seen == expected
        try:
            harness.wait_until(check, timeout, interval=0.2)
        except Exception as e:  # noqa: BLE001
            log = proc.stderr_text()[-4000:] if proc is not None else ""
            raise AssertionError(f"{name} {rtype}: want {expected}, have {seen} ({e})\n{log}") from None

    # ---- tests --------------------------------------------------------------------------------
    def test_records_follow_ingress_status_and_ingress_deletion(self):
        sync = self.dns_sync()
        self.add_ingress("web", ["web.example.test", "*.apps.example.test", "elsewhere.example.org"],
                         ["192.0.2.1", "192.0.2.2", "2001:db8::1", "lb.example.net"])
        self.wait_records("web.example.test", "A", ["192.0.2.1", "192.0.2.2"], sync)
        self.assertEqual(self.bind.dig("web.example.test", "AAAA"), ["2001:db8::1"])
        self.assertEqual(self.bind.dig("anything.apps.example.test", "A"), ["192.0.2.1", "192.0.2.2"])
        self.assertEqual(self.bind.dig("portico-owner.web.example.test", "TXT"),
                         ['"heritage=portico,portico/owner=test-cluster"'])
        self.assertEqual(self.bind.dig("portico-owner._wildcard.apps.example.test", "TXT"),
                         ['"heritage=portico,portico/owner=test-cluster"'])
        self.assertIn("status hostname lb.example.net is not published", sync.stderr_text())

        # Addresses change (a node lost its ready Portico pod): the record set follows.
        self.set_status("web", ["192.0.2.3"])
        self.wait_records("web.example.test", "A", ["192.0.2.3"], sync)
        self.wait_records("web.example.test", "AAAA", [], sync)
        self.wait_records("x.apps.example.test", "A", ["192.0.2.3"], sync)

        # The Ingress goes: its records and owner records go.
        self.api.delete(NET, "ingresses", "web", namespace="default")
        self.wait_records("web.example.test", "A", [], sync)
        self.wait_records("x.apps.example.test", "A", [], sync)
        self.assertEqual(self.bind.dig("portico-owner.web.example.test", "TXT"), [])
        self.assertEqual(self.bind.dig("portico-owner._wildcard.apps.example.test", "TXT"), [])
        self.assertEqual(self.bind.dig("ns.example.test", "A"), ["127.0.0.1"])  # untouched

    def test_records_edited_by_hand_are_repaired_at_the_next_resync(self):
        sync = self.dns_sync()
        self.add_ingress("web", ["web.example.test"], ["192.0.2.1"])
        self.wait_records("web.example.test", "A", ["192.0.2.1"], sync)
        # dns-sync is paused while the record is edited by hand and read back: on a busy
        # machine its 1 s resync could otherwise repair the edit before the dig sees it.
        os.kill(sync.pid, signal.SIGSTOP)
        try:
            self.bind.nsupdate("update delete web.example.test A",
                               "update add web.example.test 60 A 10.1.1.1")
            self.assertEqual(self.bind.dig("web.example.test", "A"), ["10.1.1.1"])
        finally:
            os.kill(sync.pid, signal.SIGCONT)
        self.wait_records("web.example.test", "A", ["192.0.2.1"], sync)  # --interval 1s

    def test_addresses_published_by_portico_serve_become_records(self):
        """The whole chain: `portico serve` (Lease holder) writes the Ingress status with the
        published address, dns-sync turns it into the A record."""
        self.api.create("v1", "services", service("app"), namespace="default")
        self.api.create(NET, "ingresses", ingress("web", ["served.example.test"]), namespace="default")
        serve = ApiPortico(self.api.kubeconfig, ["--publish-status-address", "192.0.2.77",
                                                 "--election-id", "portico-leader",
                                                 "--election-retry-period", "500ms"],
                           env={"POD_NAME": "portico-0"})
        try:
            sync = self.dns_sync()
            self.wait_records("served.example.test", "A", ["192.0.2.77"], sync, timeout=60)
        finally:
            serve.stop()

    def test_ingresses_of_other_classes_and_without_status_get_no_records(self):
        sync = self.dns_sync()
        self.add_ingress("theirs", ["theirs.example.test"], ["192.0.2.8"], class_name="nginx")
        self.api.create(NET, "ingresses", ingress("pending", ["pending.example.test"]), namespace="default")
        self.add_ingress("ours", ["ours.example.test"], ["192.0.2.9"])
        self.wait_records("ours.example.test", "A", ["192.0.2.9"], sync)
        self.assertEqual(self.bind.dig("theirs.example.test", "A"), [])
        self.assertEqual(self.bind.dig("pending.example.test", "A"), [])

    def test_foreign_record_of_the_same_name_is_left_alone(self):
        self.bind.nsupdate("update add taken.example.test 300 A 10.9.9.9")
        sync = self.dns_sync()
        self.add_ingress("taken", ["taken.example.test"], ["192.0.2.5"])
        m = sync.wait_line(r'"msg":"name not owned by this dns-sync: left alone".*"name":"taken\.example\.test"',
                           timeout=30)
        self.assertIn("not owned by Portico (A 10.9.9.9)", m.string)
        # Later syncs (another Ingress applied after it) do not touch it or log it again.
        self.add_ingress("free", ["free.example.test"], ["192.0.2.6"])
        self.wait_records("free.example.test", "A", ["192.0.2.6"], sync)
        self.assertEqual(self.bind.dig("taken.example.test", "A"), ["10.9.9.9"])
        self.assertEqual(self.bind.dig("portico-owner.taken.example.test", "TXT"), [])
        self.assertEqual(sync.count_lines(r'left alone.*"name":"taken\.example\.test"'), 1)
        # Deleting the Ingress does not delete the foreign record either.
        self.api.delete(NET, "ingresses", "taken", namespace="default")
        self.api.delete(NET, "ingresses", "free", namespace="default")
        self.wait_records("free.example.test", "A", [], sync)
        self.assertEqual(self.bind.dig("taken.example.test", "A"), ["10.9.9.9"])

    def test_owned_records_are_removed_after_a_restart(self):
        """Ownership lives in the zone (TXT), not in the process: a restarted dns-sync removes
        the records of an Ingress deleted while it was down, and another owner id does not."""
        sync = self.dns_sync()
        self.add_ingress("gone", ["gone.example.test"], ["192.0.2.7"])
        self.wait_records("gone.example.test", "A", ["192.0.2.7"], sync)
        self.assertEqual(sync.stop(), 0)
        self.api.delete(NET, "ingresses", "gone", namespace="default")
        other = self.dns_sync("--once", owner="other-cluster")
        self.assertEqual(other.wait(60), 0, other.stderr_text())
        self.assertEqual(self.bind.dig("gone.example.test", "A"), ["192.0.2.7"])
        again = self.dns_sync()
        self.wait_records("gone.example.test", "A", [], again)

    def test_wrong_tsig_secret_is_a_clear_error(self):
        once = self.dns_sync("--once", secret=WRONG_SECRET)
        self.assertEqual(once.wait(60), 1)
        err = once.stderr_text()
        self.assertRegex(err, r'"level":"error","msg":"dns sync failed".*NOTAUTH.*BADSIG')
        self.assertIn("the server rejected the TSIG key", err)
        # Running (not --once): the error is logged and the sync retried with backoff.
        running = self.dns_sync(secret=WRONG_SECRET)
        running.wait_line(r'"msg":"dns sync failed".*BADSIG', timeout=30)
        running.wait_line(r'"msg":"retrying the dns sync"', timeout=30)
        self.assertTrue(running.alive())
        self.assertEqual(running.stop(), 0)

    def test_once_gives_up_when_the_api_cannot_be_listed(self):
        self.api.control("fail", path="ingress", code=500, count=-1)
        p = self.dns_sync("--once", "--once-timeout", "3s")
        self.assertEqual(p.wait(60), 1, p.stderr_text())
        self.assertIn('"msg":"the Kubernetes API objects were not listed in time"', p.stderr_text())

    def test_dry_run_prints_the_plan_and_changes_nothing(self):
        self.add_ingress("dry", ["dry.example.test"], ["192.0.2.4"])
        p = self.dns_sync("--once", "--dry-run")
        self.assertEqual(p.wait(60), 0, p.stderr_text())
        out = "\n".join(p.stdout_lines)
        self.assertIn("create dry.example.test: put A 60 [192.0.2.4]; put portico-owner.dry.example.test "
                      "TXT 60 [heritage=portico,portico/owner=test-cluster]", out)
        self.assertEqual(self.bind.dig("dry.example.test", "A"), [])

    def test_route53_batches_written_to_a_directory(self):
        out_dir = os.path.join(self.tmp, "r53")
        argv = [harness.portico_bin(), "dns-sync", "--kubeconfig", self.api.kubeconfig,
                "--zone", ZONE, "--provider", "route53", "--route53-out", out_dir,
                "--owner-id", "test-cluster", "--ttl", "120", "--debounce", "100ms", "--interval", "1s"]
        sync = harness.Process(argv)
        self.syncs.append(sync)
        self.add_ingress("r53", ["r53.example.test"], ["192.0.2.10", "2001:db8::10"])
        harness.wait_until(lambda: len(glob.glob(os.path.join(out_dir, "batch-*.json"))) >= 1, 30)
        with open(os.path.join(out_dir, "batch-000001.json")) as f:
            first = json.load(f)
        self.assertEqual(set(first), {"Comment", "Changes"})
        sets = {(c["Action"], c["ResourceRecordSet"]["Name"], c["ResourceRecordSet"]["Type"]):
                c["ResourceRecordSet"] for c in first["Changes"]}
        self.assertEqual(set(sets), {("UPSERT", "r53.example.test.", "A"),
                                     ("UPSERT", "r53.example.test.", "AAAA"),
                                     ("UPSERT", "portico-owner.r53.example.test.", "TXT")})
        a = sets[("UPSERT", "r53.example.test.", "A")]
        self.assertEqual(a, {"Name": "r53.example.test.", "Type": "A", "TTL": 120,
                             "ResourceRecords": [{"Value": "192.0.2.10"}]})
        self.assertEqual(sets[("UPSERT", "portico-owner.r53.example.test.", "TXT")]["ResourceRecords"],
                         [{"Value": '"heritage=portico,portico/owner=test-cluster"'}])
        self.api.delete(NET, "ingresses", "r53", namespace="default")
        harness.wait_until(lambda: os.path.exists(os.path.join(out_dir, "batch-000002.json")), 30)
        with open(os.path.join(out_dir, "batch-000002.json")) as f:
            second = json.load(f)
        self.assertEqual(sorted((c["Action"], c["ResourceRecordSet"]["Type"]) for c in second["Changes"]),
                         [("DELETE", "A"), ("DELETE", "AAAA"), ("DELETE", "TXT")])
        for c in second["Changes"]:
            self.assertTrue(c["ResourceRecordSet"]["Name"].endswith("."))
            self.assertEqual(c["ResourceRecordSet"]["TTL"], 120)  # DELETE names the exact set
        # The next batch holds only the next change: nothing of r53 is sent again.
        self.add_ingress("next", ["next.example.test"], ["192.0.2.11"])
        harness.wait_until(lambda: os.path.exists(os.path.join(out_dir, "batch-000003.json")), 30)
        with open(os.path.join(out_dir, "batch-000003.json")) as f:
            third = json.load(f)
        self.assertEqual(sorted(c["ResourceRecordSet"]["Name"] for c in third["Changes"]),
                         ["next.example.test.", "portico-owner.next.example.test."])


if __name__ == "__main__":
    unittest.main(verbosity=2)
