// Decoding the Gateway API kinds (GatewayClass, Gateway, HTTPRoute, ReferenceGrant) and
// Namespace from YAML and JSON: fields, spec defaults (apis/v1/*_types.go of
// kubernetes-sigs/gateway-api), and errors naming kind, namespace/name and field for unknown
// fields and bad values while the other objects of the stream still decode.
#include <gtest/gtest.h>

#include "config/decode.hpp"
#include "config/decode_gateway.hpp"  // parse_gateway_duration

namespace portico::config {
namespace {

template <class T>
const T* first(const decode_result& r) {
  for (const auto& o : r.objects)
    if (auto p = std::get_if<T>(&o)) return p;
  return nullptr;
}

std::string errors_text(const decode_result& r) {
  std::string s;
  for (const auto& e : r.errors) s += e.to_string() + "\n";
  return s;
}

constexpr const char* gateway_yaml = R"(apiVersion: v1
kind: Namespace
metadata:
  name: apps
  labels: {shared-gateway-access: "true"}
---
apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: {name: portico}
spec:
  controllerName: portico.dev/gateway-controller
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: gw, namespace: infra}
spec:
  gatewayClassName: portico
  listeners:
  - name: http
    port: 80
    protocol: HTTP
    hostname: "*.example.com"
    allowedRoutes:
      namespaces:
        from: Selector
        selector:
          matchLabels: {shared-gateway-access: "true"}
          matchExpressions:
          - {key: env, operator: NotIn, values: [prod]}
      kinds:
      - kind: HTTPRoute
  - name: https
    port: 443
    protocol: HTTPS
    tls:
      mode: Terminate
      certificateRefs:
      - name: web-cert
      - {kind: Secret, group: "", name: other, namespace: certs}
)";

TEST(GatewayDecode, NamespaceGatewayClassAndGateway) {
  auto r = decode_yaml(gateway_yaml, "gw.yaml");
  ASSERT_TRUE(r.errors.empty()) << errors_text(r);
  ASSERT_EQ(r.objects.size(), 3u);
  const auto* ns = first<namespace_object>(r);
  ASSERT_NE(ns, nullptr);
  EXPECT_EQ(ns->meta.name, "apps");
  EXPECT_EQ(ns->meta.namespace_name, "");  // cluster-scoped
  EXPECT_EQ(ns->meta.labels.at("shared-gateway-access"), "true");
  const auto* gc = first<gateway_class>(r);
  ASSERT_NE(gc, nullptr);
  EXPECT_EQ(gc->meta.namespace_name, "");
  EXPECT_EQ(gc->controller_name, "portico.dev/gateway-controller");
  const auto* gw = first<gateway>(r);
  ASSERT_NE(gw, nullptr);
  EXPECT_EQ(gw->meta.namespace_name, "infra");
  EXPECT_EQ(gw->gateway_class_name, "portico");
  ASSERT_EQ(gw->listeners.size(), 2u);
  const auto& http = gw->listeners[0];
  EXPECT_EQ(http.port, 80);
  EXPECT_EQ(http.protocol, "HTTP");
  EXPECT_EQ(http.hostname, "*.example.com");
  EXPECT_EQ(http.routes.from, routes_from::selector);
  EXPECT_EQ(http.routes.selector.match_labels.at("shared-gateway-access"), "true");
  ASSERT_EQ(http.routes.selector.match_expressions.size(), 1u);
  EXPECT_EQ(http.routes.selector.match_expressions[0].op, "NotIn");
  ASSERT_EQ(http.routes.kinds.size(), 1u);
  EXPECT_EQ(http.routes.kinds[0].group, "gateway.networking.k8s.io");  // the default group
  const auto& https = gw->listeners[1];
  EXPECT_FALSE(https.hostname.has_value());
  EXPECT_EQ(https.routes.from, routes_from::same);  // spec default
  ASSERT_EQ(https.certificate_refs.size(), 2u);
  EXPECT_EQ(https.certificate_refs[0].kind, "Secret");  // spec default
  EXPECT_EQ(https.certificate_refs[0].group, "");
  EXPECT_FALSE(https.certificate_refs[0].namespace_name.has_value());
  EXPECT_EQ(https.certificate_refs[1].namespace_name, "certs");
}

