// Path matching, one test per row of the "Examples" table of the Kubernetes Ingress
// documentation (Kind / Path(s) / Request path(s) / Matches?), plus the element-wise rules.
#include <gtest/gtest.h>

#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "config/route_table.hpp"

namespace portico::config {
namespace {

struct rule {
  std::string path;
  match_kind kind;
};

// One host-less table holding `rules`; each route's service_name is "r<index>".
class table_fixture {
 public:
  explicit table_fixture(std::vector<rule> rules) {
    for (const auto& r : rules) {
      auto rt = std::make_shared<route>();
      rt->index = static_cast<std::uint32_t>(routes_.size());
      rt->path = r.path;
      rt->kind = r.kind;
      rt->service_name = "r" + std::to_string(rt->index);
      routes_.push_back(rt);
      EXPECT_TRUE(table_.add(rt.get()));
    }
  }
  // Index of the matched rule, or -1 for no match.
  int match(std::string_view path) const {
    std::uint32_t i = table_.find_index("any.example", path);
    return i == no_route ? -1 : static_cast<int>(i);
  }

 private:
  std::vector<std::shared_ptr<route>> routes_;
  host_table table_;
};

constexpr auto P = match_kind::prefix;
constexpr auto E = match_kind::exact;

TEST(path_match_docs, prefix_root_matches_all_paths) {
  table_fixture t({{"/", P}});
  for (auto p : {"/", "/foo", "/foo/bar", "/aaa/bbb/", ""}) EXPECT_EQ(t.match(p), 0) << p;
}

TEST(path_match_docs, exact_foo_matches_foo) {
  table_fixture t({{"/foo", E}});
  EXPECT_EQ(t.match("/foo"), 0);
}

TEST(path_match_docs, exact_foo_does_not_match_bar) {
  table_fixture t({{"/foo", E}});
  EXPECT_EQ(t.match("/bar"), -1);
}

TEST(path_match_docs, exact_foo_does_not_match_foo_slash) {
  table_fixture t({{"/foo", E}});
  EXPECT_EQ(t.match("/foo/"), -1);
}

TEST(path_match_docs, exact_foo_slash_does_not_match_foo) {
  table_fixture t({{"/foo/", E}});
  EXPECT_EQ(t.match("/foo"), -1);
}

TEST(path_match_docs, prefix_foo_matches_foo_and_foo_slash) {
  table_fixture t({{"/foo", P}});
  EXPECT_EQ(t.match("/foo"), 0);
  EXPECT_EQ(t.match("/foo/"), 0);
}

TEST(path_match_docs, prefix_foo_slash_matches_foo_and_foo_slash) {
  table_fixture t({{"/foo/", P}});
  EXPECT_EQ(t.match("/foo"), 0);
  EXPECT_EQ(t.match("/foo/"), 0);
}

TEST(path_match_docs, prefix_aaa_bb_does_not_match_aaa_bbb) {
  table_fixture t({{"/aaa/bb", P}});
  EXPECT_EQ(t.match("/aaa/bbb"), -1);
}

TEST(path_match_docs, prefix_aaa_bbb_matches_aaa_bbb) {
  table_fixture t({{"/aaa/bbb", P}});
  EXPECT_EQ(t.match("/aaa/bbb"), 0);
}

TEST(path_match_docs, prefix_with_trailing_slash_ignores_it) {
  table_fixture t({{"/aaa/bbb/", P}});
  EXPECT_EQ(t.match("/aaa/bbb"), 0);
}

TEST(path_match_docs, prefix_matches_request_trailing_slash) {
  table_fixture t({{"/aaa/bbb", P}});
  EXPECT_EQ(t.match("/aaa/bbb/"), 0);
}

TEST(path_match_docs, prefix_matches_subpath) {
  table_fixture t({{"/aaa/bbb", P}});
  EXPECT_EQ(t.match("/aaa/bbb/ccc"), 0);
}

TEST(path_match_docs, prefix_does_not_match_string_prefix) {
  table_fixture t({{"/aaa/bbb", P}});
  EXPECT_EQ(t.match("/aaa/bbbxyz"), -1);
}

TEST(path_match_docs, longest_prefix_aaa_wins_over_root) {
  table_fixture t({{"/", P}, {"/aaa", P}});
  EXPECT_EQ(t.match("/aaa/ccc"), 1);
}

TEST(path_match_docs, longest_prefix_aaa_bbb_wins) {
  table_fixture t({{"/", P}, {"/aaa", P}, {"/aaa/bbb", P}});
  EXPECT_EQ(t.match("/aaa/bbb"), 2);
}

TEST(path_match_docs, root_prefix_catches_unmatched_path) {
  table_fixture t({{"/", P}, {"/aaa", P}, {"/aaa/bbb", P}});
  EXPECT_EQ(t.match("/ccc"), 0);
}

TEST(path_match_docs, prefix_aaa_does_not_match_ccc_default_backend) {
  table_fixture t({{"/aaa", P}});
  EXPECT_EQ(t.match("/ccc"), -1);
}

TEST(path_match_docs, mixed_exact_preferred_over_prefix) {
  table_fixture t({{"/foo", P}, {"/foo", E}});
  EXPECT_EQ(t.match("/foo"), 1);
  EXPECT_EQ(t.match("/foo/x"), 0);
}

TEST(path_match, exact_is_case_sensitive) {
  table_fixture t({{"/Foo", E}, {"/bar", P}});
  EXPECT_EQ(t.match("/foo"), -1);
  EXPECT_EQ(t.match("/Bar"), -1);
}

TEST(path_match, longest_match_wins_regardless_of_insertion_order) {
  table_fixture t({{"/a/b/c", P}, {"/a", P}, {"/a/b", P}});
  EXPECT_EQ(t.match("/a/b/c/d"), 0);
  EXPECT_EQ(t.match("/a/b/x"), 2);
  EXPECT_EQ(t.match("/a/x"), 1);
}

TEST(path_match, longer_prefix_beats_shorter_exact_miss) {
  table_fixture t({{"/a", E}, {"/a/b", P}});
  EXPECT_EQ(t.match("/a/b/c"), 1);
  EXPECT_EQ(t.match("/a"), 0);
}

TEST(path_match, query_string_is_not_part_of_the_path) {
  table_fixture t({{"/foo", E}, {"/bar", P}});
  EXPECT_EQ(t.match("/foo?x=1"), 0);
  EXPECT_EQ(t.match("/bar/baz?q=/x"), 1);
}

TEST(path_match, same_prefix_as_written_is_rejected) {
  host_table table;
  route a, b, c, d;
  a.path = "/foo";
  b.path = "/foo/";
  c.path = "/foo";
  c.kind = match_kind::exact;
  d.path = "/foo";
  EXPECT_TRUE(table.add(&a));
  EXPECT_TRUE(table.add(&b));   // another path as written: kept, and preferred (longer)
  EXPECT_TRUE(table.add(&c));   // Exact is a different entry
  EXPECT_FALSE(table.add(&d));  // the same Prefix path again
}

// The Ingress API: a trailing slash is ignored for matching and the longest matching path
// wins, so with Prefix "/foo" and "/foo/" in one host both requests go to "/foo/".
TEST(path_match, prefix_with_trailing_slash_beats_the_same_prefix_without_it) {
  for (bool slash_first : {false, true}) {
    table_fixture t(slash_first ? std::vector<rule>{{"/foo/", P}, {"/foo", P}}
                                : std::vector<rule>{{"/foo", P}, {"/foo/", P}});
    const int with_slash = slash_first ? 0 : 1;
    EXPECT_EQ(t.match("/foo"), with_slash);
    EXPECT_EQ(t.match("/foo/"), with_slash);
    EXPECT_EQ(t.match("/foo/bar"), with_slash);
    EXPECT_EQ(t.match("/foobar"), -1);
  }
}

TEST(path_match, exact_still_beats_a_prefix_with_trailing_slash) {
  table_fixture t({{"/foo/", P}, {"/foo", E}});
  EXPECT_EQ(t.match("/foo"), 1);
  EXPECT_EQ(t.match("/foo/"), 0);
}

TEST(path_match, root_prefix_and_double_slash_root) {
  table_fixture t({{"/", P}, {"/aaa/", P}, {"/aaa", P}});
  EXPECT_EQ(t.match("/aaa"), 1);
  EXPECT_EQ(t.match("/aaa/x"), 1);
  EXPECT_EQ(t.match("/aa"), 0);
}

TEST(path_match, reference_prefix_matches_agrees_with_docs) {
  EXPECT_TRUE(prefix_matches("/foo/bar", "/foo/bar/baz"));
  EXPECT_FALSE(prefix_matches("/foo/bar", "/foo/barbaz"));
  EXPECT_TRUE(prefix_matches("/", "/anything"));
  EXPECT_TRUE(prefix_matches("/aaa/bbb/", "/aaa/bbb"));
}

}  // namespace
}  // namespace portico::config
