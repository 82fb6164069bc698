// Canary Ingresses (ingress-nginx's mergeAlternativeBackends) and the affinity annotations:
// which route a canary joins, what is refused and why, and what the policies hold.
#include <gtest/gtest.h>

#include <string>

#include "config/annotations.hpp"
#include "config/incremental.hpp"
#include "tests/config/state_fixture.hpp"

namespace portico::config {
namespace {

using testing::errors_text;
using testing::our_class;
using testing::state_from_yaml;

// Services "main" and "canary" in namespace ns, one endpoint each.
std::string services() {
  std::string out = our_class;
  for (const char* svc : {"main", "canary", "other"}) {
    out += std::string(R"(
---
apiVersion: v1
kind: Service
metadata: {name: )") + svc + R"(, namespace: ns}
spec: {ports: [{name: http, port: 80, targetPort: 8080}]}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: )" + svc + R"(-1, namespace: ns, labels: {kubernetes.io/service-name: )" + svc + R"(}}
addressType: IPv4
endpoints: [{addresses: [10.0.0.)" + std::to_string(svc[0]) + R"(]}]
ports: [{name: http, port: 8080}]
)";
  }
  return out;
}

// An Ingress of class portico: one rule (host, path, type) to `svc`:80, with annotations
// (YAML flow-map entries) and a creation time that orders it.
std::string ing(const std::string& name, const std::string& created, const std::string& host,
                const std::string& path, const std::string& svc, const std::string& annotations,
                const std::string& type = "Prefix") {
  return "---\napiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata:\n  name: " + name +
         "\n  namespace: ns\n  creationTimestamp: \"" + created + "\"\n  annotations: {" +
         annotations + "}\nspec:\n  ingressClassName: portico\n  rules:\n  - host: " + host +
         "\n    http:\n      paths:\n      - {path: " + path + ", pathType: " + type +
         ", backend: {service: {name: " + svc + ", port: {number: 80}}}}\n";
}

const std::string main_ing =
    ing("web", "2026-01-01T00:00:00Z", "web.test", "/", "main", "");

bool has_error(const build_result& r, const std::string& name, const std::string& text) {
  for (const auto& e : r.errors)
    if (e.kind == "Ingress" && e.name == name && e.message.find(text) != std::string::npos)
      return true;
  return false;
}

TEST(canary, joins_the_route_with_the_same_host_path_and_type) {
  auto r = build(state_from_yaml(services() + main_ing +
                                 ing("web-canary", "2026-01-02T00:00:00Z", "web.test", "/", "canary",
                                     R"(nginx.ingress.kubernetes.io/canary: "true",
                                        nginx.ingress.kubernetes.io/canary-by-header: X-Canary,
                                        nginx.ingress.kubernetes.io/canary-by-cookie: cc,
                                        nginx.ingress.kubernetes.io/canary-weight: "30",
                                        nginx.ingress.kubernetes.io/canary-weight-total: "200")")));
  ASSERT_TRUE(r.errors.empty()) << errors_text(r.errors);
  ASSERT_EQ(r.snap->routes().size(), 1u);  // the canary serves no route of its own
  const route* rt = r.snap->find("web.test", "/");
  ASSERT_NE(rt, nullptr);
  EXPECT_EQ(rt->ingress_name, "web");
  EXPECT_EQ(rt->service_name, "main");
  ASSERT_NE(rt->canary, nullptr);
  EXPECT_EQ(rt->canary->ingress_name, "web-canary");
  EXPECT_EQ(rt->canary->service_name, "canary");
  EXPECT_EQ(rt->canary->upstream_name, "ns-canary-80");
  EXPECT_EQ(rt->canary->backend->endpoints.at(0).ip, "10.0.0.99");  // 'c'
  const auto& cp = rt->canary->policy->canary;
  EXPECT_TRUE(cp.enabled);
  EXPECT_EQ(cp.header, "X-Canary");
  EXPECT_EQ(cp.cookie, "cc");
  EXPECT_EQ(cp.weight, 30u);
  EXPECT_EQ(cp.weight_total, 200u);
  // The canary's cluster is part of the Snapshot (its endpoints are watched and balanced).
  EXPECT_NE(r.snap->find_cluster("ns/canary:80"), nullptr);
}

TEST(canary, without_a_main_ingress_is_reported_and_serves_nothing) {
  auto r = build(state_from_yaml(
      services() + ing("lonely", "2026-01-02T00:00:00Z", "lonely.test", "/", "canary",
                       R"(nginx.ingress.kubernetes.io/canary: "true")")));
  EXPECT_TRUE(has_error(r, "lonely", "canary: no Ingress serves host \"lonely.test\" path \"/\""))
      << errors_text(r.errors);
  EXPECT_EQ(r.snap->find("lonely.test", "/"), nullptr);
}

TEST(canary, needs_the_same_path_type) {
  auto r = build(state_from_yaml(
      services() + main_ing +
      ing("exact", "2026-01-02T00:00:00Z", "web.test", "/", "canary",
          R"(nginx.ingress.kubernetes.io/canary: "true")", "Exact")));
  EXPECT_TRUE(has_error(r, "exact", "canary: no Ingress serves")) << errors_text(r.errors);
  EXPECT_EQ(r.snap->find("web.test", "/")->canary, nullptr);
}

TEST(canary, one_canary_per_path_the_older_wins) {
  auto r = build(state_from_yaml(
      services() + main_ing +
      ing("c2", "2026-01-03T00:00:00Z", "web.test", "/", "other",
          R"(nginx.ingress.kubernetes.io/canary: "true")") +
      ing("c1", "2026-01-02T00:00:00Z", "web.test", "/", "canary",
          R"(nginx.ingress.kubernetes.io/canary: "true")")));
  EXPECT_TRUE(has_error(r, "c2", "already has the canary of Ingress ns/c1")) << errors_text(r.errors);
  EXPECT_EQ(r.snap->find("web.test", "/")->canary->ingress_name, "c1");
}

TEST(canary, the_main_backend_cannot_be_its_own_canary) {
  auto r = build(state_from_yaml(
      services() + main_ing +
      ing("same", "2026-01-02T00:00:00Z", "web.test", "/", "main",
          R"(nginx.ingress.kubernetes.io/canary: "true")")));
  EXPECT_TRUE(has_error(r, "same", "is the main backend")) << errors_text(r.errors);
  EXPECT_EQ(r.snap->find("web.test", "/")->canary, nullptr);
}

TEST(canary, canary_annotations_without_canary_true_are_an_error) {
  auto r = build(state_from_yaml(
      services() + ing("web", "2026-01-01T00:00:00Z", "web.test", "/", "main",
                       R"(nginx.ingress.kubernetes.io/canary-weight: "50")")));
  EXPECT_TRUE(has_error(r, "web", "configured but canary is not \"true\"")) << errors_text(r.errors);
  const route* rt = r.snap->find("web.test", "/");
  ASSERT_NE(rt, nullptr);  // served as a plain Ingress
  EXPECT_EQ(rt->policy->canary.weight, 0u);
}

TEST(canary, bad_values_name_the_annotation_and_the_rest_applies) {
  auto r = build(state_from_yaml(
      services() + main_ing +
      ing("web-canary", "2026-01-02T00:00:00Z", "web.test", "/", "canary",
          R"(nginx.ingress.kubernetes.io/canary: "true",
             nginx.ingress.kubernetes.io/canary-by-header-pattern: "a(b",
             nginx.ingress.kubernetes.io/canary-weight: "-3",
             nginx.ingress.kubernetes.io/canary-by-header: "X Bad",
             nginx.ingress.kubernetes.io/canary-by-cookie: cc)")));
  for (const char* key : {"canary-by-header-pattern", "canary-weight", "canary-by-header"}) {
    bool found = false;
    for (const auto& e : r.errors)
      found = found || (e.name == "web-canary" &&
                        e.field == std::string("metadata.annotations[nginx.ingress.kubernetes.io/") + key + "]");
    EXPECT_TRUE(found) << key << "\n" << errors_text(r.errors);
  }
  const route* rt = r.snap->find("web.test", "/");
  ASSERT_NE(rt->canary, nullptr);
  EXPECT_EQ(rt->canary->policy->canary.pattern, nullptr);
  EXPECT_EQ(rt->canary->policy->canary.header, "");
  EXPECT_EQ(rt->canary->policy->canary.weight, 0u);
  EXPECT_EQ(rt->canary->policy->canary.cookie, "cc");
}

TEST(canary, of_the_default_backend) {
  const std::string with_default = R"(---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: dflt, namespace: ns, creationTimestamp: "2026-01-01T00:00:00Z"}
spec:
  ingressClassName: portico
  defaultBackend: {service: {name: main, port: {number: 80}}}
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: dflt-canary
  namespace: ns
  creationTimestamp: "2026-01-02T00:00:00Z"
  annotations: {nginx.ingress.kubernetes.io/canary: "true", nginx.ingress.kubernetes.io/canary-weight: "10"}
spec:
  ingressClassName: portico
  defaultBackend: {service: {name: canary, port: {number: 80}}}
)";
  auto r = build(state_from_yaml(services() + with_default));
  ASSERT_TRUE(r.errors.empty()) << errors_text(r.errors);
  const route* rt = r.snap->find("any.test", "/x");
  ASSERT_NE(rt, nullptr);
  EXPECT_TRUE(rt->is_default_backend);
  ASSERT_NE(rt->canary, nullptr);
  EXPECT_EQ(rt->canary->policy->canary.weight, 10u);
}

TEST(canary, changes_change_the_config_hash) {
  auto a = build(state_from_yaml(services() + main_ing +
                                 ing("c", "2026-01-02T00:00:00Z", "web.test", "/", "canary",
                                     R"(nginx.ingress.kubernetes.io/canary: "true",
                                        nginx.ingress.kubernetes.io/canary-weight: "10")")));
  auto b = build(state_from_yaml(services() + main_ing +
                                 ing("c", "2026-01-02T00:00:00Z", "web.test", "/", "canary",
                                     R"(nginx.ingress.kubernetes.io/canary: "true",
                                        nginx.ingress.kubernetes.io/canary-weight: "20")")));
  auto none = build(state_from_yaml(services() + main_ing));
  EXPECT_NE(a.snap->hash(), b.snap->hash());
  EXPECT_NE(a.snap->hash(), none.snap->hash());
}

TEST(canary, endpoint_changes_of_the_canary_service_take_the_endpoint_only_build) {
  auto st = state_from_yaml(services() + main_ing +
                            ing("c", "2026-01-02T00:00:00Z", "web.test", "/", "canary",
                                R"(nginx.ingress.kubernetes.io/canary: "true")"));
  build_result first = build(st, {});
  ASSERT_TRUE(first.errors.empty()) << errors_text(first.errors);
  change_tracker t;
  endpoint_slice s = st.endpoint_slices.at("ns/canary-1");
  s.endpoints[0].addresses = {"10.0.9.9"};
  t.before_upsert(st, s);
  apply(st, s);
  auto inc = build_incremental(st, {}, first.snap, first.errors, t);
  ASSERT_TRUE(inc);
  const route* rt = inc->snap->find("web.test", "/");
  ASSERT_NE(rt->canary, nullptr);
  EXPECT_EQ(rt->canary->backend->endpoints.at(0).ip, "10.0.9.9");
  EXPECT_EQ(first.snap->find("web.test", "/")->canary->backend->endpoints.at(0).ip, "10.0.0.99");
  EXPECT_EQ(inc->snap->hash(), build(st, {}).snap->hash());
}

TEST(affinity, annotations_are_decoded_with_ingress_nginx_defaults) {
  auto plain = build(state_from_yaml(
      services() + ing("web", "2026-01-01T00:00:00Z", "web.test", "/", "main",
                       R"(nginx.ingress.kubernetes.io/affinity: cookie)")));
  ASSERT_TRUE(plain.errors.empty()) << errors_text(plain.errors);
  const auto& d = plain.snap->find("web.test", "/")->policy->affinity;
  EXPECT_TRUE(d.enabled);
  EXPECT_FALSE(d.persistent);
  EXPECT_EQ(d.cookie_name, "INGRESSCOOKIE");
  EXPECT_EQ(d.path, "");
  EXPECT_FALSE(d.secure);
  EXPECT_FALSE(d.change_on_failure);

  auto r = build(state_from_yaml(
      services() + ing("web", "2026-01-01T00:00:00Z", "web.test", "/", "main",
                       R"(nginx.ingress.kubernetes.io/affinity: cookie,
                          nginx.ingress.kubernetes.io/affinity-mode: persistent,
                          nginx.ingress.kubernetes.io/session-cookie-name: SERVERID,
                          nginx.ingress.kubernetes.io/session-cookie-path: /app,
                          nginx.ingress.kubernetes.io/session-cookie-domain: example.com,
                          nginx.ingress.kubernetes.io/session-cookie-samesite: none,
                          nginx.ingress.kubernetes.io/session-cookie-conditional-samesite-none: "true",
                          nginx.ingress.kubernetes.io/session-cookie-secure: "true",
                          nginx.ingress.kubernetes.io/session-cookie-expires: "172800",
                          nginx.ingress.kubernetes.io/session-cookie-max-age: "259200",
                          nginx.ingress.kubernetes.io/session-cookie-change-on-failure: "true")")));
  ASSERT_TRUE(r.errors.empty()) << errors_text(r.errors);
  const auto& a = r.snap->find("web.test", "/")->policy->affinity;
  EXPECT_TRUE(a.persistent);
  EXPECT_EQ(a.cookie_name, "SERVERID");
  EXPECT_EQ(a.path, "/app");
  EXPECT_EQ(a.domain, "example.com");
  EXPECT_EQ(a.samesite, "None");
  EXPECT_TRUE(a.conditional_samesite_none);
  EXPECT_TRUE(a.secure);
  EXPECT_EQ(a.expires, "172800");
  EXPECT_EQ(a.max_age, "259200");
  EXPECT_TRUE(a.change_on_failure);
}

TEST(affinity, bad_values_are_reported_and_ignored) {
  auto r = build(state_from_yaml(
      services() + ing("web", "2026-01-01T00:00:00Z", "web.test", "/", "main",
                       R"(nginx.ingress.kubernetes.io/affinity: ip,
                          nginx.ingress.kubernetes.io/affinity-mode: sometimes,
                          nginx.ingress.kubernetes.io/session-cookie-samesite: Sometimes,
                          nginx.ingress.kubernetes.io/session-cookie-expires: "1.5",
                          nginx.ingress.kubernetes.io/session-cookie-name: "a;b")")));
  for (const char* key : {"affinity", "affinity-mode", "session-cookie-samesite",
                          "session-cookie-expires", "session-cookie-name"}) {
    bool found = false;
    for (const auto& e : r.errors)
      found = found || e.field == std::string("metadata.annotations[nginx.ingress.kubernetes.io/") + key + "]";
    EXPECT_TRUE(found) << key << "\n" << errors_text(r.errors);
  }
  const auto& a = r.snap->find("web.test", "/")->policy->affinity;
  EXPECT_FALSE(a.enabled);
  EXPECT_EQ(a.samesite, "");
  EXPECT_EQ(a.expires, "");
  EXPECT_EQ(a.cookie_name, "INGRESSCOOKIE");
}

TEST(affinity, clusters_carry_ingress_nginx_upstream_names_and_backend_keys) {
  auto r = build(state_from_yaml(services() + main_ing));
  const cluster* c = r.snap->find_cluster("ns/main:80");
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->upstream_name, "ns-main-80");
  // ngx.md5(ngx.md5("ns-main-80") .. "ns-main-80"), as ingress-nginx's sticky balancer makes it.
  EXPECT_EQ(c->affinity_key, md5_hex(md5_hex("ns-main-80") + "ns-main-80"));
  EXPECT_EQ(md5_hex(""), "d41d8cd98f00b204e9800998ecf8427e");  // RFC 1321 test suite
  EXPECT_EQ(md5_hex("abc"), "900150983cd24fb0d6963f7d28e17f72");
}

}  // namespace
}  // namespace portico::config

namespace portico::config {
namespace {

TEST(balancing, upstream_hash_by_and_load_balance_are_decoded) {
  auto r = build(state_from_yaml(
      services() + ing("web", "2026-01-01T00:00:00Z", "web.test", "/", "main",
                       R"(nginx.ingress.kubernetes.io/upstream-hash-by: "${http_x_user}:$arg_id",
                          nginx.ingress.kubernetes.io/upstream-hash-by-subset: "true",
                          nginx.ingress.kubernetes.io/upstream-hash-by-subset-size: "4",
                          nginx.ingress.kubernetes.io/load-balance: ewma)")));
  ASSERT_TRUE(r.errors.empty()) << errors_text(r.errors);
  const auto& p = *r.snap->find("web.test", "/")->policy;
  using K = hash_part::kind;
  ASSERT_EQ(p.hash_by.size(), 3u);
  EXPECT_EQ(p.hash_by[0].k, K::http);
  EXPECT_EQ(p.hash_by[0].text, "x-user");
  EXPECT_EQ(p.hash_by[1].k, K::literal);
  EXPECT_EQ(p.hash_by[1].text, ":");
  EXPECT_EQ(p.hash_by[2].k, K::arg);
  EXPECT_EQ(p.hash_by_subset_size, 4u);
  EXPECT_EQ(p.load_balance, balance_mode::ewma);

  auto plain = build(state_from_yaml(
      services() + ing("web", "2026-01-01T00:00:00Z", "web.test", "/", "main",
                       R"(nginx.ingress.kubernetes.io/upstream-hash-by: $request_uri,
                          nginx.ingress.kubernetes.io/upstream-hash-by-subset-size: "4")")));
  const auto& q = *plain.snap->find("web.test", "/")->policy;
  EXPECT_EQ(q.hash_by.size(), 1u);
  EXPECT_EQ(q.hash_by_subset_size, 0u);  // size alone does not turn subsets on
  EXPECT_EQ(q.load_balance, balance_mode::round_robin);
}

TEST(balancing, unknown_variables_are_reported) {
  auto r = build(state_from_yaml(
      services() + ing("web", "2026-01-01T00:00:00Z", "web.test", "/", "main",
                       R"(nginx.ingress.kubernetes.io/upstream-hash-by: "$ssl_client_s_dn",
                          nginx.ingress.kubernetes.io/load-balance: least_conn)")));
  ASSERT_EQ(r.errors.size(), 2u) << errors_text(r.errors);
  EXPECT_NE(errors_text(r.errors).find("variable $ssl_client_s_dn is not supported"), std::string::npos);
  const auto& p = *r.snap->find("web.test", "/")->policy;
  EXPECT_TRUE(p.hash_by.empty());
  EXPECT_EQ(p.load_balance, balance_mode::round_robin);
}

TEST(balancing, configmap_load_balance_is_the_default) {
  const std::string cm = R"(
---
apiVersion: v1
kind: ConfigMap
metadata: {name: portico, namespace: ingress}
data: {load-balance: ewma}
)";
  build_options o;
  o.configmap = "ingress/portico";
  auto r = build(state_from_yaml(services() + main_ing + cm), o);
  ASSERT_TRUE(r.errors.empty()) << errors_text(r.errors);
  EXPECT_EQ(r.snap->find("web.test", "/")->policy->load_balance, balance_mode::ewma);
}

}  // namespace
}  // namespace portico::config

namespace portico::config {
namespace {

TEST(service_upstream, the_cluster_ip_is_the_one_endpoint) {
  const std::string vip = R"(
---
apiVersion: v1
kind: Service
metadata: {name: vip, namespace: ns}
spec: {clusterIP: 10.96.0.10, ports: [{name: http, port: 80, targetPort: 8080}]}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: vip-1, namespace: ns, labels: {kubernetes.io/service-name: vip}}
addressType: IPv4
endpoints: [{addresses: [10.0.0.1]}, {addresses: [10.0.0.2]}]
ports: [{name: http, port: 8080}]
)";
  auto r = build(state_from_yaml(
      services() + vip +
      ing("a", "2026-01-01T00:00:00Z", "a.test", "/", "vip",
          R"(nginx.ingress.kubernetes.io/service-upstream: "true")") +
      ing("b", "2026-01-01T00:00:00Z", "b.test", "/", "vip", "") +
      ing("c", "2026-01-01T00:00:00Z", "c.test", "/", "main",
          R"(nginx.ingress.kubernetes.io/service-upstream: "true")")));
  const cluster* a = r.snap->find("a.test", "/")->backend.get();
  ASSERT_EQ(a->endpoints.size(), 1u);
  EXPECT_EQ(a->endpoints[0].to_string(), "10.96.0.10:80");
  EXPECT_TRUE(a->service_upstream);
  EXPECT_EQ(r.snap->find("b.test", "/")->backend->endpoints.size(), 2u);  // a cluster of its own
  // "main" has no ClusterIP in the fixture: its endpoints stand in, and that is reported.
  EXPECT_EQ(r.snap->find("c.test", "/")->backend->endpoints.size(), 1u);
  EXPECT_NE(errors_text(r.errors).find("service-upstream: Service ns/main has no ClusterIP"),
            std::string::npos)
      << errors_text(r.errors);
}

}  // namespace
}  // namespace portico::config

namespace portico::config {
namespace {

TEST(custom_errors, codes_and_error_backends_are_resolved) {
  const std::string cm = R"(
---
apiVersion: v1
kind: ConfigMap
metadata: {name: portico, namespace: ingress}
data: {custom-http-errors: "404, 503"}
)";
  build_options o;
  o.configmap = "ingress/portico";
  o.defaults.default_backend_service = "ns/other";
  auto r = build(state_from_yaml(
                     services() + cm + main_ing +
                     ing("own", "2026-01-01T00:00:00Z", "own.test", "/", "main",
                         R"(nginx.ingress.kubernetes.io/custom-http-errors: "500,502",
                            nginx.ingress.kubernetes.io/default-backend: canary)") +
                     ing("bad", "2026-01-01T00:00:00Z", "bad.test", "/", "main",
                         R"(nginx.ingress.kubernetes.io/custom-http-errors: "200,abc",
                            nginx.ingress.kubernetes.io/default-backend: missing)")),
                 o);
  const route* web = r.snap->find("web.test", "/");
  EXPECT_EQ(web->policy->custom_http_errors, (std::vector<std::uint16_t>{404, 503}));
  ASSERT_NE(web->error_backend, nullptr);
  EXPECT_EQ(web->error_backend->id, "ns/other:80");
  const route* own = r.snap->find("own.test", "/");
  EXPECT_EQ(own->policy->custom_http_errors, (std::vector<std::uint16_t>{500, 502}));
  ASSERT_NE(own->error_backend, nullptr);
  EXPECT_EQ(own->error_backend->id, "ns/canary:80");
  const route* bad = r.snap->find("bad.test", "/");
  EXPECT_EQ(bad->policy->custom_http_errors, (std::vector<std::uint16_t>{404, 503}));  // ConfigMap's
  EXPECT_EQ(bad->error_backend->id, "ns/other:80");  // the missing Service: the flag's
  const std::string errs = errors_text(r.errors);
  EXPECT_NE(errs.find("custom-http-errors]: must be a comma-separated list"), std::string::npos) << errs;
  EXPECT_NE(errs.find("Service ns/missing not found"), std::string::npos) << errs;

  build_options none;
  auto plain = build(state_from_yaml(services() + main_ing));
  EXPECT_EQ(plain.snap->find("web.test", "/")->error_backend, nullptr);
}

}  // namespace
}  // namespace portico::config

namespace portico::config {
namespace {

TEST(custom_errors, disable_proxy_intercept_errors_clears_the_list) {
  const std::string cm = R"(
---
apiVersion: v1
kind: ConfigMap
metadata: {name: portico, namespace: ingress}
data: {custom-http-errors: "404"}
)";
  build_options o;
  o.configmap = "ingress/portico";
  auto r = build(state_from_yaml(services() + cm +
                                 ing("web", "2026-01-01T00:00:00Z", "web.test", "/", "main",
                                     R"(nginx.ingress.kubernetes.io/disable-proxy-intercept-errors: "true")")),
                 o);
  ASSERT_TRUE(r.errors.empty()) << errors_text(r.errors);
  EXPECT_TRUE(r.snap->find("web.test", "/")->policy->custom_http_errors.empty());
}

}  // namespace
}  // namespace portico::config

namespace portico::config {
namespace {

TEST(custom_errors, errors_name_the_annotation_as_written_under_the_alias) {
  auto r = build(state_from_yaml(
      services() +
      ing("web", "2026-01-01T00:00:00Z", "web.test", "/", "main",
          R"(portico.dev/default-backend: missing, portico.dev/server-alias: "web.test, own.test")") +
      ing("own", "2026-01-02T00:00:00Z", "own.test", "/", "main", "")));
  bool backend = false, alias = false;
  for (const auto& e : r.errors) {
    backend = backend || e.field == "metadata.annotations[portico.dev/default-backend]";
    alias = alias || e.field == "metadata.annotations[portico.dev/server-alias]";
  }
  EXPECT_TRUE(backend) << errors_text(r.errors);
  EXPECT_TRUE(alias) << errors_text(r.errors);
}

}  // namespace
}  // namespace portico::config
