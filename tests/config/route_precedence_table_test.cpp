// The route precedence table (tests/data/route_precedence.tsv: the Kubernetes docs' path
// "Examples" and "Multiple matches", hostname wildcards, trailing slashes, conflicts between
// Ingresses), one test per row: the reference matcher must give the row's answer, and so must
// snapshot::find() on what config::build() makes of the same Ingresses as manifests.
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "tests/config/reference_matcher.hpp"

namespace portico::config {
namespace {

namespace ref = reference;

struct table_row {
  int line = 0;
  std::string source, rules, request, expected;
};

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::string part;
  std::istringstream in(s);
  while (std::getline(in, part, sep))
    if (!part.empty()) out.push_back(part);
  return out;
}

std::vector<table_row> load_table() {
  std::vector<table_row> rows;
  std::ifstream f(PORTICO_TEST_DATA_DIR "/route_precedence.tsv");
  std::string line;
  for (int n = 1; std::getline(f, line); ++n) {
    if (line.empty() || line[0] == '#') continue;
    auto cols = split(line, '\t');
    if (cols.size() != 4) {
      rows.push_back({n, "malformed row", "", "", ""});
      continue;
    }
    rows.push_back({n, cols[0], cols[1], cols[2], cols[3]});
  }
  return rows;
}

// KIND:PATH[@HOST][~INGRESS], or Default[~INGRESS].
struct rule_text {
  std::string kind, path, host, ingress = "web";
};

rule_text parse_rule(std::string_view s) {
  rule_text r;
  if (auto t = s.rfind('~'); t != std::string_view::npos) {
    r.ingress = std::string(s.substr(t + 1));
    s = s.substr(0, t);
  }
  if (auto at = s.find('@'); at != std::string_view::npos) {
    r.host = std::string(s.substr(at + 1));
    s = s.substr(0, at);
  }
  const auto colon = s.find(':');
  r.kind = std::string(s.substr(0, colon));
  if (colon != std::string_view::npos) r.path = std::string(s.substr(colon + 1));
  return r;
}

std::string created(const std::string& ingress) {
  if (ingress.starts_with("old")) return "2023-01-01T00:00:00Z";
  if (ingress.starts_with("new")) return "2025-01-01T00:00:00Z";
  return "2024-01-01T00:00:00Z";
}

// The Ingresses of a row; each rule's Service is "r<position in the row>".
std::vector<ref::ingress_spec> ingresses_of(const std::vector<std::string>& rules) {
  std::vector<ref::ingress_spec> out;
  std::map<std::string, std::size_t> by_name;
  for (std::size_t i = 0; i < rules.size(); ++i) {
    const rule_text r = parse_rule(rules[i]);
    auto [it, fresh] = by_name.emplace(r.ingress, out.size());
    if (fresh) {
      auto& ing = out.emplace_back();
      ing.name = r.ingress;
      ing.created = created(r.ingress);
    }
    auto& ing = out[it->second];
    std::string service = "r";
    service += std::to_string(i);
    if (r.kind == "Default") {
      ing.default_service = service;
      continue;
    }
    const auto kind = r.kind == "Exact"    ? ref::path_kind::exact
                      : r.kind == "Prefix" ? ref::path_kind::prefix
                                           : ref::path_kind::implementation_specific;
    ing.paths.push_back({r.host, kind, r.path, service});
  }
  return out;
}

void PrintTo(const table_row& r, std::ostream* os) { *os << "line " << r.line << ": " << r.source; }

class route_precedence : public ::testing::TestWithParam<table_row> {};

TEST_P(route_precedence, reference_and_snapshot_agree_with_the_table) {
  const table_row& row = GetParam();
  SCOPED_TRACE("tests/data/route_precedence.tsv:" + std::to_string(row.line) + " " + row.source);
  ASSERT_NE(row.source, "malformed row");
  const auto rules = split(row.rules, ' ');
  const auto request = split(row.request, ' ');
  ASSERT_EQ(request.size(), 2u) << row.request;
  std::string want;
  if (row.expected != "404") {
    const auto it = std::find(rules.begin(), rules.end(), row.expected);
    ASSERT_NE(it, rules.end()) << "expected rule " << row.expected << " is not in the row";
    want = "r";
    want += std::to_string(it - rules.begin());
  }
  const auto ingresses = ingresses_of(rules);
  EXPECT_EQ(ref::route(ingresses, request[0], request[1]), want) << "reference matcher";

  std::string errors;
  const auto snap = ref::build_snapshot(ingresses, &errors);
  ASSERT_TRUE(errors.empty()) << errors;
  EXPECT_EQ(ref::find_service(*snap, request[0], request[1]), want)
      << "snapshot::find() for\n" << ref::to_yaml(ingresses);
}

INSTANTIATE_TEST_SUITE_P(table, route_precedence, ::testing::ValuesIn(load_table()),
                         [](const auto& info) { return "line_" + std::to_string(info.param.line); });

TEST(route_precedence_table, has_every_section) {
  const auto rows = load_table();
  EXPECT_GE(rows.size(), 50u);
  for (const char* source : {"k8s-docs Examples", "k8s-docs Multiple matches", "trailing slash",
                             "build.cpp conflicts", "k8s-docs Hostname wildcards"}) {
    EXPECT_TRUE(std::any_of(rows.begin(), rows.end(),
                            [&](const table_row& r) { return r.source.starts_with(source); }))
        << source;
  }
}

}  // namespace
}  // namespace portico::config
