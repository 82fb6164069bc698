#include "proxy/request_target.hpp"

#include <gtest/gtest.h>

#include <string>

using namespace portico::proxy;

namespace {

// The path routing matches on: the input itself when unchanged, "!" when invalid.
std::string match_path(std::string_view in) {
  std::string out;
  switch (normalize_path(in, out)) {
    case path_status::unchanged: return std::string(in);
    case path_status::normalized: return out;
    case path_status::invalid: return "!";
  }
  return "?";
}

}  // namespace

TEST(parse_target, forms) {
  EXPECT_EQ(parse_target("/a?b").form, target_form::origin);
  EXPECT_EQ(parse_target("*").form, target_form::asterisk);
  EXPECT_EQ(parse_target("").form, target_form::invalid);
  EXPECT_EQ(parse_target("a/b").form, target_form::invalid);
  EXPECT_EQ(parse_target("ftp://host/x").form, target_form::invalid);
  EXPECT_EQ(parse_target("example.com:443").form, target_form::invalid);  // authority-form
}

TEST(parse_target, absolute_form_splits_authority_and_origin) {
  auto t = parse_target("http://host.example/path?q=1");
  ASSERT_EQ(t.form, target_form::absolute);
  EXPECT_EQ(t.authority, "host.example");
  EXPECT_EQ(t.origin, "/path?q=1");
  t = parse_target("HTTPS://Host.Example:8443");
  ASSERT_EQ(t.form, target_form::absolute);
  EXPECT_EQ(t.authority, "Host.Example:8443");
  EXPECT_EQ(t.origin, "");
  t = parse_target("http://[::1]:80?x");
  ASSERT_EQ(t.form, target_form::absolute);
  EXPECT_EQ(t.authority, "[::1]:80");
  EXPECT_EQ(t.origin, "?x");
}

TEST(parse_target, malformed_absolute_form_is_invalid) {
  for (const char* t : {"http:///path", "http://user@host/", "http://host:80x/", "http://ho st/",
                        "http://[::1/", "http://:80/", "http://host:123456/"})
    EXPECT_EQ(parse_target(t).form, target_form::invalid) << t;
}

TEST(normalize_path, plain_paths_are_unchanged) {
  std::string out;
  for (const char* p : {"/", "/a/b", "/a.b/c", "/a/b.", "/a..b/", "/x/y.z?"})
    EXPECT_EQ(normalize_path(p, out), path_status::unchanged) << p;
  EXPECT_EQ(normalize_path("*", out), path_status::unchanged);
}

TEST(normalize_path, dot_segments_are_resolved) {
  EXPECT_EQ(match_path("/a/../b"), "/b");
  EXPECT_EQ(match_path("/a/./b"), "/a/b");
  EXPECT_EQ(match_path("/a/b/.."), "/a/");
  EXPECT_EQ(match_path("/a/."), "/a/");
  EXPECT_EQ(match_path("/a/.."), "/");
  EXPECT_EQ(match_path("/."), "/");
  EXPECT_EQ(match_path("/a/b/../../c/"), "/c/");
  EXPECT_EQ(match_path("/.well-known/x"), "/.well-known/x");
  EXPECT_EQ(match_path("/a/..b/c"), "/a/..b/c");
}

TEST(normalize_path, slashes_are_merged) {
  EXPECT_EQ(match_path("//a///b"), "/a/b");
  EXPECT_EQ(match_path("/a//"), "/a/");
  EXPECT_EQ(match_path("//"), "/");
}

TEST(normalize_path, percent_escapes_are_decoded) {
  EXPECT_EQ(match_path("/%62"), "/b");
  EXPECT_EQ(match_path("/a%2Fb"), "/a/b");           // a decoded '/' separates
  EXPECT_EQ(match_path("/a/%2e%2E/b"), "/b");         // a decoded ".." climbs
  EXPECT_EQ(match_path("/a%252e"), "/a%2e");          // a decoded '%' starts nothing
  EXPECT_EQ(match_path("/caf%C3%A9"), "/caf\xC3\xA9");
}

TEST(normalize_path, invalid_paths) {
  for (const char* p : {"/..", "/a/../..", "/%2e%2e/x", "/a/%00", "/%4", "/%zz", "/a%"})
    EXPECT_EQ(match_path(p), "!") << p;
}

// Security review (Host values): validated with the authority grammar before routing.
TEST(host_value, valid_hosts) {
  for (const char* h : {"demo.local", "DEMO.LOCAL", "demo.local:8080", "demo.local.", "a",
                        "10.0.0.1", "10.0.0.1:80", "[::1]", "[fd00::1]:443", "my_host.local",
                        "xn--bcher-kva.example", "demo.local:", "a-b.c-d"})
    EXPECT_TRUE(valid_host_value(h)) << h;
}

TEST(host_value, invalid_hosts) {
  for (const char* h : {"", "good local", "demo.local:@evil.com", "a/b.apps.local",
                        "DEMO.LOCAL:abc", "demo.local:65536", "demo.local:123456", ".demo.local",
                        "demo..local", "demo.local..", "a\tb", "a\x01b", "[::1", "[zz::1]",
                        "::1", "user@host", "host#x", "host?x", "a:1:2", "[::1]x", "*.wild.test"})
    EXPECT_FALSE(valid_host_value(h)) << h;
  EXPECT_FALSE(valid_host_value(std::string(256, 'a')));
}

TEST(host_value, same_authority_ignores_case_trailing_dot_and_default_port) {
  EXPECT_TRUE(same_authority("A.test", "a.test", false));
  EXPECT_TRUE(same_authority("a.test:80", "a.test", false));
  EXPECT_TRUE(same_authority("a.test.", "a.test:", false));
  EXPECT_TRUE(same_authority("a.test:443", "a.test", true));
  EXPECT_FALSE(same_authority("a.test:443", "a.test", false));
  EXPECT_FALSE(same_authority("b.test", "a.test", false));
  EXPECT_FALSE(same_authority("a.test:8080", "a.test:8081", false));
}

TEST(parse_target, fragment_is_invalid_and_scheme_is_noted) {
  EXPECT_EQ(parse_target("/api#/../x").form, target_form::invalid);
  EXPECT_EQ(parse_target("/api#").form, target_form::invalid);
  EXPECT_EQ(parse_target("http://a.test/#x").form, target_form::invalid);
  EXPECT_TRUE(parse_target("https://a.test/").https);
  EXPECT_FALSE(parse_target("http://a.test/").https);
}
