// External authentication's decoding: auth-url and its family into the route policy, the
// ConfigMap's global-auth-* with enable-global-auth and no-auth-locations, and the values
// ingress-nginx refuses (the routes then answer 503) or ignores (the default applies).
#include <gtest/gtest.h>

#include <string>

#include "config/external_auth.hpp"
#include "config/request_template.hpp"
#include "tests/config/state_fixture.hpp"

namespace portico::config {
namespace {

using testing::errors_text;
using testing::our_class;
using testing::state_from_yaml;

const std::string svc = R"(
---
apiVersion: v1
kind: Service
metadata: {name: app, namespace: ns}
spec: {ports: [{name: http, port: 80}]}
)";

std::string ing(const std::string& name, const std::string& annotations,
                const std::string& path = "/") {
  return "---\napiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata:\n  name: " + name +
         "\n  namespace: ns\n  annotations: {" + annotations +
         "}\nspec:\n  ingressClassName: portico\n  rules:\n  - host: " + name +
         ".test\n    http:\n      paths:\n      - {path: " + path +
         ", pathType: Prefix, backend: {service: {name: app, port: {number: 80}}}}\n";
}

const route* route_of(const build_result& r, const std::string& host, const std::string& path = "/") {
  const route* rt = r.snap->find(host, path);
  EXPECT_NE(rt, nullptr) << host;
  return rt;
}

bool reported(const build_result& r, const std::string& field_part, const std::string& text) {
  for (const auto& e : r.errors)
    if (e.field.find(field_part) != std::string::npos && e.message.find(text) != std::string::npos)
      return true;
  return false;
}

#define A "nginx.ingress.kubernetes.io/"

TEST(split_auth_url, parts_of_the_urls_users_write) {
  std::string why;
  auto u = split_auth_url("http://oauth2-proxy.auth.svc.cluster.local:4180/oauth2/auth", why);
  ASSERT_TRUE(u) << why;
  EXPECT_FALSE(u->https);
  EXPECT_EQ(u->host, "oauth2-proxy.auth.svc.cluster.local");
  EXPECT_EQ(u->port, 4180);
  EXPECT_EQ(u->target, "/oauth2/auth");
  EXPECT_EQ(u->host_header, "oauth2-proxy.auth.svc.cluster.local");  // without the port
  u = split_auth_url("HTTPS://Auth.Example.com?x=1#frag", why);
  ASSERT_TRUE(u) << why;
  EXPECT_TRUE(u->https);
  EXPECT_EQ(u->port, 443);
  EXPECT_EQ(u->host, "auth.example.com");
  EXPECT_EQ(u->target, "/?x=1");
  u = split_auth_url("http://[::1]:8080/a", why);
  ASSERT_TRUE(u) << why;
  EXPECT_EQ(u->host, "::1");
  EXPECT_EQ(u->host_header, "[::1]");
  EXPECT_EQ(u->port, 8080);
  u = split_auth_url("http://10.0.0.1", why);
  ASSERT_TRUE(u) << why;
  EXPECT_EQ(u->target, "");  // no path: the proxy sends its auth location's URI
  for (auto bad : {"https://invalid..auth.url", "ftp://a/b", "/relative", "http://", "http://a:0/",
                   "http://a:99999/", "http://a:x/", "http://user@a/", "http://[::1/", "http://a b/"})
    EXPECT_FALSE(split_auth_url(bad, why)) << bad;
}

TEST(auth_cache_durations, nginx_proxy_cache_valid_syntax) {
  auto r = parse_auth_cache_durations("200 202 401 5m");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->size(), 1u);
  EXPECT_EQ((*r)[0].codes, (std::vector<std::uint16_t>{200, 202, 401}));
  EXPECT_EQ((*r)[0].ttl, std::chrono::minutes(5));
  r = parse_auth_cache_durations("200 202 10m, 401 5m, any 1s");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->size(), 3u);
  EXPECT_EQ((*r)[1].codes, (std::vector<std::uint16_t>{401}));
  EXPECT_TRUE((*r)[2].any);
  r = parse_auth_cache_durations("30m");  // no status: 200, 301, 302 (nginx)
  ASSERT_TRUE(r);
  EXPECT_EQ((*r)[0].codes, (std::vector<std::uint16_t>{200, 301, 302}));
  for (auto bad : {"200", "5m 200", "200 5x", "2000 5m", "200 5m 10m", "abc"})
    EXPECT_FALSE(parse_auth_cache_durations(bad)) << bad;
}

