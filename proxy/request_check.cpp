#include "proxy/request_check.hpp"
#include "proxy/ascii.hpp"

#include <cstring>

namespace portico::proxy {

namespace {

bool is_ows(char c) { return c == ' ' || c == '\t'; }

std::string_view trim(std::string_view v) {
  while (!v.empty() && is_ows(v.front())) v.remove_prefix(1);
  while (!v.empty() && is_ows(v.back())) v.remove_suffix(1);
  return v;
}

using ascii::iequals;

}  // namespace

std::optional<std::uint64_t> parse_content_length(std::string_view v) {
  v = trim(v);
  if (v.empty() || v.size() > 18) return std::nullopt;
  std::uint64_t n = 0;
  for (char c : v) {
    if (c < '0' || c > '9') return std::nullopt;
    n = n * 10 + static_cast<unsigned>(c - '0');
  }
  return n;
}

bool is_plain_chunked(std::string_view v) { return iequals(trim(v), "chunked"); }

head_scan_result scan_head(std::string_view raw, std::size_t limit) {
  const std::size_t n = raw.size() < limit ? raw.size() : limit;
  const char* p = raw.data();
  std::size_t line = 0;
  for (;;) {
    const void* lf = std::memchr(p + line, '\n', n - line);
    if (lf == nullptr) {
      // The partial line seen so far must already be clean.
      if (std::memchr(p + line, '\0', n - line) != nullptr) return {head_scan::malformed, 0};
      const void* cr = std::memchr(p + line, '\r', n - line);
      if (cr != nullptr && static_cast<const char*>(cr) != p + n - 1) return {head_scan::malformed, 0};
      return {head_scan::incomplete, 0};
    }
    const std::size_t end = static_cast<std::size_t>(static_cast<const char*>(lf) - p);
    if (end == line || p[end - 1] != '\r') return {head_scan::malformed, 0};  // bare LF
    const std::size_t content = end - 1 - line;
    if (content > 0 && (std::memchr(p + line, '\r', content) != nullptr ||
                        std::memchr(p + line, '\0', content) != nullptr))
      return {head_scan::malformed, 0};  // bare CR or NUL inside a line
    if (content == 0) {
      if (line == 0) return {head_scan::malformed, 0};  // empty request line
      return {head_scan::complete, end + 1};
    }
    line = end + 1;
    if (line < n && line > 0 && is_ows(p[line])) {
      // obs-fold, or whitespace before the first header name
      return {head_scan::malformed, 0};
    }
    if (line >= n) return {head_scan::incomplete, 0};
  }
}

bool is_idempotent(std::string_view m) {
  switch (m.size()) {
    case 3: return m == "GET" || m == "PUT";
    case 4: return m == "HEAD";
    case 5: return m == "TRACE";
    case 6: return m == "DELETE";
    case 7: return m == "OPTIONS";
    default: return false;
  }
}

bool is_token(std::string_view s) {
  if (s.empty()) return false;
  for (unsigned char c : s) {
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) continue;
    if (std::strchr("!#$%&'*+-.^_`|~", c) == nullptr || c == 0) return false;
  }
  return true;
}

}  // namespace portico::proxy
