// build(): route ordering and indices, merging and conflicts across Ingresses, invalid
// Ingresses skipped with named errors, default backends, the config hash.
#include <gtest/gtest.h>

#include "state_fixture.hpp"

namespace portico::config {
namespace {

using testing::ingress_yaml;
using testing::our_class;
using testing::state_from_yaml;
using testing::target;

constexpr const char* services = R"(
---
apiVersion: v1
kind: Service
metadata: {name: a, namespace: ns}
spec: {ports: [{port: 80}]}
---
apiVersion: v1
kind: Service
metadata: {name: b, namespace: ns}
spec: {ports: [{port: 80}]}
---
apiVersion: v1
kind: Service
metadata: {name: c, namespace: ns}
spec: {ports: [{port: 80}]}
)";

std::string with_services(const std::string& s) { return std::string(our_class) + services + s; }

TEST(build, routes_sorted_by_host_then_path_and_index_is_position) {
  auto st = state_from_yaml(with_services(
      ingress_yaml("ns", "i1", "2024-01-01T00:00:00Z", "b.com", "/z", "Prefix", "a", 80) +
      ingress_yaml("ns", "i2", "2024-01-01T00:00:00Z", "a.com", "/y", "Prefix", "a", 80) +
      ingress_yaml("ns", "i3", "2024-01-01T00:00:00Z", "a.com", "/x", "Exact", "a", 80)));
  auto r = build(st);
  ASSERT_TRUE(r.errors.empty()) << testing::errors_text(r.errors);
  const auto& routes = r.snap->routes();
  ASSERT_EQ(routes.size(), 3u);
  EXPECT_EQ(routes[0]->host + routes[0]->path, "a.com/x");
  EXPECT_EQ(routes[1]->host + routes[1]->path, "a.com/y");
  EXPECT_EQ(routes[2]->host + routes[2]->path, "b.com/z");
  for (std::size_t i = 0; i < routes.size(); ++i) EXPECT_EQ(routes[i]->index, i);
  EXPECT_EQ(routes[0]->kind, match_kind::exact);
  EXPECT_EQ(routes[0]->path_type, "Exact");
  EXPECT_EQ(r.snap->find("a.com", "/x")->index, 0u);
}

TEST(build, rules_for_one_host_merge_across_ingresses) {
  auto st = state_from_yaml(with_services(
      ingress_yaml("ns", "i1", "2024-01-01T00:00:00Z", "shop.com", "/api", "Prefix", "a", 80) +
      ingress_yaml("ns", "i2", "2024-01-02T00:00:00Z", "shop.com", "/", "Prefix", "b", 80)));
  auto r = build(st);
  ASSERT_TRUE(r.errors.empty()) << testing::errors_text(r.errors);
  EXPECT_EQ(target(*r.snap, "shop.com", "/api/v1"), "ns/i1 a:80");
  EXPECT_EQ(target(*r.snap, "shop.com", "/home"), "ns/i2 b:80");
}

TEST(build, conflict_oldest_creation_timestamp_wins_and_loser_gets_error) {
  auto st = state_from_yaml(with_services(
      ingress_yaml("ns", "young", "2024-05-01T00:00:00Z", "shop.com", "/api", "Prefix", "b", 80) +
      ingress_yaml("ns", "old", "2023-01-01T00:00:00Z", "shop.com", "/api", "Prefix", "a", 80) +
      ingress_yaml("ns", "young2", "2024-06-01T00:00:00Z", "other.com", "/", "Prefix", "c", 80)));
  auto r = build(st);
  EXPECT_EQ(target(*r.snap, "shop.com", "/api"), "ns/old a:80");
  ASSERT_EQ(r.errors.size(), 1u) << testing::errors_text(r.errors);
  EXPECT_EQ(r.errors[0].kind, "Ingress");
  EXPECT_EQ(r.errors[0].namespace_name, "ns");
  EXPECT_EQ(r.errors[0].name, "young");
  EXPECT_EQ(r.errors[0].field, "spec.rules[0].http.paths[0].path");
  EXPECT_NE(r.errors[0].message.find("ns/old"), std::string::npos);
  EXPECT_EQ(target(*r.snap, "other.com", "/"), "ns/young2 c:80");
}

TEST(build, conflict_same_timestamp_broken_by_namespace_then_name) {
  auto st = state_from_yaml(with_services(
      ingress_yaml("ns", "zeta", "2024-01-01T00:00:00Z", "shop.com", "/", "Prefix", "b", 80) +
      ingress_yaml("ns", "alpha", "2024-01-01T00:00:00Z", "shop.com", "/", "Prefix", "a", 80)));
  auto r = build(st);
  EXPECT_EQ(target(*r.snap, "shop.com", "/"), "ns/alpha a:80");
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].name, "zeta");
}

