// decode_yaml(): any text, as a manifest file may hold. Invariants: nothing is thrown past the
// API; every error names a line or a field and says what is wrong; every object has a name
// (and a namespace when namespaced); the objects build into a Snapshot without an exception.
#include <exception>
#include <string>

#include "config/decode.hpp"
#include "tests/fuzz/decode_checks.hpp"
#include "tests/fuzz/fuzz_support.hpp"

PORTICO_FUZZ_TARGET(yaml_decode) {
  using namespace portico;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  config::decode_result r;
  try {
    r = config::decode_yaml(text, "fuzz.yaml");
  } catch (const std::exception& e) {
    fuzz::fail(std::string("decode_yaml threw: ") + e.what() + " for " + fuzz::shown(text, 1000));
  }
  fuzz::check_decode_result(r, "fuzz.yaml", text);
  fuzz::check_builds(r);
  return 0;
}
