// Gateway API routing in config/: hostname coverage and intersection, the match precedence
// the spec orders (each row names its source in apis/v1/httproute_types.go), filters decoded
// into route policies, weighted and invalid backends, ReferenceGrant, listener status, and
// the precedence of a Gateway-claimed host over Ingress rules for it.
#include <gtest/gtest.h>

#include <map>

#include "config/gateway_status.hpp"
#include "tls_test_certs.hpp"
#include "config/gateway_table.hpp"
#include "state_fixture.hpp"

namespace portico::config {
namespace {

using testing::state_from_yaml;

// A request for snapshot::find(host, path, attrs).
struct fake_request {
  std::string method = "GET";
  std::string query;
  bool tls = false;
  std::map<std::string, std::string> headers;  // lower-case names

  static std::string_view header(const void* ctx, std::string_view name) {
    const auto& h = static_cast<const fake_request*>(ctx)->headers;
    std::string n(name);
    for (auto& c : n) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    auto it = h.find(n);
    return it == h.end() ? std::string_view{} : std::string_view(it->second);
  }
  static bool has(const void* ctx, std::string_view name) {
    std::string n(name);
    for (auto& c : n) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return static_cast<const fake_request*>(ctx)->headers.count(n) != 0;
  }
  request_attrs attrs() const { return {method, query, tls, this, &header, &has}; }
};

// "ns/route svc:port" of what serves the request, "500" for a route answering 500, or "404".
std::string served(const snapshot& s, std::string_view host, std::string_view path,
                   const fake_request& req = {}) {
  const route* r = s.find(host, path, req.attrs());
  if (r == nullptr) return "404";
  if (!r->weighted.empty() && (r->weighted.size() == 1 && !r->weighted[0].backend)) return "500";
  return r->namespace_name + "/" + r->ingress_name + " " + r->service_name + ":" + r->service_port;
}

constexpr const char* gateway_base = R"(
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
  - name: http
    port: 80
    protocol: HTTP
    allowedRoutes: {namespaces: {from: All}}
---
apiVersion: v1
kind: Service
metadata: {name: a, namespace: apps}
spec: {ports: [{port: 80}]}
---
apiVersion: v1
kind: Service
metadata: {name: b, namespace: apps}
spec: {ports: [{port: 80}]}
---
apiVersion: v1
kind: Service
metadata: {name: c, namespace: other}
spec: {ports: [{port: 80}]}
)";

std::string route_yaml(const std::string& name, const std::string& created, const std::string& hostnames,
                       const std::string& rules, const std::string& ns = "apps") {
  return "---\napiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata: {name: " + name +
         ", namespace: " + ns + ", creationTimestamp: \"" + created + "\"}\nspec:\n" +
         "  parentRefs: [{name: gw, namespace: infra}]\n" +
         (hostnames.empty() ? "" : "  hostnames: " + hostnames + "\n") + "  rules:\n" + rules;
}

build_result build_yaml(const std::string& yaml) {
  auto st = state_from_yaml(std::string(gateway_base) + yaml);
  return build(st, {});
}

TEST(GatewayHostnames, WildcardCoversOneOrMoreLabels) {
  // apis/v1/httproute_types.go, Hostnames: "*.example.com" matches test.example.com and
  // foo.test.example.com, not example.com.
  EXPECT_TRUE(hostname_covers("*.example.com", "test.example.com"));
  EXPECT_TRUE(hostname_covers("*.example.com", "foo.test.example.com"));
  EXPECT_FALSE(hostname_covers("*.example.com", "example.com"));
  EXPECT_FALSE(hostname_covers("*.example.com", "test.example.net"));
  EXPECT_TRUE(hostname_covers("*.example.com", "*.test.example.com"));
  EXPECT_FALSE(hostname_covers("*.example.com", "*.example.com"));
  EXPECT_TRUE(hostname_covers("a.example.com", "a.example.com"));
}

TEST(GatewayHostnames, IntersectionWithListener) {
  bool any = false;
  // Listener *.example.com, route test.example.com and test.example.net: the .net name is
  // ignored (apis/v1/httproute_types.go, Hostnames).
  EXPECT_EQ(intersect_hostnames("*.example.com", {"test.example.com", "test.example.net"}, any),
            std::vector<std::string>{"test.example.com"});
  EXPECT_FALSE(any);
  // Listener test.example.com, route *.example.com: the listener's name.
  EXPECT_EQ(intersect_hostnames("test.example.com", {"*.example.com"}, any),
            std::vector<std::string>{"test.example.com"});
  // No intersection: not accepted (NoMatchingListenerHostname).
  EXPECT_TRUE(intersect_hostnames("test.example.com", {"other.example.com"}, any).empty());
  EXPECT_FALSE(any);
  // Neither names one: every host.
  EXPECT_TRUE(intersect_hostnames(std::nullopt, {}, any).empty());
  EXPECT_TRUE(any);
  // Only the listener: the listener's.
  EXPECT_EQ(intersect_hostnames("*.example.com", {}, any), std::vector<std::string>{"*.example.com"});
}

TEST(GatewayQuery, FirstValueAsSent) {
  EXPECT_EQ(query_param("a=1&b=2&a=3", "a"), "1");
  EXPECT_EQ(query_param("a=1&b=2", "b"), "2");
  EXPECT_EQ(query_param("flag&b=2", "flag"), "");
  EXPECT_FALSE(query_param("A=1", "a").has_value());  // names are case-sensitive
}

// The precedence table. Each row: two routes that both match the request; the first named
// must win whichever is older, and whatever their order in the file.
struct precedence_row {
  const char* source;  // where the spec says so
  const char* winner_rules;
  const char* loser_rules;
  const char* path;
  fake_request req;
};

const std::string rule_a = "  - backendRefs: [{name: a, port: 80}]\n";

std::string rule(const std::string& matches) {
  return "  - matches: " + matches + "\n    backendRefs: [{name: a, port: 80}]\n";
}

class GatewayPrecedence : public ::testing::TestWithParam<precedence_row> {};

TEST_P(GatewayPrecedence, WinnerServes) {
  const auto& row = GetParam();
  for (bool winner_older : {true, false}) {
    const std::string w = route_yaml("winner", winner_older ? "2020-01-01T00:00:00Z" : "2021-01-01T00:00:00Z", "", rule(row.winner_rules));
    const std::string l = route_yaml("loser", winner_older ? "2021-01-01T00:00:00Z" : "2020-01-01T00:00:00Z", "", rule(row.loser_rules));
    auto r = build_yaml(w + l);
    ASSERT_TRUE(r.errors.empty()) << testing::errors_text(r.errors);
    EXPECT_EQ(served(*r.snap, "x.example.com", row.path, row.req), "apps/winner a:80")
        << row.source << (winner_older ? " (winner older)" : " (winner younger)");
  }
}

fake_request with_method(std::string m) {
  fake_request r;
  r.method = std::move(m);
  return r;
}
fake_request with_headers(std::map<std::string, std::string> h, std::string query = {}) {
  fake_request r;
  r.headers = std::move(h);
  r.query = std::move(query);
  return r;
}

INSTANTIATE_TEST_SUITE_P(
    SpecOrder, GatewayPrecedence,
    ::testing::Values(
        precedence_row{"HTTPRouteRule.Matches: \"Exact\" path match (over PathPrefix of the same path)",
                       "[{path: {type: Exact, value: /a/b}}]", "[{path: {type: PathPrefix, value: /a/b}, headers: [{name: x, value: '1'}]}]",
                       "/a/b", with_headers({{"x", "1"}})},
        precedence_row{"HTTPRouteRule.Matches: \"Prefix\" path match with largest number of characters",
                       "[{path: {type: PathPrefix, value: /a/b}}]", "[{path: {type: PathPrefix, value: /a}, method: GET}]",
                       "/a/b/c", with_method("GET")},
        precedence_row{"HTTPRouteRule.Matches: Method match",
                       "[{path: {type: PathPrefix, value: /a}, method: POST}]", "[{path: {type: PathPrefix, value: /a}, headers: [{name: x, value: '1'}, {name: y, value: '2'}]}]",
                       "/a", [] { auto r = with_headers({{"x", "1"}, {"y", "2"}}); r.method = "POST"; return r; }()},
        precedence_row{"HTTPRouteRule.Matches: Largest number of header matches",
                       "[{headers: [{name: x, value: '1'}, {name: y, value: '2'}]}]", "[{headers: [{name: x, value: '1'}], queryParams: [{name: q, value: '1'}, {name: r, value: '2'}]}]",
                       "/", with_headers({{"x", "1"}, {"y", "2"}}, "q=1&r=2")},
        precedence_row{"HTTPRouteRule.Matches: Largest number of query param matches",
                       "[{queryParams: [{name: q, value: '1'}, {name: r, value: '2'}]}]", "[{queryParams: [{name: q, value: '1'}]}]",
                       "/", with_headers({}, "q=1&r=2")},
        precedence_row{"Portico's choice (RegularExpression is implementation-specific): Exact, then RegularExpression, then PathPrefix",
                       "[{path: {type: RegularExpression, value: '/a/[0-9]+'}}]", "[{path: {type: PathPrefix, value: /a/1}}]",
                       "/a/1", {}}));

TEST(GatewayPrecedenceTies, OlderRouteThenNameThenRuleOrder) {
  // Ties across Routes: the oldest Route by creation timestamp, then "{namespace}/{name}"
  // alphabetically; within a Route the first matching rule (HTTPRouteRule.Matches).
  const std::string m = "  - matches: [{path: {type: PathPrefix, value: /p}}]\n    backendRefs: [{name: a, port: 80}]\n";
  auto r = build_yaml(route_yaml("zz", "2020-01-01T00:00:00Z", "", m) + route_yaml("aa", "2021-01-01T00:00:00Z", "", m));
  EXPECT_EQ(served(*r.snap, "h", "/p"), "apps/zz a:80");  // older wins over the name
  r = build_yaml(route_yaml("zz", "2020-01-01T00:00:00Z", "", m) + route_yaml("aa", "2020-01-01T00:00:00Z", "", m));
  EXPECT_EQ(served(*r.snap, "h", "/p"), "apps/aa a:80");  // same age: name order
  r = build_yaml(route_yaml("one", "2020-01-01T00:00:00Z", "",
                            "  - matches: [{path: {type: PathPrefix, value: /p}}]\n    backendRefs: [{name: b, port: 80}]\n" + m));
  EXPECT_EQ(served(*r.snap, "h", "/p"), "apps/one b:80");  // first rule
}

TEST(GatewayHostPrecedence, ExactHostRulesBeforeWildcardThenFallThrough) {
  // "precedence must be given to rules from the HTTPRoute with the largest number of:
  // characters in a matching non-wildcard hostname; characters in a matching hostname"
  // (HTTPRouteSpec.Hostnames). A request the exact host's rules do not match falls through
  // to the wildcard route's, then to routes without hostnames.
  auto r = build_yaml(
      route_yaml("exact", "2021-01-01T00:00:00Z", "[foo.example.com]", "  - matches: [{path: {type: PathPrefix, value: /x}}]\n    backendRefs: [{name: a, port: 80}]\n") +
      route_yaml("wild", "2020-01-01T00:00:00Z", "['*.example.com']", "  - matches: [{path: {type: Exact, value: /x}}]\n    backendRefs: [{name: b, port: 80}]\n  - matches: [{path: {type: PathPrefix, value: /y}}]\n    backendRefs: [{name: b, port: 80}]\n") +
      route_yaml("any", "2019-01-01T00:00:00Z", "", "  - matches: [{path: {type: PathPrefix, value: /z}}]\n    backendRefs: [{name: a, port: 80}]\n"));
  ASSERT_TRUE(r.errors.empty()) << testing::errors_text(r.errors);
  EXPECT_EQ(served(*r.snap, "foo.example.com", "/x"), "apps/exact a:80");  // Exact path loses to the exact host
  EXPECT_EQ(served(*r.snap, "foo.example.com", "/y"), "apps/wild b:80");
  EXPECT_EQ(served(*r.snap, "foo.example.com", "/z"), "apps/any a:80");
  EXPECT_EQ(served(*r.snap, "a.b.example.com", "/x"), "apps/wild b:80");  // wildcard: two labels
  EXPECT_EQ(served(*r.snap, "example.com", "/x"), "404");  // not covered: the any-host routes only
  EXPECT_EQ(served(*r.snap, "FOO.example.com:8080", "/x"), "apps/exact a:80");
  EXPECT_EQ(served(*r.snap, "foo.example.com", "/nothing"), "404");  // claimed host: no fallback
}

TEST(GatewayMatches, HeadersQueryMethodAndRegex) {
  auto r = build_yaml(route_yaml("m", "2020-01-01T00:00:00Z", "[h.example.com]",
      "  - matches: [{path: {type: Exact, value: /e}, headers: [{name: X-Env, value: canary}, {type: RegularExpression, name: X-Id, value: '[0-9]+'}]}]\n"
      "    backendRefs: [{name: b, port: 80}]\n"
      "  - matches: [{queryParams: [{name: v, value: '2'}], method: PUT}]\n"
      "    backendRefs: [{name: b, port: 80}]\n"
      "  - backendRefs: [{name: a, port: 80}]\n"));
  ASSERT_TRUE(r.errors.empty()) << testing::errors_text(r.errors);
  const auto& s = *r.snap;
  EXPECT_EQ(served(s, "h.example.com", "/e", with_headers({{"x-env", "canary"}, {"x-id", "42"}})), "apps/m b:80");
  EXPECT_EQ(served(s, "h.example.com", "/e", with_headers({{"x-env", "canary"}, {"x-id", "42a"}})), "apps/m a:80");  // full match
  EXPECT_EQ(served(s, "h.example.com", "/e", with_headers({{"x-env", "Canary"}, {"x-id", "1"}})), "apps/m a:80");  // values are case-sensitive
  EXPECT_EQ(served(s, "h.example.com", "/e/", with_headers({{"x-env", "canary"}, {"x-id", "1"}})), "apps/m a:80");  // Exact
  auto put = with_headers({}, "v=2");
  put.method = "PUT";
  EXPECT_EQ(served(s, "h.example.com", "/any", put), "apps/m b:80");
  EXPECT_EQ(served(s, "h.example.com", "/any", with_headers({}, "v=2")), "apps/m a:80");  // GET
}

TEST(GatewayMatches, PathPrefixIsElementWise) {
  auto r = build_yaml(route_yaml("p", "2020-01-01T00:00:00Z", "[h]",
      "  - matches: [{path: {type: PathPrefix, value: /abc}}]\n    backendRefs: [{name: b, port: 80}]\n"));
  // "/abc", "/abc/" and "/abc/def" match the prefix "/abc", "/abcd" does not (HTTPPathMatch).
  for (const char* p : {"/abc", "/abc/", "/abc/def"}) EXPECT_EQ(served(*r.snap, "h", p), "apps/p b:80") << p;
  EXPECT_EQ(served(*r.snap, "h", "/abcd"), "404");
}

TEST(GatewayFilters, DecodeIntoTheRoutePolicy) {
  auto r = build_yaml(route_yaml("f", "2020-01-01T00:00:00Z", "[h]",
      "  - matches: [{path: {type: PathPrefix, value: /old}}]\n"
      "    filters:\n"
      "    - {type: RequestHeaderModifier, requestHeaderModifier: {set: [{name: X-S, value: s}], add: [{name: X-A, value: a}], remove: [X-R]}}\n"
      "    - {type: ResponseHeaderModifier, responseHeaderModifier: {set: [{name: X-T, value: t}], remove: [Server]}}\n"
      "    - {type: URLRewrite, urlRewrite: {hostname: up.example, path: {type: ReplacePrefixMatch, replacePrefixMatch: /new}}}\n"
      "    backendRefs: [{name: a, port: 80}]\n"
      "  - matches: [{path: {type: PathPrefix, value: /go}}]\n"
      "    filters: [{type: RequestRedirect, requestRedirect: {scheme: https, statusCode: 301}}]\n"));
  ASSERT_TRUE(r.errors.empty()) << testing::errors_text(r.errors);
  const route* rw = r.snap->find("h", "/old/x", fake_request{}.attrs());
  ASSERT_NE(rw, nullptr);
  const auto& p = *rw->policy;
  EXPECT_EQ(p.request_edits.set.at(0), (std::pair<std::string, std::string>{"X-S", "s"}));
  EXPECT_EQ(p.request_edits.add.at(0).first, "X-A");
  EXPECT_EQ(p.request_edits.remove.at(0), "X-R");
  EXPECT_EQ(p.response_edits.set.at(0).first, "X-T");
  EXPECT_EQ(p.response_edits.remove.at(0), "Server");
  EXPECT_EQ(p.upstream_vhost, "up.example");
  EXPECT_EQ(p.rewrite.gateway_path.k, path_edit::kind::prefix);
  EXPECT_EQ(p.rewrite.gateway_path.value, "/new");
  const route* rd = r.snap->find("h", "/go", fake_request{}.attrs());
  ASSERT_NE(rd, nullptr);
  EXPECT_TRUE(rd->policy->redirect.gateway.enabled);
  EXPECT_EQ(rd->policy->redirect.gateway.scheme, "https");
  EXPECT_EQ(rd->policy->redirect.gateway.status, 301u);
}

TEST(GatewayFilters, UnsupportedOrInvalidRulesAnswer500WithAnError) {
  auto r = build_yaml(route_yaml("f", "2020-01-01T00:00:00Z", "[h]",
      "  - matches: [{path: {type: PathPrefix, value: /mirror}}]\n"
      "    filters: [{type: CORS, cors: {}}]\n"
      "    backendRefs: [{name: a, port: 80}]\n"
      "  - matches: [{path: {type: Exact, value: /exact}}]\n"
      "    filters: [{type: URLRewrite, urlRewrite: {path: {type: ReplacePrefixMatch, replacePrefixMatch: /x}}}]\n"
      "    backendRefs: [{name: a, port: 80}]\n"
      "  - matches: [{path: {type: RegularExpression, value: '/re/(['}}]\n"
      "    backendRefs: [{name: a, port: 80}]\n"));
  EXPECT_EQ(served(*r.snap, "h", "/mirror"), "500");
  EXPECT_EQ(served(*r.snap, "h", "/exact"), "500");
  EXPECT_EQ(served(*r.snap, "h", "/re/x"), "404");  // a match whose regex does not compile is not served
  const std::string errs = testing::errors_text(r.errors);
  EXPECT_NE(errs.find("HTTPRoute apps/f: spec.rules[0].filters[0]: filter type CORS is not supported"), std::string::npos) << errs;
  EXPECT_NE(errs.find("spec.rules[1].matches[0].path: ReplacePrefixMatch needs a PathPrefix match"), std::string::npos) << errs;
  EXPECT_NE(errs.find("spec.rules[2].matches[0].path.value: invalid regular expression"), std::string::npos) << errs;
}

TEST(GatewayTimeouts, IntoTheRoutePolicy) {
  auto r = build_yaml(route_yaml("t", "2020-01-01T00:00:00Z", "[h]",
      "  - matches: [{path: {type: PathPrefix, value: /both}}]\n"
      "    timeouts: {request: 2m, backendRequest: 500ms}\n"
      "    backendRefs: [{name: a, port: 80}]\n"
      "  - matches: [{path: {type: PathPrefix, value: /off}}]\n"
      "    timeouts: {request: 0s}\n"
      "    backendRefs: [{name: a, port: 80}]\n"
      "  - matches: [{path: {type: PathPrefix, value: /none}}]\n"
      "    backendRefs: [{name: a, port: 80}]\n"));
  ASSERT_TRUE(r.errors.empty()) << testing::errors_text(r.errors);
  auto policy = [&](const char* path) { return r.snap->find("h", path, fake_request{}.attrs())->policy; };
  const auto both = policy("/both");
  EXPECT_EQ(both->request_timeout, std::chrono::minutes(2));
  EXPECT_EQ(both->attempt_timeout, std::chrono::milliseconds(500));
  // The per-read limits do not cut the request before its deadline.
  EXPECT_EQ(both->read_timeout, std::chrono::minutes(2));
  EXPECT_EQ(both->send_timeout, std::chrono::minutes(2));
  const auto off = policy("/off");
  EXPECT_EQ(off->request_timeout.count(), 0);
  EXPECT_GE(off->read_timeout, std::chrono::hours(24));  // "0s": no timeout
  const auto none = policy("/none");
  EXPECT_EQ(none->request_timeout.count(), 0);
  EXPECT_EQ(none->read_timeout, std::chrono::seconds(60));  // the proxy's own
  EXPECT_NE(both->hash, none->hash);
}

TEST(GatewayMirrors, ResolvedDroppedWhenInvalidAndCountedInStatus) {
  auto r = build_yaml(route_yaml("m", "2020-01-01T00:00:00Z", "[h]",
      "  - matches: [{path: {type: PathPrefix, value: /m}}]\n"
      "    filters:\n"
      "    - {type: RequestMirror, requestMirror: {backendRef: {name: b, port: 80}}}\n"
      "    - {type: RequestMirror, requestMirror: {backendRef: {name: a, port: 80}, percent: 25}}\n"
      "    - {type: RequestMirror, requestMirror: {backendRef: {name: b, port: 80}, fraction: {numerator: 1, denominator: 3}}}\n"
      "    - {type: RequestMirror, requestMirror: {backendRef: {name: c, namespace: other, port: 80}}}\n"
      "    - {type: RequestMirror, requestMirror: {backendRef: {name: a, port: 80}, percent: 0}}\n"
      "    backendRefs: [{name: a, port: 80}]\n"));
  const route* m = r.snap->find("h", "/m", fake_request{}.attrs());
  ASSERT_NE(m, nullptr);
  EXPECT_EQ(served(*r.snap, "h", "/m"), "apps/m a:80");  // served with the valid mirrors
  ASSERT_EQ(m->mirrors.size(), 3u);  // the cross-namespace one is dropped, percent 0 never mirrors
  EXPECT_EQ(m->mirrors[0].name, "apps/b:80");
  EXPECT_EQ(m->mirrors[0].numerator, 1u);
  EXPECT_EQ(m->mirrors[0].denominator, 1u);
  EXPECT_EQ(m->mirrors[1].numerator, 25u);
  EXPECT_EQ(m->mirrors[1].denominator, 100u);
  EXPECT_EQ(m->mirrors[2].numerator, 1u);
  EXPECT_EQ(m->mirrors[2].denominator, 3u);
  const std::string errs = testing::errors_text(r.errors);
  EXPECT_NE(errs.find("HTTPRoute apps/m: spec.rules[0].filters[3].requestMirror.backendRef: Service other/c is in "
                      "another namespace and no ReferenceGrant allows it; requests are not mirrored there"),
            std::string::npos) << errs;
  ASSERT_EQ(r.snap->gateway_status_ptr()->routes.size(), 1u);
  const auto& conds = r.snap->gateway_status_ptr()->routes[0].parents.at(0).conditions;
  EXPECT_EQ(conds.at(1).type, "ResolvedRefs");
  EXPECT_EQ(conds.at(1).reason, "RefNotPermitted");
}

TEST(GatewayBackends, WeightsInvalidRefsAndReferenceGrant) {
  const std::string rules =
      "  - matches: [{path: {type: PathPrefix, value: /w}}]\n"
      "    backendRefs: [{name: a, port: 80, weight: 3}, {name: b, port: 80, weight: 0}, {name: missing, port: 80, weight: 1}]\n"
      "  - matches: [{path: {type: PathPrefix, value: /zero}}]\n"
      "    backendRefs: [{name: a, port: 80, weight: 0}]\n"
      "  - matches: [{path: {type: PathPrefix, value: /cross}}]\n"
      "    backendRefs: [{name: c, namespace: other, port: 80}]\n";
  auto r = build_yaml(route_yaml("w", "2020-01-01T00:00:00Z", "[h]", rules));
  const route* w = r.snap->find("h", "/w", fake_request{}.attrs());
  ASSERT_NE(w, nullptr);
  ASSERT_EQ(w->weighted.size(), 3u);
  EXPECT_EQ(w->weight_total, 4u);
  EXPECT_EQ(w->weighted[0].backend->id, "apps/a:80");
  EXPECT_EQ(w->weighted[1].weight, 0u);
  EXPECT_EQ(w->weighted[2].backend, nullptr);  // BackendNotFound: its quarter answers 500
  EXPECT_EQ(served(*r.snap, "h", "/zero"), "500");   // every weight 0
  EXPECT_EQ(served(*r.snap, "h", "/cross"), "500");  // RefNotPermitted
  const auto& st = *r.snap->gateway_status_ptr();
  ASSERT_EQ(st.routes.size(), 1u);
  const auto& conds = st.routes[0].parents.at(0).conditions;
  ASSERT_EQ(conds.size(), 2u);
  EXPECT_EQ(conds[0].reason, "Accepted");
  EXPECT_EQ(conds[1].type, "ResolvedRefs");
  EXPECT_EQ(conds[1].status, "False");
  EXPECT_EQ(conds[1].reason, "BackendNotFound");  // the first bad ref in rule order

  auto granted = build_yaml(route_yaml("w", "2020-01-01T00:00:00Z", "[h]",
      "  - backendRefs: [{name: c, namespace: other, port: 80}]\n") + R"(
---
apiVersion: gateway.networking.k8s.io/v1beta1
kind: ReferenceGrant
metadata: {name: g, namespace: other}
spec:
  from: [{group: gateway.networking.k8s.io, kind: HTTPRoute, namespace: apps}]
  to: [{group: "", kind: Service, name: c}]
)");
  ASSERT_TRUE(granted.errors.empty()) << testing::errors_text(granted.errors);
  EXPECT_EQ(served(*granted.snap, "h", "/"), "apps/w c:80");
  auto denied = build_yaml(route_yaml("w", "2020-01-01T00:00:00Z", "[h]",
      "  - backendRefs: [{name: c, namespace: other, port: 80}]\n"));
  EXPECT_EQ(served(*denied.snap, "h", "/"), "500");
  EXPECT_EQ(denied.snap->gateway_status_ptr()->routes.at(0).parents.at(0).conditions.at(1).reason, "RefNotPermitted");
}

TEST(GatewayStatus, ListenersAndParentReasons) {
  auto st = state_from_yaml(std::string(gateway_base) + R"(
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: gw2, namespace: infra}
spec:
  gatewayClassName: portico
  listeners:
  - {name: web, port: 80, protocol: HTTP, hostname: only.example.com, allowedRoutes: {namespaces: {from: All}}}
  - {name: odd, port: 8081, protocol: HTTP}
  - {name: tcp, port: 9000, protocol: TCP}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: r, namespace: apps}
spec:
  parentRefs:
  - {name: gw, namespace: infra}
  - {name: gw2, namespace: infra, sectionName: web}
  - {name: gw2, namespace: infra, sectionName: nope}
  - {name: not-ours, namespace: infra}
  hostnames: [other.example.com]
  rules: [{backendRefs: [{name: a, port: 80}]}]
)");
  auto r = build(st, {});
  const auto& s = *r.snap->gateway_status_ptr();
  ASSERT_EQ(s.gateways.size(), 2u);
  const auto& gw2 = s.gateways[1];
  EXPECT_EQ(gw2.name, "gw2");
  EXPECT_EQ(gw2.conditions.at(0).reason, "ListenersNotValid");  // Accepted True, some not served
  EXPECT_EQ(gw2.conditions.at(0).status, "True");
  EXPECT_EQ(gw2.listeners.at(1).conditions.at(0).reason, "PortUnavailable");
  EXPECT_EQ(gw2.listeners.at(2).conditions.at(0).reason, "UnsupportedProtocol");
  EXPECT_EQ(s.gateways[0].listeners.at(0).attached_routes, 1);
  ASSERT_EQ(s.routes.size(), 1u);
  const auto& parents = s.routes[0].parents;
  ASSERT_EQ(parents.size(), 3u);  // not-ours is not Portico's to report
  EXPECT_EQ(parents[0].conditions.at(0).reason, "Accepted");
  EXPECT_EQ(parents[1].conditions.at(0).reason, "NoMatchingListenerHostname");
  EXPECT_EQ(parents[2].conditions.at(0).reason, "NoMatchingParent");
  // NotAllowedByListeners: a listener of namespace Same for a route of another namespace.
  auto st2 = state_from_yaml(std::string(gateway_base) + R"(
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: same, namespace: infra}
spec:
  gatewayClassName: portico
  listeners: [{name: web, port: 80, protocol: HTTP}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: r, namespace: apps}