// Kubernetes Ingress API (networking/v1 "Prefix"): a trailing slash is ignored for matching
// and the longest matching path wins. "/foo" and "/foo/" are no conflict; "/foo/" serves
// both requests, whichever Ingress is older.
TEST(build, prefix_with_trailing_slash_wins_over_the_same_prefix_without_it) {
  for (const char* young_path : {"/foo/", "/foo"}) {
    const std::string old_path = young_path == std::string("/foo/") ? "/foo" : "/foo/";
    auto st = state_from_yaml(with_services(
        ingress_yaml("ns", "old", "2023-01-01T00:00:00Z", "shop.com", old_path, "Prefix", "a", 80) +
        ingress_yaml("ns", "young", "2024-01-01T00:00:00Z", "shop.com", young_path, "Prefix", "b",
                     80)));
    auto r = build(st);
    EXPECT_TRUE(r.errors.empty()) << testing::errors_text(r.errors);
    const std::string want = old_path == "/foo/" ? "ns/old a:80" : "ns/young b:80";
    EXPECT_EQ(target(*r.snap, "shop.com", "/foo"), want) << young_path;
    EXPECT_EQ(target(*r.snap, "shop.com", "/foo/"), want) << young_path;
    EXPECT_EQ(target(*r.snap, "shop.com", "/foo/x"), want) << young_path;
  }
}

TEST(build, exact_and_prefix_of_same_path_do_not_conflict) {
  auto st = state_from_yaml(with_services(
      ingress_yaml("ns", "i1", "2024-01-01T00:00:00Z", "shop.com", "/foo", "Prefix", "a", 80) +
      ingress_yaml("ns", "i2", "2024-01-02T00:00:00Z", "shop.com", "/foo", "Exact", "b", 80)));
  auto r = build(st);
  EXPECT_TRUE(r.errors.empty()) << testing::errors_text(r.errors);
  EXPECT_EQ(target(*r.snap, "shop.com", "/foo"), "ns/i2 b:80");
  EXPECT_EQ(target(*r.snap, "shop.com", "/foo/x"), "ns/i1 a:80");
}

TEST(build, host_conflict_is_case_insensitive) {
  auto st = state_from_yaml(with_services(
      ingress_yaml("ns", "i1", "2024-01-01T00:00:00Z", "shop.com", "/", "Prefix", "a", 80) +
      ingress_yaml("ns", "i2", "2024-01-02T00:00:00Z", "SHOP.com", "/", "Prefix", "b", 80)));
  auto r = build(st);
  EXPECT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(target(*r.snap, "Shop.Com", "/"), "ns/i1 a:80");
}

struct invalid_case {
  const char* name;
  std::string yaml;
  const char* field;
};

