// Gateway listener slots: the table keeps one set of host lists per listener port (80 for
// --http-port, 443 for --https-port, an extra port of --gateway-http-ports or
// --gateway-https-ports), a request is matched only against the routes of its own port,
// listener isolation applies per port, and build() serves a listener on an extra port only
// when the flags name it (else PortUnavailable naming them).
#include <gtest/gtest.h>

#include "config/gateway_status.hpp"
#include "config/gateway_table.hpp"
#include "config/route_table.hpp"
#include "state_fixture.hpp"
#include "tls_test_certs.hpp"

namespace portico::config {
namespace {

using testing::state_from_yaml;

request_attrs on_port(bool tls, std::uint16_t listener_port) {
  request_attrs a;
  a.method = "GET";
  a.tls = tls;
  a.listener_port = listener_port;
  return a;
}

gateway_match match_for(std::uint32_t route, const std::string& listener, const std::string& gateway) {
  gateway_match m;
  m.path = "/";
  m.route = route;
  m.listener = listener;
  m.gateway = gateway;
  return m;
}

TEST(GatewayTableSlots, ARequestSeesOnlyTheListsOfItsPort) {
  gateway_table t;
  for (std::uint16_t port : {80, 443, 8080}) t.add_listener(port, "infra/gw", "");
  t.list(80, "a.test").push_back(match_for(1, "", "infra/gw"));
  t.list(443, "a.test").push_back(match_for(2, "", "infra/gw"));
  t.list(8080, "a.test").push_back(match_for(3, "", "infra/gw"));
  t.list(8080, "").push_back(match_for(4, "", "infra/gw"));
  t.finish();
  bool claimed = false;
  EXPECT_EQ(t.find("a.test", "/", on_port(false, 0), claimed), 1u);
  EXPECT_EQ(t.find("a.test", "/", on_port(true, 0), claimed), 2u);
  EXPECT_EQ(t.find("a.test", "/", on_port(false, 8080), claimed), 3u);
  EXPECT_TRUE(claimed);
  // The any-host routes of 8080 answer other hosts there only.
  EXPECT_EQ(t.find("b.test", "/", on_port(false, 8080), claimed), 4u);
  EXPECT_EQ(t.find("b.test", "/", on_port(false, 0), claimed), no_route);
  EXPECT_FALSE(claimed);
  // A port with no listener: nothing.
  EXPECT_EQ(t.find("a.test", "/", on_port(false, 9090), claimed), no_route);
  EXPECT_FALSE(claimed);
  EXPECT_EQ(t.ports(), (std::vector<std::uint16_t>{80, 443, 8080}));
  EXPECT_TRUE(t.claims("a.test"));
  EXPECT_TRUE(t.has_any_host());
}

TEST(GatewayTableSlots, ListenerIsolationIsPerPort) {
  // Port 80 has a listener for "*.a.test" beside the hostname-less one: the wildcard's host
  // keys drop the hostname-less listener's entries there. Port 8080 has only the hostname-less
  // listener: its entries still serve x.a.test.
  gateway_table t;
  t.add_listener(80, "infra/gw", "");
  t.add_listener(80, "infra/gw", "*.a.test");
  t.add_listener(8080, "infra/gw", "");
  t.list(80, "").push_back(match_for(1, "", "infra/gw"));
  t.list(80, "*.a.test").push_back(match_for(2, "*.a.test", "infra/gw"));
  t.list(8080, "").push_back(match_for(3, "", "infra/gw"));
  t.finish();
  bool claimed = false;
  EXPECT_EQ(t.find("x.a.test", "/", on_port(false, 0), claimed), 2u);
  EXPECT_EQ(t.find("other.test", "/", on_port(false, 0), claimed), 1u);
  EXPECT_EQ(t.find("x.a.test", "/", on_port(false, 8080), claimed), 3u);
  ASSERT_NE(t.list_of(80, "*.a.test"), nullptr);
  EXPECT_EQ(t.list_of(80, "*.a.test")->size(), 1u);  // the hostname-less entry was isolated away
  EXPECT_EQ(t.list_of(8080, "*.a.test"), nullptr);
}

constexpr const char* ports_yaml = R"(
apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: {name: portico}
spec: {controllerName: portico.dev/gateway-controller}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: gw, namespace: infra}
spec:
  gatewayClassName: portico
  listeners:
  - {name: main, port: 80, protocol: HTTP}
  - {name: extra, port: 8080, protocol: HTTP}
  - {name: extra-tls, port: 8443, protocol: HTTPS, tls: {certificateRefs: [{name: cert}]}}
  - {name: unlisted, port: 9090, protocol: HTTP}
  - {name: wrong-kind, port: 8443, protocol: HTTP, hostname: other.test}
)";

