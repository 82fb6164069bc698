#!/usr/bin/python3
"""`portico dns-sync --provider route53` with a hosted zone id and an `aws` CLI: the batches are
sent with `aws route53 change-resource-record-sets --hosted-zone-id ID --change-batch
file://...` and the zone is read with `aws route53 list-resource-record-sets`. The CLI here is
a stand-in script that keeps a hosted zone in a JSON file and applies batches with Route 53's
rules (UPSERT replaces a set; DELETE must name the exact current set, else the whole batch
fails with InvalidChangeBatch), so ownership and deletes are checked against what the API
would accept."""

import json
import os
import shutil
import stat
import sys
import tempfile
import unittest

import harness
from k8s_common import ApiServer

NET = "networking.k8s.io/v1"
ZONE_ID = "Z0123456789TEST"

FAKE_AWS = r'''#!/usr/bin/python3
import json, os, sys
state_path = os.environ["FAKE_R53_STATE"]
with open(os.environ["FAKE_R53_LOG"], "a") as log:
    log.write(json.dumps(sys.argv[1:]) + "\n")
args = sys.argv[1:]
def opt(name):
    return args[args.index(name) + 1]
with open(state_path) as f:
    sets = json.load(f)
if args[:2] == ["route53", "list-resource-record-sets"]:
    assert opt("--hosted-zone-id") == "%s"
    print(json.dumps({"ResourceRecordSets": sets}, indent=2))
    sys.exit(0)
if args[:2] == ["route53", "change-resource-record-sets"]:
    assert opt("--hosted-zone-id") == "%s"
    if os.environ.get("FAKE_R53_DENY"):
        sys.stderr.write("An error occurred (AccessDenied) when calling the ChangeResourceRecordSets "
                         "operation: not authorized\n")
        sys.exit(254)
    src = opt("--change-batch")
    assert src.startswith("file://"), src
    with open(src[len("file://"):]) as f:
        batch = json.load(f)
    key = lambda s: (s["Name"], s["Type"])
    by_key = {key(s): s for s in sets}
    for c in batch["Changes"]:
        rs = c["ResourceRecordSet"]
        if c["Action"] == "UPSERT":
            by_key[key(rs)] = rs
        elif c["Action"] == "DELETE":
            if by_key.get(key(rs)) != rs:
                sys.stderr.write("An error occurred (InvalidChangeBatch): Tried to delete resource "
                                 "record set [name='%%s', type='%%s'] but the values provided do not "
                                 "match the current values\n" %% key(rs))
                sys.exit(254)
            del by_key[key(rs)]
        else:
            sys.stderr.write("bad action " + c["Action"] + "\n")
            sys.exit(252)
    with open(state_path, "w") as f:
        json.dump(list(by_key.values()), f)
    print(json.dumps({"ChangeInfo": {"Id": "/change/C1", "Status": "PENDING"}}))
    sys.exit(0)
sys.stderr.write("unsupported: %%r\n" %% args)
sys.exit(252)
''' % (ZONE_ID, ZONE_ID)


def ingress(name, host):
    return {"apiVersion": NET, "kind": "Ingress", "metadata": {"name": name, "namespace": "default"},
            "spec": {"ingressClassName": "portico", "rules": [{"host": host}]}}