TEST(build, invalid_ingress_skipped_with_named_error_others_served) {
  auto good = ingress_yaml("ns", "good", "2024-01-01T00:00:00Z", "good.com", "/", "Prefix", "a", 80);
  std::vector<invalid_case> cases = {
      {"bad-host", ingress_yaml("ns", "bad", "2024-01-01T00:00:00Z", "bad_host!.com", "/", "Prefix", "a", 80),
       "spec.rules[0].host"},
      {"wildcard-middle", ingress_yaml("ns", "bad", "2024-01-01T00:00:00Z", "a.*.com", "/", "Prefix", "a", 80),
       "spec.rules[0].host"},
      {"ip-host", ingress_yaml("ns", "bad", "2024-01-01T00:00:00Z", "10.0.0.1", "/", "Prefix", "a", 80),
       "spec.rules[0].host"},
      {"relative-path", ingress_yaml("ns", "bad", "2024-01-01T00:00:00Z", "x.com", "foo", "Prefix", "a", 80),
       "spec.rules[0].http.paths[0].path"},
      {"relative-exact", ingress_yaml("ns", "bad", "2024-01-01T00:00:00Z", "x.com", "foo", "Exact", "a", 80),
       "spec.rules[0].http.paths[0].path"},
      {"port-range", ingress_yaml("ns", "bad", "2024-01-01T00:00:00Z", "x.com", "/", "Prefix", "a", 70000),
       "spec.rules[0].http.paths[0].backend.service.port.number"},
      {"resource", R"(---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: bad, namespace: ns}
spec:
  ingressClassName: portico
  rules:
  - host: x.com
    http:
      paths:
      - {path: /, pathType: Prefix, backend: {resource: {kind: Bucket, name: b}}}
)", "spec.rules[0].http.paths[0].backend"},
  };
  for (const auto& c : cases) {
    auto st = state_from_yaml(with_services(good + c.yaml));
    auto r = build(st);
    ASSERT_EQ(r.errors.size(), 1u) << c.name << "\n" << testing::errors_text(r.errors);
    EXPECT_EQ(r.errors[0].kind, "Ingress") << c.name;
    EXPECT_EQ(r.errors[0].namespace_name + "/" + r.errors[0].name, "ns/bad") << c.name;
    EXPECT_EQ(r.errors[0].field, c.field) << c.name;
    EXPECT_EQ(r.errors[0].to_string().rfind("Ingress ns/bad: ", 0), 0u) << c.name;
    EXPECT_EQ(target(*r.snap, "good.com", "/"), "ns/good a:80") << c.name;
    EXPECT_EQ(r.snap->routes().size(), 1u) << c.name;  // the whole bad Ingress is skipped
  }
}

TEST(build, duplicate_path_within_one_ingress_is_error_first_kept) {
  auto st = state_from_yaml(with_services(R"(
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: dup, namespace: ns}
spec:
  ingressClassName: portico
  rules:
  - host: x.com
    http:
      paths:
      - {path: /a, pathType: Prefix, backend: {service: {name: a, port: {number: 80}}}}
  - host: x.com
    http:
      paths:
      - {path: /a, pathType: Prefix, backend: {service: {name: b, port: {number: 80}}}}
      - {path: /b, pathType: Prefix, backend: {service: {name: b, port: {number: 80}}}}
)"));
  auto r = build(st);
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].field, "spec.rules[1].http.paths[0].path");
  EXPECT_NE(r.errors[0].message.find("twice"), std::string::npos);
  EXPECT_EQ(target(*r.snap, "x.com", "/a"), "ns/dup a:80");
  EXPECT_EQ(target(*r.snap, "x.com", "/b"), "ns/dup b:80");
}

TEST(build, wildcard_and_catch_all_rules_end_to_end) {
  auto st = state_from_yaml(with_services(
      ingress_yaml("ns", "w", "2024-01-01T00:00:00Z", "*.shop.com", "/", "Prefix", "a", 80) +
      ingress_yaml("ns", "any", "2024-01-01T00:00:00Z", "", "/", "Prefix", "b", 80)));
  auto r = build(st);
  ASSERT_TRUE(r.errors.empty()) << testing::errors_text(r.errors);
  EXPECT_EQ(target(*r.snap, "eu.SHOP.com:443", "/"), "ns/w a:80");
  EXPECT_EQ(target(*r.snap, "shop.com", "/"), "ns/any b:80");
  EXPECT_EQ(target(*r.snap, "a.eu.shop.com", "/"), "ns/any b:80");
}

TEST(build, implementation_specific_is_matched_as_prefix) {
  auto st = state_from_yaml(with_services(
      ingress_yaml("ns", "i", "2024-01-01T00:00:00Z", "x.com", "/app", "ImplementationSpecific", "a", 80)));
  auto r = build(st);
  ASSERT_EQ(r.snap->routes().size(), 1u);
  EXPECT_EQ(r.snap->routes()[0]->kind, match_kind::prefix);
  EXPECT_EQ(r.snap->routes()[0]->path_type, "ImplementationSpecific (as Prefix)");
  EXPECT_EQ(target(*r.snap, "x.com", "/app/x"), "ns/i a:80");
  EXPECT_EQ(target(*r.snap, "x.com", "/apple"), "404");
}

