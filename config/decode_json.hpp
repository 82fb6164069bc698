// Decoding already-parsed JSON (the API watch hands boost::json values).
#pragma once

#include <boost/json/fwd.hpp>
#include <string_view>

#include "config/decode.hpp"

namespace portico::config {

// One object, or a List / <Kind>List whose items are expanded.
decode_result decode_json_value(const boost::json::value& v, std::string_view source = "<input>");
// As above, for objects (or list items) that lack kind/apiVersion, as in the items of an API
// list response: `kind` is used when the object names none.
decode_result decode_json_value(const boost::json::value& v, object_kind kind,
                                std::string_view source = "<input>");
// As above, appending to `out` (a list's pages decode into one result: no vector per item).
void decode_json_value(const boost::json::value& v, object_kind kind, std::string_view source,
                       decode_result& out);

}  // namespace portico::config
