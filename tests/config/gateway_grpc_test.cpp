// GRPCRoute in config/: decoding (fields, the CRD's validation of method matches, errors that
// name the object and the field), matching (service/method Exact and RegularExpression,
// headers, only gRPC calls), the precedence GRPCRouteRule.Matches orders (checked against a
// plain reference matcher over generated routes and requests), listener kinds, the
// HTTPRoute/GRPCRoute hostname conflict (GRPCRouteSpec.Hostnames) and the route status.
#include <gtest/gtest.h>

#include <map>
#include <random>
#include <regex>
#include <tuple>

#include "config/decode.hpp"
#include "config/gateway_status.hpp"
#include "config/gateway_table.hpp"
#include "state_fixture.hpp"

namespace portico::config {
namespace {

using testing::state_from_yaml;

struct grpc_request {
  std::string method = "POST";
  std::map<std::string, std::string> headers{{"content-type", "application/grpc"}};
  static std::string_view header(const void* ctx, std::string_view name) {
    const auto& h = static_cast<const grpc_request*>(ctx)->headers;
    auto it = h.find(std::string(name));
    return it == h.end() ? std::string_view{} : std::string_view(it->second);
  }
  static bool has(const void* ctx, std::string_view name) {
    return static_cast<const grpc_request*>(ctx)->headers.count(std::string(name)) != 0;
  }
  request_attrs attrs() const { return {method, "", false, this, &header, &has}; }
};

// "ns/route first-backend" of the route that serves the request, or "404".
std::string served(const snapshot& s, std::string_view host, std::string_view path,
                   const grpc_request& req = {}) {
  const route* r = s.find(host, path, req.attrs());
  if (r == nullptr) return "404";
  return r->namespace_name + "/" + r->ingress_name + " " + r->service_name;
}

constexpr const char* base = R"(
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
  - {name: http, port: 80, protocol: HTTP, allowedRoutes: {namespaces: {from: All}}}
  - name: http-only
    port: 80
    protocol: HTTP
    hostname: http-only.example.com
    allowedRoutes: {namespaces: {from: All}, kinds: [{kind: HTTPRoute}]}
---
apiVersion: v1
kind: Service
metadata: {name: a, namespace: apps}
spec: {ports: [{port: 50051}]}
---
apiVersion: v1
kind: Service
metadata: {name: b, namespace: apps}
spec: {ports: [{port: 50051}]}
)";

std::string grpc_route_yaml(const std::string& name, const std::string& created, const std::string& hostnames,
                            const std::string& rules, const std::string& kind = "GRPCRoute") {
  return "---\napiVersion: gateway.networking.k8s.io/v1\nkind: " + kind + "\nmetadata: {name: " + name +
         ", namespace: apps, creationTimestamp: \"" + created + "\"}\nspec:\n" +
         "  parentRefs: [{name: gw, namespace: infra}]\n" +
         (hostnames.empty() ? "" : "  hostnames: " + hostnames + "\n") + "  rules:\n" + rules;
}

std::string errors_text(const decode_result& r) {
  std::string s;
  for (const auto& e : r.errors) s += e.to_string() + "\n";
  return s;
}

TEST(GrpcRouteDecode, FieldsAndDefaults) {
  auto r = decode_yaml(grpc_route_yaml("g", "2024-01-01T00:00:00Z", "[grpc.example.com]", R"(
  - matches:
    - method: {service: helloworld.Greeter, method: SayHello}
      headers: [{name: x-version, value: "2"}, {type: RegularExpression, name: x-env, value: "dev.*"}]
    - method: {type: RegularExpression, method: "Say.*"}
    - headers: [{name: x-only, value: "1"}]
    filters:
    - type: RequestHeaderModifier
      requestHeaderModifier: {set: [{name: x-set, value: "1"}]}
    backendRefs: [{name: a, port: 50051, weight: 3}, {name: b, port: 50051}]
  - backendRefs: [{name: b, port: 50051}]
)"));
  ASSERT_TRUE(r.errors.empty()) << errors_text(r);
  ASSERT_EQ(r.objects.size(), 1u);
  const auto& g = std::get<grpc_route>(r.objects[0]);
  EXPECT_EQ(g.hostnames, std::vector<std::string>{"grpc.example.com"});
  ASSERT_EQ(g.rules.size(), 2u);
  const auto& m = g.rules[0].matches;
  ASSERT_EQ(m.size(), 3u);
  ASSERT_TRUE(m[0].method);
  EXPECT_EQ(m[0].method->type, gw_value_type::exact);
  EXPECT_EQ(m[0].method->service, "helloworld.Greeter");
  EXPECT_EQ(m[0].method->method, "SayHello");
  ASSERT_EQ(m[0].headers.size(), 2u);
  EXPECT_EQ(m[0].headers[1].type, gw_value_type::regular_expression);
  EXPECT_EQ(m[1].method->type, gw_value_type::regular_expression);
  EXPECT_FALSE(m[1].method->service);
  EXPECT_FALSE(m[2].method);
  ASSERT_EQ(g.rules[0].filters.size(), 1u);
  EXPECT_EQ(g.rules[0].filters[0].type, http_filter_type::request_header_modifier);
  ASSERT_EQ(g.rules[0].backend_refs.size(), 2u);
  EXPECT_EQ(g.rules[0].backend_refs[0].weight, 3);
  EXPECT_EQ(g.rules[0].backend_refs[1].weight, 1);
  EXPECT_EQ(g.rules[0].backend_refs[0].ref.kind, "Service");
  EXPECT_TRUE(g.rules[1].matches.empty());
}

TEST(GrpcRouteDecode, BadObjectsNameThemselvesAndTheField) {
  auto r = decode_yaml(grpc_route_yaml("bad", "2024-01-01T00:00:00Z", "", R"(
  - matches:
    - method: {service: "hello/world", method: Say}
    - method: {method: "9lives"}
    - method: {type: Exact}
    - method: {type: Prefix, service: a}
    - method: {service: a, methd: b}
    filters: [{type: URLRewrite, urlRewrite: {hostname: x}}]
)") + grpc_route_yaml("good", "2024-01-01T00:00:00Z", "", "  - backendRefs: [{name: a, port: 50051}]\n"));
  const std::string text = errors_text(r);
  EXPECT_NE(text.find("GRPCRoute apps/bad: spec.rules[0].matches[0].method.service: \"hello/world\" is not a valid gRPC service"), std::string::npos) << text;
  EXPECT_NE(text.find("spec.rules[0].matches[1].method.method: \"9lives\" is not a valid gRPC method"), std::string::npos) << text;
  EXPECT_NE(text.find("spec.rules[0].matches[2].method: one or both of service and method must be specified"), std::string::npos) << text;
  EXPECT_NE(text.find("spec.rules[0].matches[3].method.type: must be one of Exact, RegularExpression"), std::string::npos) << text;
  EXPECT_NE(text.find("spec.rules[0].matches[4].method.methd: unknown field"), std::string::npos) << text;
  EXPECT_NE(text.find("spec.rules[0].filters[0].type: must be one of RequestHeaderModifier"), std::string::npos) << text;
  // Regular expressions are not held to the name syntax.
  auto re = decode_yaml(grpc_route_yaml("re", "2024-01-01T00:00:00Z", "",
                                        "  - matches: [{method: {type: RegularExpression, service: \"hello\\\\..*\"}}]\n"));
  EXPECT_TRUE(re.errors.empty()) << errors_text(re);
  // The good object of the stream still decodes.
  bool good = false;
  for (const auto& o : r.objects)
    if (auto g = std::get_if<grpc_route>(&o); g && g->meta.name == "good") good = true;
  EXPECT_TRUE(good);
}

TEST(GrpcRouteMatch, ServiceMethodHeadersAndOnlyGrpcCalls) {
  auto st = state_from_yaml(std::string(base) + grpc_route_yaml("g", "2024-01-01T00:00:00Z", "[grpc.example.com]", R"(
  - matches: [{method: {service: helloworld.Greeter, method: SayHello}}]
    backendRefs: [{name: a, port: 50051}]
  - matches: [{method: {type: RegularExpression, service: "helloworld\\..*", method: "Say.*"}}]
    backendRefs: [{name: b, port: 50051}]
  - matches: [{method: {method: Check}, headers: [{name: X-Canary, value: "yes"}]}]
    backendRefs: [{name: a, port: 50051}]
)"));
  auto r = build(st, {});
  ASSERT_TRUE(r.snap);
  const auto& s = *r.snap;
  EXPECT_EQ(served(s, "grpc.example.com", "/helloworld.Greeter/SayHello"), "apps/g a");
  EXPECT_EQ(served(s, "grpc.example.com", "/helloworld.Other/SayAgain"), "apps/g b");
  EXPECT_EQ(served(s, "grpc.example.com", "/other.Svc/SayHello"), "404");
  EXPECT_EQ(served(s, "grpc.example.com", "/helloworld.Greeter/SayHello/x"), "404");
  grpc_request canary;
  canary.headers["x-canary"] = "yes";
  EXPECT_EQ(served(s, "grpc.example.com", "/grpc.health.v1.Health/Check", canary), "apps/g a");
  EXPECT_EQ(served(s, "grpc.example.com", "/grpc.health.v1.Health/Check"), "404");
  // Not a gRPC call: a GET, or a POST of another content-type.
  grpc_request get;
  get.method = "GET";
  EXPECT_EQ(served(s, "grpc.example.com", "/helloworld.Greeter/SayHello", get), "404");
  grpc_request json;
  json.headers["content-type"] = "application/json";
  EXPECT_EQ(served(s, "grpc.example.com", "/helloworld.Greeter/SayHello", json), "404");
  grpc_request proto;
  proto.headers["content-type"] = "Application/GRPC+proto";
  EXPECT_EQ(served(s, "grpc.example.com", "/helloworld.Greeter/SayHello", proto), "apps/g a");
  // The route speaks gRPC (HTTP/2 with prior knowledge) to its backends.
  const route* rt = s.find("grpc.example.com", "/helloworld.Greeter/SayHello", grpc_request{}.attrs());
  ASSERT_NE(rt, nullptr);
  EXPECT_TRUE(rt->upstream_h2);
  EXPECT_TRUE(rt->grpc);
  EXPECT_TRUE(rt->gateway);
  EXPECT_EQ(rt->path, "/helloworld.Greeter/SayHello");
  EXPECT_EQ(rt->path_type, "Exact");
}

TEST(GrpcRouteMatch, InvalidBackendsAndBadRegexes) {
  auto st = state_from_yaml(std::string(base) + grpc_route_yaml("g", "2024-01-01T00:00:00Z", "[grpc.example.com]", R"(
  - matches: [{method: {service: a.S, method: M}}]
    backendRefs: [{name: missing, port: 50051}]
  - matches: [{method: {type: RegularExpression, service: "(", method: M}}]
    backendRefs: [{name: a, port: 50051}]
)"));
  auto r = build(st, {});
  const route* rt = r.snap->find("grpc.example.com", "/a.S/M", grpc_request{}.attrs());
  ASSERT_NE(rt, nullptr);
  EXPECT_TRUE(rt->grpc);  // the proxy answers 503: UNAVAILABLE
  ASSERT_EQ(rt->weighted.size(), 1u);
  EXPECT_FALSE(rt->weighted[0].backend);
  std::string errs;
  for (const auto& e : r.errors) errs += e.to_string() + "\n";
  EXPECT_NE(errs.find("GRPCRoute apps/g: spec.rules[1].matches[0].method.service: invalid regular expression"), std::string::npos) << errs;
  const auto& rs = r.snap->gateway_status_ptr()->routes.at(0);
  EXPECT_EQ(rs.kind, "GRPCRoute");
  EXPECT_EQ(rs.parents.at(0).conditions.at(1).reason, "BackendNotFound");
}

// The reference: every match that accepts the request, ranked by the keys
// GRPCRouteRule.Matches lists, spelt out plainly.
struct ref_match {
  std::string route;  // name; every route in namespace apps
  std::string created;
  int rule = 0, match = 0;
  bool regex = false;
  std::string service, method;  // "" absent
  std::vector<std::pair<std::string, std::string>> headers;  // exact
};

bool ref_accepts(const ref_match& m, const std::string& svc, const std::string& meth,
                 const std::map<std::string, std::string>& headers) {
  auto part = [&](const std::string& want, const std::string& got) {
    if (want.empty()) return true;
    return m.regex ? std::regex_match(got, std::regex(want)) : want == got;
  };
  if (!part(m.service, svc) || !part(m.method, meth)) return false;
  for (const auto& [n, v] : m.headers) {
    auto it = headers.find(n);
    if (it == headers.end() || it->second != v) return false;
  }
  return true;
}

TEST(GrpcRoutePrecedence, AgreesWithAReferenceMatcher) {
  std::mt19937 rng(20261206);
  auto pick = [&](const std::vector<std::string>& v) { return v[rng() % v.size()]; };
  const std::vector<std::string> services{"a.S", "a.Svc", "bb.S"}, methods{"M", "Get", "GetX"};
  const std::vector<std::string> svc_res{"a\\..*", "(a|bb)\\.S", ".*"}, meth_res{"Get.*", "M|Get", "G.t"};
  for (int round = 0; round < 40; ++round) {
    std::vector<ref_match> ref;
    std::string yaml;
    const int routes = 1 + static_cast<int>(rng() % 3);
    for (int ri = 0; ri < routes; ++ri) {
      const std::string name = std::string(1, static_cast<char>('p' + rng() % 3)) + std::to_string(ri);
      const std::string created = "2024-01-0" + std::to_string(1 + rng() % 2) + "T00:00:00Z";
      std::string rules;
      const int nrules = 1 + static_cast<int>(rng() % 3);
      for (int rj = 0; rj < nrules; ++rj) {
        rules += "  - backendRefs: [{name: " + name + "-r" + std::to_string(rj) + ", port: 50051}]\n    matches:\n";
        const int nm = 1 + static_cast<int>(rng() % 2);
        for (int mk = 0; mk < nm; ++mk) {
          ref_match m{name, created, rj, mk, false, "", "", {}};
          m.regex = rng() % 3 == 0;
          const int which = static_cast<int>(rng() % 3);  // service, method, both
          if (which != 1) m.service = m.regex ? pick(svc_res) : pick(services);
          if (which != 0) m.method = m.regex ? pick(meth_res) : pick(methods);
          if (rng() % 3 == 0) m.headers.push_back({"x-v", std::to_string(1 + rng() % 2)});
          if (rng() % 4 == 0) m.headers.push_back({"x-w", "1"});
          rules += "    - method: {type: " + std::string(m.regex ? "RegularExpression" : "Exact");
          if (!m.service.empty()) rules += ", service: '" + m.service + "'";
          if (!m.method.empty()) rules += ", method: '" + m.method + "'";
          rules += "}\n";
          if (!m.headers.empty()) {
            rules += "      headers:\n";
            for (const auto& [n, v] : m.headers) rules += "      - {name: " + n + ", value: \"" + v + "\"}\n";
          }
          ref.push_back(m);
        }
      }
      yaml += grpc_route_yaml(name, created, "", rules);
    }
    auto st = state_from_yaml(std::string(base) + yaml);
    auto built = build(st, {});
    ASSERT_TRUE(built.snap);
    for (int q = 0; q < 30; ++q) {
      const std::string svc = pick(services), meth = pick(methods);
      grpc_request req;
      if (rng() % 2) req.headers["x-v"] = std::to_string(1 + rng() % 2);
      if (rng() % 2) req.headers["x-w"] = "1";
      const ref_match* best = nullptr;
      auto key = [](const ref_match& m) {
        return std::make_tuple(-static_cast<long>(m.service.size()), -static_cast<long>(m.method.size()),
                               -static_cast<long>(m.headers.size()), m.created, "apps/" + m.route, m.rule, m.match);
      };
      for (const auto& m : ref)
        if (ref_accepts(m, svc, meth, req.headers) && (best == nullptr || key(m) < key(*best))) best = &m;
      const std::string want = best ? "apps/" + best->route + " " + best->route + "-r" + std::to_string(best->rule) : "404";
      EXPECT_EQ(served(*built.snap, "any.example.com", "/" + svc + "/" + meth, req), want)
          << "round " << round << " request /" << svc << "/" << meth << "\n" << yaml;
    }
  }
}

TEST(GrpcRouteStatus, ListenerKindsAndTheHttpRouteConflict) {
  // http-only allows HTTPRoute alone: NotAllowedByListeners. On the open listener the
  // GRPCRoute for grpc.example.com is older than the HTTPRoute for it and x.example.com: the
  // HTTPRoute is not accepted; an HTTPRoute for www.other.com does not intersect.
  auto st = state_from_yaml(
      std::string(base) +
      grpc_route_yaml("g", "2024-01-01T00:00:00Z", "[grpc.example.com]", "  - backendRefs: [{name: a, port: 50051}]\n") +
      "---\napiVersion: gateway.networking.k8s.io/v1\nkind: GRPCRoute\nmetadata: {name: denied, namespace: apps}\n"
      "spec:\n  parentRefs: [{name: gw, namespace: infra, sectionName: http-only}]\n"
      "  rules: [{backendRefs: [{name: a, port: 50051}]}]\n" +
      grpc_route_yaml("h", "2024-02-01T00:00:00Z", "[grpc.example.com, x.example.com]", "  - backendRefs: [{name: b, port: 50051}]\n", "HTTPRoute") +
      grpc_route_yaml("w", "2024-02-01T00:00:00Z", "[www.other.com]", "  - backendRefs: [{name: b, port: 50051}]\n", "HTTPRoute"));
  auto r = build(st, {});
  const auto& s = *r.snap->gateway_status_ptr();
  std::map<std::string, const gw_route_status*> by;
  for (const auto& rs : s.routes) by[rs.kind + " " + rs.name] = &rs;
  ASSERT_EQ(by.size(), 4u);
  EXPECT_EQ(by["GRPCRoute g"]->parents.at(0).conditions.at(0).reason, "Accepted");
  EXPECT_EQ(by["GRPCRoute denied"]->parents.at(0).conditions.at(0).reason, "NotAllowedByListeners");
  const auto& hc = by["HTTPRoute h"]->parents.at(0).conditions.at(0);
  EXPECT_EQ(hc.status, "False");
  EXPECT_EQ(hc.reason, "NotAllowedByListeners");
  EXPECT_NE(hc.message.find("GRPCRoute apps/g"), std::string::npos) << hc.message;
  EXPECT_EQ(by["HTTPRoute w"]->parents.at(0).conditions.at(0).reason, "Accepted");
  EXPECT_EQ(served(*r.snap, "grpc.example.com", "/a.S/M"), "apps/g a");
  grpc_request get;
  get.method = "GET";
  EXPECT_EQ(served(*r.snap, "x.example.com", "/", get), "404");  // the HTTPRoute is not served
  EXPECT_EQ(served(*r.snap, "www.other.com", "/", get), "apps/w b");
  const std::string json = gateway_status_json(s);
  EXPECT_NE(json.find(R"("kind":"GRPCRoute")"), std::string::npos) << json;
}

}  // namespace
}  // namespace portico::config