TEST(build, implementation_specific_without_path_means_root) {
  auto st = state_from_yaml(with_services(R"(
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: i, namespace: ns}
spec:
  ingressClassName: portico
  rules:
  - host: x.com
    http:
      paths:
      - {pathType: ImplementationSpecific, backend: {service: {name: a, port: {number: 80}}}}
)"));
  auto r = build(st);
  ASSERT_TRUE(r.errors.empty()) << testing::errors_text(r.errors);
  ASSERT_EQ(r.snap->routes().size(), 1u);
  EXPECT_EQ(r.snap->routes()[0]->path, "/");
  EXPECT_EQ(target(*r.snap, "x.com", "/any/thing"), "ns/i a:80");
}

std::string default_backend_ingress(const std::string& name, const std::string& created,
                                    const std::string& svc) {
  return "---\napiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: {name: " + name +
         ", namespace: ns, creationTimestamp: \"" + created + "\"}\nspec:\n"
         "  ingressClassName: portico\n  defaultBackend: {service: {name: " + svc +
         ", port: {number: 80}}}\n";
}

TEST(build, default_backend_of_oldest_ingress_answers_misses) {
  auto st = state_from_yaml(with_services(
      ingress_yaml("ns", "i", "2024-01-01T00:00:00Z", "x.com", "/app", "Prefix", "a", 80) +
      default_backend_ingress("young-def", "2024-03-01T00:00:00Z", "c") +
      default_backend_ingress("old-def", "2024-02-01T00:00:00Z", "b")));
  auto r = build(st);
  EXPECT_EQ(target(*r.snap, "x.com", "/other"), "ns/old-def b:80");  // host known, path not
  EXPECT_EQ(target(*r.snap, "unknown.com", "/"), "ns/old-def b:80");
  EXPECT_EQ(target(*r.snap, "x.com", "/app"), "ns/i a:80");
  const route* d = r.snap->find("unknown.com", "/");
  ASSERT_NE(d, nullptr);
  EXPECT_TRUE(d->is_default_backend);
  EXPECT_EQ(d->index, r.snap->routes().size() - 1);
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].name, "young-def");
  EXPECT_EQ(r.errors[0].field, "spec.defaultBackend");
}

TEST(build, without_default_backend_misses_are_404) {
  auto st = state_from_yaml(with_services(
      ingress_yaml("ns", "i", "2024-01-01T00:00:00Z", "x.com", "/app", "Prefix", "a", 80)));
  auto r = build(st);
  EXPECT_EQ(r.snap->find("x.com", "/other"), nullptr);
  EXPECT_EQ(r.snap->find("y.com", "/app"), nullptr);
}

TEST(build, empty_state_gives_empty_snapshot) {
  auto r = build(cluster_state{});
  ASSERT_NE(r.snap, nullptr);
  EXPECT_TRUE(r.snap->routes().empty());
  EXPECT_EQ(r.snap->find("a", "/"), nullptr);
}

TEST(build, hash_is_stable_and_tracks_routing_content) {
  std::string base = with_services(
      ingress_yaml("ns", "i", "2024-01-01T00:00:00Z", "x.com", "/app", "Prefix", "a", 80));
  auto h1 = build(state_from_yaml(base)).snap->hash();
  auto h2 = build(state_from_yaml(base)).snap->hash();
  EXPECT_EQ(h1, h2);
  EXPECT_NE(h1, 0u);
  auto unrelated = build(state_from_yaml(base + "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: z}\n"));
  EXPECT_EQ(unrelated.snap->hash(), h1);
  auto changed = build(state_from_yaml(with_services(
      ingress_yaml("ns", "i", "2024-01-01T00:00:00Z", "x.com", "/app2", "Prefix", "a", 80))));
  EXPECT_NE(changed.snap->hash(), h1);
  auto endpoints = build(state_from_yaml(base + R"(
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: a-1, namespace: ns, labels: {kubernetes.io/service-name: a}}
addressType: IPv4
endpoints: [{addresses: [10.0.0.1]}]
ports: [{port: 8080}]
)"));
  EXPECT_NE(endpoints.snap->hash(), h1);
}

}  // namespace
}  // namespace portico::config
