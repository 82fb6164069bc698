// Backends: Service port by number or name, EndpointSlices (conditions honoured) or legacy
// Endpoints, 503-routes for missing Services or no ready endpoints, cluster identity and
// sharing with the previous Snapshot.
#include <gtest/gtest.h>

#include "state_fixture.hpp"

namespace portico::config {
namespace {

using testing::our_class;
using testing::state_from_yaml;

constexpr const char* web_service = R"(
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: ns}
spec:
  ports:
  - {name: http, port: 80, targetPort: 8080}
  - {name: metrics, port: 9090, targetPort: 9100}
)";

std::string ingress_to(const std::string& svc, const std::string& port_yaml,
                       const std::string& host = "x.com") {
  return "---\napiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: {name: i-" + host +
         ", namespace: ns}\nspec:\n  ingressClassName: portico\n  rules:\n  - host: " + host +
         "\n    http:\n      paths:\n      - path: /\n        pathType: Prefix\n"
         "        backend: {service: {name: " + svc + ", port: " + port_yaml + "}}\n";
}

std::string slice(const std::string& name, const std::string& svc, const std::string& endpoints,
                  const std::string& ns = "ns", const std::string& type = "IPv4") {
  return "---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {name: " + name +
         ", namespace: " + ns + ", labels: {kubernetes.io/service-name: " + svc + "}}\n" +
         "addressType: " + type + "\nports: [{name: http, port: 8080}, {name: metrics, port: 9100}]\n" +
         "endpoints:\n" + endpoints;
}

std::vector<std::string> endpoints_of(const snapshot& s, std::string_view host = "x.com") {
  std::vector<std::string> out;
  const route* r = s.find(host, "/");
  if (!r) return {"no route"};
  for (const auto& e : r->backend->endpoints) out.push_back(e.to_string() + (e.ready ? "" : " T"));
  return out;
}

using list = std::vector<std::string>;

TEST(backends, port_by_number_resolves_slice_port_by_service_port_name) {
  auto st = state_from_yaml(std::string(our_class) + web_service + ingress_to("web", "{number: 80}") +
                            slice("web-1", "web", "- addresses: [10.0.0.1]\n"));
  auto r = build(st);
  ASSERT_TRUE(r.errors.empty()) << testing::errors_text(r.errors);
  EXPECT_EQ(endpoints_of(*r.snap), (list{"10.0.0.1:8080"}));
  const route* rt = r.snap->find("x.com", "/");
  EXPECT_EQ(rt->backend->id, "ns/web:80");
  EXPECT_EQ(rt->service_port, "80");
}

TEST(backends, port_by_name) {
  auto st = state_from_yaml(std::string(our_class) + web_service + ingress_to("web", "{name: metrics}") +
                            slice("web-1", "web", "- addresses: [10.0.0.1]\n"));
  auto r = build(st);
  ASSERT_TRUE(r.errors.empty()) << testing::errors_text(r.errors);
  EXPECT_EQ(endpoints_of(*r.snap), (list{"10.0.0.1:9100"}));
  EXPECT_EQ(r.snap->find("x.com", "/")->backend->id, "ns/web:metrics");
}

TEST(backends, ready_endpoints_first_nil_ready_counts_as_ready) {
  auto st = state_from_yaml(std::string(our_class) + web_service + ingress_to("web", "{number: 80}") +
                            slice("web-1", "web",
                                  "- addresses: [10.0.0.3]\n"
                                  "- addresses: [10.0.0.1]\n  conditions: {ready: true}\n"
                                  "- addresses: [10.0.0.2]\n  conditions: {ready: false, serving: true, terminating: true}\n"
                                  "- addresses: [10.0.0.4]\n  conditions: {ready: false}\n"));
  auto r = build(st);
  EXPECT_EQ(endpoints_of(*r.snap), (list{"10.0.0.1:8080", "10.0.0.3:8080"}));
}

