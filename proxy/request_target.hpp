// The request target: its form (RFC 9112 3.2) and the path used for route matching.
//
// Routing looks at a normalized path, as nginx's location matching does: %XX decoded, "//"
// merged, "." and ".." resolved. The target sent upstream is never changed by this (ingress-nginx
// passes $request_uri as received); only absolute-form is rewritten to origin-form.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace portico::proxy {

enum class target_form : std::uint8_t {
  origin,    // "/path?query"
  absolute,  // "http://authority/path?query"
  asterisk,  // "*" (OPTIONS)
  invalid,   // anything else, or a malformed absolute-form: 400
};

struct parsed_target {
  target_form form = target_form::invalid;
  std::string_view authority;  // absolute-form: "host[:port]" (no userinfo)
  std::string_view origin;     // absolute-form: "/path?query", "" when the URI has neither
};

// Classifies a request target. Absolute-form is accepted for the http and https schemes
// (any case) with a non-empty authority of host characters, an optional bracketed IPv6
// literal and an optional numeric port; a URI with userinfo is invalid.
parsed_target parse_target(std::string_view target);

enum class path_status : std::uint8_t {
  unchanged,   // nothing to do: match on the path as received
  normalized,  // match on `out`
  invalid,     // bad %XX, %00, or ".." above the root: 400
};

// Normalizes an origin-form path (no query) for matching. A path not starting with '/' is
// left as is. Decoded characters count like literal ones ("%2e%2e" is "..", "%2F" is a
// separator), except a decoded '%' which never starts another escape.
path_status normalize_path(std::string_view path, std::string& out);

}  // namespace portico::proxy