constexpr const char* route_yaml = R"(apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: web, namespace: apps, creationTimestamp: "2024-01-02T03:04:05Z"}
spec:
  parentRefs:
  - name: gw
    namespace: infra
    sectionName: http
  hostnames: [foo.example.com]
  rules:
  - matches:
    - path: {type: Exact, value: /exact}
      headers:
      - {name: X-Version, value: v2}
      - {type: RegularExpression, name: X-Tag, value: "^a.*"}
      queryParams:
      - {name: debug, value: "1"}
      method: POST
    - headers: [{name: X-Only, value: "yes"}]
    filters:
    - type: RequestHeaderModifier
      requestHeaderModifier:
        set: [{name: X-Set, value: s}]
        add: [{name: X-Add, value: a}]
        remove: [X-Remove]
    - type: URLRewrite
      urlRewrite:
        hostname: upstream.example.com
        path: {type: ReplacePrefixMatch, replacePrefixMatch: /v2}
    backendRefs:
    - {name: svc-a, port: 8080, weight: 3}
    - {name: svc-b, namespace: other, port: 8080, weight: 0}
  - filters:
    - type: RequestRedirect
      requestRedirect: {scheme: https, hostname: secure.example.com, port: 8443, statusCode: 301,
                        path: {type: ReplaceFullPath, replaceFullPath: /new}}
)";

TEST(GatewayDecode, HttpRouteFieldsAndDefaults) {
  auto r = decode_yaml(route_yaml, "route.yaml");
  ASSERT_TRUE(r.errors.empty()) << errors_text(r);
  const auto* rt = first<http_route>(r);
  ASSERT_NE(rt, nullptr);
  ASSERT_EQ(rt->parent_refs.size(), 1u);
  const auto& p = rt->parent_refs[0];
  EXPECT_EQ(p.group, "gateway.networking.k8s.io");
  EXPECT_EQ(p.kind, "Gateway");
  EXPECT_EQ(p.namespace_name, "infra");
  EXPECT_EQ(p.section_name, "http");
  EXPECT_EQ(rt->hostnames, std::vector<std::string>{"foo.example.com"});
  ASSERT_EQ(rt->rules.size(), 2u);
  const auto& rule = rt->rules[0];
  ASSERT_EQ(rule.matches.size(), 2u);
  const auto& m = rule.matches[0];
  EXPECT_EQ(m.path.type, gw_path_type::exact);
  EXPECT_EQ(m.path.value, "/exact");
  ASSERT_EQ(m.headers.size(), 2u);
  EXPECT_EQ(m.headers[0].type, gw_value_type::exact);  // spec default
  EXPECT_EQ(m.headers[1].type, gw_value_type::regular_expression);
  ASSERT_EQ(m.query_params.size(), 1u);
  EXPECT_EQ(m.query_params[0].name, "debug");
  EXPECT_EQ(m.method, "POST");
  // A match without a path matches PathPrefix "/" (HTTPRouteMatch default).
  EXPECT_EQ(rule.matches[1].path.type, gw_path_type::path_prefix);
  EXPECT_EQ(rule.matches[1].path.value, "/");
  ASSERT_EQ(rule.filters.size(), 2u);
  EXPECT_EQ(rule.filters[0].type, http_filter_type::request_header_modifier);
  EXPECT_EQ(rule.filters[0].headers.set.at(0).first, "X-Set");
  EXPECT_EQ(rule.filters[0].headers.add.at(0).second, "a");
  EXPECT_EQ(rule.filters[0].headers.remove.at(0), "X-Remove");
  EXPECT_EQ(rule.filters[1].type, http_filter_type::url_rewrite);
  EXPECT_EQ(rule.filters[1].rewrite.hostname, "upstream.example.com");
  ASSERT_TRUE(rule.filters[1].rewrite.path.has_value());
  EXPECT_EQ(rule.filters[1].rewrite.path->type, path_modifier_type::replace_prefix_match);
  EXPECT_EQ(rule.filters[1].rewrite.path->value, "/v2");
  ASSERT_EQ(rule.backend_refs.size(), 2u);
  EXPECT_EQ(rule.backend_refs[0].ref.kind, "Service");  // spec default
  EXPECT_EQ(rule.backend_refs[0].weight, 3);
  EXPECT_EQ(rule.backend_refs[1].weight, 0);
  EXPECT_EQ(rule.backend_refs[1].ref.namespace_name, "other");
  const auto& redirect = rt->rules[1].filters.at(0).redirect;
  EXPECT_EQ(redirect.scheme, "https");
  EXPECT_EQ(redirect.port, 8443);
  EXPECT_EQ(redirect.status_code, 301);
  EXPECT_EQ(redirect.path->value, "/new");
  EXPECT_TRUE(rt->rules[1].matches.empty());  // the builder applies the default match
}

