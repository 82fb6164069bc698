// The annotation mechanism: the registry, prefixes, decoding into route_policy, errors that
// name the Ingress and the key, ConfigMap defaults under annotations, and what refuses or
// denies a route.
#include <gtest/gtest.h>

#include <set>
#include <string>

#include "config/annotations.hpp"
#include "tests/config/state_fixture.hpp"

namespace portico::config {
namespace {

using testing::errors_text;
using testing::our_class;
using testing::state_from_yaml;

// One Ingress "ns/web" (host web.test, path /, service app:80) with `annotations` (YAML map
// lines, two-space indented), its Service, and optional extra documents.
// The controller's ConfigMap (ingress/portico) with `data` lines (two-space indented).
std::string portico_configmap(const std::string& data) {
  return "\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: portico, namespace: ingress}\ndata:" + data;
}

std::string web(const std::string& annotations, const std::string& extra = "") {
  return std::string(our_class) + R"(
---
apiVersion: v1
kind: Service
metadata: {name: app, namespace: ns}
spec: {ports: [{name: http, port: 80}]}
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: web
  namespace: ns
  annotations:
)" + annotations + R"(
spec:
  ingressClassName: portico
  rules:
  - host: web.test
    http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: app, port: {number: 80}}}}
)" + extra;
}

const route_policy& policy_of(const build_result& r) {
  const route* rt = r.snap->find("web.test", "/");
  EXPECT_NE(rt, nullptr);
  return *rt->policy;
}

bool has_error(const build_result& r, const std::string& field, const std::string& text) {
  for (const auto& e : r.errors)
    if (e.kind == "Ingress" && e.name == "web" && e.field == field &&
        e.message.find(text) != std::string::npos)
      return true;
  return false;
}

TEST(annotation_registry, is_sorted_unique_and_covers_the_documented_keys) {
  const auto& r = annotation_registry();
  std::set<std::string_view> seen;
  for (std::size_t i = 0; i < r.size(); ++i) {
    EXPECT_TRUE(seen.insert(r[i].key).second) << r[i].key;
    if (i > 0) {
      EXPECT_LT(r[i - 1].key, r[i].key);
    }
    EXPECT_FALSE(r[i].note.empty()) << r[i].key;
  }
  // A sample of ingress-nginx's documented keys (annotations.md), every family.
  for (const char* k : {"rewrite-target", "use-regex", "canary-weight", "affinity",
                        "session-cookie-name", "upstream-hash-by", "custom-http-errors",
                        "auth-url", "auth-tls-secret", "whitelist-source-range", "limit-rps",
                        "enable-cors", "configuration-snippet", "server-snippet",
                        "proxy-body-size", "backend-protocol", "ssl-passthrough", "mirror-target"})
    EXPECT_NE(find_annotation(k), nullptr) << k;
  EXPECT_GE(r.size(), 130u);
}

TEST(annotations, defaults_come_from_ingress_nginx) {
  auto r = build(state_from_yaml(web("    {}")));
  ASSERT_TRUE(r.errors.empty()) << errors_text(r.errors);
  const auto& p = policy_of(r);
  EXPECT_EQ(p.body_size, 1024u * 1024u);
  EXPECT_EQ(p.connect_timeout, std::chrono::seconds(5));
  EXPECT_EQ(p.read_timeout, std::chrono::seconds(60));
  EXPECT_EQ(p.send_timeout, std::chrono::seconds(60));
  EXPECT_EQ(p.next_upstream, next_upstream::error | next_upstream::timeout);
  EXPECT_EQ(p.next_upstream_tries, 3u);
  EXPECT_TRUE(p.request_buffering);
  EXPECT_TRUE(p.access_log);
  EXPECT_TRUE(p.denied.empty());
}