TEST(request_template, nginx_variables_of_auth_urls) {
  std::string why;
  auto t = parse_request_template("https://$host/oauth2/start?rd=$escaped_request_uri", why);
  ASSERT_TRUE(why.empty()) << why;
  ASSERT_EQ(t.size(), 4u);
  EXPECT_EQ(t[1].k, hash_part::kind::host);
  EXPECT_EQ(t[3].k, hash_part::kind::escaped_request_uri);
  EXPECT_TRUE(has_variables(t));
  t = parse_request_template("$remote_user$http_authorization${cookie__oauth2_proxy}", why);
  ASSERT_TRUE(why.empty()) << why;
  ASSERT_EQ(t.size(), 3u);
  EXPECT_EQ(t[0].k, hash_part::kind::remote_user);
  EXPECT_EQ(t[1].text, "authorization");
  EXPECT_EQ(t[2].k, hash_part::kind::cookie);
  EXPECT_EQ(t[2].text, "_oauth2_proxy");
  EXPECT_FALSE(has_variables(parse_request_template("http://a/b", why)));
  parse_request_template("http://$upstream_addr/", why);
  EXPECT_NE(why.find("$upstream_addr"), std::string::npos);
}

TEST(external_auth, the_family_decodes_into_the_policy) {
  auto r = build(state_from_yaml(std::string(our_class) + svc + R"(
---
apiVersion: v1
kind: ConfigMap
metadata: {name: auth-headers, namespace: ns}
data: {X-Tenant: blue, X-Forwarded-Uri: "/from-configmap"}
)" + ing("a", A "auth-url: 'http://auth.ns.svc:9000/verify?x=1', " A "auth-method: POST, " A
         "auth-signin: 'https://$host/oauth2/start', " A "auth-signin-redirect-param: orig, " A
         "auth-response-headers: 'X-User, X-Email', " A "auth-request-redirect: 'https://a.test/back', " A
         "auth-cache-key: '$remote_user$http_authorization', " A "auth-cache-duration: '200 1m, 401 10s', " A
         "auth-always-set-cookie: 'true', " A "auth-keepalive: '10', " A "auth-keepalive-requests: '50', " A
         "auth-keepalive-timeout: '5', " A "auth-proxy-set-headers: auth-headers")));
  ASSERT_TRUE(r.errors.empty()) << errors_text(r.errors);
  const route* rt = route_of(r, "a.test");
  ASSERT_TRUE(rt && rt->policy->ext_auth);
  const external_auth& a = *rt->policy->ext_auth;
  EXPECT_TRUE(rt->policy->denied.empty());
  EXPECT_EQ(a.fixed.host, "auth.ns.svc");
  EXPECT_EQ(a.fixed.port, 9000);
  EXPECT_EQ(a.fixed.target, "/verify?x=1");
  EXPECT_TRUE(a.url_template.empty());
  EXPECT_EQ(a.method, "POST");
  EXPECT_EQ(a.signin_text, "https://$host/oauth2/start");
  // ingress-nginx's buildAuthSignURL: the original URL in the redirect parameter.
  std::string signin;
  for (const auto& p : a.signin) signin += p.k == hash_part::kind::literal ? p.text : "<var>";
  EXPECT_EQ(signin, "https://<var>/oauth2/start?orig=<var>://<var><var>");
  EXPECT_EQ(a.response_headers, (std::vector<std::string>{"X-User", "X-Email"}));
  EXPECT_FALSE(a.request_redirect.empty());
  EXPECT_EQ(a.cache_key.size(), 2u);
  ASSERT_EQ(a.cache_rules.size(), 2u);
  EXPECT_EQ(a.cache_rules[1].ttl, std::chrono::seconds(10));
  EXPECT_TRUE(a.always_set_cookie);
  EXPECT_EQ(a.keepalive, 10u);
  EXPECT_EQ(a.keepalive_requests, 50u);
  EXPECT_EQ(a.keepalive_timeout, std::chrono::seconds(5));
  EXPECT_EQ(a.proxy_set_headers,
            (std::vector<std::pair<std::string, std::string>>{{"X-Forwarded-Uri", "/from-configmap"},
                                                              {"X-Tenant", "blue"}}));
  EXPECT_FALSE(a.global);
}

