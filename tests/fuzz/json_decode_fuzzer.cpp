// decode_json() and decode_json_value(): any text, as an API response or a watch event may
// hold. Invariants as for YAML: nothing is thrown past the API; every error names a line or a
// field and says what is wrong; every object has a name; the objects build into a Snapshot.
// The parsed value is also decoded as the items of a list response are (no kind given).
#include <boost/json.hpp>

#include <exception>
#include <string>

#include "config/decode.hpp"
#include "config/decode_json.hpp"
#include "tests/fuzz/decode_checks.hpp"
#include "tests/fuzz/fuzz_support.hpp"

PORTICO_FUZZ_TARGET(json_decode) {
  using namespace portico;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  config::decode_result r;
  try {
    r = config::decode_json(text, "fuzz.json");
  } catch (const std::exception& e) {
    fuzz::fail(std::string("decode_json threw: ") + e.what() + " for " + fuzz::shown(text, 1000));
  }
  fuzz::check_decode_result(r, "fuzz.json", text);
  fuzz::check_builds(r);

  boost::json::error_code ec;
  const boost::json::value v = boost::json::parse(text, ec);
  if (ec) return 0;
  const auto kind = static_cast<config::object_kind>(size % 7);  // every kind in turn
  try {
    r = config::decode_json_value(v, kind, "fuzz.json");
  } catch (const std::exception& e) {
    fuzz::fail(std::string("decode_json_value threw: ") + e.what() + " for " +
               fuzz::shown(text, 1000));
  }
  fuzz::check_decode_result(r, "fuzz.json", text, false);
  return 0;
}