TEST(backends, serving_terminating_used_only_when_none_ready) {
  auto st = state_from_yaml(std::string(our_class) + web_service + ingress_to("web", "{number: 80}") +
                            slice("web-1", "web",
                                  "- addresses: [10.0.0.2]\n  conditions: {ready: false, serving: true, terminating: true}\n"
                                  "- addresses: [10.0.0.5]\n  conditions: {ready: false, serving: false, terminating: true}\n"
                                  "- addresses: [10.0.0.4]\n  conditions: {ready: false}\n"));
  auto r = build(st);
  EXPECT_EQ(endpoints_of(*r.snap), (list{"10.0.0.2:8080 T"}));
}

TEST(backends, slices_merged_deduplicated_and_other_namespace_ignored) {
  auto st = state_from_yaml(std::string(our_class) + web_service + ingress_to("web", "{number: 80}") +
                            slice("web-1", "web", "- addresses: [10.0.0.2]\n- addresses: [10.0.0.1]\n") +
                            slice("web-2", "web", "- addresses: [10.0.0.1]\n- addresses: [10.0.0.9]\n") +
                            slice("web-x", "web", "- addresses: [10.9.9.9]\n", "other"));
  auto r = build(st);
  EXPECT_EQ(endpoints_of(*r.snap), (list{"10.0.0.1:8080", "10.0.0.2:8080", "10.0.0.9:8080"}));
}

TEST(backends, ipv6_endpoints) {
  auto st = state_from_yaml(std::string(our_class) + web_service + ingress_to("web", "{number: 80}") +
                            slice("web-1", "web", "- addresses: [\"fd00::1\"]\n", "ns", "IPv6"));
  auto r = build(st);
  EXPECT_EQ(endpoints_of(*r.snap), (list{"[fd00::1]:8080"}));
  EXPECT_EQ(r.snap->find("x.com", "/")->backend->endpoints[0].ip, "fd00::1");
}

constexpr const char* legacy = R"(
---
apiVersion: v1
kind: Endpoints
metadata: {name: web, namespace: ns}
subsets:
- addresses: [{ip: 10.1.0.1}, {ip: 10.1.0.2}]
  notReadyAddresses: [{ip: 10.1.0.3}]
  ports: [{name: http, port: 8080}, {name: metrics, port: 9100}]
)";

TEST(backends, legacy_endpoints_used_when_service_has_no_slices) {
  auto st = state_from_yaml(std::string(our_class) + web_service + ingress_to("web", "{number: 80}") + legacy);
  auto r = build(st);
  EXPECT_EQ(endpoints_of(*r.snap), (list{"10.1.0.1:8080", "10.1.0.2:8080"}));
}

TEST(backends, slices_take_precedence_over_legacy_endpoints) {
  auto st = state_from_yaml(std::string(our_class) + web_service + ingress_to("web", "{number: 80}") +
                            legacy + slice("web-1", "web", "- addresses: [10.0.0.1]\n"));
  auto r = build(st);
  EXPECT_EQ(endpoints_of(*r.snap), (list{"10.0.0.1:8080"}));
}

TEST(backends, missing_service_gives_route_with_no_endpoints_and_error) {
  auto st = state_from_yaml(std::string(our_class) + ingress_to("nope", "{number: 80}"));
  auto r = build(st);
  const route* rt = r.snap->find("x.com", "/");
  ASSERT_NE(rt, nullptr);  // not a 404: the proxy answers 503
  ASSERT_NE(rt->backend, nullptr);
  EXPECT_TRUE(rt->backend->endpoints.empty());
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].name, "i-x.com");
  EXPECT_EQ(r.errors[0].field, "spec.rules[0].http.paths[0].backend.service.name");
  EXPECT_NE(r.errors[0].message.find("ns/nope"), std::string::npos);
}

TEST(backends, no_ready_endpoints_gives_route_with_no_endpoints_without_error) {
  auto st = state_from_yaml(std::string(our_class) + web_service + ingress_to("web", "{number: 80}") +
                            slice("web-1", "web", "- addresses: [10.0.0.4]\n  conditions: {ready: false}\n"));
  auto r = build(st);
  EXPECT_TRUE(r.errors.empty());
  ASSERT_NE(r.snap->find("x.com", "/"), nullptr);
  EXPECT_TRUE(r.snap->find("x.com", "/")->backend->endpoints.empty());
}