TEST(GatewayDecode, RouteWithoutRulesGetsOneDefaultRule) {
  auto r = decode_yaml(R"(apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: r}
spec:
  parentRefs: [{name: gw}]
)");
  ASSERT_TRUE(r.errors.empty()) << errors_text(r);
  const auto* rt = first<http_route>(r);
  ASSERT_NE(rt, nullptr);
  EXPECT_EQ(rt->meta.namespace_name, "default");
  EXPECT_EQ(rt->rules.size(), 1u);
  EXPECT_FALSE(rt->parent_refs[0].section_name.has_value());
}

TEST(GatewayDecode, ReferenceGrantV1beta1) {
  auto r = decode_yaml(R"(apiVersion: gateway.networking.k8s.io/v1beta1
kind: ReferenceGrant
metadata: {name: allow-apps, namespace: other}
spec:
  from:
  - {group: gateway.networking.k8s.io, kind: HTTPRoute, namespace: apps}
  to:
  - {group: "", kind: Service}
  - {group: "", kind: Secret, name: web-cert}
)");
  ASSERT_TRUE(r.errors.empty()) << errors_text(r);
  const auto* g = first<reference_grant>(r);
  ASSERT_NE(g, nullptr);
  ASSERT_EQ(g->from.size(), 1u);
  EXPECT_EQ(g->from[0].namespace_name, "apps");
  ASSERT_EQ(g->to.size(), 2u);
  EXPECT_FALSE(g->to[0].name.has_value());
  EXPECT_EQ(g->to[1].name, "web-cert");
}

TEST(GatewayDecode, JsonDecodesTheSameRoute) {
  auto r = decode_json(R"({"apiVersion":"gateway.networking.k8s.io/v1","kind":"HTTPRoute",
    "metadata":{"name":"j","namespace":"apps"},
    "spec":{"parentRefs":[{"name":"gw","sectionName":"http"}],
            "rules":[{"matches":[{"path":{"type":"PathPrefix","value":"/api"},"method":"GET"}],
                      "backendRefs":[{"name":"svc","port":80,"weight":2}]}]}})");
  ASSERT_TRUE(r.errors.empty()) << errors_text(r);
  const auto* rt = first<http_route>(r);
  ASSERT_NE(rt, nullptr);
  EXPECT_EQ(rt->rules[0].matches[0].path.value, "/api");
  EXPECT_EQ(rt->rules[0].matches[0].method, "GET");
  EXPECT_EQ(rt->rules[0].backend_refs[0].weight, 2);
}

struct bad_case {
  const char* yaml;
  const char* expect;  // a substring of the one error
};

class GatewayDecodeErrors : public ::testing::TestWithParam<bad_case> {};

TEST_P(GatewayDecodeErrors, NameKindObjectAndFieldAndKeepTheRest) {
  const std::string good = R"(
---
apiVersion: v1
kind: Service
metadata: {name: s, namespace: apps}
spec: {ports: [{port: 80}]}
)";
  auto r = decode_yaml(std::string(GetParam().yaml) + good, "bad.yaml");
  ASSERT_EQ(r.errors.size(), 1u) << errors_text(r);
  EXPECT_NE(r.errors[0].to_string().find(GetParam().expect), std::string::npos) << errors_text(r);
  ASSERT_EQ(r.objects.size(), 1u);  // the bad object is dropped, the Service is not
  EXPECT_NE(first<service>(r), nullptr);
}

