// use-regex and rewrite-target in the route table: which hosts become regex hosts, the order
// their locations are tried in, and the cases of ingress-nginx's docs
// (ingress-path-matching.md) and e2e tests (test/e2e/annotations/rewrite.go).
#include <gtest/gtest.h>

#include <string>

#include "config/build.hpp"
#include "config/route_table.hpp"
#include "tests/config/state_fixture.hpp"

namespace portico::config {
namespace {

using testing::errors_text;
using testing::our_class;
using testing::state_from_yaml;

struct path_spec {
  std::string path;
  std::string type;     // Prefix, Exact, ImplementationSpecific
  std::string service;
};

// An Ingress `name` for host `host` with `annotations` ({key: value} flow map, keys without
// the prefix) and its paths; the Services it names exist.
std::string ingress(const std::string& name, const std::string& host,
                    const std::vector<std::pair<std::string, std::string>>& annotations,
                    const std::vector<path_spec>& paths, const std::string& created) {
  std::string y = "---\napiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata:\n  name: " + name +
                  "\n  namespace: ns\n  creationTimestamp: \"" + created + "\"\n  annotations:\n";
  for (const auto& [k, v] : annotations)
    y += "    nginx.ingress.kubernetes.io/" + k + ": \"" + v + "\"\n";
  if (annotations.empty()) y += "    {}\n";
  y += "spec:\n  ingressClassName: portico\n  rules:\n  - host: " + host + "\n    http:\n      paths:\n";
  for (const auto& p : paths)
    y += "      - {path: \"" + p.path + "\", pathType: " + p.type +
         ", backend: {service: {name: " + p.service + ", port: {number: 80}}}}\n";
  for (const auto& p : paths)
    y += "---\napiVersion: v1\nkind: Service\nmetadata: {name: " + p.service +
         ", namespace: ns}\nspec: {ports: [{port: 80}]}\n";
  return y;
}

build_result build_yaml(const std::string& docs) {
  return build(state_from_yaml(std::string(our_class) + "\n" + docs));
}

std::string service_for(const build_result& r, const std::string& host, const std::string& path) {
  const route* rt = r.snap->find(host, path);
  return rt ? rt->service_name : "404";
}

// ingress-path-matching.md, "Path Priority": a rewrite on one Ingress makes every path of the
// host a regex, tried longest first.
TEST(regex_paths, docs_path_priority_example) {
  const auto r = build_yaml(
      ingress("test-ingress-1", "test.com", {},
              {{"/foo/bar", "Prefix", "service1"}, {"/foo/bar/", "Prefix", "service2"}},
              "2024-01-01T00:00:00Z") +
      ingress("test-ingress-2", "test.com", {{"rewrite-target", "/$1"}},
              {{"/foo/bar/(.+)", "ImplementationSpecific", "service3"}}, "2024-01-02T00:00:00Z"));
  ASSERT_TRUE(r.errors.empty()) << errors_text(r.errors);
  EXPECT_EQ(service_for(r, "test.com", "/foo/bar/1"), "service3");
  EXPECT_EQ(service_for(r, "test.com", "/foo/bar"), "service1");
  EXPECT_EQ(service_for(r, "test.com", "/FOO/BAR/x"), "service3");  // case-insensitive
  // Anchored at the start only: "^/foo/bar" also takes /foo/barbaz (a plain Prefix would not).
  EXPECT_EQ(service_for(r, "test.com", "/foo/barbaz"), "service1");
  EXPECT_EQ(service_for(r, "test.com", "/other"), "404");
}

// ingress-path-matching.md, "Warning": the first regex in length order wins, not the longest
// exact text.
TEST(regex_paths, docs_warning_example_regex_beats_the_exact_text) {
  const auto r = build_yaml(ingress("test-ingress-3", "test.com", {{"use-regex", "true"}},
                                    {{"/foo/bar/bar", "Prefix", "plain"},
                                     {"/foo/bar/[A-Z0-9]{3}", "ImplementationSpecific", "regex"}},
                                    "2024-01-01T00:00:00Z"));
  ASSERT_TRUE(r.errors.empty()) << errors_text(r.errors);
  EXPECT_EQ(service_for(r, "test.com", "/foo/bar/bar"), "regex");
  EXPECT_EQ(service_for(r, "test.com", "/foo/bar/ba"), "404");
}

// rewrite.go "should use ~* location modifier if regex annotation is present": a plain Prefix
// /foo beside a regex /foo.+ on another Ingress.
TEST(regex_paths, e2e_plain_prefix_beside_a_regex_of_another_ingress) {
  const auto r = build_yaml(
      ingress("foo", "rewrite.bar.com", {}, {{"/foo", "Prefix", "plain"}}, "2024-01-01T00:00:00Z") +
      ingress("regex", "rewrite.bar.com", {{"use-regex", "true"}, {"rewrite-target", "/new/backend"}},
              {{"/foo.+", "Prefix", "rewritten"}}, "2024-01-02T00:00:00Z"));
  ASSERT_TRUE(r.errors.empty()) << errors_text(r.errors);
  EXPECT_EQ(service_for(r, "rewrite.bar.com", "/foo"), "plain");
  EXPECT_EQ(service_for(r, "rewrite.bar.com", "/foo/bar"), "rewritten");
  const route* rt = r.snap->find("rewrite.bar.com", "/foo/bar");
  ASSERT_NE(rt, nullptr);
  EXPECT_NE(rt->rewrite_regex, nullptr);
  EXPECT_EQ(r.snap->find("rewrite.bar.com", "/foo")->rewrite_regex, nullptr);
}

// rewrite.go "should use correct longest path match": rewrite on "/" keeps the longer plain
// path of another Ingress reachable.
TEST(regex_paths, e2e_rewrite_on_root_keeps_longer_paths) {
  const auto r = build_yaml(
      ingress("kube-lego", "rewrite.bar.com", {},
              {{"/.well-known/acme/challenge", "Prefix", "acme"}}, "2024-01-01T00:00:00Z") +
      ingress("rewrite-index", "rewrite.bar.com", {{"rewrite-target", "/new/backend"}},
              {{"/", "Prefix", "index"}}, "2024-01-02T00:00:00Z"));
  ASSERT_TRUE(r.errors.empty()) << errors_text(r.errors);
  EXPECT_EQ(service_for(r, "rewrite.bar.com", "/.well-known/acme/challenge"), "acme");
  EXPECT_EQ(service_for(r, "rewrite.bar.com", "/.well-known/acme/challenge/x"), "acme");
  EXPECT_EQ(service_for(r, "rewrite.bar.com", "/anything"), "index");
}

// Only the hosts that ask for it: another host of the same build keeps element-wise Prefix
// matching, and a target equal to the path is no rewrite (ingress-nginx's needsRewrite).
TEST(regex_paths, other_hosts_and_target_equal_to_path_stay_plain) {
  const auto r = build_yaml(
      ingress("plain", "plain.test", {}, {{"/foo", "Prefix", "plain"}}, "2024-01-01T00:00:00Z") +
      ingress("same", "same.test", {{"rewrite-target", "/foo"}}, {{"/foo", "Prefix", "same"}},
              "2024-01-01T00:00:00Z"));
  ASSERT_TRUE(r.errors.empty()) << errors_text(r.errors);
  EXPECT_EQ(service_for(r, "plain.test", "/foobar"), "404");  // element-wise
  EXPECT_EQ(service_for(r, "same.test", "/foobar"), "404");
  EXPECT_EQ(service_for(r, "same.test", "/foo/x"), "same");
  EXPECT_EQ(r.snap->find("same.test", "/foo")->rewrite_regex, nullptr);
}

// Exact under a regex host is `~* "^/path"` like every other location (ingress-nginx's
// buildLocation), so it matches longer paths too.
TEST(regex_paths, exact_paths_become_anchored_regexes) {
  const auto r = build_yaml(ingress("web", "x.test", {{"use-regex", "true"}},
                                    {{"/api", "Exact", "exact"}, {"/", "Prefix", "root"}},
                                    "2024-01-01T00:00:00Z"));
  ASSERT_TRUE(r.errors.empty()) << errors_text(r.errors);
  EXPECT_EQ(service_for(r, "x.test", "/api"), "exact");
  EXPECT_EQ(service_for(r, "x.test", "/api/v1"), "exact");
  EXPECT_EQ(service_for(r, "x.test", "/apix"), "exact");
  EXPECT_EQ(service_for(r, "x.test", "/ap"), "root");
}

// The Prefix split of a plain Ingress on a regex host: "/app" gives "^/app/" and "^/app"; an
// Exact "/app" of another Ingress takes the place of the second.
TEST(regex_paths, plain_prefix_split_yields_to_an_exact_of_the_same_path) {
  const auto r = build_yaml(
      ingress("prefix", "y.test", {}, {{"/app", "Prefix", "prefix"}}, "2024-01-01T00:00:00Z") +
      ingress("exact", "y.test", {}, {{"/app", "Exact", "exact"}}, "2024-01-02T00:00:00Z") +
      ingress("regex", "y.test", {{"use-regex", "true"}}, {{"/z.*", "Prefix", "regex"}},
              "2024-01-03T00:00:00Z"));
  ASSERT_TRUE(r.errors.empty()) << errors_text(r.errors);
  EXPECT_EQ(service_for(r, "y.test", "/app/x"), "prefix");
  EXPECT_EQ(service_for(r, "y.test", "/app"), "exact");
  EXPECT_EQ(service_for(r, "y.test", "/zzz"), "regex");
}

TEST(regex_paths, a_path_re2_refuses_is_an_error_and_not_served) {
  const auto r = build_yaml(ingress("web", "x.test", {{"use-regex", "true"}},
                                    {{"/(?=look)ahead", "ImplementationSpecific", "bad"},
                                     {"/good/.*", "ImplementationSpecific", "good"}},
                                    "2024-01-01T00:00:00Z"));
  ASSERT_EQ(r.errors.size(), 1u) << errors_text(r.errors);
  EXPECT_EQ(r.errors[0].name, "web");
  EXPECT_NE(r.errors[0].message.find("/(?=look)ahead"), std::string::npos) << r.errors[0].message;
  EXPECT_NE(r.errors[0].message.find("RE2"), std::string::npos);
  EXPECT_EQ(service_for(r, "x.test", "/lookahead"), "404");
  EXPECT_EQ(service_for(r, "x.test", "/good/1"), "good");
}

TEST(regex_paths, bad_rewrite_targets_are_errors_naming_the_annotation) {
  for (const char* bad : {"/a b", "$host/x", "relative"}) {
    const auto r = build_yaml(ingress("web", "x.test", {{"rewrite-target", bad}},
                                      {{"/(.*)", "ImplementationSpecific", "svc"}},
                                      "2024-01-01T00:00:00Z"));
    ASSERT_EQ(r.errors.size(), 1u) << bad << "\n" << errors_text(r.errors);
    EXPECT_EQ(r.errors[0].field, "metadata.annotations[nginx.ingress.kubernetes.io/rewrite-target]");
    // The annotation alone is ignored: the path is served, as a plain (not regex) path.
    EXPECT_EQ(service_for(r, "x.test", "/(.*)"), "svc") << bad;
    EXPECT_EQ(r.snap->find("x.test", "/(.*)")->rewrite_regex, nullptr);
  }
}

}  // namespace
}  // namespace portico::config
