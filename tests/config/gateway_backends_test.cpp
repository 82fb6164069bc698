// Gateway API backendRefs in config/: the protocol chosen from the Service port's appProtocol
// (KEP-3726), backendRefs[].filters merged over the rule's, a listener's allowedRoutes.kinds
// naming a kind Portico does not serve (InvalidRouteKinds), and HTTPS listener wildcards
// covering several labels in the certificate lookup.
#include <gtest/gtest.h>

#include "config/build.hpp"
#include "config/gateway_backends.hpp"
#include "config/gateway_status.hpp"
#include "state_fixture.hpp"
#include "tls_test_certs.hpp"

namespace portico::config {
namespace {

using testing::state_from_yaml;

constexpr const char* base = R"(
apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: {name: portico}
spec: {controllerName: portico.dev/gateway-controller}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: gw, namespace: apps}
spec:
  gatewayClassName: portico
  listeners:
  - {name: http, port: 80, protocol: HTTP}
---
apiVersion: v1
kind: Service
metadata: {name: plain, namespace: apps}
spec: {ports: [{port: 80}]}
---
apiVersion: v1
kind: Service
metadata: {name: h2, namespace: apps}
spec: {ports: [{port: 80, appProtocol: kubernetes.io/h2c}]}
---
apiVersion: v1
kind: Service
metadata: {name: secure, namespace: apps}
spec: {ports: [{port: 443, appProtocol: kubernetes.io/wss}]}
---
apiVersion: v1
kind: Service
metadata: {name: odd, namespace: apps}
spec: {ports: [{port: 80, appProtocol: example.com/custom}]}
)";

build_result build_routes(const std::string& kind, const std::string& rules) {
  return build(state_from_yaml(std::string(base) + "---\napiVersion: gateway.networking.k8s.io/v1\nkind: " + kind +
                               "\nmetadata: {name: r, namespace: apps}\nspec:\n  parentRefs: [{name: gw}]\n"
                               "  hostnames: [h]\n  rules:\n" + rules),
               {});
}

const route* find(const build_result& r, std::string_view path) {
  request_attrs attrs;
  attrs.method = "GET";
  return r.snap->find("h", path, attrs);
}

gw_condition resolved_refs(const build_result& r) {
  return r.snap->gateway_status_ptr()->routes.at(0).parents.at(0).conditions.at(1);
}

TEST(GatewayBackendProtocol, AppProtocolTable) {
  EXPECT_EQ(backend_protocol_for("", false), backend_protocol::http1);
  EXPECT_EQ(backend_protocol_for("kubernetes.io/ws", false), backend_protocol::http1);
  EXPECT_EQ(backend_protocol_for("HTTP", false), backend_protocol::http1);
  EXPECT_EQ(backend_protocol_for("kubernetes.io/h2c", false), backend_protocol::h2c);
  EXPECT_EQ(backend_protocol_for("kubernetes.io/wss", false), backend_protocol::http1_tls);
  EXPECT_EQ(backend_protocol_for("https", false), backend_protocol::http1_tls);
  EXPECT_EQ(backend_protocol_for("example.com/custom", false), backend_protocol::unsupported);
  EXPECT_EQ(backend_protocol_for("", true), backend_protocol::h2c);
  EXPECT_EQ(backend_protocol_for("kubernetes.io/h2c", true), backend_protocol::h2c);
  EXPECT_EQ(backend_protocol_for("grpc", true), backend_protocol::h2c);
  EXPECT_EQ(backend_protocol_for("https", true), backend_protocol::h2_tls);
  EXPECT_EQ(backend_protocol_for("kubernetes.io/ws", true), backend_protocol::unsupported);
}

TEST(GatewayBackendProtocol, HttpRouteBackendsSpeakTheirAppProtocol) {
  auto r = build_routes("HTTPRoute",
                        "  - matches: [{path: {value: /plain}}]\n    backendRefs: [{name: plain, port: 80}]\n"
                        "  - matches: [{path: {value: /h2}}]\n    backendRefs: [{name: h2, port: 80}]\n"
                        "  - matches: [{path: {value: /secure}}]\n    backendRefs: [{name: secure, port: 443}]\n"
                        "  - matches: [{path: {value: /mixed}}]\n"
                        "    backendRefs: [{name: plain, port: 80}, {name: h2, port: 80}]\n");
  ASSERT_TRUE(r.errors.empty()) << testing::errors_text(r.errors);
  EXPECT_FALSE(find(r, "/plain")->upstream_h2);
  EXPECT_EQ(find(r, "/plain")->backend->tls, nullptr);
  EXPECT_TRUE(find(r, "/h2")->upstream_h2);
  EXPECT_EQ(find(r, "/h2")->backend->tls, nullptr);
  const route* secure = find(r, "/secure");
  EXPECT_FALSE(secure->upstream_h2);
  ASSERT_NE(secure->backend->tls, nullptr);
  EXPECT_FALSE(secure->backend->tls->verify);
  EXPECT_EQ(secure->backend->id, "apps/secure:443+tls");
  const route* mixed = find(r, "/mixed");
  ASSERT_EQ(mixed->weighted.size(), 2u);
  EXPECT_EQ(mixed->weighted[0].variant, nullptr);  // the route's own protocol
  ASSERT_NE(mixed->weighted[1].variant, nullptr);
  EXPECT_TRUE(mixed->weighted[1].variant->upstream_h2);
  EXPECT_EQ(mixed->weighted[1].variant->index, mixed->index);  // same route for metrics and logs
  EXPECT_EQ(mixed->weighted[1].variant->backend, mixed->weighted[1].backend);
}

