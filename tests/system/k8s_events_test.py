#!/usr/bin/python3
"""Warning Events on invalid Ingresses in cluster mode, as ingress-nginx records them: a bad
annotation value gets an Event of type Warning, reason AnnotationParsingFailed, naming the
annotation and the reason, on that Ingress (read back with `kubectl get events`, the way an
operator finds it); the rest of the Ingress keeps serving; an unchanged error is recorded
once, not on every rebuild; a fixed one stops, and an invalid path gets reason Invalid."""

import json
import unittest

import harness
from k8s_common import ApiPortico, ApiServer, Kubectl, endpoint_slice, ingress, ingress_class, service

A = "nginx.ingress.kubernetes.io/"


class k8s_events(unittest.TestCase):
    def setUp(self):
        self.tmp = harness.temp_dir("k8s-events-")
        self.api = ApiServer(str(self.tmp)).start()
        self.kubectl = Kubectl(self.api, str(self.tmp))
        self.up = harness.Upstream.start("events")
        web = ingress("web", "web.test", "app")
        web["metadata"]["annotations"] = {A + "proxy-read-timeout": "soon",
                                          A + "proxy-body-size": "8"}
        self.kubectl.apply_docs(ingress_class(), service("app"),
                                endpoint_slice("app-1", "app", [self.up]), web, verb="create")
        self.portico = ApiPortico(self.api.kubeconfig, ["--update-status=false"],
                                  env={"POD_NAME": "portico-test-0"})

    def tearDown(self):
        self.portico.stop()
        self.up.stop()
        self.api.stop()

    def events(self, name):
        out = self.kubectl("get", "events", "-n", "default", "-o", "json",
                           "--field-selector", f"involvedObject.name={name}").stdout
        return json.loads(out)["items"]

    def test_bad_annotation_gets_one_warning_event_and_the_rest_still_works(self):
        harness.wait_until(lambda: len(self.events("web")) >= 1, timeout=30)
        (ev,) = self.events("web")
        self.assertEqual(ev["type"], "Warning")
        self.assertEqual(ev["reason"], "AnnotationParsingFailed")
        self.assertIn(A + "proxy-read-timeout", ev["message"])
        self.assertIn('"soon"', ev["message"])
        self.assertEqual(ev["involvedObject"]["kind"], "Ingress")
        self.assertEqual(ev["involvedObject"]["apiVersion"], "networking.k8s.io/v1")
        uid = json.loads(self.kubectl("get", "ingress", "web", "-o", "json").stdout)["metadata"]["uid"]
        self.assertEqual(ev["involvedObject"]["uid"], uid)
        self.assertEqual(ev["reportingInstance"], "portico-test-0")
        # The good annotation beside it applies: a 9-byte body is refused, the route served.
        r = harness.request(self.portico.http_port, "POST", "/", body=b"x" * 9, host="web.test",
                            timeout=10)
        self.assertEqual(r.status, 413)
        self.assertEqual(self.portico.get("web.test").status, 200)

        # Unrelated rebuilds (a new Ingress) do not record the same error again.
        self.kubectl.apply_docs(ingress("other", "other.test", "app"), verb="create")
        harness.wait_until(lambda: self.portico.get("other.test").status == 200, timeout=30)
        self.assertEqual(len(self.events("web")), 1)

        # An invalid path on another Ingress: reason Invalid, naming the field.
        bad = ingress("badpath", "bad.test", "app")
        bad["spec"]["rules"][0]["http"]["paths"][0]["path"] = "nope"
        bad["spec"]["rules"][0]["http"]["paths"][0]["pathType"] = "ImplementationSpecific"
        self.kubectl.apply_docs(bad, verb="create")
        harness.wait_until(lambda: len(self.events("badpath")) >= 1, timeout=30)
        (ev,) = self.events("badpath")
        self.assertEqual((ev["type"], ev["reason"]), ("Warning", "Invalid"))
        self.assertIn("must begin with '/'", ev["message"])

        # Fixed, then broken again: recorded again (a fixed error is forgotten).
        hash_before = self.config_hash()
        self.kubectl("annotate", "ingress", "web", "--overwrite", A + "proxy-read-timeout=30")
        harness.wait_until(lambda: self.config_hash() != hash_before, timeout=30)
        self.assertEqual(len(self.events("web")), 1)
        self.kubectl("annotate", "ingress", "web", "--overwrite", A + "proxy-read-timeout=later")
        harness.wait_until(lambda: len(self.events("web")) >= 2, timeout=30)
        messages = sorted(e["message"] for e in self.events("web"))
        self.assertEqual(len(messages), 2)
        self.assertTrue(any('"later"' in m for m in messages), messages)

    def config_hash(self):
        body = harness.request(self.portico.admin_port, "GET", "/metrics", timeout=10).body.decode()
        return [l for l in body.splitlines()
                if l.startswith("nginx_ingress_controller_config_hash")]

if __name__ == "__main__":
    unittest.main(verbosity=2)