TEST(external_auth, defaults_and_a_signin_that_names_its_parameter) {
  auto r = build(state_from_yaml(std::string(our_class) + svc +
                                 ing("a", A "auth-url: 'https://$host/oauth2/auth', " A
                                          "auth-signin: 'https://$host/oauth2/start?rd=$escaped_request_uri'")));
  ASSERT_TRUE(r.errors.empty()) << errors_text(r.errors);
  const auto& a = *route_of(r, "a.test")->policy->ext_auth;
  EXPECT_FALSE(a.url_template.empty());  // $host: resolved per request
  EXPECT_EQ(a.method, "");
  EXPECT_EQ(a.keepalive, 0u);  // "Connection: close" per subrequest, as ingress-nginx
  EXPECT_EQ(a.keepalive_requests, 1000u);
  ASSERT_EQ(a.cache_rules.size(), 1u);  // "200 202 401 5m"
  EXPECT_EQ(a.cache_rules[0].codes, (std::vector<std::uint16_t>{200, 202, 401}));
  EXPECT_TRUE(a.cache_key.empty());
  std::string signin;
  for (const auto& p : a.signin) signin += p.k == hash_part::kind::literal ? p.text : "<var>";
  EXPECT_EQ(signin, "https://<var>/oauth2/start?rd=<var>");  // rd named: nothing added
}

TEST(external_auth, what_cannot_be_applied_denies_the_routes) {
  struct bad_case {
    std::string annotations, key, text;
  };
  const bad_case cases[] = {
      {A "auth-url: 'https://invalid..auth.url'", "auth-url", "invalid url host"},
      {A "auth-url: 'ftp://auth/x'", "auth-url", "http"},
      {A "auth-url: 'http://$upstream_addr/x'", "auth-url", "$upstream_addr"},
      {A "auth-url: 'http://a/x', " A "auth-method: FETCH", "auth-method", "invalid HTTP method"},
      {A "auth-url: 'http://a/x', " A "auth-response-headers: 'X-User, Bad Header'", "auth-response-headers", "invalid headers list"},
      {A "auth-url: 'http://a/x', " A "auth-cache-duration: '200 forever'", "auth-cache-duration", "invalid cache duration"},
      {A "auth-url: 'http://a/x', " A "auth-proxy-set-headers: missing", "auth-proxy-set-headers", "unable to find ConfigMap ns/missing"},
      {A "auth-url: 'http://a/x', " A "auth-proxy-set-headers: other/headers", "auth-proxy-set-headers", "another namespace"},
  };
  for (const auto& c : cases) {
    auto r = build(state_from_yaml(std::string(our_class) + svc + ing("a", c.annotations) + ing("b", "")));
    const route* rt = route_of(r, "a.test");
    ASSERT_NE(rt, nullptr);
    EXPECT_FALSE(rt->policy->denied.empty()) << c.annotations;
    EXPECT_FALSE(rt->policy->ext_auth) << c.annotations;
    EXPECT_TRUE(reported(r, A + c.key, c.text)) << c.annotations << "\n" << errors_text(r.errors);
    EXPECT_TRUE(route_of(r, "b.test")->policy->denied.empty());  // the other Ingress is served
  }
}

