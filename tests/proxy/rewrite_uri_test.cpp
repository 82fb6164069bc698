// rewrite_uri(): rewrite-target as nginx's `rewrite "(?i)<path>" <target> break;` computes the
// URI it sends upstream (ngx_http_rewrite_module: the whole URI is replaced, captures $0-$9,
// the request's arguments appended unless the replacement ends with '?', "&" after the
// replacement's own; ngx_http_proxy_module escapes the rewritten URI).
#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "config/regex_paths.hpp"
#include "proxy/phases.hpp"

namespace portico::proxy {
namespace {

config::route rewriting(const std::string& path, const std::string& target) {
  config::route r;
  r.path = path;
  auto p = std::make_shared<config::route_policy>();
  p->rewrite.target = target;
  r.policy = p;
  std::string why;
  r.rewrite_regex = config::compile_path_regex(path, &why);
  EXPECT_NE(r.rewrite_regex, nullptr) << why;
  return r;
}

std::string rewritten(const config::route& r, std::string_view path, std::string_view query = {}) {
  std::string out;
  const auto how = rewrite_uri(r, path, query, out);
  if (how == uri_rewrite::none) return "(none)";
  if (how == uri_rewrite::redirect) return "302 " + out;
  return out;
}

TEST(rewrite_uri, ingress_nginx_rewrite_example) {
  // docs/examples/rewrite: path /something(/|$)(.*), rewrite-target /$2.
  const auto r = rewriting("/something(/|$)(.*)", "/$2");
  EXPECT_EQ(rewritten(r, "/something"), "/");
  EXPECT_EQ(rewritten(r, "/something/"), "/");
  EXPECT_EQ(rewritten(r, "/something/new"), "/new");
  EXPECT_EQ(rewritten(r, "/SOMETHING/New"), "/New");  // (?i); captures keep their case
  EXPECT_EQ(rewritten(r, "/other"), "(none)");
}

TEST(rewrite_uri, the_whole_uri_is_replaced_and_the_regex_is_unanchored) {
  const auto r = rewriting("/api/(v[0-9]+)/(.*)", "/$2?version=$1");
  EXPECT_EQ(rewritten(r, "/api/v2/users"), "/users?version=v2");
  // nginx's rewrite regex is not anchored: it also matches further in.
  EXPECT_EQ(rewritten(r, "/x/api/v1/a"), "/a?version=v1");
}

TEST(rewrite_uri, request_arguments_follow) {
  const auto plain = rewriting("/a/(.*)", "/b/$1");
  EXPECT_EQ(rewritten(plain, "/a/x", "q=1&r=2"), "/b/x?q=1&r=2");
  const auto with_args = rewriting("/a/(.*)", "/b?item=$1");
  EXPECT_EQ(rewritten(with_args, "/a/x", "q=1"), "/b?item=x&q=1");
  const auto dropped = rewriting("/a/(.*)", "/b/$1?");
  EXPECT_EQ(rewritten(dropped, "/a/x", "q=1"), "/b/x");
}

TEST(rewrite_uri, captures_are_escaped_as_nginx_escapes_a_rewritten_uri) {
  // The matched path is decoded (like $uri): what goes upstream is escaped again.
  const auto r = rewriting("/f/(.*)", "/g/$1");
  EXPECT_EQ(rewritten(r, "/f/a b#c%d?e"), "/g/a%20b%23c%25d%3Fe");
  const auto args = rewriting("/f/(.*)", "/g?x=$1");
  EXPECT_EQ(rewritten(args, "/f/a&b+c;d"), "/g?x=a%26b%2Bc%3Bd");
}

TEST(rewrite_uri, missing_groups_are_empty_and_the_uri_starts_with_a_slash) {
  const auto r = rewriting("/p(/|$)(.*)", "$2");
  EXPECT_EQ(rewritten(r, "/p"), "/");
  EXPECT_EQ(rewritten(r, "/p/q"), "/q");
  const auto nine = rewriting("/(a)?(b)", "/$1-$2-$9");
  EXPECT_EQ(rewritten(nine, "/b"), "/-b-");
}

TEST(rewrite_uri, absolute_target_is_a_redirect) {
  const auto r = rewriting("/old/(.*)", "https://new.example.com/$1");
  EXPECT_EQ(rewritten(r, "/old/page", "a=1"), "302 https://new.example.com/page?a=1");
}

TEST(rewrite_uri, a_route_without_a_rewrite_regex_is_untouched) {
  config::route r;
  std::string out = "unchanged";
  EXPECT_EQ(rewrite_uri(r, "/x", "", out), uri_rewrite::none);
  EXPECT_EQ(out, "unchanged");
}

}  // namespace
}  // namespace portico::proxy
