#!/usr/bin/python3
"""Leader election and Ingress status: two `portico serve` processes on one test API server;
exactly one (the Lease holder) writes status.loadBalancer.ingress, only when it changes;
when the leader is killed the other takes over the Lease and the status. When Portico stops
serving an Ingress (its class changed, its IngressClass deleted) the leader clears the
status it wrote, but never one another controller has written since."""

import signal
import tempfile
import time
import unittest

import harness
from k8s_common import ApiPortico, ApiServer, Kubectl, ingress, ingress_class, service
from ktapi.testing import HttpError

LEASE_SECONDS = 6
NET = "networking.k8s.io/v1"


class K8sStatusTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="k8s-status-")
        self.api = ApiServer(self.tmp).start()
        self.kubectl = Kubectl(self.api, self.tmp)
        self.kubectl.apply_docs(ingress_class(), service("app"),
                                ingress("app", "app.test", "app"),
                                ingress("other", "other.test", "app", class_name="nginx"),
                                verb="create")
        flags = ["--election-id", "portico-leader",
                 "--election-lease-duration", str(LEASE_SECONDS),
                 "--election-renew-interval", "1s", "--election-retry-period", "500ms"]
        self.procs = {
            "portico-a": ApiPortico(self.api.kubeconfig, flags + ["--publish-status-address", "10.0.0.1"],
                                    env={"POD_NAME": "portico-a"}),
            "portico-b": ApiPortico(self.api.kubeconfig, flags + ["--publish-status-address", "10.0.0.2,lb.example"],
                                    env={"POD_NAME": "portico-b"}),
        }
        self.addresses = {"portico-a": [{"ip": "10.0.0.1"}],
                          "portico-b": [{"ip": "10.0.0.2"}, {"hostname": "lb.example"}]}

    def tearDown(self):
        for p in self.procs.values():
            p.stop()
        self.api.stop()

    def holder(self):
        try:
            lease = self.api.get("coordination.k8s.io/v1", "leases", "portico-leader",
                                 namespace="default")
        except Exception:
            return None
        return lease["spec"].get("holderIdentity") or None

    def status_of(self, name):
        ing = self.api.get(NET, "ingresses", name, namespace="default")
        return ((ing.get("status") or {}).get("loadBalancer") or {}).get("ingress")

    def status_writes(self):
        reqs = self.api.control("requests", since=0)["requests"]
        return [r for r in reqs if r["method"] in ("PUT", "PATCH") and r["url"].split("?")[0].endswith("/status")]

    def test_one_leader_writes_status_and_the_other_takes_over_when_it_dies(self):
        leader = harness.wait_until(self.holder, 20)
        self.assertIn(leader, self.procs)
        harness.wait_until(lambda: self.status_of("app") == self.addresses[leader], 20)
        self.assertIsNone(self.status_of("other"), "an Ingress of another class gets no status")

        # Several renew periods later: still one leader, and one write in total (no flapping).
        time.sleep(3)
        self.assertEqual(self.holder(), leader)
        self.assertEqual(self.status_of("app"), self.addresses[leader])
        self.assertEqual(len(self.status_writes()), 1, self.status_writes())

        # A new served Ingress gets its status from the leader.
        self.kubectl.apply_docs(ingress("late", "late.test", "app"), verb="create")
        harness.wait_until(lambda: self.status_of("late") == self.addresses[leader], 20)

        # Kill the leader without a chance to release: the other takes over after the lease.
        follower = next(n for n in self.procs if n != leader)
        killed_at = time.monotonic()
        self.procs[leader].send_signal(signal.SIGKILL)
        self.procs[leader].wait(10)
        harness.wait_until(lambda: self.holder() == follower, LEASE_SECONDS * 4)
        took = time.monotonic() - killed_at
        harness.wait_until(lambda: self.status_of("app") == self.addresses[follower], 20)
        harness.wait_until(lambda: self.status_of("late") == self.addresses[follower], 20)
        print(f"takeover after {took:.1f}s (lease {LEASE_SECONDS}s)")

    def test_graceful_stop_releases_the_lease(self):
        leader = harness.wait_until(self.holder, 20)
        follower = next(n for n in self.procs if n != leader)
        self.procs[leader].stop()
        harness.wait_until(lambda: self.holder() == follower, LEASE_SECONDS * 4)
        harness.wait_until(lambda: self.status_of("app") == self.addresses[follower], 20)
        self.assertTrue(any("released" in l for l in self.procs[leader].stderr_lines),
                        "the stopping leader releases the Lease")