TEST(GatewayBackendProtocol, UnsupportedAppProtocolIsAnInvalidRef) {
  auto r = build_routes("HTTPRoute", "  - backendRefs: [{name: odd, port: 80, weight: 1}, {name: plain, port: 80, weight: 1}]\n");
  const route* rt = find(r, "/");
  ASSERT_EQ(rt->weighted.size(), 2u);
  EXPECT_EQ(rt->weighted[0].backend, nullptr);  // its share answers 500
  ASSERT_NE(rt->weighted[1].backend, nullptr);
  const auto c = resolved_refs(r);
  EXPECT_EQ(c.status, "False");
  EXPECT_EQ(c.reason, "UnsupportedProtocol");
  EXPECT_NE(c.message.find("example.com/custom"), std::string::npos) << c.message;
  const std::string errs = testing::errors_text(r.errors);
  EXPECT_NE(errs.find("HTTPRoute apps/r: spec.rules[0].backendRefs[0]: Service apps/odd port 80 has appProtocol"),
            std::string::npos) << errs;
}

TEST(GatewayBackendProtocol, GrpcRouteRefusesHttp1Backends) {
  auto r = build_routes("GRPCRoute", "  - backendRefs: [{name: secure, port: 443}]\n");
  EXPECT_EQ(resolved_refs(r).reason, "UnsupportedProtocol");
  auto ok = build_routes("GRPCRoute", "  - backendRefs: [{name: h2, port: 80}]\n");
  EXPECT_EQ(resolved_refs(ok).reason, "ResolvedRefs");
}

TEST(GatewayBackendFilters, MergedOverTheRulesWhenThatBackendIsPicked) {
  auto r = build_routes("HTTPRoute",
                        "  - filters: [{type: RequestHeaderModifier, requestHeaderModifier: "
                        "{set: [{name: X-Rule, value: r}, {name: X-Both, value: rule}], add: [{name: X-Add, value: r}]}}]\n"
                        "    backendRefs:\n"
                        "    - name: plain\n      port: 80\n      filters:\n"
                        "      - {type: RequestHeaderModifier, requestHeaderModifier: {set: [{name: x-both, value: backend}], remove: [X-Rule]}}\n"
                        "      - {type: ResponseHeaderModifier, responseHeaderModifier: {add: [{name: X-Resp, value: b}]}}\n"
                        "    - {name: h2, port: 80}\n");
  ASSERT_TRUE(r.errors.empty()) << testing::errors_text(r.errors);
  const route* rt = find(r, "/");
  ASSERT_EQ(rt->weighted.size(), 2u);
  ASSERT_NE(rt->weighted[0].variant, nullptr);
  const auto& v = *rt->weighted[0].variant->policy;
  ASSERT_EQ(v.request_edits.set.size(), 1u);
  EXPECT_EQ(v.request_edits.set[0], (std::pair<std::string, std::string>{"x-both", "backend"}));
  EXPECT_EQ(v.request_edits.remove, std::vector<std::string>{"X-Rule"});
  EXPECT_EQ(v.request_edits.add.size(), 1u);  // the rule's addition stays
  ASSERT_EQ(v.response_edits.add.size(), 1u);
  EXPECT_NE(v.hash, rt->policy->hash);
  EXPECT_EQ(rt->policy->request_edits.set.size(), 2u);  // the route itself keeps the rule's
  EXPECT_EQ(rt->weighted[1].variant->policy, rt->policy);  // h2: protocol only
}

TEST(GatewayBackendFilters, OtherTypesMakeTheRefInvalid) {
  auto r = build_routes("HTTPRoute",
                        "  - backendRefs:\n    - name: plain\n      port: 80\n      filters:\n"
                        "      - {type: RequestRedirect, requestRedirect: {hostname: x}}\n");
  EXPECT_EQ(find(r, "/")->weighted.size(), 1u);
  EXPECT_EQ(find(r, "/")->weighted[0].backend, nullptr);
  const std::string errs = testing::errors_text(r.errors);
  EXPECT_NE(errs.find("spec.rules[0].backendRefs[0].filters[0]: filter type RequestRedirect on a backendRef"),
            std::string::npos) << errs;
}

