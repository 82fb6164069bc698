// Per-host annotations ingress-nginx applies to a whole server: server-alias and
// from-to-www-redirect.
#include <gtest/gtest.h>

#include <string>

#include "config/route_table.hpp"
#include "tests/config/state_fixture.hpp"

namespace portico::config {
namespace {

using testing::errors_text;
using testing::our_class;
using testing::state_from_yaml;
using testing::target;

std::string service(const std::string& name) {
  return R"(
---
apiVersion: v1
kind: Service
metadata: {name: )" + name + R"(, namespace: ns}
spec: {ports: [{name: http, port: 80}]}
)";
}

std::string ing(const std::string& name, const std::string& created, const std::string& host,
                const std::string& path, const std::string& svc, const std::string& annotations) {
  return "---\napiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata:\n  name: " + name +
         "\n  namespace: ns\n  creationTimestamp: \"" + created + "\"\n  annotations: {" +
         annotations + "}\nspec:\n  ingressClassName: portico\n  rules:\n  - host: \"" + host +
         "\"\n    http:\n      paths:\n      - {path: " + path +
         ", pathType: Prefix, backend: {service: {name: " + svc + ", port: {number: 80}}}}\n";
}

const std::string base = std::string(our_class) + service("a") + service("b");

TEST(server_alias, aliases_route_like_their_host) {
  auto r = build(state_from_yaml(
      base +
      ing("site", "2026-01-01T00:00:00Z", "site.test", "/", "a",
          R"(nginx.ingress.kubernetes.io/server-alias: "Alias.Test, *.alias.test ,")") +
      ing("api", "2026-01-02T00:00:00Z", "site.test", "/api", "b", "")));
  ASSERT_TRUE(r.errors.empty()) << errors_text(r.errors);
  EXPECT_EQ(target(*r.snap, "alias.test", "/x"), "ns/site a:80");
  EXPECT_EQ(target(*r.snap, "ALIAS.test:8080", "/api/v1"), "ns/api b:80");  // every path of the host
  EXPECT_EQ(target(*r.snap, "x.alias.test", "/api"), "ns/api b:80");
  EXPECT_EQ(target(*r.snap, "other.test", "/"), "404");
}

TEST(server_alias, a_name_that_is_a_host_of_its_own_keeps_its_routes) {
  auto r = build(state_from_yaml(
      base +
      ing("site", "2026-01-01T00:00:00Z", "site.test", "/", "a",
          R"(nginx.ingress.kubernetes.io/server-alias: "own.test, free.test")") +
      ing("own", "2026-01-02T00:00:00Z", "own.test", "/", "b", "")));
  EXPECT_EQ(target(*r.snap, "own.test", "/"), "ns/own b:80");
  EXPECT_EQ(target(*r.snap, "free.test", "/"), "ns/site a:80");
  bool reported = false;
  for (const auto& e : r.errors)
    reported = reported || (e.name == "site" && e.message.find("alias \"own.test\"") != std::string::npos);
  EXPECT_TRUE(reported) << errors_text(r.errors);
}

TEST(server_alias, the_oldest_ingress_with_aliases_sets_them) {
  auto r = build(state_from_yaml(
      base +
      ing("first", "2026-01-01T00:00:00Z", "site.test", "/", "a",
          R"(nginx.ingress.kubernetes.io/server-alias: one.test)") +
      ing("second", "2026-01-02T00:00:00Z", "site.test", "/b", "b",
          R"(nginx.ingress.kubernetes.io/server-alias: two.test)")));
  EXPECT_EQ(target(*r.snap, "one.test", "/b"), "ns/second b:80");
  EXPECT_EQ(target(*r.snap, "two.test", "/"), "404");
  bool reported = false;
  for (const auto& e : r.errors)
    reported = reported || (e.name == "second" && e.message.find("already has the aliases of Ingress ns/first") !=
                                                      std::string::npos);
  EXPECT_TRUE(reported) << errors_text(r.errors);
}

TEST(server_alias, bad_names_are_reported_and_the_rest_applies) {
  auto r = build(state_from_yaml(
      base + ing("site", "2026-01-01T00:00:00Z", "site.test", "/", "a",
                 R"(nginx.ingress.kubernetes.io/server-alias: "bad_name!, good.test")")));
  EXPECT_EQ(target(*r.snap, "good.test", "/"), "ns/site a:80");
  ASSERT_EQ(r.errors.size(), 1u) << errors_text(r.errors);
  EXPECT_EQ(r.errors[0].field, "metadata.annotations[nginx.ingress.kubernetes.io/server-alias]");
}

TEST(server_alias, aliases_get_their_hosts_certificates) {
  const std::string& cert = R"(
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: tls
  namespace: ns
  annotations: {nginx.ingress.kubernetes.io/server-alias: alias.test}
spec:
  ingressClassName: portico
  tls: [{hosts: [site.test], secretName: missing}]
  rules:
  - host: site.test
    http: {paths: [{path: /, pathType: Prefix, backend: {service: {name: a, port: {number: 80}}}}]}
)";
  auto r = build(state_from_yaml(base + cert));
  // The Secret is missing: the host maps to an empty set (default certificate); the alias is
  // listed beside it all the same.
  EXPECT_EQ(r.snap->tls().by_host.count("site.test"), 1u);
  EXPECT_EQ(r.snap->tls().by_host.count("alias.test"), 1u);
}

TEST(from_to_www, redirects_the_other_name_unless_it_is_served) {
  auto r = build(state_from_yaml(
      base +
      ing("apex", "2026-01-01T00:00:00Z", "example.test", "/", "a",
          R"(nginx.ingress.kubernetes.io/from-to-www-redirect: "true")") +
      ing("www", "2026-01-01T00:00:00Z", "www.shop.test", "/", "a",
          R"(nginx.ingress.kubernetes.io/from-to-www-redirect: "true")") +
      ing("both", "2026-01-01T00:00:00Z", "both.test", "/", "a",
          R"(nginx.ingress.kubernetes.io/from-to-www-redirect: "true")") +
      ing("both-www", "2026-01-01T00:00:00Z", "www.both.test", "/", "b", "")));
  ASSERT_TRUE(r.errors.empty()) << errors_text(r.errors);
  const std::string* to = r.snap->www_redirect("WWW.example.test:8080");
  ASSERT_NE(to, nullptr);
  EXPECT_EQ(*to, "example.test");
  to = r.snap->www_redirect("shop.test");
  ASSERT_NE(to, nullptr);
  EXPECT_EQ(*to, "www.shop.test");
  EXPECT_EQ(r.snap->www_redirect("www.both.test"), nullptr);  // an Ingress serves it
  EXPECT_EQ(target(*r.snap, "www.both.test", "/"), "ns/both-www b:80");
  EXPECT_EQ(r.snap->www_redirect("example.test"), nullptr);
  EXPECT_EQ(r.snap->www_redirect("www.other.test"), nullptr);
}

}  // namespace
}  // namespace portico::config