class DnsSyncRoute53CliTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="dns-sync-r53cli-")
        self.aws = os.path.join(self.tmp, "aws")
        with open(self.aws, "w") as f:
            f.write(FAKE_AWS)
        os.chmod(self.aws, os.stat(self.aws).st_mode | stat.S_IEXEC)
        self.state = os.path.join(self.tmp, "zone.json")
        self.log = os.path.join(self.tmp, "aws.log")
        # A record that is not ours, at a name an Ingress will ask for.
        self.write_state([{"Name": "example.test.", "Type": "SOA", "TTL": 900,
                           "ResourceRecords": [{"Value": "ns. admin. 1 7200 900 1209600 86400"}]},
                          {"Name": "taken.example.test.", "Type": "A", "TTL": 300,
                           "ResourceRecords": [{"Value": "10.9.9.9"}]}])
        self.api = ApiServer(self.tmp).start()
        self.api.create(NET, "ingressclasses", {
            "apiVersion": NET, "kind": "IngressClass", "metadata": {"name": "portico"},
            "spec": {"controller": "portico.dev/ingress-controller"}})

    def tearDown(self):
        self.api.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def write_state(self, sets):
        with open(self.state, "w") as f:
            json.dump(sets, f)

    def zone(self):
        with open(self.state) as f:
            return {(s["Name"], s["Type"]): s for s in json.load(f)}

    def add_ingress(self, name, host, ips):
        self.api.create(NET, "ingresses", ingress(name, host), namespace="default")
        self.api.patch(NET, "ingresses", name,
                       {"status": {"loadBalancer": {"ingress": [{"ip": ip} for ip in ips]}}},
                       namespace="default", sub="status")

    def dns_sync(self, *extra, deny=False):
        argv = [harness.portico_bin(), "dns-sync", "--kubeconfig", self.api.kubeconfig,
                "--zone", "example.test", "--provider", "route53", "--route53-zone-id", ZONE_ID,
                "--aws-cli", self.aws, "--route53-out", os.path.join(self.tmp, "batches"),
                "--owner-id", "c1", *extra]
        env = {"FAKE_R53_STATE": self.state, "FAKE_R53_LOG": self.log}
        if deny:
            env["FAKE_R53_DENY"] = "1"
        return harness.Process(argv, env=env)

    def run_once(self):
        p = self.dns_sync("--once")
        rc = p.wait(60)
        self.assertEqual(rc, 0, p.stderr_text())
        return p

    def test_batches_are_sent_and_the_zone_is_read_back(self):
        self.add_ingress("web", "web.example.test", ["192.0.2.1", "192.0.2.2"])
        self.add_ingress("taken", "taken.example.test", ["192.0.2.3"])
        p = self.run_once()
        z = self.zone()
        self.assertEqual(z[("web.example.test.", "A")],
                         {"Name": "web.example.test.", "Type": "A", "TTL": 60,
                          "ResourceRecords": [{"Value": "192.0.2.1"}, {"Value": "192.0.2.2"}]})
        self.assertEqual(z[("portico-owner.web.example.test.", "TXT")]["ResourceRecords"],
                         [{"Value": '"heritage=portico,portico/owner=c1"'}])
        self.assertEqual(z[("taken.example.test.", "A")]["ResourceRecords"], [{"Value": "10.9.9.9"}])
        self.assertNotIn(("portico-owner.taken.example.test.", "TXT"), z)
        self.assertIn("left alone", p.stderr_text())
        with open(self.log) as f:
            calls = [json.loads(line) for line in f]
        self.assertEqual(calls[0], ["route53", "list-resource-record-sets", "--hosted-zone-id", ZONE_ID,
                                    "--output", "json"])
        self.assertEqual(calls[1][:5], ["route53", "change-resource-record-sets", "--hosted-zone-id",
                                        ZONE_ID, "--change-batch"])
        self.assertRegex(calls[1][5], r"^file://.*/batch-000001\.json$")

        # A second run reads the zone (a fresh process, no memory): nothing to send.
        self.run_once()
        with open(self.log) as f:
            self.assertEqual(len(f.readlines()), 3)  # list, change, list

        # The Ingress goes: the DELETEs name the exact sets, so the stand-in accepts them.
        self.api.delete(NET, "ingresses", "web", namespace="default")
        self.api.delete(NET, "ingresses", "taken", namespace="default")
        self.run_once()
        z = self.zone()
        self.assertNotIn(("web.example.test.", "A"), z)
        self.assertNotIn(("portico-owner.web.example.test.", "TXT"), z)
        self.assertIn(("taken.example.test.", "A"), z)
        self.assertIn(("example.test.", "SOA"), z)

    def test_a_refused_batch_is_reported_with_the_cli_error(self):
        self.add_ingress("web", "web.example.test", ["192.0.2.1"])
        p = self.dns_sync("--once", deny=True)
        self.assertEqual(p.wait(60), 1, p.stderr_text())
        self.assertRegex(p.stderr_text(), r'"msg":"dns change failed".*change-resource-record-sets failed '
                                          r'\(exit 254\).*AccessDenied')
        self.assertNotIn(("web.example.test.", "A"), self.zone())
        self.assertNotIn("dns records changed", p.stderr_text())  # nothing claimed as done

    def test_delete_names_the_set_as_read_from_the_zone(self):
        self.add_ingress("web", "web.example.test", ["192.0.2.1"])
        self.run_once()
        # Someone changes the TTL of our set by hand; Route 53 accepts a DELETE only with the
        # current values, which a fresh read gives.
        z = self.zone()
        z[("web.example.test.", "A")]["TTL"] = 61
        self.write_state(list(z.values()))
        self.api.delete(NET, "ingresses", "web", namespace="default")
        p = self.run_once()  # the fresh read sees TTL 61: the DELETE matches it
        self.assertNotIn(("web.example.test.", "A"), self.zone())
        self.assertIn("dns records changed", p.stderr_text())


if __name__ == "__main__":
    unittest.main(verbosity=2)