spec:
  parentRefs: [{name: same, namespace: infra}]
  rules: [{backendRefs: [{name: a, port: 80}]}]
)");
  auto r2 = build(st2, {});
  EXPECT_EQ(r2.snap->gateway_status_ptr()->routes.at(0).parents.at(0).conditions.at(0).reason, "NotAllowedByListeners");
  const std::string json = gateway_status_json(*r2.snap->gateway_status_ptr());
  EXPECT_NE(json.find(R"("gateway":"infra/same","sectionName":null)"), std::string::npos) << json;
}

TEST(GatewayAndIngress, GatewayClaimsTheHostIngressRulesConflict) {
  std::string ing = std::string("---") + testing::our_class;
  ing += testing::ingress_yaml("apps", "ing", "2019-01-01T00:00:00Z", "shared.example.com", "/", "Prefix", "b", 80);
  ing += testing::ingress_yaml("apps", "ing2", "2019-01-01T00:00:00Z", "ingress-only.example.com", "/", "Prefix", "b", 80);
  auto r = build_yaml(ing + route_yaml("g", "2020-01-01T00:00:00Z", "[shared.example.com]",
                                       "  - matches: [{path: {type: PathPrefix, value: /api}}]\n    backendRefs: [{name: a, port: 80}]\n"));
  EXPECT_EQ(served(*r.snap, "shared.example.com", "/api"), "apps/g a:80");
  EXPECT_EQ(served(*r.snap, "shared.example.com", "/"), "404");  // the Ingress rule is not served
  EXPECT_EQ(served(*r.snap, "ingress-only.example.com", "/"), "apps/ing2 b:80");
  const std::string errs = testing::errors_text(r.errors);
  EXPECT_NE(errs.find("Ingress apps/ing: spec.rules[0].http.paths[0]: conflict: host \"shared.example.com\" is served by a Gateway"), std::string::npos) << errs;
}