INSTANTIATE_TEST_SUITE_P(
    Cases, GatewayDecodeErrors,
    ::testing::Values(
        bad_case{R"(apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: r, namespace: apps}
spec:
  rules:
  - backendRef: [{name: s}]
)", "HTTPRoute apps/r: spec.rules[0].backendRef: unknown field"},
        bad_case{R"(apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: r, namespace: apps}
spec:
  rules:
  - matches: [{path: {type: Prefix, value: /}}]
)", "HTTPRoute apps/r: spec.rules[0].matches[0].path.type: must be one of Exact, PathPrefix, RegularExpression"},
        bad_case{R"(apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: r, namespace: apps}
spec:
  rules:
  - matches: [{path: {value: api}}]
)", "spec.rules[0].matches[0].path.value: must start with '/'"},
        bad_case{R"(apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: r, namespace: apps}
spec:
  rules:
  - filters: [{type: RequestRedirect}]
)", "spec.rules[0].filters[0].requestRedirect: is required for type RequestRedirect"},
        bad_case{R"(apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: r, namespace: apps}
spec:
  rules:
  - filters: [{type: RequestRedirect, requestRedirect: {statusCode: 304}}]
)", "requestRedirect.statusCode: must be 301, 302, 303, 307 or 308"},
        bad_case{R"(apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: r, namespace: apps}
spec:
  rules:
  - backendRefs: [{name: s, weight: -1}]
)", "spec.rules[0].backendRefs[0].weight: must be 0-1000000"},
        bad_case{R"(apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: g, namespace: infra}
spec:
  gatewayClassName: portico
  listeners:
  - {name: a, port: 80, protocol: HTTP}
  - {name: a, port: 443, protocol: HTTPS}
)", "Gateway infra/g: spec.listeners[1].name: \"a\" is the name of listener 0"},
        bad_case{R"(apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: g, namespace: infra}
spec:
  gatewayClassName: portico
  listeners:
  - {name: a, port: 80, protocol: HTTP, allowedRoutes: {namespaces: {from: Selector}}}
)", "spec.listeners[0].allowedRoutes.namespaces.selector: is required when from is Selector"},
        bad_case{R"(apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: r, namespace: apps}
spec:
  hostnames: [good.example.com, Bad.Example.com]
)", "HTTPRoute apps/r: spec.hostnames[1]: \"Bad.Example.com\" is not a valid hostname"},
        bad_case{R"(apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: g, namespace: infra}
spec:
  gatewayClassName: portico
  listeners:
  - {name: a, port: 80, protocol: HTTP, hostname: 10.0.0.1}
)", "spec.listeners[0].hostname: \"10.0.0.1\" is not a valid hostname"},
        bad_case{R"(apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: {name: c}
spec: {}
)", "GatewayClass c: spec.controllerName: is required"},
        bad_case{R"(apiVersion: gateway.networking.k8s.io/v1alpha9
kind: ReferenceGrant
metadata: {name: g, namespace: other}
spec: {from: [], to: []}
)", "apiVersion: gateway.networking.k8s.io/v1alpha9 is not supported"},
        bad_case{R"(apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: r, namespace: apps}
spec:
  rules:
  - timeouts: {request: 10 s}
)", "HTTPRoute apps/r: spec.rules[0].timeouts.request: \"10 s\" is not a Gateway API duration"},
        bad_case{R"(apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: r, namespace: apps}
spec:
  rules:
  - timeouts: {request: 1s, backendRequest: 2s}
)", "spec.rules[0].timeouts.backendRequest: backendRequest timeout cannot be longer than request timeout"},
        bad_case{R"(apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: r, namespace: apps}
spec:
  rules:
  - timeouts: {requests: 1s}
)", "spec.rules[0].timeouts.requests: unknown field"},
        bad_case{R"(apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: r, namespace: apps}
spec:
  rules:
  - filters: [{type: RequestMirror, requestMirror: {backendRef: {name: m, port: 80}, percent: 101}}]
)", "spec.rules[0].filters[0].requestMirror.percent: must be 0-100"},
        bad_case{R"(apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: r, namespace: apps}
spec:
  rules:
  - filters: [{type: RequestMirror, requestMirror: {backendRef: {name: m, port: 80}, percent: 5, fraction: {numerator: 1}}}]
)", "spec.rules[0].filters[0].requestMirror: only one of percent and fraction may be set"},
        bad_case{R"(apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: r, namespace: apps}
spec:
  rules:
  - filters: [{type: RequestMirror, requestMirror: {backendRef: {name: m, port: 80}, fraction: {numerator: 3, denominator: 2}}}]
)", "spec.rules[0].filters[0].requestMirror.fraction: numerator must be less than or equal to denominator"},
        bad_case{R"(apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: r, namespace: apps}
spec:
  rules:
  - filters: [{type: RequestMirror, requestMirror: {percent: 5}}]
)", "spec.rules[0].filters[0].requestMirror.backendRef: is required"}));

