#include "proxy/https_policy.hpp"

#include <gtest/gtest.h>

#include <string>

#include "config/snapshot.hpp"
#include "config/controller_config.hpp"

using namespace portico::proxy;
using portico::config::route;

namespace {

route redirecting(std::string path = "/") {
  route r;
  r.path = std::move(path);
  r.ssl_redirect = true;
  return r;
}

redirect_input plain(std::string_view host, std::string_view target,
                     std::uint16_t https_port = 443) {
  redirect_input in;
  in.host = host;
  in.target = target;
  auto q = target.find('?');
  in.match_path = target.substr(0, q);
  in.https_port = https_port;
  return in;
}

}  // namespace

TEST(https_redirect, plain_request_to_a_redirecting_route) {
  std::string loc;
  ASSERT_TRUE(https_redirect(redirecting(), plain("app.example:8080", "/a/b?x=1"), loc));
  EXPECT_EQ(loc, "https://app.example/a/b?x=1");  // the HTTP port is dropped
}

TEST(https_redirect, port_only_when_https_is_not_443) {
  std::string loc;
  ASSERT_TRUE(https_redirect(redirecting(), plain("app.example", "/x", 8443), loc));
  EXPECT_EQ(loc, "https://app.example:8443/x");
  ASSERT_TRUE(https_redirect(redirecting(), plain("[fd00::1]:80", "/x", 443), loc));
  EXPECT_EQ(loc, "https://[fd00::1]/x");
}

// ingress-nginx lua_ingress.lua: one trailing '/' of the request URI (query included) is
// removed unless the route has preserve-trailing-slash.
TEST(https_redirect, removes_one_trailing_slash_like_ingress_nginx) {
  std::string loc;
  ASSERT_TRUE(https_redirect(redirecting(), plain("app.example", "/app/"), loc));
  EXPECT_EQ(loc, "https://app.example/app");
  ASSERT_TRUE(https_redirect(redirecting(), plain("app.example", "/"), loc));
  EXPECT_EQ(loc, "https://app.example");
  ASSERT_TRUE(https_redirect(redirecting(), plain("app.example", "/a//"), loc));
  EXPECT_EQ(loc, "https://app.example/a/");
  ASSERT_TRUE(https_redirect(redirecting(), plain("app.example", "/app/?q=1"), loc));
  EXPECT_EQ(loc, "https://app.example/app/?q=1");  // the URI ends with the query
  ASSERT_TRUE(https_redirect(redirecting(), plain("app.example", "/app/?q=/"), loc));
  EXPECT_EQ(loc, "https://app.example/app/?q=");
}

TEST(https_redirect, preserve_trailing_slash_keeps_it) {
  std::string loc;
  route r = redirecting();
  r.preserve_trailing_slash = true;
  ASSERT_TRUE(https_redirect(r, plain("app.example", "/app/"), loc));
  EXPECT_EQ(loc, "https://app.example/app/");
  ASSERT_TRUE(https_redirect(r, plain("app.example", "/"), loc));
  EXPECT_EQ(loc, "https://app.example/");
}

TEST(https_redirect, not_for_https_or_routes_without_it) {
  std::string loc;
  auto in = plain("app.example", "/");
  in.tls = true;
  EXPECT_FALSE(https_redirect(redirecting(), in, loc));
  route r = redirecting();
  r.ssl_redirect = false;
  EXPECT_FALSE(https_redirect(r, plain("app.example", "/"), loc));
  EXPECT_FALSE(https_redirect(redirecting(), plain("", "/"), loc));  // HTTP/1.0 without Host
}

TEST(https_redirect, acme_challenges_stay_on_http) {
  std::string loc;
  EXPECT_FALSE(https_redirect(redirecting(), plain("a.example", "/.well-known/acme-challenge/tok"), loc));
  EXPECT_FALSE(https_redirect(redirecting("/.well-known/acme-challenge/tok"),
                              plain("a.example", "/.well-known/acme-challenge/tok"), loc));
  EXPECT_TRUE(https_redirect(redirecting(), plain("a.example", "/.well-known/acme-challenged"), loc));
}

TEST(hsts_value, from_the_options) {
  portico::config::controller_config o;
  char buf[80];
  EXPECT_EQ(hsts_value(o, buf), "max-age=31536000; includeSubDomains");
  o.hsts_include_subdomains = false;
  o.hsts_preload = true;
  o.hsts_max_age = 600;
  EXPECT_EQ(hsts_value(o, buf), "max-age=600; preload");
  o.hsts = false;
  EXPECT_EQ(hsts_value(o, buf), "");
}
