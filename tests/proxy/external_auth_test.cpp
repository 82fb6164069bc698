// External authentication's request-path pieces: the subrequest head as ingress-nginx's auth
// location sends it, what the service's answer means, what of it is kept and cached, and the
// nginx variables of auth-signin.
#include <gtest/gtest.h>

#include <deque>
#include <string>

#include "config/request_template.hpp"
#include "proxy/external_auth.hpp"
#include "proxy/phases.hpp"
#include "tests/proxy/head_fixtures.hpp"

namespace portico::proxy {
namespace {

using test::fields;
using test::head_of;

std::shared_ptr<config::external_auth> auth(const std::string& url, std::string* why_out = nullptr) {
  config::external_auth_fields f;
  f.url = url;
  std::vector<config::auth_problem> problems;
  auto a = config::make_external_auth(f, problems);
  if (why_out != nullptr && !problems.empty()) *why_out = problems.front().message;
  return a;
}

bool has_line(const std::string& head, const std::string& line) {
  return head.find("\r\n" + line + "\r\n") != std::string::npos;
}

TEST(auth_request, ingress_nginx_auth_location_headers) {
  const fields f = {{"Host", "app.test:8443"},        {"Authorization", "Bearer t"},
                    {"Cookie", "_oauth2_proxy=abc"},   {"Content-Length", "5"},
                    {"Connection", "keep-alive, X-Hop"}, {"X-Hop", "1"},
                    {"Expect", "100-continue"},         {"X-Forwarded-For", "6.6.6.6"},
                    {"X-Real-IP", "6.6.6.6"},           {"X-Original-URL", "http://evil/"},
                    {"X-Sent-From", "me"},              {"X_Underscore", "1"},
                    {"X-Forwarded-Proto", "gopher"},    {"Accept", "text/html"}};
  const message_head h = head_of(f);
  auto a = auth("http://auth.svc:9000/check?x=1");
  ASSERT_TRUE(a);
  auth_request_inputs in;
  in.head = &h;
  in.method = "POST";
  in.request_uri = "/p?a=b";
  in.http_host = "app.test:8443";
  in.scheme = "https";
  in.pass_scheme = "https";
  in.remote_addr = "192.0.2.7";
  in.forwarded_for = "192.0.2.7";
  in.request_id = "rid1";
  std::string out;
  write_auth_request(out, *a, "/check?x=1", "auth.svc", "/p?a=b", in, false);
  EXPECT_EQ(out.rfind("GET /check?x=1 HTTP/1.1\r\n", 0), 0u) << out;  // a subrequest is GET
  for (auto line : {"Host: auth.svc", "Authorization: Bearer t", "Cookie: _oauth2_proxy=abc",
                    "Accept: text/html", "X-Original-URL: https://app.test:8443/p?a=b",
                    "X-Original-Method: POST", "X-Sent-From: nginx-ingress-controller",
                    "X-Real-IP: 192.0.2.7", "X-Forwarded-For: 192.0.2.7",
                    "X-Auth-Request-Redirect: /p?a=b", "X-Request-ID: rid1", "Connection: close"})
    EXPECT_TRUE(has_line(out, line)) << line << "\n" << out;
  // The body is not sent, hop-by-hop fields and the ones set here are not copied.
  for (auto gone : {"Content-Length", "X-Hop", "Expect", "6.6.6.6", "evil", "Sent-From: me",
                    "X_Underscore", "gopher", "keep-alive", "X-Original-URI", "X-Scheme"})
    EXPECT_EQ(out.find(gone), std::string::npos) << gone << "\n" << out;
  EXPECT_TRUE(out.ends_with("\r\n\r\n"));

  // auth-method: that method, X-Original-URI and X-Scheme; kept connections send no close.
  config::external_auth with_method = *a;
  with_method.method = "HEAD";
  with_method.proxy_set_headers = {{"X-Tenant", "blue"}, {"Accept", "application/json"}};
  std::vector<std::pair<std::string_view, std::string_view>> cert = {
      {"ssl-client-verify", "SUCCESS"}, {"ssl-client-subject-dn", "CN=c"}, {"ssl-client-cert", ""}};
  in.cert_headers = &cert;
  out.clear();
  write_auth_request(out, with_method, "/check", "auth.svc", "/back", in, true);
  EXPECT_EQ(out.rfind("HEAD /check HTTP/1.1\r\n", 0), 0u) << out;
  for (auto line : {"X-Original-URI: /p?a=b", "X-Scheme: https", "X-Tenant: blue",
                    "Accept: application/json", "ssl-client-verify: SUCCESS",
                    "ssl-client-subject-dn: CN=c", "X-Auth-Request-Redirect: /back"})
    EXPECT_TRUE(has_line(out, line)) << line << "\n" << out;
  EXPECT_EQ(out.find("text/html"), std::string::npos);  // replaced by auth-proxy-set-headers
  EXPECT_EQ(out.find("ssl-client-cert"), std::string::npos);  // empty: not sent
  EXPECT_EQ(out.find("Connection"), std::string::npos);
}

TEST(auth_request, the_uri_of_an_auth_url_without_path) {
  // nginx sends its internal location's URI: base64url(path) and the path type.
  EXPECT_EQ(auth_location_uri("/", "Prefix"), "/_external-auth-Lw-Prefix");
  EXPECT_EQ(auth_location_uri("/api", "Exact"), "/_external-auth-L2FwaQ-Exact");
  EXPECT_EQ(auth_location_uri("/ab", ""), "/_external-auth-L2Fi-default");
}

TEST(auth_answer, verdicts_as_auth_request) {
  EXPECT_EQ(verdict_of(200), auth_verdict::allow);
  EXPECT_EQ(verdict_of(202), auth_verdict::allow);
  EXPECT_EQ(verdict_of(299), auth_verdict::allow);
  EXPECT_EQ(verdict_of(401), auth_verdict::deny_401);
  EXPECT_EQ(verdict_of(403), auth_verdict::deny_403);
  for (unsigned s : {0u, 100u, 301u, 302u, 400u, 404u, 407u, 500u, 502u, 503u})
    EXPECT_EQ(verdict_of(s), auth_verdict::error) << s;
  for (unsigned s : {200u, 201u, 204u, 206u, 301u, 302u, 303u, 304u, 307u, 308u})
    EXPECT_TRUE(cookie_status(s)) << s;
  for (unsigned s : {202u, 400u, 401u, 403u, 404u, 500u, 503u}) EXPECT_FALSE(cookie_status(s)) << s;
}

TEST(auth_answer, response_headers_cookies_and_www_authenticate) {
  auto a = auth("http://a/x");
  a->response_headers = {"X-User", "X-Groups", "X-Missing"};
  message_head ok = head_of({{"X-User", "alice"}, {"x-groups", "a"}, {"X-Groups", "b"},
                             {"Set-Cookie", "s=1; Path=/"}, {"Set-Cookie", "t=2"}});
  auth_answer out;
  take_auth_answer(*a, ok, 200, out);
  EXPECT_EQ(out.upstream_headers,
            (fields{{"X-User", "alice"}, {"X-Groups", "a, b"}, {"X-Missing", ""}}));
  EXPECT_EQ(out.cookies, (std::vector<std::string>{"s=1; Path=/", "t=2"}));
  message_head denied = head_of({{"WWW-Authenticate", "Bearer realm=\"r\""}, {"X-User", "x"}});
  take_auth_answer(*a, denied, 401, out);
  EXPECT_TRUE(out.upstream_headers.empty());  // nothing goes upstream from a refusal
  EXPECT_TRUE(out.cookies.empty());
  EXPECT_EQ(out.www_authenticate, "WWW-Authenticate: Bearer realm=\"r\"\r\n");
}

TEST(auth_answer, cached_as_nginx_proxy_cache_would) {
  auto a = auth("http://a/x");  // default rules: 200 202 401 5m
  using std::chrono::milliseconds;
  using std::chrono::minutes;
  using std::chrono::seconds;
  EXPECT_EQ(cache_time(*a, head_of({}), 200), minutes(5));
  EXPECT_EQ(cache_time(*a, head_of({}), 401), minutes(5));
  EXPECT_EQ(cache_time(*a, head_of({}), 403), milliseconds(0));  // not listed
  EXPECT_EQ(cache_time(*a, head_of({{"Set-Cookie", "a=1"}}), 200), milliseconds(0));
  EXPECT_EQ(cache_time(*a, head_of({{"Cache-Control", "private, max-age=60"}}), 200), milliseconds(0));
  EXPECT_EQ(cache_time(*a, head_of({{"Cache-Control", "No-Store"}}), 200), milliseconds(0));
  EXPECT_EQ(cache_time(*a, head_of({{"Cache-Control", "max-age=7"}}), 200), seconds(7));
  EXPECT_EQ(cache_time(*a, head_of({{"Cache-Control", "max-age=0"}}), 200), milliseconds(0));
}

TEST(auth_cache, entries_expire_and_the_size_is_bounded) {
  auth_cache c(3);
  const auto t0 = std::chrono::steady_clock::now();
  auth_answer ans;
  ans.status = 200;
  c.put("a", ans, t0 + std::chrono::seconds(10));
  ASSERT_NE(c.find("a", t0), nullptr);
  EXPECT_EQ(c.find("a", t0)->status, 200u);
  EXPECT_EQ(c.find("a", t0 + std::chrono::seconds(10)), nullptr);  // expired, and gone
  EXPECT_EQ(c.size(), 0u);
  for (int i = 0; i < 100; ++i) c.put("k" + std::to_string(i), ans, t0 + std::chrono::hours(1));
  EXPECT_LE(c.size(), 3u);
  EXPECT_NE(c.find("k99", t0), nullptr);  // the newest stay
  EXPECT_EQ(c.find("k0", t0), nullptr);   // the oldest went first
}

TEST(auth_signin, the_original_url_in_the_redirect_parameter) {
  // The e2e expectation of ingress-nginx: http://<host>/auth/start?rd=http://<host>%2F%3Fa%3Db%26c%3Dd
  config::external_auth_fields f;
  f.url = "http://a/x";
  f.signin = "http://$host/auth/start";
  std::vector<config::auth_problem> problems;
  auto a = config::make_external_auth(f, problems);
  ASSERT_TRUE(a && problems.empty());
  const message_head h = head_of({{"Host", "Auth.Test"}});
  const hash_inputs in{"/?a=b&c=d", "/", "Auth.Test", "192.0.2.1", "GET", false, "http", "80"};
  std::string out;
  expand_template(a->signin, h, in, out);
  EXPECT_EQ(out, "http://auth.test/auth/start?rd=http://Auth.Test%2F%3Fa%3Db%26c%3Dd");
  std::string esc;
  append_uri_component(esc, "/ä b~._-");
  EXPECT_EQ(esc, "%2F%C3%A4%20b~._-");
}

}  // namespace
}  // namespace portico::proxy