TEST(GatewayListenerKinds, InvalidRouteKinds) {
  auto st = state_from_yaml(std::string(base) + R"(
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: kinds, namespace: apps}
spec:
  gatewayClassName: portico
  listeners:
  - {name: mixed, port: 80, protocol: HTTP, hostname: m, allowedRoutes: {kinds: [{kind: InvalidRoute}, {kind: HTTPRoute}]}}
  - {name: only, port: 80, protocol: HTTP, hostname: o, allowedRoutes: {kinds: [{kind: TCPRoute}]}}
  - {name: fine, port: 80, protocol: HTTP, hostname: f, allowedRoutes: {kinds: [{kind: GRPCRoute}]}}
)");
  auto r = build(st, {});
  const auto& gws = r.snap->gateway_status_ptr()->gateways;
  ASSERT_EQ(gws.size(), 2u);
  const auto& ls = gws[1].name == "kinds" ? gws[1].listeners : gws[0].listeners;
  auto refs = [](const gw_listener_status& l) {
    for (const auto& c : l.conditions)
      if (c.type == "ResolvedRefs") return c;
    return gw_condition{};
  };
  EXPECT_EQ(refs(ls.at(0)).reason, "InvalidRouteKinds");
  EXPECT_EQ(refs(ls.at(0)).status, "False");
  EXPECT_EQ(refs(ls.at(1)).reason, "InvalidRouteKinds");
  EXPECT_EQ(refs(ls.at(2)).reason, "ResolvedRefs");
  EXPECT_NE(testing::errors_text(r.errors).find("spec.listeners[1].allowedRoutes.kinds"), std::string::npos);
}

// ListenerStatus.AttachedRoutes: "Listener or Route status does not impact successful
// attachment" (GatewayWithAttachedRoutes: an HTTPS listener whose certificate does not exist).
TEST(GatewayListenerAttachment, CountedOnListenersThatAreNotServed) {
  auto st = state_from_yaml(std::string(base) + R"(
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: broken, namespace: apps}
spec:
  gatewayClassName: portico
  listeners:
  - {name: tls, port: 443, protocol: HTTPS, tls: {certificateRefs: [{name: does-not-exist}]}}
  - {name: alt, port: 8080, protocol: HTTP}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: r, namespace: apps}
spec:
  parentRefs: [{name: broken}]
  hostnames: [b]
  rules: [{backendRefs: [{name: plain, port: 80}]}]
)");
  auto r = build(st, {});
  const auto& gws = r.snap->gateway_status_ptr()->gateways;
  const auto& ls = gws.at(0).name == "broken" ? gws.at(0).listeners : gws.at(1).listeners;
  EXPECT_EQ(ls.at(0).attached_routes, 1);
  EXPECT_EQ(ls.at(1).attached_routes, 1);
  EXPECT_EQ(ls.at(0).conditions.at(1).reason, "InvalidCertificateRef");
  EXPECT_EQ(ls.at(0).conditions.at(2).status, "False");  // Programmed
  EXPECT_EQ(r.snap->gateway_status_ptr()->routes.at(0).parents.at(0).conditions.at(0).reason, "Accepted");
  request_attrs plain, tls;
  plain.method = tls.method = "GET";
  tls.tls = true;
  EXPECT_EQ(r.snap->find("b", "/", plain), nullptr);  // counted, not routed
  EXPECT_EQ(r.snap->find("b", "/", tls), nullptr);
}

TEST(GatewayTlsWildcard, ListenerWildcardCoversSeveralLabelsIngressOne) {
  auto st = state_from_yaml(std::string(base) + R"(
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: tls, namespace: apps}
spec:
  gatewayClassName: portico
  listeners:
  - {name: wild, port: 443, protocol: HTTPS, hostname: "*.gw.example", tls: {certificateRefs: [{name: wild}]}}
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: ing, namespace: apps, annotations: {kubernetes.io/ingress.class: portico}}
spec:
  tls: [{hosts: ["*.ing.example"], secretName: ing}]
  rules: [{host: "*.ing.example", http: {paths: [{path: /, pathType: Prefix, backend: {service: {name: plain, port: {number: 80}}}}]}}]
)");
  st.upsert(testing::tls_secret("apps", "wild", testing::make_cert_for({"*.gw.example"})));
  st.upsert(testing::tls_secret("apps", "ing", testing::make_cert_for({"*.ing.example"})));
  build_options o;
  o.now = testing::tls_now;
  auto r = build(st, o);
  for (const char* name : {"a.gw.example", "a.b.gw.example", "X.Y.Z.gw.example."}) {
    const auto* c = r.snap->find_certificates(name);
    ASSERT_NE(c, nullptr) << name;
    EXPECT_EQ(c->front()->secret, "apps/wild") << name;
  }
  EXPECT_EQ(r.snap->find_certificates("gw.example"), nullptr);
  EXPECT_EQ(r.snap->find_certificates("a.gw.example.org"), nullptr);
  ASSERT_NE(r.snap->find_certificates("a.ing.example"), nullptr);
  EXPECT_EQ(r.snap->find_certificates("a.b.ing.example"), nullptr);  // Ingress: one label
}

}  // namespace
}  // namespace portico::config