TEST(external_auth, keys_ingress_nginx_ignores_fall_back_with_an_error) {
  auto r = build(state_from_yaml(
      std::string(our_class) + svc +
      ing("a", A "auth-url: 'http://$host/x', " A "auth-keepalive: '5', " A "auth-signin: 'not a url', " A
               "auth-signin-redirect-param: 'a b', " A "auth-always-set-cookie: maybe") +
      ing("b", A "auth-signin: 'https://x/'")));
  const route* rt = route_of(r, "a.test");
  ASSERT_TRUE(rt && rt->policy->ext_auth);
  EXPECT_TRUE(rt->policy->denied.empty());
  const auto& a = *rt->policy->ext_auth;
  EXPECT_EQ(a.keepalive, 0u);
  EXPECT_TRUE(a.signin.empty());
  EXPECT_FALSE(a.always_set_cookie);
  EXPECT_TRUE(reported(r, A "auth-keepalive", "variables"));
  EXPECT_TRUE(reported(r, A "auth-signin", "ignored"));
  EXPECT_TRUE(reported(r, A "auth-signin-redirect-param", "rd"));
  EXPECT_TRUE(reported(r, A "auth-always-set-cookie", "false applies"));
  EXPECT_TRUE(reported(r, A "auth-signin", "without auth-url"));  // on Ingress b
  EXPECT_FALSE(route_of(r, "b.test")->policy->ext_auth);
}

build_result with_configmap(const std::string& data, const std::string& ingresses) {
  build_options o;
  o.configmap = "ingress/portico";
  return build(state_from_yaml(std::string(our_class) + svc +
                               "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: portico, "
                               "namespace: ingress}\ndata: " + data + "\n" + ingresses),
               o);
}

TEST(global_auth, every_route_but_the_exempt_ones) {
  auto r = with_configmap(
      "{global-auth-url: 'http://auth.ingress.svc/check', global-auth-response-headers: X-User, "
      "global-auth-signin: 'https://login.test/start', no-auth-locations: '/public, /.well-known/acme-challenge'}",
      ing("a", "") + ing("b", A "enable-global-auth: 'false'") +
          ing("c", A "auth-url: 'http://own.test/check'") + ing("d", "", "/public/files"));
  ASSERT_TRUE(r.errors.empty()) << errors_text(r.errors);
  const route* a = route_of(r, "a.test");
  ASSERT_TRUE(a && a->policy->ext_auth);
  EXPECT_TRUE(a->policy->ext_auth->global);
  EXPECT_FALSE(a->auth_exempt);
  EXPECT_EQ(a->policy->ext_auth->response_headers, std::vector<std::string>{"X-User"});
  EXPECT_FALSE(route_of(r, "b.test")->policy->ext_auth);  // enable-global-auth "false"
  const route* c = route_of(r, "c.test");
  ASSERT_TRUE(c->policy->ext_auth);  // its own wins
  EXPECT_FALSE(c->policy->ext_auth->global);
  EXPECT_EQ(c->policy->ext_auth->fixed.host, "own.test");
  const route* d = route_of(r, "d.test", "/public/files");
  ASSERT_TRUE(d && d->policy->ext_auth);
  EXPECT_TRUE(d->auth_exempt);  // no-auth-locations: a prefix of the path
}

TEST(global_auth, an_invalid_url_denies_every_route) {
  auto r = with_configmap("{global-auth-url: 'http://bad..host/'}", ing("a", ""));
  EXPECT_TRUE(reported(r, "data[global-auth-url]", "invalid url host")) << errors_text(r.errors);
  EXPECT_FALSE(route_of(r, "a.test")->policy->denied.empty());
  auto ok = with_configmap("{global-auth-url: ''}", ing("a", ""));  // empty: none
  EXPECT_TRUE(ok.errors.empty()) << errors_text(ok.errors);
  EXPECT_FALSE(route_of(ok, "a.test")->policy->ext_auth);
  EXPECT_TRUE(route_of(ok, "a.test")->policy->denied.empty());
}

}  // namespace
}  // namespace portico::config
