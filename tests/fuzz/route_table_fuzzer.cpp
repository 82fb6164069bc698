// Differential route fuzzer: random Ingress sets (hosts with wildcards and none, Exact / Prefix /
// ImplementationSpecific paths with trailing slashes, the same path in several Ingresses of
// different ages, defaultBackends) are written as manifests, decoded and built by config::build()
// like every other source of cluster state; then random requests are routed by snapshot::find()
// and by the reference matcher of tests/config/reference_matcher.hpp. They must agree.
//
// Input: a stream of small choices (byte_reader); paths come from a small alphabet so that
// rules overlap and matches are frequent.
#include <string>
#include <vector>

#include "tests/config/reference_matcher.hpp"
#include "tests/fuzz/fuzz_support.hpp"

namespace portico::fuzz {
namespace {

namespace ref = portico::config::reference;

constexpr const char* rule_hosts[] = {"", "", "a.b", "A.b", "x.a.b", "*.a.b", "*.b", "b", "y.b"};
constexpr const char* request_hosts[] = {"a.b",   "A.B",   "a.b:8080", "a.b.", "x.a.b", "X.A.B:80",
                                         "y.a.b", "z.x.a.b", "b",      "c.b",  "y.b",   "other",
                                         "",      ".a.b",  "x.b."};
constexpr const char* segments[] = {"a", "b", "aa"};
constexpr const char* stamps[] = {"2024-01-01T00:00:00Z", "2024-01-02T00:00:00Z",
                                  "2023-12-31T23:59:59Z"};
constexpr const char* namespaces[] = {"default", "team"};

// "/" + up to 3 segments, optionally with trailing slashes (rules: up to two).
std::string random_path(byte_reader& in, bool rule) {
  std::string p;
  const std::size_t n = in.range(0, 3);
  for (std::size_t i = 0; i < n; ++i) (p += '/') += in.pick(segments);
  const std::size_t slashes = in.range(0, rule ? 3 : 1);
  if (p.empty()) return "/";
  if (slashes == 1) p += '/';
  if (slashes == 3) p += "//";
  return p;
}

std::vector<ref::ingress_spec> random_ingresses(byte_reader& in) {
  std::vector<ref::ingress_spec> out;
  const std::size_t n = in.range(1, 4);
  int service = 0;
  for (std::size_t i = 0; i < n; ++i) {
    ref::ingress_spec ing;
    ing.namespace_name = in.pick(namespaces);
    ing.name = "i" + std::to_string(i);
    ing.created = in.pick(stamps);
    const std::size_t paths = in.range(1, 5);
    for (std::size_t j = 0; j < paths; ++j) {
      ref::path_rule r;
      r.host = in.pick(rule_hosts);
      r.kind = static_cast<ref::path_kind>(in.range(0, 2));
      r.path = random_path(in, true);
      r.service = "s" + std::to_string(service++);
      ing.paths.push_back(std::move(r));
    }
    if (in.range(0, 3) == 0) ing.default_service = "d" + std::to_string(i);
    out.push_back(std::move(ing));
  }
  return out;
}

}  // namespace
}  // namespace portico::fuzz

PORTICO_FUZZ_TARGET(route_table) {
  using namespace portico::fuzz;
  byte_reader in(data, size);
  const auto ingresses = random_ingresses(in);
  std::string errors;
  const auto snap = ref::build_snapshot(ingresses, &errors);
  PORTICO_FUZZ_CHECK(errors.empty(), errors + ref::to_yaml(ingresses));
  const std::size_t requests = in.range(1, 8);
  for (std::size_t i = 0; i < requests; ++i) {
    const std::string host = in.pick(request_hosts);
    const std::string path = random_path(in, false);
    const std::string want = ref::route(ingresses, host, path);
    const std::string got = ref::find_service(*snap, host, path);
    if (want == got) continue;
    fail("request host \"" + host + "\" path \"" + path + "\": reference " +
         (want.empty() ? "404" : want) + ", snapshot::find " + (got.empty() ? "404" : got) +
         "\n" + ref::to_yaml(ingresses));
  }
  return 0;
}