std::string route_on(const std::string& section, const std::string& svc) {
  return "---\napiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata: {name: on-" + section +
         ", namespace: infra}\nspec:\n  parentRefs: [{name: gw, sectionName: " + section +
         "}]\n  hostnames: [p.test]\n  rules:\n  - backendRefs: [{name: " + svc + ", port: 80}]\n"
         "---\napiVersion: v1\nkind: Service\nmetadata: {name: " + svc +
         ", namespace: infra}\nspec: {ports: [{port: 80}]}\n";
}

std::string served_by(const snapshot& s, const request_attrs& a) {
  const route* r = s.find("p.test", "/", a);
  return r == nullptr ? "404" : r->service_name;
}

const gw_condition* condition(const gw_listener_status& l, const std::string& type) {
  for (const auto& c : l.conditions)
    if (c.type == type) return &c;
  return nullptr;
}

TEST(GatewayPorts, ExtraPortsAreServedOnlyWhenTheFlagsNameThem) {
  auto st = state_from_yaml(std::string(ports_yaml) + route_on("main", "s80") + route_on("extra", "s8080") +
                            route_on("extra-tls", "s8443") + route_on("unlisted", "s9090"));
  st.upsert(testing::tls_secret("infra", "cert", testing::make_cert_for({"p.test"})));
  build_options o;
  o.now = testing::tls_now;
  o.gateway_http_ports = {8080};
  o.gateway_https_ports = {8443};
  auto r = build(st, o);
  EXPECT_EQ(served_by(*r.snap, on_port(false, 0)), "s80");
  EXPECT_EQ(served_by(*r.snap, on_port(false, 8080)), "s8080");
  EXPECT_EQ(served_by(*r.snap, on_port(true, 8443)), "s8443");
  EXPECT_EQ(served_by(*r.snap, on_port(false, 9090)), "404");
  EXPECT_EQ(served_by(*r.snap, on_port(true, 0)), "404");  // no listener on 443
  const auto& ls = r.snap->gateway_status_ptr()->gateways.at(0).listeners;
  ASSERT_EQ(ls.size(), 5u);
  for (std::size_t i : {0u, 1u, 2u}) {
    EXPECT_EQ(condition(ls[i], "Accepted")->status, "True") << ls[i].name;
    EXPECT_EQ(condition(ls[i], "Programmed")->status, "True") << ls[i].name;
  }
  for (std::size_t i : {3u, 4u}) {  // 9090 listed nowhere; HTTP on an HTTPS port
    EXPECT_EQ(condition(ls[i], "Accepted")->reason, "PortUnavailable") << ls[i].name;
    EXPECT_NE(condition(ls[i], "Accepted")->message.find("--gateway-http-ports"), std::string::npos);
    EXPECT_EQ(condition(ls[i], "Programmed")->status, "False");
  }
  EXPECT_EQ(ls[3].attached_routes, 1);  // counted, not routed
}

TEST(GatewayPorts, WithoutTheFlagsOnly80And443AreServed) {
  auto st = state_from_yaml(std::string(ports_yaml) + route_on("main", "s80") + route_on("extra", "s8080"));
  auto r = build(st, {});
  EXPECT_EQ(served_by(*r.snap, on_port(false, 0)), "s80");
  EXPECT_EQ(served_by(*r.snap, on_port(false, 8080)), "404");
  EXPECT_EQ(condition(r.snap->gateway_status_ptr()->gateways.at(0).listeners.at(1), "Accepted")->reason,
            "PortUnavailable");
}

TEST(GatewayPorts, IngressRulesAreServedOnTheMainPortsOnly) {
  auto st = state_from_yaml(std::string(ports_yaml) + route_on("extra", "s8080") + R"(
---
apiVersion: networking.k8s.io/v1
kind: IngressClass
metadata: {name: portico}
spec: {controller: portico.dev/ingress-controller}
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: ing, namespace: infra}
spec:
  ingressClassName: portico
  rules:
  - host: ing.test
    http: {paths: [{path: /, pathType: Prefix, backend: {service: {name: s8080, port: {number: 80}}}}]}
)");
  build_options o;
  o.gateway_http_ports = {8080};
  auto r = build(st, o);
  EXPECT_NE(r.snap->find("ing.test", "/", on_port(false, 0)), nullptr);
  EXPECT_EQ(r.snap->find("ing.test", "/", on_port(false, 8080)), nullptr);
}

}  // namespace
}  // namespace portico::config