TEST(GatewayTls, ListenerCertificatesBySniAndReferenceGrant) {
  auto st = state_from_yaml(std::string(gateway_base) + R"(
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: tls, namespace: infra}
spec:
  gatewayClassName: portico
  listeners:
  - {name: own, port: 443, protocol: HTTPS, hostname: own.example.com, tls: {certificateRefs: [{name: own}]}}
  - {name: other-ns, port: 443, protocol: HTTPS, hostname: far.example.com,
     tls: {certificateRefs: [{name: far, namespace: certs}]}}
  - {name: wrong, port: 443, protocol: HTTPS, hostname: wrong.example.com, tls: {certificateRefs: [{name: own}]}}
)");
  st.upsert(testing::tls_secret("infra", "own", testing::make_cert_for({"own.example.com"})));
  st.upsert(testing::tls_secret("certs", "far", testing::make_cert_for({"far.example.com"})));
  build_options o;
  o.now = testing::tls_now;
  auto r = build(st, o);
  ASSERT_NE(r.snap->find_certificates("own.example.com"), nullptr);
  EXPECT_EQ(r.snap->find_certificates("own.example.com")->front()->secret, "infra/own");
  // Another namespace without a ReferenceGrant: refused (RefNotPermitted), the default answers.
  EXPECT_EQ(r.snap->find_certificates("far.example.com"), nullptr);
  const auto& ls = r.snap->gateway_status_ptr()->gateways.at(1).listeners;
  EXPECT_EQ(ls.at(1).conditions.at(1).type, "ResolvedRefs");
  EXPECT_EQ(ls.at(1).conditions.at(1).reason, "RefNotPermitted");
  EXPECT_EQ(ls.at(1).conditions.at(2).status, "False");  // Programmed: no usable certificate
  const std::string errs = testing::errors_text(r.errors);
  EXPECT_NE(errs.find("Gateway infra/tls: spec.listeners[2].tls.certificateRefs[0]: the certificate of Secret "
                      "infra/own (own.example.com) does not name the listener hostname"),
            std::string::npos) << errs;
  st.upsert(state_from_yaml(R"(
apiVersion: gateway.networking.k8s.io/v1beta1
kind: ReferenceGrant
metadata: {name: gw-certs, namespace: certs}
spec:
  from: [{group: gateway.networking.k8s.io, kind: Gateway, namespace: infra}]
  to: [{group: "", kind: Secret}]
)").reference_grants.begin()->second);
  r = build(st, o);
  ASSERT_NE(r.snap->find_certificates("far.example.com"), nullptr);
  EXPECT_EQ(r.snap->find_certificates("far.example.com")->front()->secret, "certs/far");
}

TEST(GatewayClass, OtherControllersAreIgnored) {
  auto st = state_from_yaml(std::string(gateway_base) + route_yaml("g", "2020-01-01T00:00:00Z", "[h]", rule_a));
  build_options o;
  o.gateway_controller_name = "example.com/other";
  auto r = build(st, o);
  EXPECT_EQ(r.snap->gateway_ptr(), nullptr);
  EXPECT_TRUE(r.snap->gateway_status_ptr()->gateways.empty());
  EXPECT_EQ(served(*r.snap, "h", "/"), "404");
}

}  // namespace
}  // namespace portico::config