class K8sStatusClearTest(unittest.TestCase):
    OURS = [{"ip": "10.0.0.1"}]
    THEIRS = [{"ip": "192.0.2.50"}]

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="k8s-status-clear-")
        self.api = ApiServer(self.tmp).start()
        self.kubectl = Kubectl(self.api, self.tmp)
        self.kubectl.apply_docs(ingress_class(), service("app"),
                                ingress("moved", "moved.test", "app"),
                                ingress("taken", "taken.test", "app"),
                                ingress("orphan", "orphan.test", "app"),
                                ingress("foreign", "foreign.test", "app", class_name="nginx"),
                                verb="create")
        self.set_status("foreign", self.THEIRS)
        self.portico = ApiPortico(self.api.kubeconfig, [
            "--election-id", "portico-leader", "--election-lease-duration", str(LEASE_SECONDS),
            "--election-renew-interval", "1s", "--election-retry-period", "500ms",
            "--publish-status-address", "10.0.0.1"], env={"POD_NAME": "portico-a"})

    def tearDown(self):
        self.portico.stop()
        self.api.stop()

    def path(self, name):
        return f"/apis/{NET}/namespaces/default/ingresses/{name}"

    def set_status(self, name, entries):
        """Read, modify, write, and again on 409 Conflict: how real clients update status
        (client-go's RetryOnConflict), since Portico's status writer may write in between."""
        for _ in range(20):
            obj = self.api.request("GET", self.path(name))
            obj["status"] = {"loadBalancer": {"ingress": entries} if entries else {}}
            try:
                self.api.request("PUT", self.path(name) + "/status", obj)
                return
            except HttpError as e:
                if e.code != 409:
                    raise
                time.sleep(0.05)
        self.fail(f"status of {name}: 20 conflicts in a row")

    def status_of(self, name):
        ing = self.api.get(NET, "ingresses", name, namespace="default")
        return ((ing.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []

    def writes_to(self, name):
        reqs = self.api.control("requests", since=0)["requests"]
        return [r for r in reqs if r["method"] in ("PUT", "PATCH")
                and r["url"].split("?")[0].endswith(f"/ingresses/{name}/status")]

    def test_status_is_cleared_when_portico_stops_serving_the_ingress(self):
        for name in ("moved", "taken", "orphan"):
            harness.wait_until(lambda n=name: self.status_of(n) == self.OURS, 30)

        # Class changed to another controller's: our status goes.
        self.kubectl.apply_docs(ingress("moved", "moved.test", "app", class_name="nginx"))
        harness.wait_until(lambda: self.status_of("moved") == [], 20)

        # Class changed, and the other controller writes its own status at once: whatever the
        # order, its status stays (ours is cleared only while it is still ours).
        self.kubectl.apply_docs(ingress("taken", "taken.test", "app", class_name="nginx"))
        self.set_status("taken", self.THEIRS)

        # Our IngressClass deleted: every Ingress of that class loses our status.
        self.kubectl("delete", "ingressclass", "portico")
        harness.wait_until(lambda: self.status_of("orphan") == [], 20)

        time.sleep(2)  # later syncs change nothing more
        self.assertEqual(self.status_of("taken"), self.THEIRS)
        self.assertEqual(self.status_of("foreign"), self.THEIRS, "never ours: never touched")
        self.assertEqual(self.status_of("moved"), [])
        self.assertEqual(len(self.writes_to("moved")), 2, self.writes_to("moved"))  # set, cleared
        self.assertEqual(len(self.writes_to("foreign")), 1, "only the test's own write")
        self.assertTrue(any("no longer served" in l for l in self.portico.stderr_lines))


if __name__ == "__main__":
    unittest.main(verbosity=2)
