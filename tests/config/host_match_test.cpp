// Host matching: exact and single-label wildcard hosts (rows of the hostname wildcards table
// of the Kubernetes Ingress documentation), case-insensitivity, ":port", catch-all rules.
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "config/route_table.hpp"

namespace portico::config {
namespace {

class hosts_fixture {
 public:
  // Adds a Prefix "/" route for `host`; returns its index.
  std::uint32_t add(const std::string& host, const std::string& path = "/",
                    match_kind kind = match_kind::prefix) {
    auto r = std::make_shared<route>();
    r->index = static_cast<std::uint32_t>(routes_.size());
    r->host = host;
    r->path = path;
    r->kind = kind;
    routes_.push_back(r);
    EXPECT_TRUE(table_.add(r.get()));
    return r->index;
  }
  int match(std::string_view host, std::string_view path = "/") const {
    std::uint32_t i = table_.find_index(host, path);
    return i == no_route ? -1 : static_cast<int>(i);
  }
  host_table table_;

 private:
  std::vector<std::shared_ptr<route>> routes_;
};

TEST(host_match_docs, wildcard_matches_single_label) {
  hosts_fixture t;
  t.add("*.foo.com");
  EXPECT_EQ(t.match("bar.foo.com"), 0);
}

TEST(host_match_docs, wildcard_does_not_match_two_labels) {
  hosts_fixture t;
  t.add("*.foo.com");
  EXPECT_EQ(t.match("baz.bar.foo.com"), -1);
}

TEST(host_match_docs, wildcard_does_not_match_bare_domain) {
  hosts_fixture t;
  t.add("*.foo.com");
  EXPECT_EQ(t.match("foo.com"), -1);
}

TEST(host_match, exact_host_is_case_insensitive) {
  hosts_fixture t;
  t.add("Foo.Bar.com");
  EXPECT_EQ(t.match("foo.bar.COM"), 0);
  EXPECT_EQ(t.match("FOO.BAR.COM"), 0);
}

TEST(host_match, wildcard_is_case_insensitive) {
  hosts_fixture t;
  t.add("*.foo.com");
  EXPECT_EQ(t.match("BAR.Foo.Com"), 0);
}

TEST(host_match, port_is_ignored) {
  hosts_fixture t;
  t.add("foo.com");
  t.add("*.bar.com");
  EXPECT_EQ(t.match("foo.com:8080"), 0);
  EXPECT_EQ(t.match("x.bar.com:443"), 1);
}

TEST(host_match, trailing_dot_is_ignored) {
  hosts_fixture t;
  t.add("foo.com");
  EXPECT_EQ(t.match("foo.com."), 0);
}

TEST(host_match, ipv6_literal_with_port_is_canonicalized) {
  char buf[64];
  EXPECT_EQ(host_table::canonical_host("[::1]:80", buf, sizeof buf), "[::1]");
  EXPECT_EQ(host_table::canonical_host("[FD00::1]", buf, sizeof buf), "[fd00::1]");
  EXPECT_EQ(host_table::canonical_host("fd00::1", buf, sizeof buf), "fd00::1");
  EXPECT_EQ(host_table::canonical_host("Foo.com:80", buf, sizeof buf), "foo.com");
  hosts_fixture t;
  t.add("");
  EXPECT_EQ(t.match("[::1]:80"), 0);
}

TEST(host_match, exact_host_beats_wildcard) {
  hosts_fixture t;
  t.add("*.foo.com");
  t.add("bar.foo.com");
  EXPECT_EQ(t.match("bar.foo.com"), 1);
  EXPECT_EQ(t.match("baz.foo.com"), 0);
}

TEST(host_match, catch_all_only_when_no_host_specific_entry) {
  hosts_fixture t;
  t.add("", "/");
  t.add("foo.com", "/api");
  EXPECT_EQ(t.match("other.com", "/x"), 0);
  EXPECT_EQ(t.match("foo.com", "/api"), 1);
  // foo.com has its own entry: a miss there does not fall through to the catch-all rule.
  EXPECT_EQ(t.match("foo.com", "/x"), -1);
  EXPECT_EQ(t.table_.match_host("foo.com"), host_match::exact);
  EXPECT_EQ(t.table_.match_host("other.com"), host_match::any);
}

TEST(host_match, default_route_answers_host_and_path_misses) {
  hosts_fixture t;
  t.add("foo.com", "/api");
  route def;
  def.index = 99;
  def.is_default_backend = true;
  t.table_.default_route_ = &def;
  EXPECT_EQ(t.match("foo.com", "/other"), 99);
  EXPECT_EQ(t.match("unknown.com", "/api"), 99);
  EXPECT_EQ(t.match("foo.com", "/api/x"), 0);
}

TEST(host_match, unknown_host_without_default_is_null) {
  hosts_fixture t;
  t.add("foo.com");
  EXPECT_EQ(t.match("bar.com"), -1);
  EXPECT_EQ(t.table_.match_host("bar.com"), host_match::none);
}

TEST(host_match, overlong_host_reaches_only_catch_all) {
  hosts_fixture t;
  std::string longhost(300, 'a');
  t.add(longhost);
  t.add("");
  EXPECT_EQ(t.match(longhost), 1);
}

}  // namespace
}  // namespace portico::config
