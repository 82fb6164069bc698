// Checks shared by the YAML and JSON decoder harnesses: what config/decode.hpp promises about
// its result, and that the objects it returns can be built into a Snapshot.
#pragma once

#include <exception>
#include <string>
#include <variant>

#include "config/build.hpp"
#include "config/decode.hpp"
#include "tests/fuzz/fuzz_support.hpp"

namespace portico::fuzz {

// Every error says where (a line, or a field path) and what; every object has a name.
// `positions_known` false: a parsed JSON value, where an error about the whole document has
// neither (there is no text, and it is no field).
inline void check_decode_result(const config::decode_result& r, std::string_view source,
                                std::string_view input, bool positions_known = true) {
  for (const auto& e : r.errors) {
    const std::string what = e.to_string() + " for " + shown(input, 1000);
    PORTICO_FUZZ_CHECK(!e.message.empty(), what);
    PORTICO_FUZZ_CHECK(e.source == source, what);
    PORTICO_FUZZ_CHECK(e.line > 0 || !e.field.empty() || (!positions_known && e.object.empty()),
                       what + ": names neither a line nor a field");
  }
  for (const auto& o : r.objects) {
    const auto& m = config::meta_of(o);
    PORTICO_FUZZ_CHECK(!m.name.empty(), "an object without a name from " + shown(input, 1000));
    const auto kind = config::kind_of(o);
    const bool namespaced = kind != config::object_kind::ingress_class &&
                            kind != config::object_kind::namespace_ &&
                            kind != config::object_kind::gateway_class;
    PORTICO_FUZZ_CHECK(!namespaced || !m.namespace_name.empty(),
                       "a namespaced object without a namespace from " + shown(input, 1000));
  }
}

// The decoded objects go through build() as a source would apply them.
inline void check_builds(config::decode_result& r) {
  config::cluster_state st;
  for (auto& o : r.objects) config::apply(st, std::move(o));
  config::build_options opts;
  opts.now = 1767225600;  // 2026-01-01T00:00:00Z
  opts.default_ssl_certificate = "default/tls";
  config::build_result out;
  try {
    out = config::build(st, opts);
    for (const char* host : {"a.test", "x.a.test", "", "A.TEST:80"}) {
      (void)out.snap->find(host, "/");
      (void)out.snap->find_certificates(host);
    }
  } catch (const std::exception& e) {
    fail(std::string("build() threw: ") + e.what());
  }
  PORTICO_FUZZ_CHECK(out.snap != nullptr, "build() returned no Snapshot");
  for (const auto& e : out.errors) PORTICO_FUZZ_CHECK(!e.message.empty(), e.to_string());
}

}  // namespace portico::fuzz