TEST(backends, unknown_service_port_is_error) {
  auto st = state_from_yaml(std::string(our_class) + web_service + ingress_to("web", "{number: 81}"));
  auto r = build(st);
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].field, "spec.rules[0].http.paths[0].backend.service.port");
  EXPECT_NE(r.snap->find("x.com", "/"), nullptr);
}

TEST(backends, external_name_service_is_unsupported_error) {
  auto st = state_from_yaml(std::string(our_class) + ingress_to("ext", "{number: 80}") + R"(
---
apiVersion: v1
kind: Service
metadata: {name: ext, namespace: ns}
spec: {type: ExternalName, externalName: example.org, ports: [{port: 80}]}
)");
  auto r = build(st);
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_NE(r.errors[0].message.find("ExternalName"), std::string::npos);
  EXPECT_TRUE(r.snap->find("x.com", "/")->backend->endpoints.empty());
}

TEST(backends, routes_to_same_backend_share_one_cluster) {
  auto st = state_from_yaml(std::string(our_class) + web_service + ingress_to("web", "{number: 80}", "a.com") +
                            ingress_to("web", "{number: 80}", "b.com") +
                            slice("web-1", "web", "- addresses: [10.0.0.1]\n"));
  auto r = build(st);
  EXPECT_EQ(r.snap->clusters().size(), 1u);
  EXPECT_EQ(r.snap->find("a.com", "/")->backend, r.snap->find("b.com", "/")->backend);
  EXPECT_EQ(r.snap->find_cluster("ns/web:80"), r.snap->find("a.com", "/")->backend.get());
  EXPECT_EQ(r.snap->find_cluster("ns/web:81"), nullptr);
}

TEST(backends, unchanged_clusters_shared_with_previous_snapshot) {
  std::string base = std::string(our_class) + web_service + R"(
---
apiVersion: v1
kind: Service
metadata: {name: api, namespace: ns}
spec: {ports: [{name: http, port: 80}]}
)" + ingress_to("web", "{number: 80}", "a.com") + ingress_to("api", "{number: 80}", "b.com") +
                     slice("api-1", "api", "- addresses: [10.0.1.1]\n");
  auto first = build(state_from_yaml(base + slice("web-1", "web", "- addresses: [10.0.0.1]\n")));
  build_options opts;
  opts.previous = first.snap;
  auto same = build(state_from_yaml(base + slice("web-1", "web", "- addresses: [10.0.0.1]\n")), opts);
  EXPECT_EQ(same.snap->find("a.com", "/")->backend, first.snap->find("a.com", "/")->backend);
  EXPECT_EQ(same.snap->hash(), first.snap->hash());

  auto moved = build(state_from_yaml(base + slice("web-1", "web", "- addresses: [10.0.0.2]\n")), opts);
  auto old_web = first.snap->find("a.com", "/")->backend;
  auto new_web = moved.snap->find("a.com", "/")->backend;
  EXPECT_NE(new_web, old_web);
  EXPECT_EQ(new_web->id, old_web->id);
  EXPECT_NE(new_web->version, old_web->version);
  // The api cluster did not change: the very same object.
  EXPECT_EQ(moved.snap->find("b.com", "/")->backend, first.snap->find("b.com", "/")->backend);
  EXPECT_NE(moved.snap->hash(), first.snap->hash());
}

TEST(backends, endpoint_to_string_brackets_ipv6) {
  endpoint v4, v6;
  v4.ip = "10.0.0.1";
  v4.port = 80;
  v6.ip = "fd00::1";
  v6.port = 8080;
  EXPECT_EQ(v4.to_string(), "10.0.0.1:80");
  EXPECT_EQ(v6.to_string(), "[fd00::1]:8080");
}

}  // namespace
}  // namespace portico::config