TEST(GatewayDecode, DurationsFollowGep2257) {
  std::int64_t ms = -1;
  EXPECT_TRUE(detail::parse_gateway_duration("0s", ms));
  EXPECT_EQ(ms, 0);
  EXPECT_TRUE(detail::parse_gateway_duration("500ms", ms));
  EXPECT_EQ(ms, 500);
  EXPECT_TRUE(detail::parse_gateway_duration("1h2m3s4ms", ms));
  EXPECT_EQ(ms, 3723004);
  EXPECT_TRUE(detail::parse_gateway_duration("99999s", ms));
  EXPECT_EQ(ms, 99999000);
  for (const char* bad : {"", "10", "s", "1.5s", "100000s", "1d", "-1s", "1s ", "1h1m1s1ms1s", "1us"})
    EXPECT_FALSE(detail::parse_gateway_duration(bad, ms)) << bad;
}

TEST(GatewayDecode, TimeoutsAndMirrors) {
  auto r = decode_yaml(R"(apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: r, namespace: apps}
spec:
  rules:
  - timeouts: {request: 1m30s, backendRequest: 500ms}
    filters:
    - {type: RequestMirror, requestMirror: {backendRef: {name: m1, port: 80}}}
    - {type: RequestMirror, requestMirror: {backendRef: {name: m2, namespace: other, port: 8080}, percent: 20}}
    - {type: RequestMirror, requestMirror: {backendRef: {name: m3, port: 80}, fraction: {numerator: 1}}}
  - timeouts: {request: 0s}
)", "route.yaml");
  ASSERT_TRUE(r.errors.empty()) << errors_text(r);
  const auto* rt = first<http_route>(r);
  ASSERT_NE(rt, nullptr);
  ASSERT_EQ(rt->rules.size(), 2u);
  EXPECT_EQ(rt->rules[0].request_timeout_ms, 90000);
  EXPECT_EQ(rt->rules[0].backend_request_timeout_ms, 500);
  EXPECT_EQ(rt->rules[1].request_timeout_ms, 0);
  EXPECT_FALSE(rt->rules[1].backend_request_timeout_ms.has_value());
  const auto& f = rt->rules[0].filters;
  ASSERT_EQ(f.size(), 3u);
  EXPECT_EQ(f[0].type, http_filter_type::request_mirror);
  EXPECT_EQ(f[0].mirror.ref.kind, "Service");
  EXPECT_EQ(f[0].mirror.port, 80);
  EXPECT_FALSE(f[0].mirror.percent.has_value());
  EXPECT_EQ(f[1].mirror.ref.namespace_name, "other");
  EXPECT_EQ(f[1].mirror.percent, 20);
  ASSERT_TRUE(f[2].mirror.fraction.has_value());
  EXPECT_EQ(f[2].mirror.fraction->numerator, 1);
  EXPECT_EQ(f[2].mirror.fraction->denominator, 100);  // spec default
}

}  // namespace
}  // namespace portico::config