TEST(annotations, values_are_decoded) {
  auto r = build(state_from_yaml(web(R"(    nginx.ingress.kubernetes.io/proxy-body-size: 8m
    nginx.ingress.kubernetes.io/proxy-connect-timeout: "10"
    nginx.ingress.kubernetes.io/proxy-read-timeout: "120"
    nginx.ingress.kubernetes.io/proxy-send-timeout: 30s
    nginx.ingress.kubernetes.io/proxy-next-upstream: "error timeout http_502 http_503"
    nginx.ingress.kubernetes.io/proxy-next-upstream-tries: "5"
    nginx.ingress.kubernetes.io/proxy-next-upstream-timeout: "7"
    nginx.ingress.kubernetes.io/proxy-request-buffering: "off"
    nginx.ingress.kubernetes.io/proxy-http-version: "1.0"
    nginx.ingress.kubernetes.io/enable-access-log: "false"
    nginx.ingress.kubernetes.io/permanent-redirect: https://new.example/x
    nginx.ingress.kubernetes.io/permanent-redirect-code: "308"
    nginx.ingress.kubernetes.io/app-root: /app
    nginx.ingress.kubernetes.io/upstream-vhost: internal.svc:8080
    nginx.ingress.kubernetes.io/x-forwarded-prefix: /web
    nginx.ingress.kubernetes.io/connection-proxy-header: keep-alive
    nginx.ingress.kubernetes.io/preserve-trailing-slash: "true")")));
  ASSERT_TRUE(r.errors.empty()) << errors_text(r.errors);
  const auto& p = policy_of(r);
  EXPECT_EQ(p.body_size, 8u << 20);
  EXPECT_EQ(p.connect_timeout, std::chrono::seconds(10));
  EXPECT_EQ(p.read_timeout, std::chrono::seconds(120));
  EXPECT_EQ(p.send_timeout, std::chrono::seconds(30));
  EXPECT_EQ(p.next_upstream, next_upstream::error | next_upstream::timeout |
                                 next_upstream::http_502 | next_upstream::http_503);
  EXPECT_EQ(p.next_upstream_tries, 5u);
  EXPECT_EQ(p.next_upstream_timeout, std::chrono::seconds(7));
  EXPECT_FALSE(p.request_buffering);
  EXPECT_EQ(p.http_version, 10u);
  EXPECT_FALSE(p.access_log);
  EXPECT_EQ(p.redirect.permanent, "https://new.example/x");
  EXPECT_EQ(p.redirect.permanent_code, 308u);
  EXPECT_EQ(p.redirect.app_root, "/app");
  EXPECT_EQ(p.upstream_vhost, "internal.svc:8080");
  EXPECT_EQ(p.rewrite.x_forwarded_prefix, "/web");
  EXPECT_EQ(p.connection_header, "keep-alive");
  EXPECT_TRUE(r.snap->find("web.test", "/")->preserve_trailing_slash);
}

// A bad value names the Ingress, the annotation and the reason; only that annotation is
// ignored and the rest of the Ingress keeps working.
TEST(annotations, a_bad_value_is_reported_and_the_rest_applies) {
  auto r = build(state_from_yaml(web(R"(    nginx.ingress.kubernetes.io/proxy-body-size: lots
    nginx.ingress.kubernetes.io/proxy-read-timeout: "90")")));
  EXPECT_TRUE(has_error(r, "metadata.annotations[nginx.ingress.kubernetes.io/proxy-body-size]",
                        "got \"lots\"")) << errors_text(r.errors);
  EXPECT_EQ(r.errors.size(), 1u) << errors_text(r.errors);
  const auto& p = policy_of(r);
  EXPECT_EQ(p.body_size, 1024u * 1024u);
  EXPECT_EQ(p.read_timeout, std::chrono::seconds(90));
  EXPECT_EQ(r.errors[0].to_string().find("Ingress ns/web: "), 0u);
}

TEST(annotations, unknown_keys_under_the_prefix_are_reported) {
  auto r = build(state_from_yaml(web(R"(    nginx.ingress.kubernetes.io/not-a-real-key: "1"
    example.com/other: "not ours")")));
  ASSERT_EQ(r.errors.size(), 1u) << errors_text(r.errors);
  EXPECT_TRUE(has_error(r, "metadata.annotations[nginx.ingress.kubernetes.io/not-a-real-key]",
                        "not supported"));
}

TEST(annotations, snippets_are_refused_and_the_ingress_is_served) {
  auto r = build(state_from_yaml(web(R"(    nginx.ingress.kubernetes.io/configuration-snippet: |
      more_set_headers "X-Evil: 1";
    nginx.ingress.kubernetes.io/server-snippet: "location /x { return 200; }")")));
  EXPECT_TRUE(has_error(r, "metadata.annotations[nginx.ingress.kubernetes.io/configuration-snippet]",
                        "refused"));
  EXPECT_TRUE(has_error(r, "metadata.annotations[nginx.ingress.kubernetes.io/server-snippet]",
                        "refused"));
  EXPECT_TRUE(policy_of(r).denied.empty());
}

// Never "served without the protection": an unimplemented protection denies the routes.
TEST(annotations, an_unapplied_protection_denies_the_routes) {
  auto r = build(state_from_yaml(web(R"(    nginx.ingress.kubernetes.io/enable-modsecurity: "true")")));
  EXPECT_TRUE(has_error(r, "metadata.annotations[nginx.ingress.kubernetes.io/enable-modsecurity]", "503"));
  EXPECT_FALSE(policy_of(r).denied.empty());
  auto off = build(state_from_yaml(web(R"(    nginx.ingress.kubernetes.io/enable-modsecurity: "false")")));
  EXPECT_TRUE(off.errors.empty()) << errors_text(off.errors);
  EXPECT_TRUE(policy_of(off).denied.empty());
}

TEST(annotations, the_prefix_is_configurable_and_portico_dev_is_an_alias) {
  auto st = state_from_yaml(web(R"(    custom.example/proxy-body-size: 2m
    portico.dev/proxy-read-timeout: "5"
    nginx.ingress.kubernetes.io/proxy-send-timeout: "9")"));
  build_options o;
  o.annotations_prefix = "custom.example";
  auto r = build(st, o);
  ASSERT_TRUE(r.errors.empty()) << errors_text(r.errors);
  const auto& p = policy_of(r);
  EXPECT_EQ(p.body_size, 2u << 20);
  EXPECT_EQ(p.read_timeout, std::chrono::seconds(5));
  EXPECT_EQ(p.send_timeout, std::chrono::seconds(60));  // not our prefix any more
  auto both = build(state_from_yaml(web(R"(    nginx.ingress.kubernetes.io/proxy-read-timeout: "7"
    portico.dev/proxy-read-timeout: "8")")));
  EXPECT_EQ(policy_of(both).read_timeout, std::chrono::seconds(7));
  EXPECT_TRUE(has_error(both, "metadata.annotations[portico.dev/proxy-read-timeout]", "another value"));
}

TEST(annotations, configmap_sets_defaults_and_annotations_win) {
  const std::string cm = portico_configmap(R"(
  proxy-body-size: 20m
  proxy-read-timeout: "300"
  proxy-next-upstream-tries: "1"
)");
  auto st = state_from_yaml(web(R"(    nginx.ingress.kubernetes.io/proxy-read-timeout: "10")", cm));
  build_options o;
  o.configmap = "ingress/portico";
  auto r = build(st, o);
  ASSERT_TRUE(r.errors.empty()) << errors_text(r.errors);
  const auto& p = policy_of(r);
  EXPECT_EQ(p.body_size, 20u << 20);                      // ConfigMap
  EXPECT_EQ(p.read_timeout, std::chrono::seconds(10));    // annotation over ConfigMap
  EXPECT_EQ(p.next_upstream_tries, 1u);
  EXPECT_EQ(r.snap->settings().proxy_body_size, 20u << 20);
  // Without --configmap the ConfigMap is not read.
  EXPECT_EQ(policy_of(build(st)).body_size, 1024u * 1024u);
}

TEST(annotations, a_changed_annotation_changes_the_config_hash) {
  auto a = build(state_from_yaml(web(R"(    nginx.ingress.kubernetes.io/proxy-read-timeout: "10")")));
  auto b = build(state_from_yaml(web(R"(    nginx.ingress.kubernetes.io/proxy-read-timeout: "11")")));
  EXPECT_NE(a.snap->hash(), b.snap->hash());
}

TEST(annotations, custom_headers_come_from_a_configmap_and_must_be_allowed) {
  const std::string headers = R"(
---
apiVersion: v1
kind: ConfigMap
metadata: {name: hdrs, namespace: ns}
data: {X-Frame-Options: DENY}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: portico, namespace: ingress}
data: {global-allowed-response-headers: "X-Frame-Options"}
)";
  auto st = state_from_yaml(web("    nginx.ingress.kubernetes.io/custom-headers: hdrs", headers));
  build_options o;
  o.configmap = "ingress/portico";
  auto r = build(st, o);
  ASSERT_TRUE(r.errors.empty()) << errors_text(r.errors);
  ASSERT_EQ(policy_of(r).response_headers.size(), 1u);
  EXPECT_EQ(policy_of(r).response_headers[0].first, "X-Frame-Options");
  // Not in global-allowed-response-headers (no --configmap): the route is denied, as
  // ingress-nginx denies the location.
  auto denied = build(st);
  EXPECT_FALSE(policy_of(denied).denied.empty());
  EXPECT_TRUE(has_error(denied, "metadata.annotations[nginx.ingress.kubernetes.io/custom-headers]",
                        "global-allowed-response-headers"));
}

TEST(controller_config, bad_configmap_values_name_the_key_and_keep_the_default) {
  const std::string cm = portico_configmap(R"(
  keep-alive: forever
  keep-alive-requests: "50"
  use-gzip: "true"
  no-such-key: "1"
  block-user-agents: "~*curl"
)");
  build_options o;
  o.configmap = "ingress/portico";
  auto r = build(state_from_yaml(web("    {}", cm)), o);
  const auto& s = r.snap->settings();
  EXPECT_EQ(s.keep_alive, std::chrono::seconds(75));
  EXPECT_EQ(s.keep_alive_requests, 50u);
  auto has = [&](const std::string& field, const std::string& text) {
    for (const auto& e : r.errors)
      if (e.kind == "ConfigMap" && e.namespace_name == "ingress" && e.name == "portico" &&
          e.field == field && e.message.find(text) != std::string::npos)
        return true;
    return false;
  };
  EXPECT_TRUE(has("data[keep-alive]", "forever")) << errors_text(r.errors);
  EXPECT_TRUE(has("data[use-gzip]", "not supported"));
  EXPECT_TRUE(has("data[no-such-key]", "unknown key"));
  EXPECT_TRUE(has("data[block-user-agents]", "503"));
  EXPECT_FALSE(policy_of(r).denied.empty());  // a global protection not applied: every route 503
}

TEST(controller_config, http2_keys) {
  const std::string cm = portico_configmap(R"(
  http2-max-requests: "3"
  http2-max-field-size: "4k"
  http2-max-header-size: 16k
  http2-max-concurrent-streams: "64"
)");
  build_options o;
  o.configmap = "ingress/portico";
  auto r = build(state_from_yaml(web("    {}", cm)), o);
  EXPECT_TRUE(r.errors.empty()) << errors_text(r.errors);
  const auto& s = r.snap->settings();
  EXPECT_EQ(s.http2_max_requests, 3u);
  EXPECT_EQ(s.http2_max_field_size, 4096u);
  EXPECT_EQ(s.http2_max_header_size, 16384u);
  EXPECT_EQ(s.http2_max_concurrent_streams, 64u);

  // Unset: 0, meaning keep-alive-requests and --max-header-size apply.
  auto d = build(state_from_yaml(web("    {}", "")), build_options{});
  EXPECT_EQ(d.snap->settings().http2_max_requests, 0u);
  EXPECT_EQ(d.snap->settings().http2_max_field_size, 0u);

  const std::string bad = portico_configmap(R"(
  http2-max-field-size: 4kb
)");
  auto b = build(state_from_yaml(web("    {}", bad)), o);
  EXPECT_EQ(b.snap->settings().http2_max_field_size, 0u);
  bool named = false;
  for (const auto& e : b.errors) named |= e.field == "data[http2-max-field-size]";
  EXPECT_TRUE(named) << errors_text(b.errors);
}

TEST(controller_config, parsers_follow_nginx_syntax) {
  EXPECT_EQ(parse_nginx_size("1m"), 1u << 20);
  EXPECT_EQ(parse_nginx_size("8k"), 8u << 10);
  EXPECT_EQ(parse_nginx_size("0"), 0u);
  EXPECT_FALSE(parse_nginx_size("1mb"));
  EXPECT_FALSE(parse_nginx_size("-1"));
  EXPECT_EQ(parse_nginx_time("60"), std::chrono::seconds(60));
  EXPECT_EQ(parse_nginx_time("500ms"), std::chrono::milliseconds(500));
  EXPECT_EQ(parse_nginx_time("2m"), std::chrono::minutes(2));
  EXPECT_FALSE(parse_nginx_time("soon"));
  EXPECT_EQ(parse_next_upstream("off", nullptr), next_upstream::off);
  EXPECT_EQ(parse_next_upstream("error off", nullptr), next_upstream::off);
  std::string bad;
  EXPECT_FALSE(parse_next_upstream("error http_999", &bad));
  EXPECT_EQ(bad, "http_999");
}

TEST(annotation_table, lists_every_key_once) {
  const auto md = annotation_table_markdown();
  for (const auto& s : annotation_registry())
    EXPECT_NE(md.find("| `" + std::string(s.key) + "` |"), std::string::npos) << s.key;
}

}  // namespace
}  // namespace portico::config
