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

// RFC 3986 authority as a Host value: host [":" port], where host is a reg-name of letters,
// digits, '-' and '_' in non-empty '.'-separated labels (one trailing '.' allowed, as in a
// fully qualified name), or a bracketed IPv6 literal; port is 0-65535 in at most 5 digits
// and may be empty (RFC 3986 allows it). At most 255 characters. Everything else ("a b",
// "a/b", "demo.local:@evil.com", "x:abc", "a..b", control characters) is refused: 400.
bool valid_host_value(std::string_view host);

// The same host and port, compared as RFC 3986 says (host case-insensitive, one trailing '.'
// ignored, an empty or absent port is the scheme's default).
bool same_authority(std::string_view a, std::string_view b, bool https);

struct parsed_target {
  target_form form = target_form::invalid;
  bool https = false;          // absolute-form with the https scheme
  std::string_view authority;  // absolute-form: "host[:port]" (no userinfo)
  std::string_view origin;     // absolute-form: "/path?query", "" when the URI has neither
};

// Classifies a request target. Absolute-form is accepted for the http and https schemes
// (any case) with an authority that is a valid_host_value(); a URI with userinfo is invalid.
// A '#' anywhere is invalid (a fragment is never sent: "/api#/../x" would be routed by one
// path and served by another).
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
